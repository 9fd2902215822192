//! Typed operators. Attributes that ONNX passes as constant inputs (Reshape's shape, Slice's
//! starts, Resize's scales, Clip's bounds, Pad's pads, Split's sizes) are resolved at import and
//! stored here, so every later stage reads plain fields.

use serde::{Deserialize, Serialize};

/// An activation fused into the node that produces its input (Conv, ConvTranspose, Gemm).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize, Default)]
pub enum Activation {
    /// No activation.
    #[default]
    None,
    /// `max(x, 0)`.
    Relu,
    /// `min(max(x, min), max)`.
    Clip {
        /// Lower bound.
        min: f32,
        /// Upper bound.
        max: f32,
    },
    /// `x < 0 ? alpha * x : x`.
    LeakyRelu {
        /// Slope for negative inputs.
        alpha: f32,
    },
}

impl Activation {
    /// Applies the activation to one value.
    #[inline]
    pub fn apply(self, x: f32) -> f32 {
        match self {
            Activation::None => x,
            Activation::Relu => x.max(0.0),
            Activation::Clip { min, max } => x.max(min).min(max),
            Activation::LeakyRelu { alpha } => {
                if x < 0.0 {
                    x * alpha
                } else {
                    x
                }
            }
        }
    }
    /// True for [`Activation::None`].
    pub fn is_none(self) -> bool {
        matches!(self, Activation::None)
    }
    /// The ONNX op name (`"None"` for none).
    pub fn name(self) -> &'static str {
        match self {
            Activation::None => "None",
            Activation::Relu => "Relu",
            Activation::Clip { .. } => "Clip",
            Activation::LeakyRelu { .. } => "LeakyRelu",
        }
    }
}

/// Padding policy as written in the model; resolved into explicit pads at import.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum AutoPad {
    /// Explicit `pads`.
    NotSet,
    /// Pad so that output = ceil(input / stride), an odd cell of padding at the end.
    SameUpper,
    /// Pad so that output = ceil(input / stride), an odd cell of padding at the start.
    SameLower,
    /// No padding.
    Valid,
}

/// 2-D convolution attributes (NCHW). Weight is input 1 (`[Cout, Cin/group, kh, kw]` for Conv,
/// `[Cin, Cout/group, kh, kw]` for ConvTranspose), optional bias input 2.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ConvAttrs {
    /// Kernel height and width.
    pub kernel: [usize; 2],
    /// Strides along H and W.
    pub strides: [usize; 2],
    /// top, left, bottom, right
    pub pads: [usize; 4],
    /// Dilations along H and W.
    pub dilations: [usize; 2],
    /// Number of groups (channels are split into `group` independent convolutions).
    pub group: usize,
    /// ConvTranspose only: extra rows/cols added at the bottom/right of the output.
    pub output_padding: [usize; 2],
    /// Activation fused into the output.
    pub activation: Activation,
}

/// Pooling attributes (NCHW). `pads` already include what `ceil_mode` needs is *not* assumed:
/// output size is computed with `ceil_mode` and windows are clipped to the padded input.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PoolAttrs {
    /// Window height and width.
    pub kernel: [usize; 2],
    /// Strides along H and W.
    pub strides: [usize; 2],
    /// top, left, bottom, right
    pub pads: [usize; 4],
    /// Dilations along H and W.
    pub dilations: [usize; 2],
    /// Output lengths rounded up (ONNX `ceil_mode`); see [`crate::semantics::pool::output_len`].
    pub ceil_mode: bool,
    /// AveragePool: whether padded cells count in the divisor.
    pub count_include_pad: bool,
}

/// Interpolation of [`Op::Resize`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ResizeMode {
    /// The nearest input (rounding: [`ResizeNearest`]).
    Nearest,
    /// Linear interpolation between the two neighbours (bilinear over H and W).
    Linear,
}

/// ONNX `coordinate_transformation_mode` of [`Op::Resize`]; the formulas are in
/// [`ResizeCoord::original_coord`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ResizeCoord {
    /// `(x + 0.5) / scale - 0.5`.
    HalfPixel,
    /// As half_pixel, but 0 when the output length is 1.
    PytorchHalfPixel,
    /// `x * (len_in - 1) / (len_out - 1)` (0 when the output length is 1).
    AlignCorners,
    /// `x / scale`.
    Asymmetric,
    /// `(x + 0.5) / scale`.
    TfHalfPixelForNearest,
}

/// ONNX `nearest_mode`: how nearest Resize rounds a coordinate ([`ResizeNearest::round`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ResizeNearest {
    /// Nearest integer, ties down.
    RoundPreferFloor,
    /// Nearest integer, ties up.
    RoundPreferCeil,
    /// Round down.
    Floor,
    /// Round up.
    Ceil,
}

/// Resize over the two spatial axes of an NCHW tensor (N and C are never resized).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ResizeAttrs {
    /// Nearest or linear.
    pub mode: ResizeMode,
    /// Coordinate transformation.
    pub coord: ResizeCoord,
    /// Rounding of nearest mode (ignored by linear).
    pub nearest: ResizeNearest,
    /// Scale per spatial axis (output/input) used by the coordinate transform.
    pub scales: [f32; 2],
    /// Output spatial size.
    pub out_hw: [usize; 2],
}

/// Interpolation of [`Op::ResizeNd`].
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub enum ResizeNdMode {
    /// Nearest input, with its rounding.
    Nearest(ResizeNearest),
    /// Linear interpolation (N-linear over the resized axes).
    Linear,
    /// Cubic convolution with coefficient `a` (ONNX `cubic_coeff_a`).
    Cubic {
        /// The cubic coefficient (-0.75 by default in ONNX).
        a: f32,
    },
}

/// ONNX `coordinate_transformation_mode` of [`Op::ResizeNd`] (every mode of opsets 11-21).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ResizeNdCoord {
    /// `(y + 0.5) / scale - 0.5`.
    HalfPixel,
    /// half_pixel shifted so the output stays centred when the output length was rounded.
    HalfPixelSymmetric,
    /// half_pixel, but `-0.5` when the resized length is 1 (as the ONNX reference).
    PytorchHalfPixel,
    /// `y * (len_in - 1) / (len_resized - 1)`.
    AlignCorners,
    /// `y / scale`.
    Asymmetric,
    /// `(y + 0.5) / scale`.
    TfHalfPixelForNearest,
    /// Samples the region of interest `roi`; outside the input, the extrapolation value.
    TfCropAndResize,
}

/// ONNX Resize over any axes of a tensor of any rank, as the ONNX reference defines it
/// (separable, one axis after the other in increasing order, in f64): what [`Op::Resize`]
/// does not cover (cubic, antialias, half_pixel_symmetric, tf_crop_and_resize, N-D).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ResizeNdAttrs {
    /// Interpolation.
    pub mode: ResizeNdMode,
    /// Coordinate transformation ([`ResizeNdCoord::original_coord`]).
    pub coord: ResizeNdCoord,
    /// Per axis: the scale (output / input) used by the coordinate transform.
    pub scales: Vec<f64>,
    /// Per axis: the output length.
    pub out_shape: Vec<usize>,
    /// Per axis: region of interest (start, end) in normalised input coordinates
    /// (tf_crop_and_resize only; `(0, 1)` elsewhere).
    pub roi: Vec<(f32, f32)>,
    /// Linear / cubic: widen the filter by 1 / scale when downsampling.
    pub antialias: bool,
    /// Taps outside the input get weight 0 (the others renormalised).
    pub exclude_outside: bool,
    /// tf_crop_and_resize: value of outputs whose source lies outside the input.
    pub extrapolation: f32,
}

/// MaxPool / AveragePool over any number of spatial axes (`[N, C, D1, ...]`), optionally with
/// MaxPool's Indices output: what [`Op::MaxPool`] / [`Op::AveragePool`] (2-D) do not cover.
/// Windows and the AveragePool divisor follow the 2-D ops.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PoolNdAttrs {
    /// MaxPool (else AveragePool).
    pub max: bool,
    /// Window length per spatial axis.
    pub kernel: Vec<usize>,
    /// Stride per spatial axis.
    pub strides: Vec<usize>,
    /// Per spatial axis: (begin, end).
    pub pads: Vec<(usize, usize)>,
    /// Dilation per spatial axis.
    pub dilations: Vec<usize>,
    /// Output lengths rounded up (ONNX `ceil_mode`).
    pub ceil_mode: bool,
    /// AveragePool: whether padded cells count in the divisor.
    pub count_include_pad: bool,
    /// MaxPool: a second output with the flat input index of each maximum (`Some(true)`:
    /// column-major within each plane, ONNX `storage_order` = 1).
    pub indices: Option<bool>,
}

/// Reductions with only a float (CPU) definition.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ReduceKind {
    /// Π x (1 over an empty set).
    Prod,
    /// Σ |x|.
    L1,
    /// √(Σ x²).
    L2,
    /// Σ x².
    SumSquare,
    /// ln(Σ x) (−∞ over an empty set).
    LogSum,
    /// ln(Σ eˣ) (−∞ over an empty set).
    LogSumExp,
}

impl ReduceKind {
    /// The ONNX op name.
    pub fn onnx_name(self) -> &'static str {
        match self {
            ReduceKind::Prod => "ReduceProd",
            ReduceKind::L1 => "ReduceL1",
            ReduceKind::L2 => "ReduceL2",
            ReduceKind::SumSquare => "ReduceSumSquare",
            ReduceKind::LogSum => "ReduceLogSum",
            ReduceKind::LogSumExp => "ReduceLogSumExp",
        }
    }
}

/// How [`Op::Pad`] fills the cells it adds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum PadMode {
    /// A constant value.
    Constant,
    /// Mirror without repeating the edge cell.
    Reflect,
    /// Repeat the edge cell.
    Edge,
}

/// A typed operator. Binary arithmetic uses numpy broadcasting.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Op {
    /// 2-D convolution (NCHW); weight input 1, optional bias input 2.
    Conv(ConvAttrs),
    /// 2-D transposed convolution (NCHW); weight input 1, optional bias input 2.
    ConvTranspose(ConvAttrs),
    /// `y = act(x · Wᵀ + b)`: x `[M, K]`, constant W `[N, K]` (input 1), optional bias `[N]` (input 2).
    /// ONNX `alpha`, `beta` and `transB` are folded into W and b at import.
    Gemm {
        /// Activation fused into the output.
        activation: Activation,
    },
    /// numpy-style (batched) matrix product of two inputs.
    MatMul,
    /// Inputs: x, scale, bias, mean, var.
    BatchNorm {
        /// Added to the variance.
        epsilon: f32,
    },
    /// `max(x, 0)`.
    Relu,
    /// `min(max(x, min), max)`.
    Clip {
        /// Lower bound.
        min: f32,
        /// Upper bound.
        max: f32,
    },
    /// `x < 0 ? alpha * x : x`.
    LeakyRelu {
        /// Slope for negative inputs.
        alpha: f32,
    },
    /// Slope is input 1, broadcast against x.
    PRelu,
    /// `1 / (1 + e^-x)`.
    Sigmoid,
    /// `clamp(alpha * x + beta, 0, 1)`.
    HardSigmoid {
        /// Slope.
        alpha: f32,
        /// Offset.
        beta: f32,
    },
    /// `x * clamp(x / 6 + 0.5, 0, 1)`.
    HardSwish,
    /// Hyperbolic tangent.
    Tanh,
    /// `e^x`.
    Exp,
    /// numpy-broadcast `a + b`.
    Add,
    /// numpy-broadcast `a - b`.
    Sub,
    /// numpy-broadcast `a * b`.
    Mul,
    /// numpy-broadcast `a / b`.
    Div,
    /// 2-D max pooling (NCHW).
    MaxPool(PoolAttrs),
    /// 2-D average pooling (NCHW).
    AveragePool(PoolAttrs),
    /// Mean of each `[n, c]` plane (output `[N, C, 1, ...]`).
    GlobalAveragePool,
    /// Maximum of each `[n, c]` plane (output `[N, C, 1, ...]`).
    GlobalMaxPool,
    /// Concatenation of every input along `axis`.
    Concat {
        /// The concatenation axis.
        axis: usize,
    },
    /// Splits the input along `axis` into one output per entry of `splits`.
    Split {
        /// The split axis.
        axis: usize,
        /// Length of each output along `axis`.
        splits: Vec<usize>,
    },
    /// Per axis (all axes listed): start, end (exclusive, already clamped), step.
    Slice {
        /// Start index per axis.
        starts: Vec<i64>,
        /// End index per axis (exclusive).
        ends: Vec<i64>,
        /// Step per axis (negative: backwards).
        steps: Vec<i64>,
    },
    /// Target shape, fully resolved.
    Reshape {
        /// The output shape.
        shape: Vec<usize>,
    },
    /// Reshape to 2-D: `[prod(shape[..axis]), prod(shape[axis..])]`.
    Flatten {
        /// The first axis of the second output dimension.
        axis: usize,
    },
    /// Permutes the axes: output axis `i` is input axis `perm[i]`.
    Transpose {
        /// The permutation.
        perm: Vec<usize>,
    },
    /// Removes the listed axes of length 1.
    Squeeze {
        /// Axes removed (each of length 1).
        axes: Vec<usize>,
    },
    /// Inserts axes of length 1.
    Unsqueeze {
        /// Positions of the new axes in the output.
        axes: Vec<usize>,
    },
    /// Nearest / linear Resize over H and W of NCHW.
    Resize(ResizeAttrs),
    /// Per axis (before, after).
    Pad {
        /// Cells added before and after, per axis.
        pads: Vec<(usize, usize)>,
        /// How the added cells are filled.
        mode: PadMode,
        /// Fill value of [`PadMode::Constant`].
        value: f32,
    },
    /// Softmax over `axis`. `legacy` (opset < 13): over all axes from `axis` on, flattened.
    Softmax {
        /// The softmax axis.
        axis: usize,
        /// Opset < 13 semantics (flatten from `axis` on).
        legacy: bool,
    },
    /// Mean over `axes` (sorted).
    ReduceMean {
        /// Reduced axes (sorted, distinct).
        axes: Vec<usize>,
        /// Whether reduced axes stay as length 1.
        keepdims: bool,
    },
    /// Gather along `axis` with constant indices (input 1).
    Gather {
        /// The gathered axis.
        axis: usize,
    },
    /// Copies its input.
    Identity,
    /// Inference-mode Dropout: copies its input.
    Dropout,
    /// Only used transiently at import; folded away.
    Shape,
    /// Copies its input (every tensor is f32 in the graph).
    Cast,
    // Variants below were appended later: the BIE payload encodes variants by position, so new
    // ones always go at the end.
    /// Local response normalization across channels (axis 1):
    /// `y = x / (bias + alpha / size * Σ x²)^beta` over the `size` channels around each one.
    Lrn {
        /// Channels in the window.
        size: usize,
        /// Scale of the sum of squares.
        alpha: f32,
        /// Exponent.
        beta: f32,
        /// Offset.
        bias: f32,
    },
    /// Variadic numpy-broadcast sum of every input.
    Sum,
    /// Variadic numpy-broadcast mean of every input.
    Mean,
    /// Variadic numpy-broadcast maximum of every input.
    Max,
    /// Variadic numpy-broadcast minimum of every input.
    Min,
    /// `x < 0 ? alpha * (exp(x) - 1) : x`.
    Elu {
        /// Scale of the negative part.
        alpha: f32,
    },
    /// `gamma * (x > 0 ? x : alpha * (exp(x) - 1))`.
    Selu {
        /// Scale of the negative part.
        alpha: f32,
        /// Overall scale.
        gamma: f32,
    },
    /// `ln(1 + exp(x))`.
    Softplus,
    /// `0.5 x (1 + erf(x / √2))`; `tanh`: the tanh approximation.
    Gelu {
        /// Use the tanh approximation.
        tanh: bool,
    },
    /// The error function ([`crate::eval::erf`]).
    Erf,
    /// Square root.
    Sqrt,
    /// numpy-broadcast `x ^ y` (exponent is input 1).
    Pow,
    /// `1 / x`.
    Reciprocal,
    /// Absolute value.
    Abs,
    /// `-x`.
    Neg,
    /// Natural logarithm.
    Log,
    /// Axes sorted and distinct; an empty list is the identity (`noop_with_empty_axes`).
    ReduceMax {
        /// Reduced axes (sorted, distinct).
        axes: Vec<usize>,
        /// Whether reduced axes stay as length 1.
        keepdims: bool,
    },
    /// Minimum over `axes` (sorted, distinct; empty: the identity).
    ReduceMin {
        /// Reduced axes (sorted, distinct).
        axes: Vec<usize>,
        /// Whether reduced axes stay as length 1.
        keepdims: bool,
    },
    /// Sum over `axes` (sorted, distinct; empty: the identity).
    ReduceSum {
        /// Reduced axes (sorted, distinct).
        axes: Vec<usize>,
        /// Whether reduced axes stay as length 1.
        keepdims: bool,
    },
    /// Index of the largest value along `axis` (as a float); ties give the first index, or
    /// the last with `select_last_index`.
    ArgMax {
        /// The reduced axis.
        axis: usize,
        /// Whether the reduced axis stays as length 1.
        keepdims: bool,
        /// Ties give the last index.
        select_last_index: bool,
    },
    /// NCHW: channels to `blocksize²` spatial blocks; `crd`: column-row-depth order, else DCR.
    DepthToSpace {
        /// Block edge length.
        blocksize: usize,
        /// Column-row-depth order (else depth-column-row).
        crd: bool,
    },
    /// NCHW: `blocksize²` spatial blocks to channels.
    SpaceToDepth {
        /// Block edge length.
        blocksize: usize,
    },
    /// Inputs: x `[N, C, ...]`, scale `[C]`, bias `[C]`; normalises each (n, c) plane.
    InstanceNorm {
        /// Added to the variance.
        epsilon: f32,
    },
    /// Inputs: x, scale, optional bias (broadcast to `x.shape[axis..]`); normalises over the
    /// axes from `axis` on.
    LayerNorm {
        /// The first normalised axis.
        axis: usize,
        /// Added to the variance.
        epsilon: f32,
    },
    /// Repeats per axis.
    Tile {
        /// Repeat count per axis.
        repeats: Vec<usize>,
    },
    /// numpy broadcast to `shape` (the output shape, resolved at import).
    Expand {
        /// The output shape.
        shape: Vec<usize>,
    },
    /// ReduceProd, ReduceL1, ReduceL2, ReduceSumSquare, ReduceLogSum, ReduceLogSumExp over
    /// `axes` (sorted, distinct; empty: the identity), accumulated in f64.
    Reduce {
        /// Which reduction.
        kind: ReduceKind,
        /// Reduced axes (sorted, distinct; empty: the identity).
        axes: Vec<usize>,
        /// Whether reduced axes stay as length 1.
        keepdims: bool,
    },
    /// Round down to an integer value.
    Floor,
    /// Round up to an integer value.
    Ceil,
    /// LayerNormalization with its two extra outputs: `Mean` and `InvStdDev` of each normalised
    /// group, of shape `x.shape[..axis]` followed by ones.
    LayerNormStats {
        /// The first normalised axis.
        axis: usize,
        /// Added to the variance.
        epsilon: f32,
    },
    /// General Resize (see [`ResizeNdAttrs`]); always a CPU node.
    ResizeNd(ResizeNdAttrs),
    /// N-D pooling and MaxPool with Indices (see [`PoolNdAttrs`]); always a CPU node.
    PoolNd(PoolNdAttrs),
    /// BatchNormalization in training mode: inputs x, scale, bias, input mean, input var;
    /// outputs y (normalised with the batch's own statistics over every axis but 1), running
    /// mean and running var (`input * momentum + batch * (1 - momentum)`).
    BatchNormTrain {
        /// Added to the variance.
        epsilon: f32,
        /// Running statistics' weight of the input statistics.
        momentum: f32,
    },
}

impl Op {
    /// The ONNX-style operator name, used in reports and error messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Op::Conv(_) => "Conv",
            Op::ConvTranspose(_) => "ConvTranspose",
            Op::Gemm { .. } => "Gemm",
            Op::MatMul => "MatMul",
            Op::BatchNorm { .. } => "BatchNormalization",
            Op::Relu => "Relu",
            Op::Clip { .. } => "Clip",
            Op::LeakyRelu { .. } => "LeakyRelu",
            Op::PRelu => "PRelu",
            Op::Sigmoid => "Sigmoid",
            Op::HardSigmoid { .. } => "HardSigmoid",
            Op::HardSwish => "HardSwish",
            Op::Tanh => "Tanh",
            Op::Exp => "Exp",
            Op::Add => "Add",
            Op::Sub => "Sub",
            Op::Mul => "Mul",
            Op::Div => "Div",
            Op::MaxPool(_) => "MaxPool",
            Op::AveragePool(_) => "AveragePool",
            Op::GlobalAveragePool => "GlobalAveragePool",
            Op::GlobalMaxPool => "GlobalMaxPool",
            Op::Concat { .. } => "Concat",
            Op::Split { .. } => "Split",
            Op::Slice { .. } => "Slice",
            Op::Reshape { .. } => "Reshape",
            Op::Flatten { .. } => "Flatten",
            Op::Transpose { .. } => "Transpose",
            Op::Squeeze { .. } => "Squeeze",
            Op::Unsqueeze { .. } => "Unsqueeze",
            Op::Resize(_) => "Resize",
            Op::Pad { .. } => "Pad",
            Op::Softmax { .. } => "Softmax",
            Op::ReduceMean { .. } => "ReduceMean",
            Op::Gather { .. } => "Gather",
            Op::Identity => "Identity",
            Op::Dropout => "Dropout",
            Op::Shape => "Shape",
            Op::Cast => "Cast",
            Op::Lrn { .. } => "LRN",
            Op::Sum => "Sum",
            Op::Mean => "Mean",
            Op::Max => "Max",
            Op::Min => "Min",
            Op::Elu { .. } => "Elu",
            Op::Selu { .. } => "Selu",
            Op::Softplus => "Softplus",
            Op::Gelu { .. } => "Gelu",
            Op::Erf => "Erf",
            Op::Sqrt => "Sqrt",
            Op::Pow => "Pow",
            Op::Reciprocal => "Reciprocal",
            Op::Abs => "Abs",
            Op::Neg => "Neg",
            Op::Log => "Log",
            Op::ReduceMax { .. } => "ReduceMax",
            Op::ReduceMin { .. } => "ReduceMin",
            Op::ReduceSum { .. } => "ReduceSum",
            Op::ArgMax { .. } => "ArgMax",
            Op::DepthToSpace { .. } => "DepthToSpace",
            Op::SpaceToDepth { .. } => "SpaceToDepth",
            Op::InstanceNorm { .. } => "InstanceNormalization",
            Op::LayerNorm { .. } => "LayerNormalization",
            Op::Tile { .. } => "Tile",
            Op::Expand { .. } => "Expand",
            Op::Reduce { kind, .. } => kind.onnx_name(),
            Op::Floor => "Floor",
            Op::Ceil => "Ceil",
            Op::LayerNormStats { .. } => "LayerNormalization",
            Op::ResizeNd(_) => "Resize",
            Op::PoolNd(a) if a.max => "MaxPool",
            Op::PoolNd(_) => "AveragePool",
            Op::BatchNormTrain { .. } => "BatchNormalization",
        }
    }

    /// The activation fused into this node, if the op can carry one.
    pub fn fused_activation(&self) -> Option<Activation> {
        match self {
            Op::Conv(a) | Op::ConvTranspose(a) => Some(a.activation),
            Op::Gemm { activation } => Some(*activation),
            _ => None,
        }
    }

    /// Ops that only move or reinterpret data (no arithmetic on values).
    pub fn is_layout(&self) -> bool {
        matches!(
            self,
            Op::Reshape { .. }
                | Op::Flatten { .. }
                | Op::Transpose { .. }
                | Op::Squeeze { .. }
                | Op::Unsqueeze { .. }
                | Op::Identity
                | Op::Dropout
                | Op::Concat { .. }
                | Op::Split { .. }
                | Op::Slice { .. }
                | Op::Gather { .. }
                | Op::Cast
        )
    }

    /// Elementwise unary ops.
    pub fn is_unary_elementwise(&self) -> bool {
        matches!(
            self,
            Op::Relu
                | Op::Clip { .. }
                | Op::LeakyRelu { .. }
                | Op::Sigmoid
                | Op::HardSigmoid { .. }
                | Op::HardSwish
                | Op::Tanh
                | Op::Exp
                | Op::Elu { .. }
                | Op::Selu { .. }
                | Op::Softplus
                | Op::Gelu { .. }
                | Op::Erf
                | Op::Sqrt
                | Op::Reciprocal
                | Op::Abs
                | Op::Neg
                | Op::Log
                | Op::Floor
                | Op::Ceil
        )
    }

    /// Elementwise ops over any number of inputs with numpy broadcasting.
    pub fn is_variadic_elementwise(&self) -> bool {
        matches!(self, Op::Sum | Op::Mean | Op::Max | Op::Min)
    }

    /// Multiply-accumulate count for one inference, given the node's input and output shapes.
    pub fn macs(&self, in_shapes: &[&[usize]], out_shape: &[usize]) -> u64 {
        let out: u64 = out_shape.iter().map(|&d| d as u64).product();
        match self {
            Op::Conv(a) => {
                let cin = in_shapes
                    .first()
                    .and_then(|s| s.get(1))
                    .copied()
                    .unwrap_or(0) as u64;
                out * (cin / a.group.max(1) as u64) * (a.kernel[0] * a.kernel[1]) as u64
            }
            Op::ConvTranspose(a) => {
                let ins = in_shapes.first().copied().unwrap_or(&[]);
                let inp: u64 = ins.iter().map(|&d| d as u64).product();
                let cout = out_shape.get(1).copied().unwrap_or(0) as u64;
                inp * (cout / a.group.max(1) as u64) * (a.kernel[0] * a.kernel[1]) as u64
            }
            Op::Gemm { .. } | Op::MatMul => {
                let k = in_shapes
                    .first()
                    .and_then(|s| s.last())
                    .copied()
                    .unwrap_or(0) as u64;
                out * k
            }
            _ => 0,
        }
    }
}
