//! The float semantics against a trusted reference: generated graphs written as ONNX
//! (`cargo xtask random-graphs`), run by onnxruntime (`tools/random_graph_refs.py`), committed in
//! `fixtures/random_graphs/`. Each is imported back (exercising the importer), run by the float
//! engine before and after the graph passes, and compared with onnxruntime's outputs.

use std::path::{Path, PathBuf};

use ndarray::ArrayD;
use radix_sim::FloatEngine;

/// Float engine vs onnxruntime, per output.
const MIN_SNR_DB: f64 = 80.0;

/// The committed graphs, or a larger set written elsewhere for a long run:
/// `cargo xtask random-graphs --count 3000 --seed 200 --out /tmp/rg`, then
/// `tools/random_graph_refs.py /tmp/rg` and `RADIX_RANDOM_GRAPHS_DIR=/tmp/rg cargo test ...`.
fn root() -> PathBuf {
    match std::env::var_os("RADIX_RANDOM_GRAPHS_DIR") {
        Some(d) => PathBuf::from(d),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/random_graphs"),
    }
}

fn npy(p: &Path) -> ArrayD<f32> {
    ndarray_npy::read_npy(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn files(dir: &Path, prefix: &str) -> Vec<ArrayD<f32>> {
    (0..)
        .map(|k| dir.join(format!("{prefix}{k}.npy")))
        .take_while(|p| p.exists())
        .map(|p| npy(&p))
        .collect()
}

#[test]
fn float_engine_matches_onnxruntime_on_random_graphs() {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(root())
        .expect("fixtures/random_graphs")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("model.onnx").exists())
        .collect();
    dirs.sort();
    assert!(dirs.len() >= 150, "only {} graphs", dirs.len());
    let mut failures = Vec::new();
    let mut worst = f64::INFINITY;
    for dir in &dirs {
        let name = dir.file_name().unwrap().to_string_lossy().to_string();
        let g = match radix_onnx::import_path(&dir.join("model.onnx")) {
            Ok(g) => g,
            Err(e) => {
                failures.push(format!("{name}: import: {e}"));
                continue;
            }
        };
        let inputs = files(dir, "input");
        let want = files(dir, "output");
        let mut optimized = g.clone();
        radix_ir::passes::optimize(&mut optimized).expect("passes");
        for (what, graph) in [("imported", &g), ("optimized", &optimized)] {
            let got = FloatEngine::new(graph)
                .and_then(|e| e.run(&inputs))
                .unwrap_or_else(|e| panic!("{name} {what}: {e}"));
            assert_eq!(got.len(), want.len(), "{name}: output count");
            for (k, (a, b)) in got.iter().zip(&want).enumerate() {
                if a.shape() != b.shape() {
                    failures.push(format!(
                        "{name} {what} output {k}: shape {:?} vs {:?}",
                        a.shape(),
                        b.shape()
                    ));
                    continue;
                }
                let (r, t): (Vec<f32>, Vec<f32>) =
                    (b.iter().copied().collect(), a.iter().copied().collect());
                let max_err = r
                    .iter()
                    .zip(&t)
                    .map(|(x, y)| (x - y).abs())
                    .fold(0f32, f32::max);
                let scale = r.iter().fold(1e-3f32, |m, x| m.max(x.abs()));
                let snr = radix_calib::sqnr_db(&r, &t);
                worst = worst.min(snr);
                // Exact agreement up to float rounding: by SNR, or (for outputs near zero) by the
                // largest error against the output's scale.
                if snr < MIN_SNR_DB && max_err > 1e-4 * scale {
                    failures.push(format!(
                        "{name} {what} output {k}: {snr:.1} dB, max |err| {max_err:e} (scale {scale:e})"
                    ));
                }
            }
        }
    }
    println!(
        "{} random graphs vs onnxruntime; lowest SNR {worst:.1} dB",
        dirs.len()
    );
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
