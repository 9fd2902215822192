//! Operator tables: which IR node runs on the NPU (with its conditions), which falls back to the
//! CPU, and which nothing can run. The tables are data ([`OpTable`]); the conditions that every
//! platform shares are code here. `OPS.md` documents the tables and where each rule comes from.

use radix_ir::op::PadMode;
use radix_ir::{Graph, Node, Op, ResizeMode, ResizeNearest};
use serde::{Deserialize, Serialize};

use crate::TargetError;

pub use radix_ir::qmodel::Placement;

/// The NPU operator sets, oldest first: each includes the one before it. A platform's NPU runs
/// the ops of its set (subject to [`npu_check`]'s conditions); KL630 shares KL530's set.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum NpuOpSet {
    /// KL520: the base set. \[DOC\] Kneron toolchain manual, operator support appendix.
    Kl520,
    /// KL720 adds activations, layout ops, MatMul, ConvTranspose, Softmax and keepdims
    /// reductions.
    Kl720,
    /// KL530 / KL630 add Div, Elu, Erf, HardSigmoid, HardSwish, Reciprocal, Sqrt, SpaceToDepth.
    Kl530,
    /// KL730 adds Abs, Log, Max, ReduceMin/Max, Split, LayerNormalization, InstanceNormalization.
    Kl730,
}

/// What Radix knows of one IR op: the first NPU set that lists it, whether the CPU fallback has
/// a float kernel for it, whether Radix's fixed-point engines have an integer kernel for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OpSupport {
    /// The oldest NPU operator set that lists the op (`None`: no NPU runs it).
    pub npu_from: Option<NpuOpSet>,
    /// The CPU fallback runs it (a float kernel in Radix).
    pub cpu: bool,
    /// Radix's fixed-point engines have an integer kernel for it (else an NPU node is simulated
    /// as a CPU node). Pow: only with one constant exponent.
    pub integer_kernel: bool,
}

/// The one operator table: every IR op, classified. The match is exhaustive, so a new IR op does
/// not compile until it is placed here. `OPS.md` documents where each entry comes from.
pub fn support(op: &Op) -> OpSupport {
    use NpuOpSet::*;
    // (first NPU set, CPU fallback, integer kernel)
    let (npu_from, cpu, integer_kernel) = match op {
        Op::Conv(_) | Op::Gemm { .. } | Op::Relu | Op::Clip { .. } | Op::LeakyRelu { .. } => {
            (Some(Kl520), true, true)
        }
        Op::PRelu | Op::Add | Op::Sub | Op::Mul | Op::MaxPool(_) | Op::AveragePool(_) => {
            (Some(Kl520), true, true)
        }
        Op::GlobalAveragePool | Op::GlobalMaxPool | Op::Concat { .. } | Op::Resize(_) => {
            (Some(Kl520), true, true)
        }
        Op::Pad { .. } | Op::Gather { .. } | Op::Identity | Op::Dropout | Op::Cast | Op::Pow => {
            (Some(Kl520), true, true)
        }
        Op::BatchNorm { .. } => (Some(Kl520), true, false),
        Op::Sigmoid | Op::Tanh | Op::Exp | Op::Reshape { .. } | Op::Flatten { .. } => {
            (Some(Kl720), true, true)
        }
        Op::Squeeze { .. } | Op::Unsqueeze { .. } | Op::Slice { .. } | Op::Transpose { .. } => {
            (Some(Kl720), true, true)
        }
        Op::MatMul | Op::ConvTranspose(_) => (Some(Kl720), true, true),
        Op::Softmax { .. } | Op::ReduceMean { .. } | Op::ReduceSum { .. } => {
            (Some(Kl720), true, false)
        }
        Op::Elu { .. } | Op::Erf | Op::HardSigmoid { .. } | Op::HardSwish => {
            (Some(Kl530), true, true)
        }
        Op::Reciprocal | Op::Sqrt => (Some(Kl530), true, true),
        Op::Div | Op::SpaceToDepth { .. } => (Some(Kl530), true, false),
        Op::Abs | Op::Log | Op::Split { .. } => (Some(Kl730), true, true),
        Op::Max | Op::ReduceMin { .. } | Op::ReduceMax { .. } => (Some(Kl730), true, false),
        Op::LayerNorm { .. } | Op::InstanceNorm { .. } | Op::LayerNormStats { .. } => {
            (Some(Kl730), true, false)
        }
        Op::Selu { .. } | Op::Softplus | Op::Gelu { .. } | Op::Neg | Op::Floor | Op::Ceil => {
            (None, true, true)
        }
        Op::Lrn { .. } | Op::Sum | Op::Mean | Op::Min | Op::ArgMax { .. } => (None, true, false),
        Op::DepthToSpace { .. } | Op::Tile { .. } | Op::Expand { .. } | Op::Reduce { .. } => {
            (None, true, false)
        }
        // The general float forms the NPU shapes do not cover.
        Op::ResizeNd(_) | Op::PoolNd(_) | Op::BatchNormTrain { .. } => (None, true, false),
        // Only exists transiently at import; a graph that still has one is rejected.
        Op::Shape => (None, false, false),
    };
    OpSupport {
        npu_from,
        cpu,
        integer_kernel,
    }
}

/// Limits of the NPU convolution engine (`None`: no documented limit).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConvLimits {
    /// Largest kernel height and width.
    pub max_kernel: Option<usize>,
    /// Largest horizontal stride.
    pub max_stride_w: Option<usize>,
    /// Largest vertical stride.
    pub max_stride_h: Option<usize>,
}

/// One platform's operator table (static data: serializable for reports, not deserializable):
/// which operator set its NPU runs ([`support`] says which ops are in it) and the conditions
/// that differ between platforms.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct OpTable {
    /// The NPU's operator set.
    pub npu: NpuOpSet,
    /// Conv limits (520: kernel <= 12, stride_w <= 16, stride_h <= 4).
    pub conv: ConvLimits,
    /// GlobalAveragePool needs H*W <= this (520: 256).
    pub gap_max_hw: Option<usize>,
    /// Resize: `false` = nearest with floor rounding only (520); `true` = nearest and linear.
    pub resize_linear: bool,
    /// ConvTranspose strides the NPU runs (720 and later: 2).
    pub conv_transpose_strides: &'static [usize],
    /// The SoC runs a CPU fallback (every op [`support`] marks `cpu`); `false` for a target
    /// whose every node must be on the NPU.
    pub cpu_fallback: bool,
}

/// Largest tensor rank the NPU handles. \[DOC\] "most ops rank <= 4".
pub const NPU_MAX_RANK: usize = 4;

/// Largest constant pad per side. \[DOC\] "Pad constant 0, < 32, not on batch".
pub const NPU_MAX_PAD: usize = 31;

impl OpTable {
    /// True when `op` is in this platform's NPU operator set (before [`npu_check`]'s
    /// conditions).
    pub fn npu_lists(&self, op: &Op) -> bool {
        support(op).npu_from.is_some_and(|set| set <= self.npu)
    }

    /// True when this platform's CPU fallback runs `op`.
    pub fn cpu_lists(&self, op: &Op) -> bool {
        self.cpu_fallback && support(op).cpu
    }
}

/// Whether the NPU can run `node`; `Err` carries the reason it cannot.
pub fn npu_check(table: &OpTable, graph: &Graph, node: &Node) -> Result<(), String> {
    let t = node.op.type_name();
    if crate::cost::is_view_reshape(graph, node) {
        // Only unit axes move: nothing to compute or copy, every NPU takes it.
        return Ok(());
    }
    if matches!(node.op, Op::Div)
        && node
            .inputs
            .get(1)
            .is_some_and(|&v| graph.value(v).is_const())
        && table.npu_lists(&Op::Mul)
    {
        // Division by a constant is a multiplication by its reciprocal.
        return npu_rank_check(graph, node);
    }
    if !table.npu_lists(&node.op) {
        return Err(match &node.op {
            Op::PoolNd(_) => "pooling over 3+ axes or with Indices".into(),
            Op::BatchNormTrain { .. } => "BatchNormalization in training mode".into(),
            Op::ResizeNd(_) => {
                "Resize beyond the NPU's (cubic, antialias, crop, N-D or another coordinate mode)"
                    .into()
            }
            _ => format!("{t} is not in the NPU operator table"),
        });
    }
    npu_rank_check(graph, node)?;
    match &node.op {
        Op::Conv(a) => {
            let l = table.conv;
            if let Some(k) = l.max_kernel
                && (a.kernel[0] > k || a.kernel[1] > k)
            {
                return Err(format!("kernel {:?} exceeds {k}", a.kernel));
            }
            if let Some(s) = l.max_stride_w
                && a.strides[1] > s
            {
                return Err(format!("stride_w {} exceeds {s}", a.strides[1]));
            }
            if let Some(s) = l.max_stride_h
                && a.strides[0] > s
            {
                return Err(format!("stride_h {} exceeds {s}", a.strides[0]));
            }
            Ok(())
        }
        Op::ConvTranspose(a) => {
            if a.strides[0] == a.strides[1] && table.conv_transpose_strides.contains(&a.strides[0])
            {
                Ok(())
            } else {
                Err(format!(
                    "ConvTranspose stride {:?} not in {:?}",
                    a.strides, table.conv_transpose_strides
                ))
            }
        }
        Op::Clip { min, .. } => {
            if *min == 0.0 {
                Ok(())
            } else {
                Err(format!("Clip min {min} != 0"))
            }
        }
        Op::GlobalAveragePool => {
            let x = node.inputs.first().map(|&v| graph.shape(v)).unwrap_or(&[]);
            let hw: usize = x.iter().skip(2).product();
            match table.gap_max_hw {
                Some(m) if hw > m => Err(format!("H*W = {hw} > {m}")),
                _ => Ok(()),
            }
        }
        Op::Resize(a) => {
            let nearest_floor = a.mode == ResizeMode::Nearest && a.nearest == ResizeNearest::Floor;
            if table.resize_linear || nearest_floor {
                Ok(())
            } else {
                Err("only nearest resize with floor rounding".into())
            }
        }
        Op::Pad { pads, mode, value } => {
            if *mode != PadMode::Constant || *value != 0.0 {
                return Err("only constant-0 padding".into());
            }
            if pads.first().is_some_and(|&(a, b)| a + b > 0) {
                return Err("padding on the batch axis".into());
            }
            if pads
                .iter()
                .any(|&(a, b)| a > NPU_MAX_PAD || b > NPU_MAX_PAD)
            {
                return Err(format!("pad >= {}", NPU_MAX_PAD + 1));
            }
            Ok(())
        }
        Op::ReduceMean { keepdims, .. }
        | Op::ReduceMax { keepdims, .. }
        | Op::ReduceMin { keepdims, .. }
        | Op::ReduceSum { keepdims, .. } => {
            if *keepdims {
                Ok(())
            } else {
                Err(format!("{t} needs keepdims=1"))
            }
        }
        Op::Pow => {
            let two = node
                .inputs
                .get(1)
                .and_then(|&v| graph.const_data(v))
                .is_some_and(|e| !e.is_empty() && e.iter().all(|&v| v == 2.0));
            if two {
                Ok(())
            } else {
                Err("Pow needs a constant exponent 2".into())
            }
        }
        Op::Gather { .. } => {
            let single = node
                .inputs
                .get(1)
                .map(|&v| graph.value(v))
                .is_some_and(|v| v.is_const() && v.numel() == 1);
            if single {
                Ok(())
            } else {
                Err("Gather needs a single constant index".into())
            }
        }
        Op::Slice { steps, .. } => {
            if steps.iter().all(|&s| s == 1) {
                Ok(())
            } else {
                Err("Slice needs step 1".into())
            }
        }
        Op::MatMul => {
            if node
                .inputs
                .get(1)
                .is_some_and(|&v| graph.value(v).is_const())
            {
                Ok(())
            } else {
                Err("MatMul needs a constant B".into())
            }
        }
        _ => Ok(()),
    }
}

/// Common: rank <= 4 for every activation tensor.
fn npu_rank_check(graph: &Graph, node: &Node) -> Result<(), String> {
    for v in graph
        .dynamic_inputs(node)
        .chain(node.outputs.iter().copied())
    {
        let r = graph.shape(v).len();
        if r > NPU_MAX_RANK {
            return Err(format!(
                "tensor `{}` has rank {r} > {NPU_MAX_RANK}",
                graph.value(v).name
            ));
        }
    }
    Ok(())
}

/// Where `node` runs under `table`: NPU when [`npu_check`] passes, else CPU when the CPU side
/// has the op, else `None` (nothing runs it).
pub fn placement(table: &OpTable, graph: &Graph, node: &Node) -> Option<Placement> {
    if npu_check(table, graph, node).is_ok() {
        Some(Placement::Npu)
    } else if table.cpu_lists(&node.op) {
        Some(Placement::Cpu)
    } else {
        None
    }
}

/// Places every node; the first node nothing can run fails with
/// `Invalid program input: undefined CPU op [<OpType>] of node [<NodeName>]`.
pub fn check_graph(table: &OpTable, graph: &Graph) -> Result<Vec<Placement>, TargetError> {
    graph
        .nodes
        .iter()
        .map(|n| {
            placement(table, graph, n).ok_or_else(|| TargetError::UndefinedCpuOp {
                op: n.op.type_name().to_string(),
                node: n.name.clone(),
            })
        })
        .collect()
}
