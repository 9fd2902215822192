//! Operator tables: which IR node runs on the NPU (with its conditions), which falls back to the
//! CPU, and which nothing can run. The tables are data ([`OpTable`]); the conditions that every
//! platform shares are code here. `OPS.md` documents the tables and where each rule comes from.

use radix_ir::op::PadMode;
use radix_ir::{Graph, Node, Op, ResizeMode, ResizeNearest};
use serde::{Deserialize, Serialize};

use crate::TargetError;

/// Where a node runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Placement {
    /// On the NPU, in fixed point.
    Npu,
    /// On the SoC's CPU, in float between a dequantize and a quantize (docs/FIXED_POINT.md).
    Cpu,
    /// Neither: the toolchain rejects the model ([`TargetError::UndefinedCpuOp`]).
    Unsupported,
}

impl Placement {
    pub fn as_str(self) -> &'static str {
        match self {
            Placement::Npu => "NPU",
            Placement::Cpu => "CPU",
            Placement::Unsupported => "UNSUPPORTED",
        }
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

/// One platform's operator table (static data: serializable for reports, not deserializable).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct OpTable {
    /// IR op type names ([`Op::type_name`]) the NPU runs, subject to the conditions below and
    /// to the common ones in [`npu_check`].
    pub npu_ops: &'static [&'static str],
    /// Conv limits (520: kernel <= 12, stride_w <= 16, stride_h <= 4).
    pub conv: ConvLimits,
    /// GlobalAveragePool needs H*W <= this (520: 256).
    pub gap_max_hw: Option<usize>,
    /// Resize: `false` = nearest with floor rounding only (520); `true` = nearest and linear.
    pub resize_linear: bool,
    /// ConvTranspose strides the NPU runs (720 and later: 2).
    pub conv_transpose_strides: &'static [usize],
    /// IR op type names the CPU fallback runs (float kernels Radix ships).
    pub cpu_ops: &'static [&'static str],
}

/// Ops every platform's NPU runs (the KL520 set). \[DOC\] Kneron toolchain manual, operator support appendix.
pub const NPU_BASE: &[&str] = &[
    "Conv",
    "Gemm",
    "BatchNormalization",
    "Relu",
    "Clip",
    "LeakyRelu",
    "PRelu",
    "Add",
    "Sub",
    "Mul",
    "MaxPool",
    "AveragePool",
    "GlobalAveragePool",
    "GlobalMaxPool",
    "Concat",
    "Resize",
    "Pad",
    "Gather",
    "Identity",
    "Dropout",
    "Cast",
    "Pow",
];

/// What KL720 adds to [`NPU_BASE`]. Flatten/Squeeze/Unsqueeze are reshapes; ReduceMean follows
/// the common "Reduce* keepdims=1" rule; Softmax is decomposed (ReduceSum + Div + Exp).
pub const NPU_720_EXTRA: &[&str] = &[
    "Sigmoid",
    "Tanh",
    "Exp",
    "Reshape",
    "Flatten",
    "Squeeze",
    "Unsqueeze",
    "Slice",
    "Transpose",
    "MatMul",
    "ConvTranspose",
    "Softmax",
    "ReduceMean",
    "ReduceSum",
];

/// What KL530/KL630 add to the KL720 set (the IR ops among Div, Elu, Erf, HardSigmoid,
/// Reciprocal, Sqrt, SpaceToDepth, Softmax). HardSwish is HardSigmoid followed by Mul.
pub const NPU_530_EXTRA: &[&str] = &[
    "Div",
    "Elu",
    "Erf",
    "HardSigmoid",
    "HardSwish",
    "Reciprocal",
    "Sqrt",
    "SpaceToDepth",
];

/// What KL730 adds to the KL530 set (the IR ops among Abs, Log, Sign, Max, ReduceMin, Split,
/// LayerNormalization, InstanceNormalization, 1-D pools).
pub const NPU_730_EXTRA: &[&str] = &[
    "Abs",
    "Log",
    "Max",
    "ReduceMin",
    "ReduceMax",
    "Split",
    "LayerNormalization",
    "InstanceNormalization",
];

/// Ops the CPU fallback runs: every IR op with a float kernel in Radix. `Shape` is not among
/// them: it only exists transiently at import, and a graph that still has one is rejected.
pub const CPU_OPS: &[&str] = &[
    "Conv",
    "ConvTranspose",
    "Gemm",
    "MatMul",
    "BatchNormalization",
    "Relu",
    "Clip",
    "LeakyRelu",
    "PRelu",
    "Sigmoid",
    "HardSigmoid",
    "HardSwish",
    "Tanh",
    "Exp",
    "Add",
    "Sub",
    "Mul",
    "Div",
    "MaxPool",
    "AveragePool",
    "GlobalAveragePool",
    "GlobalMaxPool",
    "Concat",
    "Split",
    "Slice",
    "Reshape",
    "Flatten",
    "Transpose",
    "Squeeze",
    "Unsqueeze",
    "Resize",
    "Pad",
    "Softmax",
    "ReduceMean",
    "Gather",
    "Identity",
    "Dropout",
    "Cast",
    "LRN",
    "Sum",
    "Mean",
    "Max",
    "Min",
    "Elu",
    "Selu",
    "Softplus",
    "Gelu",
    "Erf",
    "Sqrt",
    "Pow",
    "Reciprocal",
    "Abs",
    "Neg",
    "Log",
    "ReduceMax",
    "ReduceMin",
    "ReduceSum",
    "ArgMax",
    "DepthToSpace",
    "SpaceToDepth",
    "InstanceNormalization",
    "LayerNormalization",
    "Tile",
    "Expand",
    "ReduceProd",
    "ReduceL1",
    "ReduceL2",
    "ReduceSumSquare",
    "ReduceLogSum",
    "ReduceLogSumExp",
    "Floor",
    "Ceil",
];

/// Largest tensor rank the NPU handles. \[DOC\] "most ops rank <= 4".
pub const NPU_MAX_RANK: usize = 4;

/// Largest constant pad per side. \[DOC\] "Pad constant 0, < 32, not on batch".
pub const NPU_MAX_PAD: usize = 31;

impl OpTable {
    /// True when `op_type` is in this platform's NPU list.
    pub fn npu_lists(&self, op_type: &str) -> bool {
        self.npu_ops.contains(&op_type)
    }

    pub fn cpu_lists(&self, op_type: &str) -> bool {
        self.cpu_ops.contains(&op_type)
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
        && table.npu_lists("Mul")
    {
        // Division by a constant is a multiplication by its reciprocal.
        return npu_rank_check(graph, node);
    }
    if !table.npu_lists(t) {
        return Err(format!("{t} is not in the NPU operator table"));
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
        Op::PoolNd(_) => Err("pooling over 3+ axes or with Indices".into()),
        Op::BatchNormTrain { .. } => Err("BatchNormalization in training mode".into()),
        Op::ResizeNd(_) => Err(
            "Resize beyond the NPU's (cubic, antialias, crop, N-D or another coordinate mode)"
                .into(),
        ),
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
/// has the op, else unsupported.
pub fn placement(table: &OpTable, graph: &Graph, node: &Node) -> Placement {
    if npu_check(table, graph, node).is_ok() {
        Placement::Npu
    } else if table.cpu_lists(node.op.type_name()) {
        Placement::Cpu
    } else {
        Placement::Unsupported
    }
}

/// Places every node; the first node nothing can run fails with
/// `Invalid program input: undefined CPU op [<OpType>] of node [<NodeName>]`.
pub fn check_graph(table: &OpTable, graph: &Graph) -> Result<Vec<Placement>, TargetError> {
    graph
        .nodes
        .iter()
        .map(|n| match placement(table, graph, n) {
            Placement::Unsupported => Err(TargetError::UndefinedCpuOp {
                op: n.op.type_name().to_string(),
                node: n.name.clone(),
            }),
            p => Ok(p),
        })
        .collect()
}
