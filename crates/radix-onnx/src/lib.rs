//! ONNX import: protobuf (read with tract-onnx's generated types) to the Radix IR.
//!
//! One IR node per ONNX node (a 1-D pool is three: Unsqueeze, the 2-D pool, Squeeze, all with
//! the ONNX node as origin). Constant inputs that ONNX uses as attributes (Reshape's shape,
//! Slice's starts, Resize's scales...) are resolved into typed attributes, and constant
//! subgraphs (shape arithmetic) are folded as they are read, which static shapes make possible.
//!
//! Layout: `import` walks the model (initializers, inputs, nodes, outputs), `ops` translates one
//! node (a module per op family), `attr` reads a node's attributes and inputs, `tensor` decodes
//! initializers, [`export`] writes IR back as ONNX.

#![deny(missing_docs)]

mod attr;
mod error;
pub mod export;
mod import;
mod ops;
mod tensor;

pub use error::OnnxError;
pub use import::{
    ImportOptions, import_bytes, import_path, import_path_with, import_proto, read_model_file,
};

/// The lowest opset whose operator semantics Radix implements.
pub const MIN_OPSET: i64 = 7;
/// The highest opset whose operator semantics Radix implements.
pub const MAX_OPSET: i64 = 21;
