//! Radix graph IR: typed operators, tensors with static shapes, topological order and
//! provenance (`origin`) for every node.
//!
//! The IR is deliberately small and explicit: one [`Node`] per operation, each with a typed
//! [`Op`] (attributes are fields, not strings), a list of input and output [`ValueId`]s and the
//! names of the ONNX nodes it came from. Constants (weights, biases, folded shape subgraphs) are
//! [`Value`]s carrying data. Nodes are stored in topological order; every pass keeps it so.

#![deny(missing_docs)]

pub mod eval;
pub mod graph;
pub mod op;
pub mod passes;
pub mod qmodel;
pub mod semantics;
pub mod shape;

pub use graph::{Graph, Node, NodeId, Value, ValueId};
pub use op::{
    Activation, AutoPad, ConvAttrs, Op, PoolAttrs, ResizeAttrs, ResizeCoord, ResizeMode,
    ResizeNearest,
};

/// Errors produced while building, checking or transforming a graph.
#[derive(Debug, thiserror::Error)]
pub enum IrError {
    /// A problem with one node.
    #[error("node `{node}` ({op}): {msg}")]
    Node {
        /// The node's name.
        node: String,
        /// The node's op type (ONNX spelling).
        op: String,
        /// What is wrong.
        msg: String,
    },
    /// A problem with the graph as a whole.
    #[error("graph: {0}")]
    Graph(String),
}

impl IrError {
    /// An [`IrError::Node`] naming `node` and its op type.
    pub fn node(node: &Node, msg: impl Into<String>) -> Self {
        IrError::Node {
            node: node.name.clone(),
            op: node.op.type_name().to_string(),
            msg: msg.into(),
        }
    }
}

/// `Result` with [`IrError`] as the default error.
pub type Result<T, E = IrError> = std::result::Result<T, E>;
