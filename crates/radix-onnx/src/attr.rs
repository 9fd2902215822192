//! Reading a node: typed attributes with their ONNX defaults, required, optional and constant
//! inputs, and axis normalisation.

use ndarray::ArrayD;
use radix_ir::ValueId;
use tract_onnx::pb::{AttributeProto, NodeProto};

use crate::OnnxError;
use crate::ops::NodeCtx;

/// The attribute `name` of `n`, if set.
pub(crate) fn attr<'a>(n: &'a NodeProto, name: &str) -> Option<&'a AttributeProto> {
    n.attribute.iter().find(|a| a.name == name)
}

/// `axis` (negative: from the end) as an index into `rank` axes.
pub(crate) fn norm_axis(axis: i64, rank: usize) -> Result<usize, String> {
    let a = if axis < 0 { axis + rank as i64 } else { axis };
    if a < 0 || a >= rank as i64 {
        Err(format!("axis {axis} out of range for rank {rank}"))
    } else {
        Ok(a as usize)
    }
}

impl NodeCtx<'_> {
    /// A [`OnnxError::Node`] error for this node.
    pub(crate) fn err(&self, msg: impl Into<String>) -> OnnxError {
        self.imp.err(self.n, self.name, msg)
    }
    pub(crate) fn input(&self, i: usize) -> Result<ValueId, OnnxError> {
        self.inputs
            .get(i)
            .copied()
            .flatten()
            .ok_or_else(|| self.err(format!("missing required input {i}")))
    }
    pub(crate) fn opt_input(&self, i: usize) -> Option<ValueId> {
        self.inputs.get(i).copied().flatten()
    }
    pub(crate) fn shape(&self, i: usize) -> Result<&[usize], OnnxError> {
        Ok(self.imp.g.shape(self.input(i)?))
    }
    /// Input `i`, which must be a constant (`what` names it in the error).
    pub(crate) fn konst(&self, i: usize, what: &str) -> Result<&ArrayD<f32>, OnnxError> {
        let id = self.input(i)?;
        self.imp.g.const_data(id).ok_or_else(|| {
            self.err(format!(
                "{what} (input {i}, `{}`) must be a constant",
                self.imp.g.values[id.0].name
            ))
        })
    }
    pub(crate) fn opt_konst(
        &self,
        i: usize,
        what: &str,
    ) -> Result<Option<&ArrayD<f32>>, OnnxError> {
        match self.opt_input(i) {
            None => Ok(None),
            Some(_) => self.konst(i, what).map(Some),
        }
    }
    pub(crate) fn ints_of(&self, i: usize, what: &str) -> Result<Vec<i64>, OnnxError> {
        Ok(self.konst(i, what)?.iter().map(|&v| v as i64).collect())
    }
    pub(crate) fn attr_i(&self, name: &str, default: i64) -> i64 {
        attr(self.n, name).map(|a| a.i).unwrap_or(default)
    }
    pub(crate) fn attr_f(&self, name: &str, default: f32) -> f32 {
        attr(self.n, name).map(|a| a.f).unwrap_or(default)
    }
    pub(crate) fn attr_ints(&self, name: &str) -> Option<Vec<i64>> {
        attr(self.n, name).map(|a| a.ints.clone())
    }
    pub(crate) fn attr_s(&self, name: &str, default: &str) -> String {
        attr(self.n, name)
            .map(|a| String::from_utf8_lossy(&a.s).into_owned())
            .unwrap_or_else(|| default.to_string())
    }
}
