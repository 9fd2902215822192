//! The command line fails with one readable line and a non-zero exit code, never a panic: a
//! corrupt ONNX file, an unknown op, a wrong input shape.

use std::path::{Path, PathBuf};
use std::process::Command;

fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fixtures")
        .join(rel)
}

/// Runs `xtask args...`; returns stderr after checking: failed, exit code 1, one line, no panic.
fn fails(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(args)
        .output()
        .expect("xtask runs");
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(
        out.status.code(),
        Some(1),
        "exit code of {args:?}; stderr: {stderr}"
    );
    assert!(!stderr.contains("panicked"), "panic: {stderr}");
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "one line expected: {stderr}");
    assert!(lines[0].starts_with("error: "), "{stderr}");
    stderr
}

/// `xtask infer` of the fixture `model` on zeros of `shape`, which must fail.
fn infer_fails(model: &str, shape: (usize, usize, usize, usize)) -> String {
    let dir = tempfile::tempdir().unwrap();
    let x = dir.path().join("x.npy");
    ndarray_npy::write_npy(&x, &ndarray::Array4::<f32>::zeros(shape)).unwrap();
    let model = fixture(model);
    let out = dir.path().join("o");
    fails(&[
        "infer",
        "--model",
        model.to_str().unwrap(),
        "--inputs",
        x.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ])
}

#[test]
fn corrupt_onnx_file() {
    let e = infer_fails("errors/truncated.onnx", (1, 3, 24, 24));
    assert!(
        e.contains("`truncated`") && e.contains("not a valid ONNX model"),
        "{e}"
    );
}

#[test]
fn unknown_op_names_op_and_node() {
    let dir = tempfile::tempdir().unwrap();
    let model = fixture("errors/unknown_op.onnx");
    let e = fails(&[
        "evaluate",
        "--model",
        model.to_str().unwrap(),
        "--output-dir",
        dir.path().to_str().unwrap(),
    ]);
    assert!(
        e.contains("FancyActivation") && e.contains("my_fancy_node"),
        "{e}"
    );
}

#[test]
fn wrong_input_shape_names_input_and_shapes() {
    let e = infer_fails("models/mtcnn_rnet.onnx", (1, 3, 20, 24));
    assert!(
        e.contains("input") && e.contains("24") && e.contains("20"),
        "{e}"
    );
}
