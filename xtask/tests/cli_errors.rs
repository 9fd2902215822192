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

/// `infer --platform P` on a BIE made for another platform is refused, naming both; the right
/// platform runs it.
#[test]
fn infer_refuses_a_bie_of_another_platform() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("key");
    std::fs::write(&key, "60".repeat(32)).unwrap();
    let x = dir.path().join("x.npy");
    ndarray_npy::write_npy(&x, &ndarray::Array4::<f32>::zeros((1, 3, 24, 24))).unwrap();
    let bie = fixture("golden/mtcnn_pnet_kl720_int8.bie");
    let out = dir.path().join("o");
    let args = |platform: &'static str| -> Vec<String> {
        [
            "infer",
            "--model",
            bie.to_str().unwrap(),
            "--inputs",
            x.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--key-file",
            key.to_str().unwrap(),
            "--platform",
            platform,
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    };
    let a = args("520");
    let e = fails(&a.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(e.contains("KL720") && e.contains("KL520"), "{e}");
    let ok = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(args("720"))
        .output()
        .unwrap();
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
}

/// `--fm-cut` is accepted as the older name of `--compiler-tiling`, with a deprecation note.
#[test]
fn fm_cut_is_the_older_name_of_compiler_tiling() {
    let dir = tempfile::tempdir().unwrap();
    let model = fixture("models/mtcnn_rnet.onnx");
    let out = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args([
            "evaluate",
            "--model",
            model.to_str().unwrap(),
            "--fm-cut",
            "deep_search",
        ])
        .arg("--output-dir")
        .arg(dir.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("`fm_cut` is deprecated"), "{stderr}");
    let e = fails(&[
        "evaluate",
        "--model",
        model.to_str().unwrap(),
        "--fm-cut",
        "sideways",
        "--output-dir",
        dir.path().to_str().unwrap(),
    ]);
    assert!(e.contains("fm_cut") && e.contains("sideways"), "{e}");
}

/// Every flag of every subcommand has a help line.
#[test]
fn every_flag_has_a_help_line() {
    for sub in [
        "quantize",
        "infer",
        "evaluate",
        "radix",
        "btm",
        "random-graphs",
        "regress",
        "bench",
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_xtask"))
            .args([sub, "--help"])
            .output()
            .unwrap();
        let help = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{sub} --help");
        // clap prints a flag with no help as the bare `--flag <VALUE>` line, followed directly
        // by the next flag.
        let lines: Vec<&str> = help.lines().collect();
        for (i, l) in lines.iter().enumerate() {
            let t = l.trim_start();
            if t.starts_with("--") && !t.starts_with("--help") {
                // Text beside the flag, or on the next line; a bare `[default: ..]` is no help.
                let text = |p: &str| !p.trim().is_empty() && !p.trim_start().starts_with('[');
                let has_text = t.split("  ").skip(1).any(text)
                    || lines
                        .get(i + 1)
                        .is_some_and(|n| text(n) && !n.trim_start().starts_with('-'));
                assert!(has_text, "`xtask {sub}`: no help for `{t}`\n{help}");
            }
        }
    }
}

/// Mixed bitwidth modes the reference toolchain refuses: one line naming the options, exit 1,
/// nothing written.
#[test]
fn invalid_mixed_precision_combinations() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let model = fixture("models/mtcnn_rnet.onnx");
    let cases: [(&[&str], &[&str]); 4] = [
        // No mixed mode on KL520.
        (
            &[
                "--platform",
                "520",
                "--datapath-bitwidth-mode",
                "mix light",
                "--weight-bitwidth-mode",
                "mix light",
            ],
            &["datapath_bitwidth_mode", "520"],
        ),
        // Data mixbw with weight int8.
        (
            &[
                "--datapath-bitwidth-mode",
                "mixbw",
                "--weight-bitwidth-mode",
                "int8",
            ],
            &["datapath_bitwidth_mode", "weight_bitwidth_mode", "mixbw"],
        ),
        // flops_ratio outside (0, 1].
        (
            &[
                "--datapath-bitwidth-mode",
                "mixbw",
                "--weight-bitwidth-mode",
                "mixbw",
                "--flops-ratio",
                "0",
            ],
            &["flops_ratio"],
        ),
        (
            &[
                "--datapath-bitwidth-mode",
                "mixbw",
                "--weight-bitwidth-mode",
                "mixbw",
                "--flops-ratio",
                "1.5",
            ],
            &["flops_ratio"],
        ),
    ];
    for (flags, words) in cases {
        let mut args = vec![
            "quantize",
            "--model",
            model.to_str().unwrap(),
            "--inputs",
            "fixtures/none.npy",
            "--output-dir",
            out.to_str().unwrap(),
        ];
        args.extend_from_slice(flags);
        let e = fails(&args);
        for w in words {
            assert!(e.contains(w), "{flags:?}: `{w}` not in {e}");
        }
        assert!(
            !out.exists() || std::fs::read_dir(&out).unwrap().next().is_none(),
            "{flags:?}: something was written"
        );
    }
}
