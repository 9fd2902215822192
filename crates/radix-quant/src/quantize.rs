//! From a calibrated float graph to a [`QuantModel`]: tensor parameters, quantized weights and
//! biases, and the integer constants of every kernel (see docs/FIXED_POINT.md).

use ndarray::{ArrayD, Axis};
use radix_bitwidth::BitAssignment;
use radix_calib::{Mmse, Percentage, RangeMethod};
use radix_ir::eval::unary;
use radix_ir::op::PadMode;
use radix_ir::qmodel::{
    AddRequant, AxisPlan, Placement, QConst, QKernel, QNode, QParams, QuantModel, RESIZE_FRAC_BITS,
    Requant,
};
use radix_ir::{Activation, Graph, Node, Op, ResizeAttrs, ResizeMode, ValueId};
use radix_target::{Platform, Target};

use crate::{Calibration, QuantError};

/// How activation ranges are chosen.
#[derive(Clone, Debug, PartialEq)]
pub enum RangeChoice {
    /// Keep this fraction of `|x|` per tensor ([`radix_calib::Percentage`]).
    Percentage {
        /// Fraction kept for tensors of 8 bits or fewer, in `[0, 1]` (1.0 is min/max).
        percentage: f64,
        /// Fraction kept for 16-bit tensors, in `[0, 1]`.
        percentage_16b: f64,
    },
    /// Minimum expected quantization error ([`radix_calib::Mmse`]; power-of-two steps on
    /// targets without a scale).
    Mmse {
        /// Top fraction of the `|x|` distribution searched for the threshold.
        percentile: f64,
        /// Factor the chosen threshold is widened by.
        outlier_factor: f64,
    },
}

/// Everything the quantizer needs to know besides the graph and its statistics.
#[derive(Clone, Debug)]
pub struct QuantConfig {
    /// The platform the model is recorded for (and, in [`quantize`], quantized for).
    pub platform: Platform,
    /// Bits of intermediate NPU tensors (8 or 16).
    pub datapath_bits: u8,
    /// Bits of weights (4, 8 or 16).
    pub weight_bits: u8,
    /// Bits of the model inputs.
    pub model_in_bits: u8,
    /// Bits of the model outputs.
    pub model_out_bits: u8,
    /// Bits of the outputs of CPU nodes (float between a de-quantize and a quantize).
    pub cpu_node_bits: u8,
    /// How activation ranges are chosen.
    pub range: RangeChoice,
    /// Outputs whose final sigmoid was removed: ranges chosen for accuracy after a sigmoid.
    pub post_sigmoid: bool,
    /// Bits per datapath tensor and per weight from a bitwidth policy (`radix-bitwidth`);
    /// `None`: `datapath_bits` and `weight_bits` everywhere. Model inputs, model outputs and
    /// CPU-node tensors keep their own options either way.
    pub assignment: Option<std::sync::Arc<BitAssignment>>,
}

impl QuantConfig {
    /// 8 bits everywhere, percentage ranges (0.999, 0.999999 for 16-bit tensors).
    pub fn int8(platform: Platform) -> Self {
        Self::uniform(platform, 8)
    }

    /// `bits` (8 or 16) for the datapath, the weights, the model's input and output and CPU
    /// nodes; percentage ranges as in [`QuantConfig::int8`].
    pub fn uniform(platform: Platform, bits: u8) -> Self {
        QuantConfig {
            platform,
            datapath_bits: bits,
            weight_bits: bits,
            model_in_bits: bits,
            model_out_bits: bits,
            cpu_node_bits: bits,
            range: RangeChoice::Percentage {
                percentage: 0.999,
                percentage_16b: 0.999999,
            },
            post_sigmoid: false,
            assignment: None,
        }
    }

    /// Bits of computed datapath tensor `v` (the assignment's, else `datapath_bits`).
    pub fn activation_bits_of(&self, v: ValueId) -> u8 {
        self.assignment
            .as_ref()
            .and_then(|a| a.activation.get(v.0).copied().flatten())
            .unwrap_or(self.datapath_bits)
    }

    /// Bits of node `node`'s weights (the assignment's, else `weight_bits`).
    pub fn weight_bits_of(&self, node: usize) -> u8 {
        self.assignment
            .as_ref()
            .and_then(|a| a.weight.get(node).copied().flatten())
            .unwrap_or(self.weight_bits)
    }
}

/// Whether Radix's fixed-point engines have an integer kernel for `node` (the operator table,
/// [`radix_target::ops::support`]; Pow only by one constant exponent, as a lookup table).
fn has_integer_kernel(graph: &Graph, node: &Node) -> bool {
    radix_target::ops::support(&node.op).integer_kernel
        && (node.op != Op::Pow || pow_exponent(graph, node).is_some())
}

/// The exponent of a Pow node when it is one constant value and the output keeps the input's
/// shape (then the node is a lookup table).
fn pow_exponent(graph: &Graph, node: &Node) -> Option<f32> {
    let (&x, &e) = (node.inputs.first()?, node.inputs.get(1)?);
    let d = graph.const_data(e)?;
    let first = *d.iter().next()?;
    let same_shape = node
        .outputs
        .first()
        .is_some_and(|&o| graph.shape(o) == graph.shape(x));
    (same_shape && !graph.value(x).is_const() && d.iter().all(|&v| v == first)).then_some(first)
}

/// Ops whose output keeps the input's parameters (integers move unchanged).
fn is_passthrough(op: &Op) -> bool {
    op.is_layout() && !matches!(op, Op::Concat { .. })
        || matches!(op, Op::MaxPool(_) | Op::GlobalMaxPool | Op::Pad { .. })
        || matches!(op, Op::Resize(a) if a.mode == ResizeMode::Nearest)
}

/// The result of [`quantize`]: the model and what the caller should be told about it.
pub struct Quantized {
    /// The fixed-point model.
    pub model: QuantModel,
    /// Nodes the target would run on the NPU but Radix simulates on the CPU side.
    pub warnings: Vec<String>,
}

/// Quantizes `graph` (already prepared with [`crate::prepare`]) from its calibration statistics,
/// for `cfg.platform`'s built-in profile ([`quantize_on`] with it).
pub fn quantize(
    graph: &Graph,
    calib: &Calibration,
    cfg: &QuantConfig,
) -> Result<Quantized, QuantError> {
    quantize_on(graph, calib, cfg, cfg.platform.profile())
}

/// Quantizes `graph` for any [`Target`]: the target places every node and says which scale
/// format it serves (power-of-two only, or any scale); `cfg.platform` is what the model records.
pub fn quantize_on(
    graph: &Graph,
    calib: &Calibration,
    cfg: &QuantConfig,
    target: &dyn Target,
) -> Result<Quantized, QuantError> {
    let placements = target.check_graph(graph)?;
    let pow2 = !target.capabilities().non_pow2_scale;
    let method: Box<dyn RangeMethod> = match cfg.range {
        RangeChoice::Percentage {
            percentage,
            percentage_16b,
        } => Box::new(Percentage {
            percentage,
            percentage_16b,
        }),
        RangeChoice::Mmse {
            percentile,
            outlier_factor,
        } => Box::new(Mmse {
            percentile,
            outlier_factor,
            power_of_two: pow2,
        }),
    };
    let mut warnings = Vec::new();
    let mut tensors: Vec<Option<QParams>> = vec![None; graph.values.len()];
    let mut consts: Vec<Option<QConst>> = vec![None; graph.values.len()];
    let range_of = |v: ValueId, bits: u8| -> Result<QParams, QuantError> {
        let stats = calib
            .stats
            .get(v.0)
            .and_then(|s| s.as_ref())
            .ok_or_else(|| QuantError::NoStatistics {
                tensor: graph.value(v).name.clone(),
            })?;
        // Model outputs keep their extremes: the largest logits / scores are the decision, and
        // clipping them (as a percentile does) flips top-1 results.
        let absmax = if graph.outputs.contains(&v) && !cfg.post_sigmoid {
            radix_calib::MinMax.absmax(stats, bits as u32)
        } else {
            method.absmax(stats, bits as u32)
        }
        .map_err(|e| QuantError::Range {
            tensor: graph.value(v).name.clone(),
            msg: e.to_string(),
        })?;
        let absmax = if cfg.post_sigmoid && graph.outputs.contains(&v) {
            // Beyond |x| = 8 a sigmoid is saturated to < 4e-4: spend the codes on the region that matters.
            absmax.min(8.0)
        } else {
            absmax
        };
        Ok(QParams::from_absmax(absmax, bits, pow2))
    };
    for &i in &graph.inputs {
        tensors[i.0] = Some(range_of(i, cfg.model_in_bits)?);
    }
    let mut nodes = Vec::with_capacity(graph.nodes.len());
    for (ni, node) in graph.nodes.iter().enumerate() {
        let mut placement = placements.get(ni).copied().unwrap_or(Placement::Npu);
        if placement == Placement::Npu && !has_integer_kernel(graph, node) {
            warnings.push(format!(
                "node `{}` ({}) runs as a CPU node in Radix's simulation: no integer kernel yet",
                node.name,
                node.op.type_name()
            ));
            placement = Placement::Cpu;
        }
        let out = node.outputs[0];
        let in_params = |tensors: &[Option<QParams>], k: usize| -> Result<QParams, QuantError> {
            let v = node.inputs[k];
            tensors[v.0].ok_or_else(|| {
                QuantError::Internal(format!(
                    "no parameters for input `{}` of `{}`",
                    graph.value(v).name,
                    node.name
                ))
            })
        };
        let out_bits = if graph.outputs.contains(&out) {
            cfg.model_out_bits
        } else if placement == Placement::Cpu {
            cfg.cpu_node_bits
        } else {
            cfg.activation_bits_of(out)
        };
        // Output parameters.
        if placement == Placement::Npu && is_passthrough(&node.op) {
            let p = in_params(&tensors, 0)?;
            for &o in &node.outputs {
                tensors[o.0] = Some(p);
            }
        } else {
            for &o in &node.outputs {
                tensors[o.0] = Some(range_of(o, out_bits)?);
            }
        }
        let py = tensors[out.0].ok_or_else(|| QuantError::Internal("output params".into()))?;
        if placement == Placement::Cpu {
            nodes.push(QNode {
                placement,
                kernel: QKernel::Cpu,
            });
            continue;
        }
        // Constant operands of elementwise ops get their own parameters at the datapath width.
        let operand = |k: usize, consts: &mut Vec<Option<QConst>>| -> Result<QParams, QuantError> {
            let v = node.inputs[k];
            if let Some(d) = graph.const_data(v) {
                let absmax = d.iter().fold(0f32, |m, x| m.max(x.abs()));
                let p = QParams::from_absmax(absmax, cfg.datapath_bits.max(8), pow2);
                consts[v.0] = Some(QConst {
                    params: p,
                    data: d.iter().map(|&x| p.quantize(x)).collect(),
                });
                Ok(p)
            } else {
                in_params(&tensors, k)
            }
        };
        let kernel = match &node.op {
            Op::Conv(a) | Op::ConvTranspose(a) => mac_kernel(
                graph,
                node,
                in_params(&tensors, 0)?,
                py,
                cfg.weight_bits_of(ni),
                pow2,
                a.activation,
            )?,
            Op::Gemm { activation } => mac_kernel(
                graph,
                node,
                in_params(&tensors, 0)?,
                py,
                cfg.weight_bits_of(ni),
                pow2,
                *activation,
            )?,
            Op::Add | Op::Sub => {
                let (pa, pb) = (operand(0, &mut consts)?, operand(1, &mut consts)?);
                let sign = if matches!(node.op, Op::Sub) {
                    -1.0
                } else {
                    1.0
                };
                QKernel::Add {
                    rq: AddRequant::from_factors(
                        py.multiplier() / pa.multiplier(),
                        sign * py.multiplier() / pb.multiplier(),
                    ),
                }
            }
            Op::Mul => {
                let (pa, pb) = (operand(0, &mut consts)?, operand(1, &mut consts)?);
                QKernel::Mul {
                    requant: Requant::from_factor(
                        py.multiplier() / (pa.multiplier() * pb.multiplier()),
                    ),
                }
            }
            Op::MatMul => {
                let (pa, pb) = (operand(0, &mut consts)?, operand(1, &mut consts)?);
                QKernel::MatMul {
                    requant: Requant::from_factor(
                        py.multiplier() / (pa.multiplier() * pb.multiplier()),
                    ),
                }
            }
            Op::PRelu => {
                let px = in_params(&tensors, 0)?;
                let slope =
                    graph
                        .const_data(node.inputs[1])
                        .ok_or_else(|| QuantError::Unsupported {
                            node: node.name.clone(),
                            what: "PRelu with a computed slope".into(),
                        })?;
                let base = py.multiplier() / px.multiplier();
                let c = graph.shape(node.inputs[0]).get(1).copied().unwrap_or(1);
                let slopes: Vec<f32> = slope.iter().copied().collect();
                let per_channel = |ch: usize| -> f32 {
                    if slopes.len() == 1 {
                        slopes[0]
                    } else {
                        slopes.get(ch).copied().unwrap_or(0.0)
                    }
                };
                if slopes.len() != 1 && slopes.len() != c {
                    return Err(QuantError::Unsupported {
                        node: node.name.clone(),
                        what: format!("PRelu slope with {} values for {c} channels", slopes.len()),
                    });
                }
                QKernel::PRelu {
                    pos: Requant::from_factor(base),
                    neg: (0..c)
                        .map(|ch| Requant::from_factor(base * per_channel(ch) as f64))
                        .collect(),
                }
            }
            Op::Pow => {
                let px = in_params(&tensors, 0)?;
                let e = pow_exponent(graph, node).ok_or_else(|| {
                    QuantError::Internal(format!(
                        "Pow `{}` without one constant exponent",
                        node.name
                    ))
                })?;
                let table = (px.qmin()..=px.qmax())
                    .map(|q| py.quantize(px.dequantize(q).powf(e)))
                    .collect();
                QKernel::Lut { table }
            }
            op if op.is_unary_elementwise() => {
                let px = in_params(&tensors, 0)?;
                let table = (px.qmin()..=px.qmax())
                    .map(|q| py.quantize(unary(op, px.dequantize(q))))
                    .collect();
                QKernel::Lut { table }
            }
            Op::AveragePool(a) => {
                let px = in_params(&tensors, 0)?;
                let cells = a.kernel[0] * a.kernel[1];
                QKernel::AvgPool {
                    requant: (0..=cells)
                        .map(|n| {
                            if n == 0 {
                                Requant { mult: 0, shift: 0 }
                            } else {
                                Requant::from_factor(py.multiplier() / (px.multiplier() * n as f64))
                            }
                        })
                        .collect(),
                }
            }
            Op::GlobalAveragePool => {
                let px = in_params(&tensors, 0)?;
                let hw: usize = graph.shape(node.inputs[0])[2..].iter().product();
                QKernel::GlobalAvg {
                    requant: Requant::from_factor(py.multiplier() / (px.multiplier() * hw as f64)),
                }
            }
            Op::Concat { .. } => {
                let mut rq = Vec::with_capacity(node.inputs.len());
                for k in 0..node.inputs.len() {
                    let p = operand(k, &mut consts)?;
                    rq.push(if p == py {
                        None
                    } else {
                        Some(Requant::from_factor(py.multiplier() / p.multiplier()))
                    });
                }
                QKernel::Concat { requant: rq }
            }
            Op::Resize(a) => {
                let px = in_params(&tensors, 0)?;
                let s = graph.shape(node.inputs[0]);
                let rows = axis_plan(a, 0, s[2]);
                let cols = axis_plan(a, 1, s[3]);
                QKernel::Resize {
                    rows,
                    cols,
                    requant: Requant::from_factor(
                        py.multiplier() / (px.multiplier() * 2f64.powi(2 * RESIZE_FRAC_BITS)),
                    ),
                }
            }
            Op::Pad { mode, value, .. } => QKernel::PassThrough {
                pad_value: if *mode == PadMode::Constant {
                    py.quantize(*value)
                } else {
                    0
                },
            },
            Op::Gather { .. } => QKernel::PassThrough { pad_value: 0 },
            op if is_passthrough(op) => QKernel::PassThrough { pad_value: 0 },
            other => {
                return Err(QuantError::Unsupported {
                    node: node.name.clone(),
                    what: format!("no integer kernel for {}", other.type_name()),
                });
            }
        };
        nodes.push(QNode { placement, kernel });
    }
    // A constant graph output (folded at import) is returned as it is; it still gets output
    // parameters, for the engines' integer view of the outputs.
    for &o in &graph.outputs {
        if let Some(d) = graph.const_data(o)
            && tensors[o.0].is_none()
        {
            let absmax = d.iter().fold(0f32, |m, x| m.max(x.abs()));
            let absmax = if absmax > 0.0 && absmax.is_finite() {
                absmax
            } else {
                1.0
            };
            tensors[o.0] = Some(QParams::from_absmax(absmax, cfg.model_out_bits, pow2));
        }
    }
    Ok(Quantized {
        model: QuantModel {
            graph: graph.clone(),
            platform: cfg.platform.number(),
            tensors,
            consts,
            nodes,
        },
        warnings,
    })
}

/// Per-output-channel weights, bias and requantization of Conv / ConvTranspose / Gemm.
fn mac_kernel(
    graph: &Graph,
    node: &Node,
    px: QParams,
    py: QParams,
    weight_bits: u8,
    pow2: bool,
    act: Activation,
) -> Result<QKernel, QuantError> {
    let transpose = matches!(node.op, Op::ConvTranspose(_));
    let w = graph
        .const_data(node.inputs[1])
        .ok_or_else(|| QuantError::Unsupported {
            node: node.name.clone(),
            what: "a weight that is not constant".into(),
        })?;
    let group = match &node.op {
        Op::ConvTranspose(a) => a.group,
        _ => 1,
    };
    let oc = if transpose {
        w.shape()[1] * group
    } else {
        w.shape()[0]
    };
    // Absolute max of each output channel's weights.
    let mut absmax = vec![0f32; oc];
    if transpose {
        let cin_per_g = w.shape()[0] / group;
        let cout_per_g = w.shape()[1];
        for (ci, sub) in w.axis_iter(Axis(0)).enumerate() {
            let g = ci / cin_per_g.max(1);
            for (j, ch) in sub.axis_iter(Axis(0)).enumerate() {
                let c = g * cout_per_g + j;
                absmax[c] = ch.iter().fold(absmax[c], |m, x| m.max(x.abs()));
            }
        }
    } else {
        for (c, ch) in w.axis_iter(Axis(0)).enumerate() {
            absmax[c] = ch.iter().fold(0f32, |m, x| m.max(x.abs()));
        }
    }
    let bias_f: Vec<f32> = match node.inputs.get(2).and_then(|&b| graph.const_data(b)) {
        Some(b) => b.iter().copied().collect(),
        None => vec![0.0; oc],
    };
    if bias_f.len() != oc {
        return Err(QuantError::Unsupported {
            node: node.name.clone(),
            what: format!("bias with {} values for {oc} output channels", bias_f.len()),
        });
    }
    let wq_max = qmax_f64(weight_bits);
    let wp: Vec<QParams> = absmax
        .iter()
        .zip(&bias_f)
        .map(|(&a, &b)| {
            let floor = weight_absmax_floor(b, px, wq_max);
            let a = a.max(floor);
            QParams::from_absmax(if a > 0.0 { a } else { 1.0 }, weight_bits, pow2)
        })
        .collect();
    let channel_of = |idx: &[usize]| -> usize {
        if transpose {
            let cin_per_g = w.shape()[0] / group;
            (idx[0] / cin_per_g.max(1)) * w.shape()[1] + idx[1]
        } else {
            idx[0]
        }
    };
    let weights: Vec<i32> = quantize_weights(w, &wp, channel_of);
    let bias = (0..oc)
        .map(|c| (bias_f[c] as f64 * px.multiplier() * wp[c].multiplier()).round() as i64)
        .collect();
    let factor = |c: usize| py.multiplier() / (px.multiplier() * wp[c].multiplier());
    let requant = (0..oc).map(|c| Requant::from_factor(factor(c))).collect();
    let (mut act_min, mut act_max) = (py.qmin(), py.qmax());
    let mut requant_neg = None;
    match act {
        Activation::None => {}
        Activation::Relu => act_min = 0,
        Activation::Clip { min, max } => {
            act_min = py.quantize(min);
            act_max = py.quantize(max);
        }
        Activation::LeakyRelu { alpha } => {
            requant_neg = Some(
                (0..oc)
                    .map(|c| Requant::from_factor(factor(c) * alpha as f64))
                    .collect(),
            )
        }
    }
    Ok(QKernel::Mac {
        weights,
        weight_params: wp,
        bias,
        requant,
        requant_neg,
        act_min,
        act_max,
    })
}

/// Largest integer bias a Mac kernel is given: `2^30`, so that `|bias|` stays far inside the
/// accumulator whatever the weight scale.
pub(crate) const BIAS_LIMIT: f64 = (1u64 << 30) as f64;

fn qmax_f64(bits: u8) -> f64 {
    radix_ir::qmodel::qmax(bits) as f64
}

/// The smallest weight absmax a channel's scale is derived from, so that its integer bias
/// `b * S_x * S_w` is at most [`BIAS_LIMIT`]. A channel whose weights are below it (a dead
/// channel: BatchNorm with a zero gamma leaves weights near 1e-22 next to a bias near 1e-14)
/// would otherwise get a weight scale near 1e26 and a bias far beyond any accumulator. With the
/// floor, such a channel's weights quantize to (near) zero, and each weight's rounding error is
/// at most `|b| * S_x / (2 * 2^30)`, negligible next to the bias it sits with.
fn weight_absmax_floor(bias: f32, px: QParams, weight_qmax: f64) -> f32 {
    (bias.abs() as f64 * px.multiplier() * weight_qmax / BIAS_LIMIT) as f32
}

fn quantize_weights(
    w: &ArrayD<f32>,
    wp: &[QParams],
    channel_of: impl Fn(&[usize]) -> usize,
) -> Vec<i32> {
    let mut out = Vec::with_capacity(w.len());
    let shape = w.shape();
    let d0_stride: usize = shape[1..].iter().product::<usize>().max(1);
    let d1_stride: usize = shape
        .get(2..)
        .map(|s| s.iter().product::<usize>())
        .unwrap_or(1)
        .max(1);
    let d1 = shape.get(1).copied().unwrap_or(1).max(1);
    for (flat, &v) in w.iter().enumerate() {
        let c = channel_of(&[flat / d0_stride, (flat / d1_stride) % d1]);
        out.push(wp[c].quantize(v));
    }
    out
}

/// Source indices and integer weights for one spatial axis of a Resize (ONNX semantics): the
/// taps of `radix_ir::semantics::resize` computed in f64, the second tap's weight rounded to
/// `RESIZE_FRAC_BITS` fractional bits.
pub fn axis_plan(a: &ResizeAttrs, axis: usize, in_len: usize) -> AxisPlan {
    let out_len = a.out_hw[axis];
    let one = 1i32 << RESIZE_FRAC_BITS;
    let mut plan = AxisPlan {
        i0: Vec::with_capacity(out_len),
        i1: Vec::with_capacity(out_len),
        w0: Vec::with_capacity(out_len),
        w1: Vec::with_capacity(out_len),
    };
    for t in a.axis_taps::<f64>(axis, in_len, out_len) {
        let w1 = (t.frac * one as f64).round() as i32;
        plan.i0.push(t.i0 as u32);
        plan.i1.push(t.i1 as u32);
        plan.w0.push(one - w1);
        plan.w1.push(w1);
    }
    plan
}
