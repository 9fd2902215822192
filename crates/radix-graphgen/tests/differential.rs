//! The random-graph differential test (see the crate docs). A bounded run in CI; the long run:
//! `RADIX_GRAPHS=100000 cargo test --release -p radix-graphgen --test differential -- --nocapture`
//! (`RADIX_GRAPHS_SEED` sets the first seed).

use std::collections::BTreeMap;

use radix_graphgen::{CheckConfig, GenConfig, Verdict, check, generate};
use rayon::prelude::*;

/// Seeds whose graphs exposed bugs; each stays a regression test.
const REGRESSION_SEEDS: &[u64] = &[];

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn run(seeds: &[u64]) -> (usize, BTreeMap<String, usize>, Vec<(u64, String)>, f64) {
    let gen_cfg = GenConfig::default();
    let check_cfg = CheckConfig::default();
    let verdicts: Vec<(u64, Verdict)> = seeds
        .par_iter()
        .map(|&s| (s, check(&generate(s, &gen_cfg), &check_cfg)))
        .collect();
    let (mut pass, mut skips, mut fails, mut worst) =
        (0, BTreeMap::new(), Vec::new(), f64::INFINITY);
    for (s, v) in verdicts {
        match v {
            Verdict::Pass { int16_snr_db, .. } => {
                pass += 1;
                worst = worst.min(int16_snr_db);
            }
            Verdict::Skip(r) => {
                // Group by the reason's wording without node names.
                let key = r.split('`').step_by(2).collect::<Vec<_>>().join("…");
                *skips.entry(key).or_insert(0) += 1;
            }
            Verdict::Fail(m) => fails.push((s, m)),
        }
    }
    (pass, skips, fails, worst)
}

fn report(what: &str, n: usize, r: &(usize, BTreeMap<String, usize>, Vec<(u64, String)>, f64)) {
    let (pass, skips, fails, worst) = r;
    println!(
        "{what}: {n} graphs, {pass} passed, {} skipped, {} failed; lowest int16 output SNR {worst:.1} dB",
        skips.values().sum::<usize>(),
        fails.len()
    );
    for (reason, k) in skips {
        println!("  skipped {k}: {reason}");
    }
    for (s, m) in fails.iter().take(20) {
        println!("  FAIL seed {s}: {m}");
    }
}

#[test]
fn random_graphs_fast_vs_reference_and_int16_vs_float() {
    let n = env_u64("RADIX_GRAPHS", 500) as usize;
    let first = env_u64("RADIX_GRAPHS_SEED", 0);
    let seeds: Vec<u64> = (first..first + n as u64).collect();
    let r = run(&seeds);
    report("random graphs", n, &r);
    assert!(r.2.is_empty(), "{} of {n} random graphs failed", r.2.len());
    // Skips are refusals, never wrong values, but a generator that mostly makes refused graphs
    // would prove nothing.
    assert!(r.0 * 10 >= n * 9, "only {} of {n} graphs passed", r.0);
}

#[test]
fn regression_seeds() {
    let r = run(REGRESSION_SEEDS);
    report("regression seeds", REGRESSION_SEEDS.len(), &r);
    assert!(r.2.is_empty());
}

#[test]
fn generation_is_deterministic_and_varied() {
    let cfg = GenConfig::default();
    let a = generate(7, &cfg);
    let b = generate(7, &cfg);
    assert_eq!(
        format!("{:?}", a.graph.nodes),
        format!("{:?}", b.graph.nodes)
    );
    assert_eq!(a.items, b.items);
    // Across seeds: every op family appears, ranks 1-4 and every Concat axis.
    let mut ops = std::collections::BTreeSet::new();
    let mut concat_axes = std::collections::BTreeSet::new();
    let mut ranks = std::collections::BTreeSet::new();
    for s in 0..300 {
        let c = generate(s, &cfg);
        for n in &c.graph.nodes {
            ops.insert(n.op.type_name());
            if let radix_ir::Op::Concat { axis } = n.op {
                concat_axes.insert((c.graph.shape(n.outputs[0]).len(), axis));
            }
        }
        for v in &c.graph.values {
            ranks.insert(v.shape.len());
        }
    }
    for op in [
        "Conv",
        "ConvTranspose",
        "Gemm",
        "MatMul",
        "Add",
        "Sub",
        "Mul",
        "Div",
        "Concat",
        "Split",
        "Slice",
        "Reshape",
        "Transpose",
        "Resize",
        "Pad",
        "Softmax",
        "ReduceMean",
        "Gather",
        "PRelu",
        "BatchNormalization",
        "MaxPool",
        "AveragePool",
        "GlobalAveragePool",
        "Sigmoid",
        "Exp",
        "Flatten",
        "Squeeze",
        "Unsqueeze",
    ] {
        assert!(ops.contains(op), "{op} never generated");
    }
    for rank in 1..=4 {
        for axis in 0..rank {
            assert!(
                concat_axes.contains(&(rank, axis)),
                "no Concat on axis {axis} of a rank-{rank} tensor"
            );
        }
    }
    assert!((1..=4).all(|r| ranks.contains(&r)));
}
