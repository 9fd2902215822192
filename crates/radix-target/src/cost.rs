//! The per-node work model: what a node costs independently of where its tensors live.
//!
//! * MACs (as ONNX defines them) and MAC-array cycles, with the array's utilisation for the
//!   layer's channel and pixel counts: `cycles = MACs / (MACs_per_cycle x u_ic x u_oc x u_px x
//!   bitwidth_rate x efficiency)`, where `u_ic = cin_per_group / (ceil(cin_per_group / ic) x ic)`
//!   (a depthwise conv uses one of `ic` lanes), `u_oc = Cout / (ceil(Cout / oc) x oc)` and
//!   `u_px = Wout / (ceil(Wout / px) x px)`.
//! * CFUNC (elementwise / activation unit) and PFUNC (pooling / layout unit) cycles, from bytes
//!   streamed through a unit of `*_bytes_per_cycle`.
//! * Tensor bytes in the platform's SRAM/DDR layout at the node's bitwidths, and weight bytes at
//!   the weight bitwidth.
//!
//! Where tensors live (SRAM or DDR) and how feature maps are split is the planner's business
//! (`tiling.rs`); turning both into times is `eval.rs`.

use radix_ir::{Graph, Node, Op, ValueId};
use serde::{Deserialize, Serialize};

use crate::hw::{FmLayout, HwProfile};

/// Bitwidths of one node: datapath in / out and weights. Default: 8 / 8 / 8.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct NodeBits {
    /// Bits of the node's input feature maps (8 or 16).
    pub in_bits: u8,
    /// Bits of the node's output feature maps (8 or 16).
    pub out_bits: u8,
    /// Bits of the node's weights (4, 8 or 16).
    pub weight_bits: u8,
}

impl Default for NodeBits {
    fn default() -> Self {
        NodeBits {
            in_bits: 8,
            out_bits: 8,
            weight_bits: 8,
        }
    }
}

impl NodeBits {
    /// 8 bits everywhere (the default).
    pub const INT8: NodeBits = NodeBits {
        in_bits: 8,
        out_bits: 8,
        weight_bits: 8,
    };
    /// 16 bits everywhere.
    pub const INT16: NodeBits = NodeBits {
        in_bits: 16,
        out_bits: 16,
        weight_bits: 16,
    };

    /// Same bitwidth everywhere.
    pub fn uniform(bits: u8) -> NodeBits {
        NodeBits {
            in_bits: bits,
            out_bits: bits,
            weight_bits: bits,
        }
    }

    /// MAC throughput relative to 8 x 8 bits on `hw`.
    pub fn mac_rate(&self, hw: &HwProfile) -> f64 {
        let data = if self.in_bits > 8 { hw.mac16_rate } else { 1.0 };
        let w = if self.weight_bits > 8 {
            hw.mac16_rate
        } else if self.weight_bits <= 4 {
            hw.int4_rate
        } else {
            1.0
        };
        data * w
    }
}

/// A tensor's shape seen as NCHW (missing leading / trailing axes are 1).
pub fn as_nchw(shape: &[usize]) -> [usize; 4] {
    match shape.len() {
        0 => [1, 1, 1, 1],
        1 => [1, shape[0], 1, 1],
        2 => [shape[0], shape[1], 1, 1],
        3 => [shape[0], shape[1], 1, shape[2]],
        4 => [shape[0], shape[1], shape[2], shape[3]],
        _ => {
            // Fold extra leading axes into N.
            let k = shape.len() - 3;
            let n: usize = shape[..k].iter().product();
            [n, shape[k], shape[k + 1], shape[k + 2]]
        }
    }
}

/// Bytes of one row (all channels) of an NCHW tensor in `layout` at `bits`.
pub fn row_bytes(layout: FmLayout, nchw: [usize; 4], bits: u8) -> u64 {
    let [n, c, _, w] = nchw;
    let bpe = (bits as u64).div_ceil(8).max(1);
    let ca = layout.c_align.max(1) as u64;
    let c_pad = (c as u64).div_ceil(ca) * ca;
    let ra = layout.row_align_bytes.max(1) as u64;
    if ca == 1 {
        // One channel per row (16W1C8B): each channel's row is padded.
        let row = (w as u64 * bpe).div_ceil(ra) * ra;
        n as u64 * c as u64 * row
    } else {
        // Channel groups of `c_align` per pixel entry; a row of entries is padded.
        let groups = c_pad / ca;
        let row = (w as u64 * ca * bpe).div_ceil(ra) * ra;
        n as u64 * groups * row
    }
}

/// Bytes of a whole tensor in `layout` at `bits`.
pub fn fm_bytes(layout: FmLayout, shape: &[usize], bits: u8) -> u64 {
    let nchw = as_nchw(shape);
    row_bytes(layout, nchw, bits) * nchw[2] as u64
}

/// Bytes of `n` weights at `bits`.
pub fn weight_bytes(n: usize, bits: u8) -> u64 {
    (n as u64 * bits as u64).div_ceil(8)
}

/// Bias / per-channel parameter bytes (32-bit accumulator-domain values).
fn param_bytes(n: usize) -> u64 {
    n as u64 * 4
}

/// What a node costs on the NPU before tiling.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct NodeWork {
    /// Multiply-accumulates of one inference.
    pub macs: u64,
    /// Array utilisation from channel / pixel padding (1.0 = every lane busy).
    pub mac_util: f64,
    /// MAC-array cycles at 100% sustained efficiency (utilisation included): Kneron's
    /// "theoretical convolution time" counterpart.
    pub ideal_mac_cycles: f64,
    /// MAC-array cycles including the sustained efficiency.
    pub mac_cycles: f64,
    /// Elementwise / activation unit cycles.
    pub cfunc_cycles: f64,
    /// Pooling / layout unit cycles.
    pub pfunc_cycles: f64,
    /// Bytes of each dynamic input, in node-input order.
    pub in_bytes: Vec<(ValueId, u64)>,
    /// Bytes of each output.
    pub out_bytes: Vec<(ValueId, u64)>,
    /// Weight and parameter bytes (constants the node reads).
    pub weight_bytes: u64,
    /// Output rows (H of the first output). With the vertical window (`stride_h`, `kernel_h`):
    /// to make `r` output rows the node reads `(r - 1) * stride_h + kernel_h` input rows.
    pub out_rows: usize,
    /// Rows (H) of the first dynamic input.
    pub in_rows: usize,
    /// Vertical stride of the node's window (1 for row-wise ops).
    pub stride_h: usize,
    /// Input rows one output row needs: the dilated kernel height for Conv / pools, 1 for
    /// row-wise ops, the whole input height for ops that depend on all of it.
    pub kernel_h: usize,
    /// Executed inside another node (a residual add in the output stage of the conv that feeds
    /// it, see [`fuse_eltwise`]) or a pure relabelling (Identity, or a reshape that keeps the
    /// NCHW view): no issue overhead and no unit pass of its own.
    pub folded: bool,
}

impl NodeWork {
    /// Bytes of all dynamic inputs.
    pub fn total_in(&self) -> u64 {
        self.in_bytes.iter().map(|x| x.1).sum()
    }
    /// Bytes of all outputs.
    pub fn total_out(&self) -> u64 {
        self.out_bytes.iter().map(|x| x.1).sum()
    }
    /// MAC + CFUNC + PFUNC cycles (the units run one after another in this model).
    pub fn compute_cycles(&self) -> f64 {
        self.mac_cycles + self.cfunc_cycles + self.pfunc_cycles
    }
}

fn util(n: usize, lanes: u32) -> f64 {
    let lanes = lanes.max(1) as usize;
    if n == 0 {
        return 1.0;
    }
    n as f64 / (n.div_ceil(lanes) * lanes) as f64
}

/// The layout a tensor uses: model inputs with <= 4 channels use the 4W4C input layout.
pub fn layout_of(hw: &HwProfile, graph: &Graph, v: ValueId) -> FmLayout {
    let s = graph.shape(v);
    let is_small_input = graph.inputs.contains(&v) && as_nchw(s)[1] <= 4;
    if is_small_input {
        hw.input_layout
    } else {
        hw.layout
    }
}

/// True for inputs that are parameters (weights, biases, slopes...) rather than activations.
pub fn is_param(graph: &Graph, node: &Node, idx: usize) -> bool {
    let v = node.inputs[idx];
    graph.value(v).is_const()
        || (idx >= 1
            && matches!(
                node.op,
                Op::Conv(_) | Op::ConvTranspose(_) | Op::Gemm { .. } | Op::BatchNorm { .. }
            ))
}

/// The NPU work of `node` on `hw` at `bits`.
pub fn node_work(hw: &HwProfile, graph: &Graph, node: &Node, bits: NodeBits) -> NodeWork {
    let mut w = NodeWork {
        mac_util: 1.0,
        stride_h: 1,
        kernel_h: 1,
        ..Default::default()
    };
    for (i, &v) in node.inputs.iter().enumerate() {
        if is_param(graph, node, i) {
            let n = graph.value(v).numel();
            // Weights (input 1 of MAC ops, constant operands of elementwise ops) at the
            // weight bitwidth; biases and BN parameters as 32-bit values.
            let is_bias = i >= 2 || matches!(node.op, Op::BatchNorm { .. });
            w.weight_bytes += if is_bias {
                param_bytes(n)
            } else {
                weight_bytes(n, bits.weight_bits)
            };
        } else if !w.in_bytes.iter().any(|x| x.0 == v) {
            let b = fm_bytes(layout_of(hw, graph, v), graph.shape(v), bits.in_bits);
            w.in_bytes.push((v, b));
        }
    }
    for &o in &node.outputs {
        w.out_bytes
            .push((o, fm_bytes(hw.layout, graph.shape(o), bits.out_bits)));
    }
    let out_shape = node
        .outputs
        .first()
        .map(|&o| graph.shape(o).to_vec())
        .unwrap_or_default();
    let out_nchw = as_nchw(&out_shape);
    w.out_rows = out_nchw[2].max(1);
    let x_shape: Vec<usize> = node
        .inputs
        .first()
        .map(|&v| graph.shape(v).to_vec())
        .unwrap_or_default();
    w.in_rows = as_nchw(&x_shape)[2].max(1);
    let in_shapes: Vec<&[usize]> = node.inputs.iter().map(|&v| graph.shape(v)).collect();
    w.macs = node.op.macs(&in_shapes, &out_shape);

    let total_out: u64 = w.total_out();
    let total_in: u64 = w.total_in();
    let rate = bits.mac_rate(hw);
    let mpc = hw.mac.macs_per_cycle() as f64;
    // `share` is the fraction of the array the operator class maps onto (its lanes over the
    // conv array's), `waste` the factor of positions computed and dropped (strides).
    let mac_cycles = |w: &mut NodeWork, share: f64, u: [f64; 3], waste: f64| {
        w.mac_util = share * u[0] * u[1] * u[2] / waste.max(1.0);
        w.ideal_mac_cycles = w.macs as f64 / (mpc * w.mac_util * rate);
        w.mac_cycles = w.ideal_mac_cycles / hw.mac_efficiency.max(1e-6);
    };
    let pw = hw.mac_pointwise;
    let pw_share = pw.macs_per_cycle() as f64 / mpc;
    match &node.op {
        Op::Conv(a) | Op::ConvTranspose(a) => {
            let x = as_nchw(&x_shape);
            let g = a.group.max(1);
            let cin_g = x[1] / g;
            let cout = out_nchw[1];
            let first = node
                .inputs
                .first()
                .is_some_and(|v| graph.inputs.contains(v))
                && x[1] <= 4;
            let window = a.kernel[0] * a.kernel[1];
            let depthwise = cin_g == 1 && g > 1;
            // A 1x1 conv has no window to reuse: it runs on the pointwise mapping.
            let (arr, share) = if window == 1 && !depthwise {
                (pw, pw_share)
            } else {
                (hw.mac, 1.0)
            };
            let ic = if first { hw.first_layer_ic } else { arr.ic };
            let u_ic = if depthwise && hw.dw_window_on_ic {
                // Depthwise: the kernel window takes the input-channel lanes' place.
                util(window, ic)
            } else {
                util(cin_g, ic)
            };
            let (u_px, waste) = match node.op {
                // A stride-s transposed conv is s*s sub-convolutions on the input grid.
                Op::ConvTranspose(_) => (util(x[3], arr.px), 1.0),
                _ => {
                    let [sh, sw] = [a.strides[0].max(1) as f64, a.strides[1].max(1) as f64];
                    let waste = match hw.stride_waste_axes {
                        0 => 1.0,
                        1 => sw,
                        _ => sw * sh,
                    };
                    (util(out_nchw[3], arr.px), waste)
                }
            };
            mac_cycles(&mut w, share, [u_ic, util(cout, arr.oc), u_px], waste);
            w.stride_h = a.strides[0].max(1);
            w.kernel_h = a.dilations[0] * (a.kernel[0].max(1) - 1) + 1;
            if matches!(node.op, Op::ConvTranspose(_)) {
                // Output rows per input row: treat as a 1-row window on the input grid.
                w.stride_h = 1;
                w.kernel_h = 1;
            }
        }
        Op::Gemm { .. } | Op::MatMul => {
            let k = x_shape.last().copied().unwrap_or(1);
            let n = out_shape.last().copied().unwrap_or(1);
            let rows: usize = out_shape.iter().rev().skip(1).product::<usize>().max(1);
            mac_cycles(
                &mut w,
                pw_share,
                [util(k, pw.ic), util(n, pw.oc), util(rows, pw.px)],
                1.0,
            );
        }
        Op::BatchNorm { .. }
        | Op::Relu
        | Op::Clip { .. }
        | Op::LeakyRelu { .. }
        | Op::PRelu
        | Op::Sigmoid
        | Op::HardSigmoid { .. }
        | Op::Tanh
        | Op::Exp
        | Op::Add
        | Op::Sub
        | Op::Mul
        | Op::Div => {
            // Stream every operand through the unit once.
            w.cfunc_cycles = (total_in.max(total_out)) as f64 / hw.cfunc_bytes_per_cycle;
        }
        Op::HardSwish => {
            // HardSigmoid then Mul.
            w.cfunc_cycles = 2.0 * total_out as f64 / hw.cfunc_bytes_per_cycle;
        }
        Op::Softmax { .. } => {
            // Exp, ReduceSum, Div.
            w.cfunc_cycles = 3.0 * total_out as f64 / hw.cfunc_bytes_per_cycle;
        }
        Op::ReduceMean { .. } => {
            w.cfunc_cycles = total_in as f64 / hw.cfunc_bytes_per_cycle;
        }
        Op::MaxPool(p) | Op::AveragePool(p) => {
            let window = (p.kernel[0] * p.kernel[1]).max(1) as f64;
            w.pfunc_cycles = total_out as f64 * window / hw.pfunc_bytes_per_cycle;
            w.stride_h = p.strides[0].max(1);
            w.kernel_h = p.dilations[0] * (p.kernel[0].max(1) - 1) + 1;
        }
        Op::GlobalAveragePool | Op::GlobalMaxPool => {
            w.pfunc_cycles = total_in as f64 / hw.pfunc_bytes_per_cycle;
            // Needs the whole input for its single output row.
            w.kernel_h = as_nchw(&x_shape)[2].max(1);
            w.stride_h = w.kernel_h;
        }
        op if op.is_unary_elementwise() || op.is_variadic_elementwise() || *op == Op::Pow => {
            w.cfunc_cycles = (total_in.max(total_out)) as f64 / hw.cfunc_bytes_per_cycle;
        }
        Op::ReduceMax { .. } | Op::ReduceMin { .. } | Op::ReduceSum { .. } => {
            w.cfunc_cycles = total_in as f64 / hw.cfunc_bytes_per_cycle;
        }
        Op::LayerNorm { .. } | Op::InstanceNorm { .. } => {
            // Mean, variance, normalise.
            w.cfunc_cycles = 3.0 * total_in as f64 / hw.cfunc_bytes_per_cycle;
        }
        Op::Identity | Op::Dropout | Op::Cast => w.folded = true,
        _ if is_view_reshape(graph, node) => w.folded = true,
        _ => {
            // Layout ops (Concat, Split, Slice, Reshape, Flatten, Transpose, Squeeze,
            // Unsqueeze, Pad, Resize, Gather): one pass through the layout unit.
            w.pfunc_cycles = total_out.max(1) as f64 / hw.pfunc_bytes_per_cycle;
            let reshapes = matches!(
                node.op,
                Op::Reshape { .. } | Op::Flatten { .. } | Op::Transpose { .. }
            );
            if reshapes {
                // Whole-tensor dependence.
                w.kernel_h = as_nchw(&x_shape)[2].max(1);
                w.stride_h = w.kernel_h;
            }
        }
    }
    w
}

/// True for Reshape / Flatten / Squeeze / Unsqueeze that keep the NCHW view of the tensor
/// (only unit axes move, e.g. `[1, C, 1, 1] -> [1, C]`): no byte moves in any layout.
pub fn is_view_reshape(graph: &Graph, node: &Node) -> bool {
    matches!(
        node.op,
        Op::Reshape { .. } | Op::Flatten { .. } | Op::Squeeze { .. } | Op::Unsqueeze { .. }
    ) && match (node.inputs.first(), node.outputs.first()) {
        (Some(&i), Some(&o)) => as_nchw(graph.shape(i)) == as_nchw(graph.shape(o)),
        _ => false,
    }
}

/// Marks elementwise Add / Sub / Mul nodes that the conv feeding them executes in its output
/// stage (the residual add of a bottleneck block): the node's producer is an NPU Conv or Gemm
/// without a fused activation whose only reader is this node. Such a node keeps its DMA (it still
/// reads the other operand) but loses its issue overhead and CFUNC pass.
pub fn fuse_eltwise(graph: &Graph, works: &mut [Option<NodeWork>]) {
    let producers = graph.producers();
    let consumers = graph.consumers();
    for (i, node) in graph.nodes.iter().enumerate() {
        if !matches!(node.op, Op::Add | Op::Sub | Op::Mul) || works[i].is_none() {
            continue;
        }
        let fusable = graph.dynamic_inputs(node).any(|v| {
            producers[v.0].is_some_and(|p| {
                let pn = &graph.nodes[p.0];
                works[p.0].is_some()
                    && matches!(pn.op.fused_activation(), Some(a) if a.is_none())
                    && consumers[v.0].len() == 1
                    && !graph.outputs.contains(&v)
            })
        });
        if fusable && let Some(w) = works[i].as_mut() {
            w.folded = true;
            w.cfunc_cycles = 0.0;
        }
    }
}

/// Marks MaxPool / AveragePool nodes that run in the output stage of the conv feeding them (the
/// conv -> activation -> pool chains Kneron's reports list as one FUSED node): the producer is an
/// NPU Conv whose only reader is the pool. The pool keeps its bytes but loses its issue overhead
/// and its PFUNC pass (the pooling unit works on the conv's output stream, overlapped).
pub fn fuse_pool(graph: &Graph, works: &mut [Option<NodeWork>]) {
    let producers = graph.producers();
    let consumers = graph.consumers();
    for (i, node) in graph.nodes.iter().enumerate() {
        if !matches!(node.op, Op::MaxPool(_) | Op::AveragePool(_)) || works[i].is_none() {
            continue;
        }
        let fusable = node.inputs.first().is_some_and(|&v| {
            producers[v.0].is_some_and(|p| {
                works[p.0].is_some()
                    && matches!(graph.nodes[p.0].op, Op::Conv(_))
                    && consumers[v.0].len() == 1
                    && !graph.outputs.contains(&v)
            })
        });
        if fusable && let Some(w) = works[i].as_mut() {
            w.folded = true;
            w.pfunc_cycles = 0.0;
        }
    }
}

/// Estimated CPU time (ms) of a CPU node: float operations over the CPU's sustained rate.
pub fn cpu_runtime_ms(hw: &HwProfile, graph: &Graph, node: &Node) -> f64 {
    let in_shapes: Vec<&[usize]> = node.inputs.iter().map(|&v| graph.shape(v)).collect();
    let out_shape = node
        .outputs
        .first()
        .map(|&o| graph.shape(o).to_vec())
        .unwrap_or_default();
    let macs = node.op.macs(&in_shapes, &out_shape) as f64;
    let out_elems: f64 = node
        .outputs
        .iter()
        .map(|&o| graph.value(o).numel() as f64)
        .sum();
    let in_elems: f64 = graph
        .dynamic_inputs(node)
        .map(|v| graph.value(v).numel() as f64)
        .sum();
    let per_elem = match node.op {
        Op::Softmax { .. } | Op::Sigmoid | Op::Tanh | Op::Exp => 10.0,
        Op::HardSwish | Op::HardSigmoid { .. } | Op::Div => 3.0,
        Op::Elu { .. }
        | Op::Selu { .. }
        | Op::Softplus
        | Op::Gelu { .. }
        | Op::Erf
        | Op::Log
        | Op::Pow
        | Op::Sqrt => 10.0,
        Op::Lrn { size, .. } => 2.0 * size as f64 + 10.0,
        Op::LayerNorm { .. } | Op::InstanceNorm { .. } => 5.0,
        _ => 1.0,
    };
    // Dequantize + quantize around the float kernel: 2 ops per element in and out.
    let flops = 2.0 * macs + per_elem * out_elems.max(in_elems) + 2.0 * (in_elems + out_elems);
    flops / hw.cpu.flops_per_us.max(1e-9) / 1000.0
}
