//! radix-quant: turns calibrated ranges and bitwidths into a fixed-point [`QuantModel`](radix_ir::qmodel::QuantModel).
//!
//! * [`calibrate()`]: validates the input mapping and gathers streaming statistics of every
//!   tensor with the float engine.
//! * [`prepare`]: graph rewrites that give every op an integer form (Div by a constant becomes
//!   Mul by its reciprocal; a standalone BatchNormalization becomes a depthwise 1x1 Conv).
//! * [`quantize`](quantize::quantize): parameters and integer kernels per docs/FIXED_POINT.md.
//! * [`Calibrated`]: the composition of the steps above (prepare and calibrate once, quantize
//!   per configuration), which every caller uses.
//! * [`adjust_bias`]: bias adjust (`optimize` 1-4), per-channel bias from float vs fixed means.

pub mod bias_adjust;
pub mod calibrate;
pub mod pipeline;
pub mod progress;
pub mod quantize;

use ndarray::{ArrayD, IxDyn};
use radix_ir::{ConvAttrs, Graph, Op};

pub use bias_adjust::{BiasAdjust, BiasAdjustSummary, adjust_bias};
pub use calibrate::{Calibration, InputMapping, calibrate, calibrate_with, validate_inputs};
pub use pipeline::Calibrated;
pub use progress::{Progress, Silent};
pub use quantize::{QuantConfig, Quantized, RangeChoice, quantize, quantize_on};

#[derive(Debug, thiserror::Error)]
pub enum QuantError {
    #[error("Cannot find the corresponding input image folder of model input `{input}`")]
    MissingInput { input: String },
    #[error("model input `{input}` has an empty list of calibration arrays")]
    EmptyInput { input: String },
    #[error(
        "the input mapping names `{input}`, which is not a model input (model inputs: {known})"
    )]
    UnknownInput { input: String, known: String },
    #[error(
        "model input `{input}` has {got} arrays but `{first}` has {expected}; every input needs the same number"
    )]
    InputCountMismatch {
        input: String,
        got: usize,
        first: String,
        expected: usize,
    },
    #[error(
        "model input `{input}`, array {index}: shape {got:?} does not match the model's {expected:?}"
    )]
    InputShape {
        input: String,
        index: usize,
        expected: Vec<usize>,
        got: Vec<usize>,
    },
    #[error(
        "model input `{input}`, array {index}: value {value} at flat position {position} is not finite"
    )]
    NonFiniteInput {
        input: String,
        index: usize,
        position: usize,
        value: f32,
    },
    #[error("tensor `{tensor}` became non-finite during calibration: {msg}")]
    NonFiniteActivation { tensor: String, msg: String },
    #[error("tensor `{tensor}` has no calibration statistics")]
    NoStatistics { tensor: String },
    #[error("range of tensor `{tensor}`: {msg}")]
    Range { tensor: String, msg: String },
    #[error("node `{node}`: {what} is not supported by the quantizer")]
    Unsupported { node: String, what: String },
    #[error(transparent)]
    Target(#[from] radix_target::TargetError),
    #[error(transparent)]
    Sim(#[from] radix_sim::SimError),
    #[error("internal error: {0}")]
    Internal(String),
}

/// Rewrites that keep outputs unchanged (up to float rounding) and give every op an integer
/// form. Returns the number of rewrites.
pub fn prepare(g: &mut Graph) -> usize {
    let mut n = 0;
    for i in 0..g.nodes.len() {
        let node = &g.nodes[i];
        match node.op {
            Op::Div => {
                let b = node.inputs[1];
                let Some(d) = g.const_data(b) else { continue };
                if d.iter().any(|&v| v == 0.0) {
                    continue;
                }
                let recip = d.mapv(|v| 1.0 / v);
                let name = format!("{}_reciprocal", g.value(b).name);
                let id = g.add_const(name, recip);
                let node = &mut g.nodes[i];
                node.op = Op::Mul;
                node.inputs[1] = id;
                n += 1;
            }
            Op::BatchNorm { epsilon } => {
                let x = g.shape(node.inputs[0]);
                if x.len() != 4 || !node.inputs[1..].iter().all(|&v| g.value(v).is_const()) {
                    continue;
                }
                let c = x[1];
                let get = |k: usize| -> Vec<f32> {
                    g.const_data(node.inputs[k])
                        .map(|a| a.iter().copied().collect())
                        .unwrap_or_default()
                };
                let (gamma, beta, mean, var) = (get(1), get(2), get(3), get(4));
                if [gamma.len(), beta.len(), mean.len(), var.len()]
                    .iter()
                    .any(|&l| l != c)
                {
                    continue;
                }
                let a: Vec<f32> = (0..c)
                    .map(|k| gamma[k] / (var[k] + epsilon).sqrt())
                    .collect();
                let b: Vec<f32> = (0..c).map(|k| beta[k] - mean[k] * a[k]).collect();
                let (Ok(w), Ok(bias)) = (
                    ArrayD::from_shape_vec(IxDyn(&[c, 1, 1, 1]), a),
                    ArrayD::from_shape_vec(IxDyn(&[c]), b),
                ) else {
                    continue;
                };
                let wn = format!("{}_dw_w", node.name);
                let bn = format!("{}_dw_b", node.name);
                let x_in = node.inputs[0];
                let wid = g.add_const(wn, w);
                let bid = g.add_const(bn, bias);
                let node = &mut g.nodes[i];
                node.op = Op::Conv(ConvAttrs {
                    kernel: [1, 1],
                    strides: [1, 1],
                    pads: [0; 4],
                    dilations: [1, 1],
                    group: c,
                    output_padding: [0, 0],
                    activation: Default::default(),
                });
                node.inputs = vec![x_in, wid, bid];
                n += 1;
            }
            _ => {}
        }
    }
    if n > 0 {
        g.prune();
    }
    n
}
