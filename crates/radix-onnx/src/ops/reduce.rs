//! Reductions: ReduceMean / Max / Min / Sum (NPU-shaped ops), the other Reduce* kinds (the
//! general float `Reduce`), ArgMax, and the axes rules they share.

use radix_ir::Op;
use radix_ir::op::ReduceKind;

use super::{NodeCtx, Translated};
use crate::OnnxError;
use crate::attr::norm_axis;

impl NodeCtx<'_> {
    pub(super) fn reduce(&self, op: &str) -> Result<Translated, OnnxError> {
        let Some(axes) = self.reduce_axes(op == "ReduceSum")? else {
            return self.unary(Op::Identity);
        };
        let keepdims = self.attr_i("keepdims", 1) != 0;
        self.unary(match op {
            "ReduceMean" => Op::ReduceMean { axes, keepdims },
            "ReduceMax" => Op::ReduceMax { axes, keepdims },
            "ReduceMin" => Op::ReduceMin { axes, keepdims },
            _ => Op::ReduceSum { axes, keepdims },
        })
    }

    pub(super) fn reduce_general(&self, op: &str) -> Result<Translated, OnnxError> {
        let Some(axes) = self.reduce_axes(false)? else {
            return self.unary(Op::Identity);
        };
        let kind = match op {
            "ReduceProd" => ReduceKind::Prod,
            "ReduceL1" => ReduceKind::L1,
            "ReduceL2" => ReduceKind::L2,
            "ReduceSumSquare" => ReduceKind::SumSquare,
            "ReduceLogSum" => ReduceKind::LogSum,
            _ => ReduceKind::LogSumExp,
        };
        self.unary(Op::Reduce {
            kind,
            axes,
            keepdims: self.attr_i("keepdims", 1) != 0,
        })
    }

    pub(super) fn arg_max(&self) -> Result<Translated, OnnxError> {
        let rank = self.shape(0)?.len();
        let axis = norm_axis(self.attr_i("axis", 0), rank).map_err(|e| self.err(e))?;
        self.unary(Op::ArgMax {
            axis,
            keepdims: self.attr_i("keepdims", 1) != 0,
            select_last_index: self.attr_i("select_last_index", 0) != 0,
        })
    }

    /// Axes of a Reduce* node, sorted; `None` when the node is the identity
    /// (`noop_with_empty_axes=1` and no axes). Axes are an attribute before opset 18 (before 13
    /// for ReduceSum) and an optional input from then on; no axes means every axis.
    fn reduce_axes(&self, sum: bool) -> Result<Option<Vec<usize>>, OnnxError> {
        let rank = self.shape(0)?.len();
        let as_input = self.imp.opset >= if sum { 13 } else { 18 };
        let axes: Option<Vec<i64>> = if as_input {
            self.opt_konst(1, "the reduce axes")?
                .map(|a| a.iter().map(|&v| v as i64).collect())
        } else {
            self.attr_ints("axes")
        };
        let mut axes = match axes {
            Some(a) if !a.is_empty() => a
                .iter()
                .map(|&v| norm_axis(v, rank))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| self.err(e))?,
            _ if self.attr_i("noop_with_empty_axes", 0) != 0 => return Ok(None),
            _ => (0..rank).collect(),
        };
        axes.sort_unstable();
        axes.dedup();
        Ok(Some(axes))
    }
}
