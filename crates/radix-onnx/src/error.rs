//! The import error: what went wrong, naming the model and the node, input or initializer.

use crate::{MAX_OPSET, MIN_OPSET};

/// Why an ONNX model cannot be imported. `model` is always the model's name (the file stem, or
/// the name given to [`import_bytes`](crate::import_bytes)); `node` is the ONNX node's name, or
/// `<op_type>_<index>` for an unnamed node. Strings quoted from the file are escaped to one line.
#[derive(Debug, thiserror::Error)]
pub enum OnnxError {
    /// The file cannot be read.
    #[error("cannot read `{path}`: {source}")]
    Io {
        /// The file's path.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The bytes are not an ONNX protobuf.
    #[error("`{model}` is not a valid ONNX model (corrupt or truncated protobuf): {msg}")]
    Decode {
        /// The model's name.
        model: String,
        /// The decoder's message.
        msg: String,
    },
    /// The model has no graph, or a graph without nodes.
    #[error("`{model}` has no graph")]
    NoGraph {
        /// The model's name.
        model: String,
    },
    /// The model's default-domain opset is outside [`MIN_OPSET`]..=[`MAX_OPSET`].
    #[error("`{model}` uses opset {opset}; Radix supports opsets {MIN_OPSET}-{MAX_OPSET}")]
    Opset {
        /// The model's name.
        model: String,
        /// The opset the model imports.
        opset: i64,
    },
    /// An op Radix does not translate (an op of another domain is named `domain::op`).
    #[error("unsupported op `{op}` in node `{node}` of `{model}`")]
    UnsupportedOp {
        /// The model's name.
        model: String,
        /// The op type.
        op: String,
        /// The node's name.
        node: String,
    },
    /// A supported op used in a way Radix does not support or that is invalid (attribute values,
    /// a parameter that is not constant, shapes that do not infer...).
    #[error("node `{node}` ({op}) of `{model}`: {msg}")]
    Node {
        /// The model's name.
        model: String,
        /// The op type.
        op: String,
        /// The node's name.
        node: String,
        /// What is wrong.
        msg: String,
    },
    /// A node reads a tensor that nothing defines before it.
    #[error(
        "node `{node}` of `{model}` reads `{input}`, which is neither a graph input, an initializer nor an earlier node's output"
    )]
    MissingInput {
        /// The model's name.
        model: String,
        /// The node's name.
        node: String,
        /// The tensor it reads.
        input: String,
    },
    /// A graph input's declared shape is missing or not static, and no shape was given in
    /// [`ImportOptions`](crate::ImportOptions) (a dynamic batch, axis 0, is not an error: it
    /// becomes 1).
    #[error(
        "input `{input}` of `{model}` has a dynamic dimension {axis} (`{dim}`); fix it with an input shape (e.g. --input-shape {input}=1,3,224,224)"
    )]
    DynamicShape {
        /// The model's name.
        model: String,
        /// The graph input.
        input: String,
        /// The dynamic axis.
        axis: usize,
        /// What the model declares there (a symbolic name, a value, `?`), or why there is no
        /// shape.
        dim: String,
    },
    /// An initializer that cannot be decoded.
    #[error("initializer `{name}` of `{model}`: {msg}")]
    Tensor {
        /// The model's name.
        model: String,
        /// The initializer's name.
        name: String,
        /// What is wrong.
        msg: String,
    },
    /// A problem with the graph as a whole (no inputs, an output never produced, an invalid
    /// result).
    #[error("`{model}`: {msg}")]
    Graph {
        /// The model's name.
        model: String,
        /// What is wrong.
        msg: String,
    },
}

impl OnnxError {
    /// The same error with control characters (newlines, ...) in the strings it quotes from the
    /// file escaped, so that even a damaged model gives a one-line message.
    pub(crate) fn one_line(self) -> Self {
        fn esc(s: String) -> String {
            if s.chars().any(char::is_control) {
                s.chars()
                    .map(|c| {
                        if c.is_control() {
                            c.escape_default().to_string()
                        } else {
                            c.to_string()
                        }
                    })
                    .collect()
            } else {
                s
            }
        }
        use OnnxError::*;
        match self {
            Io { path, source } => Io {
                path: esc(path),
                source,
            },
            Decode { model, msg } => Decode {
                model: esc(model),
                msg: esc(msg),
            },
            NoGraph { model } => NoGraph { model: esc(model) },
            Opset { model, opset } => Opset {
                model: esc(model),
                opset,
            },
            UnsupportedOp { model, op, node } => UnsupportedOp {
                model: esc(model),
                op: esc(op),
                node: esc(node),
            },
            Node {
                model,
                op,
                node,
                msg,
            } => Node {
                model: esc(model),
                op: esc(op),
                node: esc(node),
                msg: esc(msg),
            },
            MissingInput { model, node, input } => MissingInput {
                model: esc(model),
                node: esc(node),
                input: esc(input),
            },
            DynamicShape {
                model,
                input,
                axis,
                dim,
            } => DynamicShape {
                model: esc(model),
                input: esc(input),
                axis,
                dim: esc(dim),
            },
            Tensor { model, name, msg } => Tensor {
                model: esc(model),
                name: esc(name),
                msg: esc(msg),
            },
            Graph { model, msg } => Graph {
                model: esc(model),
                msg: esc(msg),
            },
        }
    }
}
