//! Element-wise ops with attributes or special cases: the parameterised activations (HardSigmoid,
//! LeakyRelu, Clip, Elu, Selu, Gelu), variadic Sum / Mean / Max / Min, Dropout (inference) and
//! Cast. The plain one-to-one unary and binary ops are translated in `ops`.

use ndarray::{ArrayD, IxDyn};
use radix_ir::Op;

use super::{NodeCtx, Translated};
use crate::{OnnxError, tensor};

impl NodeCtx<'_> {
    pub(super) fn hard_sigmoid(&self) -> Result<Translated, OnnxError> {
        self.unary(Op::HardSigmoid {
            alpha: self.attr_f("alpha", 0.2),
            beta: self.attr_f("beta", 0.5),
        })
    }

    pub(super) fn leaky_relu(&self) -> Result<Translated, OnnxError> {
        self.unary(Op::LeakyRelu {
            alpha: self.attr_f("alpha", 0.01),
        })
    }

    pub(super) fn clip(&self) -> Result<Translated, OnnxError> {
        let opset = self.imp.opset;
        let (min, max) = if opset < 11 {
            (self.attr_f("min", f32::MIN), self.attr_f("max", f32::MAX))
        } else {
            let lo = self
                .opt_konst(1, "Clip min")?
                .and_then(|a| a.iter().next().copied())
                .unwrap_or(f32::MIN);
            let hi = self
                .opt_konst(2, "Clip max")?
                .and_then(|a| a.iter().next().copied())
                .unwrap_or(f32::MAX);
            (lo, hi)
        };
        self.unary(Op::Clip { min, max })
    }

    pub(super) fn elu(&self) -> Result<Translated, OnnxError> {
        self.unary(Op::Elu {
            alpha: self.attr_f("alpha", 1.0),
        })
    }

    pub(super) fn selu(&self) -> Result<Translated, OnnxError> {
        self.unary(Op::Selu {
            alpha: self.attr_f("alpha", 1.673_263_2),
            gamma: self.attr_f("gamma", 1.050_701),
        })
    }

    pub(super) fn gelu(&self) -> Result<Translated, OnnxError> {
        let tanh = match self.attr_s("approximate", "none").as_str() {
            "none" => false,
            "tanh" => true,
            m => {
                return Err(self.err(format!(
                    "attribute approximate=`{m}` is not supported (none, tanh)"
                )));
            }
        };
        self.unary(Op::Gelu { tanh })
    }

    pub(super) fn variadic(&self, op: &str) -> Result<Translated, OnnxError> {
        let ins = (0..self.inputs.len())
            .map(|i| self.input(i))
            .collect::<Result<Vec<_>, _>>()?;
        let op = match (op, ins.len()) {
            (_, 0) => return Err(self.err("needs at least one input")),
            (_, 1) => Op::Identity,
            // Two-input Sum is Add, which has an integer kernel.
            ("Sum", 2) => Op::Add,
            ("Sum", _) => Op::Sum,
            ("Mean", _) => Op::Mean,
            ("Max", _) => Op::Max,
            _ => Op::Min,
        };
        Ok(Translated::Op(op, ins))
    }

    pub(super) fn dropout(&self) -> Result<Translated, OnnxError> {
        let opset = self.imp.opset;
        // Inference: the identity, mask all ones. Training mode (opset 12: input 2)
        // drops at random unless the ratio is 0.
        if opset >= 12 && self.opt_input(2).is_some() {
            let training = self.konst(2, "Dropout training_mode")?;
            if training.iter().any(|&t| t != 0.0) {
                let ratio = match self.opt_input(1) {
                    Some(_) => self.konst(1, "Dropout ratio")?.iter().copied().next(),
                    None => Some(0.5),
                };
                if ratio != Some(0.0) {
                    return Err(self.err(
                        "training_mode=1 with a non-zero ratio (random output) is not supported",
                    ));
                }
            }
        }
        let mask = ArrayD::from_elem(IxDyn(self.shape(0)?), 1.0);
        Ok(Translated::WithConstOutputs(
            Op::Dropout,
            vec![self.input(0)?],
            vec![mask],
        ))
    }

    pub(super) fn cast(&self) -> Result<Translated, OnnxError> {
        let to = self.attr_i("to", 1) as i32;
        if let Some(c) = self.imp.g.const_data(self.input(0)?) {
            let c = if tensor::is_integer_type(to) {
                c.mapv(f32::trunc)
            } else {
                c.clone()
            };
            return Ok(Translated::Const(c));
        }
        if tensor::is_integer_type(to) {
            return Err(self.err(
                "casting a computed (non-constant) tensor to an integer type is not supported",
            ));
        }
        self.unary(Op::Cast)
    }
}
