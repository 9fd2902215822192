//! Errors of the engines in this crate.

/// What can go wrong when building or running an engine. Every variant names the input or the
/// node (name and op type) it is about.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// The inputs do not fit the graph (one rule for every engine:
    /// [`crate::engine::batch_items`]).
    #[error(transparent)]
    Input(#[from] crate::engine::InputError),
    /// A node the engine cannot build or run (shapes that do not infer, an unsupported
    /// attribute, a missing or non-contiguous input).
    #[error("node `{node}` ({op}): {msg}")]
    Node {
        /// Node name.
        node: String,
        /// ONNX op type of the node.
        op: String,
        /// What is wrong.
        msg: String,
    },
    /// The graph as a whole is malformed: it fails validation, a constant's data disagrees with
    /// its declared shape, an output is never computed or cannot be joined over the batch.
    #[error("graph: {0}")]
    Graph(String),
    /// The reference engine refused the model or an input.
    #[error("reference engine: {0}")]
    Reference(#[from] crate::ReferenceError),
}

impl SimError {
    /// An error about one node.
    pub fn node(node: &radix_ir::Node, msg: impl Into<String>) -> Self {
        SimError::Node {
            node: node.name.clone(),
            op: node.op.type_name().to_string(),
            msg: msg.into(),
        }
    }
}
