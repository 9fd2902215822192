//! Normalisations: BatchNormalization (inference and training mode), InstanceNormalization,
//! LayerNormalization, LRN and Softmax.

use radix_ir::Op;

use super::{NodeCtx, Translated};
use crate::OnnxError;
use crate::attr::norm_axis;

impl NodeCtx<'_> {
    pub(super) fn batch_norm(&self) -> Result<Translated, OnnxError> {
        let opset = self.imp.opset;
        if opset < 9 && self.attr_i("spatial", 1) == 0 {
            return Err(self.err("attribute spatial=0 (per-element statistics) is not supported"));
        }
        let training = self.attr_i("training_mode", 0) != 0;
        if training && opset < 14 {
            return Err(self.err("training_mode=1 before opset 14 is not supported"));
        }
        let ins = (0..5)
            .map(|i| self.input(i))
            .collect::<Result<Vec<_>, _>>()?;
        for i in 1..5 {
            self.konst(i, "BatchNormalization parameters")?;
        }
        let epsilon = self.attr_f("epsilon", 1e-5);
        let op = if training {
            Op::BatchNormTrain {
                epsilon,
                momentum: self.attr_f("momentum", 0.9),
            }
        } else {
            Op::BatchNorm { epsilon }
        };
        Ok(Translated::Op(op, ins))
    }

    pub(super) fn instance_norm(&self) -> Result<Translated, OnnxError> {
        Ok(Translated::Op(
            Op::InstanceNorm {
                epsilon: self.attr_f("epsilon", 1e-5),
            },
            vec![self.input(0)?, self.input(1)?, self.input(2)?],
        ))
    }

    pub(super) fn layer_norm(&self) -> Result<Translated, OnnxError> {
        if self.attr_i("stash_type", 1) != 1 {
            return Err(self.err("stash_type other than 1 (float32) is not supported"));
        }
        let rank = self.shape(0)?.len();
        let axis = norm_axis(self.attr_i("axis", -1), rank).map_err(|e| self.err(e))?;
        let mut ins = vec![self.input(0)?, self.input(1)?];
        if let Some(b) = self.opt_input(2) {
            ins.push(b);
        }
        let epsilon = self.attr_f("epsilon", 1e-5);
        let op = if self.n.output.iter().skip(1).any(|o| !o.is_empty()) {
            Op::LayerNormStats { axis, epsilon }
        } else {
            Op::LayerNorm { axis, epsilon }
        };
        Ok(Translated::Op(op, ins))
    }

    pub(super) fn lrn(&self) -> Result<Translated, OnnxError> {
        let size = self.attr_i("size", 0);
        if size < 1 {
            return Err(self.err(format!("attribute size={size} must be >= 1")));
        }
        self.unary(Op::Lrn {
            size: size as usize,
            alpha: self.attr_f("alpha", 1e-4),
            beta: self.attr_f("beta", 0.75),
            bias: self.attr_f("bias", 1.0),
        })
    }

    pub(super) fn softmax(&self) -> Result<Translated, OnnxError> {
        let opset = self.imp.opset;
        let rank = self.shape(0)?.len();
        let legacy = opset < 13;
        let axis = norm_axis(self.attr_i("axis", if legacy { 1 } else { -1 }), rank)
            .map_err(|e| self.err(e))?;
        self.unary(Op::Softmax { axis, legacy })
    }
}
