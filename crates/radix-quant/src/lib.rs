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

#![deny(missing_docs)]

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

/// Errors of calibration, quantization and bias adjust. Input errors name the model input and
/// the array index; the others name the tensor or the node.
#[derive(Debug, thiserror::Error)]
pub enum QuantError {
    /// The input mapping has no entry for a model input (the original toolchain's message).
    #[error("Cannot find the corresponding input image folder of model input `{input}`")]
    MissingInput {
        /// Name of the model input.
        input: String,
    },
    /// A model input's list of calibration arrays is empty.
    #[error("model input `{input}` has an empty list of calibration arrays")]
    EmptyInput {
        /// Name of the model input.
        input: String,
    },
    /// The input mapping has an entry whose name is not a model input.
    #[error(
        "the input mapping names `{input}`, which is not a model input (model inputs: {known})"
    )]
    UnknownInput {
        /// The name in the mapping.
        input: String,
        /// The model's input names, comma-separated.
        known: String,
    },
    /// Model inputs have different numbers of calibration arrays.
    #[error(
        "model input `{input}` has {got} arrays but `{first}` has {expected}; every input needs the same number"
    )]
    InputCountMismatch {
        /// The input whose count differs.
        input: String,
        /// Its number of arrays.
        got: usize,
        /// The first model input, whose count is the reference.
        first: String,
        /// Number of arrays of `first`.
        expected: usize,
    },
    /// A calibration array's shape is neither the model input's shape nor that shape without
    /// its leading batch axis of 1.
    #[error(
        "model input `{input}`, array {index}: shape {got:?} does not match the model's {expected:?}"
    )]
    InputShape {
        /// Name of the model input.
        input: String,
        /// Index of the array in the input's list.
        index: usize,
        /// The model input's shape.
        expected: Vec<usize>,
        /// The array's shape.
        got: Vec<usize>,
    },
    /// A calibration array holds a NaN or an infinity.
    #[error(
        "model input `{input}`, array {index}: value {value} at flat position {position} is not finite"
    )]
    NonFiniteInput {
        /// Name of the model input.
        input: String,
        /// Index of the array in the input's list.
        index: usize,
        /// Flat (row-major) index of the first non-finite value.
        position: usize,
        /// That value.
        value: f32,
    },
    /// The float model produced a NaN or an infinity in an intermediate tensor.
    #[error("tensor `{tensor}` became non-finite during calibration: {msg}")]
    NonFiniteActivation {
        /// Name of the tensor.
        tensor: String,
        /// The statistics' error message.
        msg: String,
    },
    /// The quantizer needs the range of a tensor the calibration never saw (the graph and the
    /// [`Calibration`] do not belong together).
    #[error("tensor `{tensor}` has no calibration statistics")]
    NoStatistics {
        /// Name of the tensor.
        tensor: String,
    },
    /// The range method refused the tensor's statistics or its parameters.
    #[error("range of tensor `{tensor}`: {msg}")]
    Range {
        /// Name of the tensor.
        tensor: String,
        /// The range method's error message.
        msg: String,
    },
    /// A node the quantizer has no integer form for (a non-constant weight or PRelu slope,
    /// a bias or slope of the wrong length, an op without an integer kernel).
    #[error("node `{node}`: {what} is not supported by the quantizer")]
    Unsupported {
        /// Node name.
        node: String,
        /// What is not supported.
        what: String,
    },
    /// The target refused the graph (e.g. an op nothing runs: `undefined CPU op`).
    #[error(transparent)]
    Target(#[from] radix_target::TargetError),
    /// An engine failed (the float engine during calibration, the engines of bias adjust).
    #[error(transparent)]
    Sim(#[from] radix_sim::SimError),
    /// A broken invariant inside Radix, never the user's input.
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
