//! Convolutions and matrix products: Conv and ConvTranspose (1-D lifted to 2-D), Gemm (W transposed and scaled at
//! import; transA and matrix biases as extra nodes); MatMul is one-to-one (in `ops`).

use ndarray::{ArrayD, IxDyn};
use radix_ir::{Activation, AutoPad, ConvAttrs, Op};

use super::{NodeCtx, Src, Step, Translated};
use crate::OnnxError;

impl NodeCtx<'_> {
    /// Conv / ConvTranspose: the weight and bias must be constants; a 1-D one becomes
    /// Unsqueeze → 2-D op → Squeeze.
    pub(super) fn conv(&self, op: &str) -> Result<Translated, OnnxError> {
        let transpose = op == "ConvTranspose";
        let a = self.conv_attrs(transpose)?;
        let w = self.konst(1, &format!("the {op} weight"))?;
        let bias = match self.opt_input(2) {
            Some(b) => {
                self.konst(2, &format!("the {op} bias"))?;
                Some(b)
            }
            None => None,
        };
        let op = if transpose {
            Op::ConvTranspose(a)
        } else {
            Op::Conv(a)
        };
        if self.shape(0)?.len() == 3 {
            // 1-D: Unsqueeze → 2-D convolution with a [.., .., 1, k] weight → Squeeze.
            let s = w.shape();
            let w4 = w
                .as_standard_layout()
                .into_owned()
                .into_shape_with_order(IxDyn(&[s[0], s[1], 1, s[2]]))
                .map_err(|e| self.err(e.to_string()))?;
            let mut ins = vec![Src::Prev, Src::Const("W_2d", w4)];
            ins.extend(bias.map(Src::Value));
            return Ok(Translated::Steps(vec![
                Step {
                    op: Op::Unsqueeze { axes: vec![2] },
                    suffix: "to_2d",
                    inputs: vec![Src::Value(self.input(0)?)],
                },
                Step {
                    op,
                    suffix: "",
                    inputs: ins,
                },
                Step {
                    op: Op::Squeeze { axes: vec![2] },
                    suffix: "to_1d",
                    inputs: vec![Src::Prev],
                },
            ]));
        }
        let mut ins = vec![self.input(0)?, self.input(1)?];
        ins.extend(bias);
        Ok(Translated::Op(op, ins))
    }

    /// Convolution attributes; a 1-D convolution (input `[N, C, L]`, weight `[., ., k]`) is
    /// lifted to a 2-D one over `[N, C, 1, L]` with a `[1, k]` kernel.
    fn conv_attrs(&self, transpose: bool) -> Result<ConvAttrs, OnnxError> {
        let (x0, w0) = (self.shape(0)?, self.shape(1)?);
        let one_d = x0.len() == 3 && w0.len() == 3;
        let (x, w) = if one_d {
            (vec![x0[0], x0[1], 1, x0[2]], vec![w0[0], w0[1], 1, w0[2]])
        } else {
            (x0.to_vec(), w0.to_vec())
        };
        if x.len() != 4 || w.len() != 4 {
            return Err(self.err(format!(
                "only 1-D and 2-D convolution are supported (input {x0:?}, weight {w0:?})"
            )));
        }
        let lift = |v: Option<Vec<i64>>, fill: i64| -> Option<Vec<i64>> {
            match v {
                Some(v) if one_d && v.len() == 1 => Some(vec![fill, v[0]]),
                v => v,
            }
        };
        let kernel = match self.attr_ints("kernel_shape") {
            Some(k) => self.pair(lift(Some(k), 1), 1, "kernel_shape")?,
            None => [w[2], w[3]],
        };
        let strides = self.pair(lift(self.attr_ints("strides"), 1), 1, "strides")?;
        let dilations = self.pair(lift(self.attr_ints("dilations"), 1), 1, "dilations")?;
        let group = self.attr_i("group", 1);
        if group < 1 {
            return Err(self.err(format!("group {group} must be >= 1")));
        }
        if strides.contains(&0) || dilations.contains(&0) || kernel.contains(&0) {
            return Err(self.err("strides, dilations and kernel must be positive"));
        }
        let mut output_padding = [0, 0];
        let pads = if transpose {
            output_padding = self.pair(
                lift(self.attr_ints("output_padding"), 0),
                0,
                "output_padding",
            )?;
            if let Some(os) = lift(self.attr_ints("output_shape"), 1) {
                // Pads follow from the requested output size (SAME_UPPER-style split).
                let os: Vec<i64> = if os.len() > 2 {
                    os[os.len() - 2..].to_vec()
                } else {
                    os
                };
                if os.len() != 2 {
                    return Err(self.err("output_shape must give two spatial sizes"));
                }
                let mut pads = [0; 4];
                for i in 0..2 {
                    let full = strides[i] * (x[2 + i] - 1)
                        + output_padding[i]
                        + (kernel[i] - 1) * dilations[i]
                        + 1;
                    let total = full as i64 - os[i];
                    if total < 0 {
                        // An output larger than the full result: no padding, the extra
                        // rows / columns at the end hold only the bias (as the ONNX reference
                        // and onnxruntime do).
                        output_padding[i] += (-total) as usize;
                        continue;
                    }
                    let total = total as usize;
                    let (lo, hi) = if self.auto_pad()? == AutoPad::SameLower {
                        (total - total / 2, total / 2)
                    } else {
                        (total / 2, total - total / 2)
                    };
                    pads[i] = lo;
                    pads[i + 2] = hi;
                }
                pads
            } else {
                match self.auto_pad()? {
                    AutoPad::NotSet | AutoPad::Valid => {
                        self.pads(&x[2..], kernel, strides, dilations)?
                    }
                    mode => {
                        let mut pads = [0; 4];
                        for i in 0..2 {
                            let full = strides[i] * (x[2 + i] - 1)
                                + output_padding[i]
                                + (kernel[i] - 1) * dilations[i]
                                + 1;
                            let total = full.saturating_sub(x[2 + i] * strides[i]);
                            let (lo, hi) = if mode == AutoPad::SameUpper {
                                (total / 2, total - total / 2)
                            } else {
                                (total - total / 2, total / 2)
                            };
                            pads[i] = lo;
                            pads[i + 2] = hi;
                        }
                        pads
                    }
                }
            }
        } else {
            self.pads(&x[2..], kernel, strides, dilations)?
        };
        if kernel != [w[2], w[3]] {
            return Err(self.err(format!(
                "kernel_shape {kernel:?} disagrees with weight {w:?}"
            )));
        }
        Ok(ConvAttrs {
            kernel,
            strides,
            pads,
            dilations,
            group: group as usize,
            output_padding,
            activation: Activation::None,
        })
    }

    /// Gemm as the IR `Gemm` (W = alpha · B as `[N, K]`, bias = beta · C), with a Transpose
    /// before it for transA and an Add after it for a bias that is not one value per output.
    pub(super) fn gemm(&self) -> Result<Translated, OnnxError> {
        let a_shape = self.shape(0)?;
        if a_shape.len() != 2 {
            return Err(self.err(format!("input A must be 2-D, got {a_shape:?}")));
        }
        let trans_a = self.attr_i("transA", 0) != 0;
        let alpha = self.attr_f("alpha", 1.0);
        let beta = self.attr_f("beta", 1.0);
        let b = self.konst(1, "the Gemm weight B")?;
        if b.ndim() != 2 {
            return Err(self.err("B must be 2-D"));
        }
        // W is [N, K]: B as given when transB=1, else Bᵀ.
        let w = if self.attr_i("transB", 0) != 0 {
            b.clone()
        } else {
            b.t().as_standard_layout().into_owned()
        };
        let w = if alpha != 1.0 {
            w.mapv(|v| v * alpha)
        } else {
            w
        };
        let n = w.shape()[0];
        let m = if trans_a { a_shape[1] } else { a_shape[0] };
        let mut bias = None;
        // A bias C that is not one value per output (e.g. [M, N]) is added after the product.
        let mut add = None;
        if let Some(c) = self.opt_konst(2, "the Gemm bias C")? {
            match c.len() {
                1 => bias = Some(vec![c.iter().next().copied().unwrap_or(0.0) * beta; n]),
                l if l == n && c.shape().iter().rev().skip(1).all(|&d| d == 1) => {
                    bias = Some(c.iter().map(|&v| v * beta).collect())
                }
                _ => {
                    if radix_ir::shape::broadcast(c.shape(), &[m, n]).as_deref() != Some(&[m, n]) {
                        return Err(self.err(format!(
                            "bias C of shape {:?} does not broadcast to [{m}, {n}]",
                            c.shape()
                        )));
                    }
                    add = Some(c.mapv(|v| v * beta));
                }
            }
        }
        let gemm = Op::Gemm {
            activation: Activation::None,
        };
        if !trans_a && add.is_none() {
            let mut consts = vec![(format!("{}_W", self.name), w)];
            if let Some(b) = bias {
                consts.push((
                    format!("{}_b", self.name),
                    ArrayD::from_shape_vec(IxDyn(&[n]), b).map_err(|e| self.err(e.to_string()))?,
                ));
            }
            return Ok(Translated::OpWithConsts(gemm, vec![self.input(0)?], consts));
        }
        let mut steps = Vec::new();
        let a = if trans_a {
            steps.push(Step {
                op: Op::Transpose { perm: vec![1, 0] },
                suffix: "transpose_a",
                inputs: vec![Src::Value(self.input(0)?)],
            });
            Src::Prev
        } else {
            Src::Value(self.input(0)?)
        };
        let mut gemm_ins = vec![a, Src::Const("W", w)];
        if let Some(b) = bias {
            gemm_ins.push(Src::Const(
                "b",
                ArrayD::from_shape_vec(IxDyn(&[n]), b).map_err(|e| self.err(e.to_string()))?,
            ));
        }
        let last = add.is_none();
        steps.push(Step {
            op: gemm,
            suffix: if last { "" } else { "gemm" },
            inputs: gemm_ins,
        });
        if let Some(c) = add {
            steps.push(Step {
                op: Op::Add,
                suffix: "",
                inputs: vec![Src::Prev, Src::Const("C", c)],
            });
        }
        Ok(Translated::Steps(steps))
    }
}
