//! Translation of one ONNX node into IR ops, one module per op family (as tract organises its
//! ops): [`translate`](NodeCtx::translate) only dispatches on the op type.

mod constant;
mod conv;
mod elementwise;
mod norm;
mod pool;
mod reduce;
mod resize;
mod shape;
mod window;

use ndarray::ArrayD;
use radix_ir::{Op, ValueId};
use tract_onnx::pb::NodeProto;

use crate::OnnxError;
use crate::import::Importer;

/// What one ONNX node becomes.
pub(crate) enum Translated {
    /// One IR node.
    Op(Op, Vec<ValueId>),
    /// An op plus constants the translation created (e.g. Gemm's transposed, alpha-scaled W),
    /// appended to its inputs in order.
    OpWithConsts(Op, Vec<ValueId>, Vec<(String, ArrayD<f32>)>),
    /// A constant (the node folds at import).
    Const(ArrayD<f32>),
    /// Several IR nodes in a row (see `Importer::chain`): op and node-name suffix ("" = the
    /// ONNX node's own name).
    Chain(Vec<(Op, &'static str)>, Vec<ValueId>),
    /// Several IR nodes, each reading graph values, constants it creates or the previous
    /// step's output (see `Importer::steps`); the last one writes the ONNX node's outputs.
    Steps(Vec<Step>),
    /// An op producing the ONNX node's first output; the other outputs are these constants
    /// (e.g. Dropout's mask in inference).
    WithConstOutputs(Op, Vec<ValueId>, Vec<ArrayD<f32>>),
}

/// One IR node of a [`Translated::Steps`] translation.
pub(crate) struct Step {
    pub(crate) op: Op,
    /// Node-name suffix ("" = the ONNX node's own name).
    pub(crate) suffix: &'static str,
    pub(crate) inputs: Vec<Src>,
}

/// An input of a [`Step`].
pub(crate) enum Src {
    /// A graph value.
    Value(ValueId),
    /// The previous step's (first) output.
    Prev,
    /// A constant the translation made, by name suffix.
    Const(&'static str, ArrayD<f32>),
}

/// The node being translated, with the importer's state so far.
pub(crate) struct NodeCtx<'a> {
    pub(crate) imp: &'a Importer,
    pub(crate) n: &'a NodeProto,
    /// The node's (unique) name, for messages and IR node names.
    pub(crate) name: &'a str,
    /// The node's inputs; `None` for an absent optional input ("").
    pub(crate) inputs: &'a [Option<ValueId>],
}

impl NodeCtx<'_> {
    /// The IR op(s) or constant the node becomes: the op type picks the family module's
    /// function (the one-to-one ops without attributes are translated here).
    pub(crate) fn translate(&self) -> Result<Translated, OnnxError> {
        match self.n.op_type.as_str() {
            // conv.rs
            op @ ("Conv" | "ConvTranspose") => self.conv(op),
            "Gemm" => self.gemm(),
            "MatMul" => self.binary(Op::MatMul),
            // pool.rs
            op @ ("MaxPool" | "AveragePool") => self.max_average_pool(op),
            "GlobalAveragePool" => self.unary(Op::GlobalAveragePool),
            "GlobalMaxPool" => self.unary(Op::GlobalMaxPool),
            // norm.rs
            "BatchNormalization" => self.batch_norm(),
            "InstanceNormalization" => self.instance_norm(),
            "LayerNormalization" => self.layer_norm(),
            "LRN" => self.lrn(),
            "Softmax" => self.softmax(),
            // elementwise.rs
            "Relu" => self.unary(Op::Relu),
            "Sigmoid" => self.unary(Op::Sigmoid),
            "Tanh" => self.unary(Op::Tanh),
            "Exp" => self.unary(Op::Exp),
            "HardSwish" => self.unary(Op::HardSwish),
            "Softplus" => self.unary(Op::Softplus),
            "Erf" => self.unary(Op::Erf),
            "Sqrt" => self.unary(Op::Sqrt),
            "Reciprocal" => self.unary(Op::Reciprocal),
            "Abs" => self.unary(Op::Abs),
            "Neg" => self.unary(Op::Neg),
            "Log" => self.unary(Op::Log),
            "Floor" => self.unary(Op::Floor),
            "Ceil" => self.unary(Op::Ceil),
            "Identity" => self.unary(Op::Identity),
            "HardSigmoid" => self.hard_sigmoid(),
            "LeakyRelu" => self.leaky_relu(),
            "Clip" => self.clip(),
            "Elu" => self.elu(),
            "Selu" => self.selu(),
            "Gelu" => self.gelu(),
            "PRelu" => self.binary(Op::PRelu),
            "Add" => self.binary(Op::Add),
            "Sub" => self.binary(Op::Sub),
            "Mul" => self.binary(Op::Mul),
            "Div" => self.binary(Op::Div),
            "Pow" => self.binary(Op::Pow),
            op @ ("Sum" | "Mean" | "Max" | "Min") => self.variadic(op),
            "Dropout" => self.dropout(),
            "Cast" => self.cast(),
            // shape.rs
            "Concat" => self.concat(),
            "Split" => self.split(),
            "Slice" => self.slice(),
            "Reshape" => self.reshape(),
            "Flatten" => self.flatten(),
            "Transpose" => self.transpose(),
            "Squeeze" => self.squeeze(),
            "Unsqueeze" => self.unsqueeze(),
            "Pad" => self.pad(),
            "Tile" => self.tile(),
            "Expand" => self.expand(),
            "Gather" => self.gather(),
            op @ ("DepthToSpace" | "SpaceToDepth") => self.depth_space(op),
            // resize.rs
            "Resize" | "Upsample" => self.resize(),
            // reduce.rs
            op @ ("ReduceMean" | "ReduceMax" | "ReduceMin" | "ReduceSum") => self.reduce(op),
            op @ ("ReduceProd" | "ReduceL1" | "ReduceL2" | "ReduceSumSquare" | "ReduceLogSum"
            | "ReduceLogSumExp") => self.reduce_general(op),
            "ArgMax" => self.arg_max(),
            // constant.rs
            "Constant" => self.constant(),
            "ConstantOfShape" => self.constant_of_shape(),
            "Shape" => self.shape_op(),
            other => Err(OnnxError::UnsupportedOp {
                model: self.imp.model.clone(),
                op: other.to_string(),
                node: self.name.to_string(),
            }),
        }
    }

    /// `op` reading the node's first input.
    fn unary(&self, op: Op) -> Result<Translated, OnnxError> {
        Ok(Translated::Op(op, vec![self.input(0)?]))
    }

    /// `op` reading the node's first two inputs.
    fn binary(&self, op: Op) -> Result<Translated, OnnxError> {
        Ok(Translated::Op(op, vec![self.input(0)?, self.input(1)?]))
    }
}
