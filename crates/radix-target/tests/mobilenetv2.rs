//! Model-level acceptance of the IP evaluator (issue 7) on the bundled MobileNetV2.

use std::path::PathBuf;

use radix_ir::Graph;
use radix_target::{
    CompilerTiling, NodeBits, Placement, Platform, evaluate, evaluate_uniform, zoo,
};

/// Kneron's published simulated NPU-only FPS for MobileNetV2 224 (toolchain manual,
/// "Kneron Hardware Performance" appendix, toolchain v0.33 tables).
const PUBLISHED_V2: [(Platform, f64); 5] = [
    (Platform::Kl520, 54.18),
    (Platform::Kl530, 342.3),
    (Platform::Kl630, 218.9),
    (Platform::Kl720, 683.1),
    (Platform::Kl730, 812.5),
];

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures/models")
        .join(name)
}

fn mobilenetv2() -> Graph {
    let mut g =
        radix_onnx::import_path(&fixture("mobilenetv2.onnx")).expect("import mobilenetv2.onnx");
    radix_ir::passes::optimize(&mut g).expect("optimize");
    g
}

#[test]
fn mobilenetv2_fps_within_15_percent_of_published() {
    let g = mobilenetv2();
    let mut table = String::from("platform  ours(default)  ours(deep)  published  error\n");
    let mut worst: f64 = 0.0;
    for (p, published) in PUBLISHED_V2 {
        let d = evaluate_uniform(&g, p, CompilerTiling::Default).expect("evaluate default");
        let s = evaluate_uniform(&g, p, CompilerTiling::DeepSearch).expect("evaluate deep");
        let err = d.total.fps / published - 1.0;
        worst = worst.max(err.abs());
        table += &format!(
            "{p:<8} {:>13.2} {:>11.2} {published:>10.2} {:>+6.1}%\n",
            d.total.fps,
            s.total.fps,
            100.0 * err
        );
        assert!(
            d.total.cpu_nodes.is_empty(),
            "{p}: unexpected CPU nodes {:?}",
            d.total.cpu_nodes
        );
    }
    println!("{table}");
    assert!(
        worst <= 0.15,
        "an estimate is off by more than 15%:\n{table}"
    );
}

#[test]
fn imported_mobilenetv2_matches_the_zoo_graph() {
    // The hand-built reference graph and the imported model cost the same to within rounding,
    // so the zoo graph is a faithful stand-in for quick tests.
    let g = mobilenetv2();
    let z = zoo::mobilenet_v2(224);
    assert_eq!(g.total_macs(), z.total_macs());
    for p in Platform::ALL {
        let a = evaluate_uniform(&g, p, CompilerTiling::Default).expect("imported");
        let b = evaluate_uniform(&z, p, CompilerTiling::Default).expect("zoo");
        let rel = (a.total.fps / b.total.fps - 1.0).abs();
        assert!(
            rel < 0.01,
            "{p}: imported {} fps vs zoo {} fps",
            a.total.fps,
            b.total.fps
        );
    }
}

#[test]
fn deep_search_never_slower_and_cuts_ddr_traffic() {
    let g = mobilenetv2();
    let mut cut_somewhere = false;
    for p in Platform::ALL {
        let d = evaluate_uniform(&g, p, CompilerTiling::Default).expect("default");
        let s = evaluate_uniform(&g, p, CompilerTiling::DeepSearch).expect("deep");
        assert!(
            s.total.itc_ms <= d.total.itc_ms + 1e-12,
            "{p}: deep search {} ms > default {} ms",
            s.total.itc_ms,
            d.total.itc_ms
        );
        let (dd, sd) = (d.ddr_bytes(), s.ddr_bytes());
        println!(
            "{p}: DDR default {dd} B, deep search {sd} B; ITC {:.3} -> {:.3} ms",
            d.total.itc_ms, s.total.itc_ms
        );
        if sd < dd {
            cut_somewhere = true;
        }
    }
    assert!(cut_somewhere, "deep search cut DDR traffic on no platform");
}

#[test]
fn mobilenetv2_report_is_consistent() {
    let g = mobilenetv2();
    for p in Platform::ALL {
        let r = evaluate_uniform(&g, p, CompilerTiling::Default).expect("evaluate");
        let t = &r.total;
        assert_eq!(r.nodes.len(), g.nodes.len());
        assert_eq!(t.npu_nodes.len() + t.cpu_nodes.len(), g.nodes.len());
        let sum: f64 = r.nodes.iter().map(|n| n.sync_runtime_ms).sum();
        assert!((sum - t.itc_ms).abs() < 1e-9);
        assert!((t.fps * t.itc_ms - 1000.0).abs() < 1e-6);
        let rv: u64 = r.nodes.iter().map(|n| n.rdma_bytes).sum();
        assert!((t.rv_mb - rv as f64 / 1e6).abs() < 1e-9);
        // The model input is read and the logits written at least once.
        assert!(t.rv_mb >= 224.0 * 224.0 * 4.0 / 1e6 * 0.99);
        assert!(t.wv_mb > 0.0);
        // Every weight is loaded at least once: 3.5 M parameters at 8 bits.
        assert!(t.weight_mb > 3.4, "{p}: weights {}", t.weight_mb);
        for n in &r.nodes {
            assert_eq!(n.placement, Placement::Npu);
            assert!(
                n.sync_runtime_ms <= n.runtime_ms + 1e-12,
                "{p}/{}: sync > runtime",
                n.name
            );
            assert!(n.sync_runtime_ms >= 0.0);
        }
        // Serializes for the report.
        let json = serde_json::to_string(&r).expect("json");
        assert!(json.contains("\"sync_runtime_ms\""));
    }
}

#[test]
fn int16_costs_more_than_int8() {
    let g = mobilenetv2();
    let p = Platform::Kl720;
    let a = evaluate(&g, p, &|_| NodeBits::INT8, CompilerTiling::Default).expect("int8");
    let b = evaluate(&g, p, &|_| NodeBits::INT16, CompilerTiling::Default).expect("int16");
    assert!(b.total.itc_ms > 1.5 * a.total.itc_ms);
    assert!(b.total.weight_mb > 1.9 * a.total.weight_mb);
    assert!(b.total.rv_mb > 1.9 * a.total.rv_mb);
}
