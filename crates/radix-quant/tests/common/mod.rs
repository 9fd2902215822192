//! Helpers shared by radix-quant's integration tests: fixture paths and prepared graphs.

use std::path::{Path, PathBuf};

pub fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures")
        .join(rel)
}

/// The fixture model `models/<model>.onnx`, optimized and prepared for quantization.
pub fn graph(model: &str) -> radix_ir::Graph {
    let mut g = radix_onnx::import_path(&fixture(&format!("models/{model}.onnx"))).unwrap();
    radix_ir::passes::optimize(&mut g).unwrap();
    radix_quant::prepare(&mut g);
    g
}
