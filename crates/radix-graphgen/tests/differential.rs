//! The random-graph differential test (see the crate docs). A bounded run in CI; the long run:
//! `RADIX_GRAPHS=100000 cargo test --release -p radix-graphgen --test differential -- --nocapture`
//! (`RADIX_GRAPHS_SEED` sets the first seed).

use std::collections::BTreeMap;

use radix_graphgen::{CheckConfig, GenConfig, Verdict, check, generate};
use rayon::prelude::*;

/// Seeds whose graphs exposed bugs; each stays a regression test.
const REGRESSION_SEEDS: &[u64] = &[
    // Fast-engine Concat on an axis with non-unit axes before it (ndarray's concatenate puts the
    // concat axis outermost in memory): 146 of the first 300 seeds, e.g.
    0, 2, 3, 4, 29,
    // Conv / ConvTranspose on a tensor stacked on axis 0 (items > 1 inside the model).
    11, 65, 83,
    // numpy-style batched MatMul (rank > 2, broadcast batch axes) in the fast engine.
    17, 26, 39,
    // A rank-0 model output (a full ReduceMean): the engines stacked it over items on axis 0.
    7, 216,
    // Float im2col: a segment where no output column reads inside the row (underflow, panic).
    536,
    // A 16-bit Gemm accumulator whose product with the multiplier exceeds i64 (requantization
    // is exact: computed wider).
    64802,
    // A dead output channel (weights near 1e-20 next to a bias): a weight scale near 1e20 gave
    // integer biases beyond i64 (overflow panics in the fast engine, the reference refused).
    15, 18, 36, 138,
    // int16 outputs whose values went through a far coarser format (range-limited, exempt).
    803, 1143,
];

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

struct Summary {
    pass: usize,
    skips: BTreeMap<String, usize>,
    fails: Vec<(u64, String)>,
    worst: f64,
    tensors: usize,
    range_limited: usize,
}

fn run(seeds: &[u64]) -> Summary {
    let gen_cfg = GenConfig::default();
    let check_cfg = CheckConfig::default();
    let verdicts: Vec<(u64, Verdict)> = seeds
        .par_iter()
        .map(|&s| {
            // A panic is a failure of this seed, reported with the others.
            let v = std::panic::catch_unwind(|| check(&generate(s, &gen_cfg), &check_cfg))
                .unwrap_or_else(|p| {
                    let msg = p
                        .downcast_ref::<String>()
                        .cloned()
                        .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                        .unwrap_or_default();
                    Verdict::Fail(format!("panic: {msg}"))
                });
            (s, v)
        })
        .collect();
    let mut r = Summary {
        pass: 0,
        skips: BTreeMap::new(),
        fails: Vec::new(),
        worst: f64::INFINITY,
        tensors: 0,
        range_limited: 0,
    };
    for (s, v) in verdicts {
        match v {
            Verdict::Pass {
                int16_snr_db,
                tensors,
                range_limited,
            } => {
                r.pass += 1;
                r.worst = r.worst.min(int16_snr_db);
                r.tensors += tensors;
                r.range_limited += range_limited;
            }
            Verdict::Skip(reason) => {
                // Group by the reason's wording without node names.
                let key = reason.split('`').step_by(2).collect::<Vec<_>>().join("…");
                *r.skips.entry(key).or_insert(0) += 1;
            }
            Verdict::Fail(m) => r.fails.push((s, m)),
        }
    }
    r
}

fn report(what: &str, n: usize, r: &Summary) {
    println!(
        "{what}: {n} graphs, {} passed, {} skipped, {} failed; {} tensors identical fast vs \
         reference; lowest int16 output SNR {:.1} dB ({} range-limited outputs not held to the floor)",
        r.pass,
        r.skips.values().sum::<usize>(),
        r.fails.len(),
        r.tensors,
        r.worst,
        r.range_limited,
    );
    for (reason, k) in &r.skips {
        println!("  skipped {k}: {reason}");
    }
    for (s, m) in r.fails.iter().take(20) {
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
    assert!(
        r.fails.is_empty(),
        "{} of {n} random graphs failed",
        r.fails.len()
    );
    // Skips are refusals, never wrong values, but a generator that mostly makes refused graphs
    // would prove nothing.
    assert!(r.pass * 10 >= n * 9, "only {} of {n} graphs passed", r.pass);
}

#[test]
fn regression_seeds() {
    let r = run(REGRESSION_SEEDS);
    report("regression seeds", REGRESSION_SEEDS.len(), &r);
    assert!(r.fails.is_empty());
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
