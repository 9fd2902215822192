//! Ops whose output is known at import and becomes a constant: Constant, ConstantOfShape and
//! Shape.

use ndarray::{ArrayD, IxDyn};

use super::{NodeCtx, Translated};
use crate::attr::attr;
use crate::{OnnxError, tensor};

impl NodeCtx<'_> {
    pub(super) fn constant(&self) -> Result<Translated, OnnxError> {
        let a = self
            .n
            .attribute
            .first()
            .ok_or_else(|| self.err("has no value"))?;
        let data = match a.name.as_str() {
            "value" => tensor::to_f32(
                a.t.as_ref()
                    .ok_or_else(|| self.err("value is not a tensor"))?,
            )
            .map_err(|e| self.err(e))?,
            "value_float" => ArrayD::from_elem(IxDyn(&[]), a.f),
            "value_int" => ArrayD::from_elem(IxDyn(&[]), a.i as f32),
            "value_floats" => ArrayD::from_shape_vec(IxDyn(&[a.floats.len()]), a.floats.clone())
                .map_err(|e| self.err(e.to_string()))?,
            "value_ints" => ArrayD::from_shape_vec(
                IxDyn(&[a.ints.len()]),
                a.ints.iter().map(|&v| v as f32).collect(),
            )
            .map_err(|e| self.err(e.to_string()))?,
            other => return Err(self.err(format!("constant attribute `{other}` is not supported"))),
        };
        Ok(Translated::Const(data))
    }

    pub(super) fn constant_of_shape(&self) -> Result<Translated, OnnxError> {
        let shape: Vec<usize> = self
            .ints_of(0, "the shape")?
            .iter()
            .map(|&v| v.max(0) as usize)
            .collect();
        let value = match attr(self.n, "value").and_then(|a| a.t.as_ref()) {
            Some(t) => tensor::to_f32(t)
                .map_err(|e| self.err(e))?
                .iter()
                .next()
                .copied()
                .unwrap_or(0.0),
            None => 0.0,
        };
        Ok(Translated::Const(ArrayD::from_elem(IxDyn(&shape), value)))
    }

    pub(super) fn shape_op(&self) -> Result<Translated, OnnxError> {
        let s = self.shape(0)?;
        let rank = s.len() as i64;
        let clamp = |v: i64| (if v < 0 { v + rank } else { v }).clamp(0, rank) as usize;
        let start = clamp(self.attr_i("start", 0));
        let end = clamp(self.attr_i("end", rank));
        let dims: Vec<f32> = s[start..end.max(start)].iter().map(|&d| d as f32).collect();
        Ok(Translated::Const(
            ArrayD::from_shape_vec(IxDyn(&[dims.len()]), dims)
                .map_err(|e| self.err(e.to_string()))?,
        ))
    }
}
