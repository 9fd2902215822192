//! Per-node wall time of the float or fixed engine on MobileNetV2 (where a run spends its time):
//! `cargo run --release -p radix-sim --example node_times -- [float|fixed] [threads] [runs]`.
//! Node time = time between consecutive observer calls, median over the runs.

use std::path::PathBuf;
use std::time::Instant;

use ndarray::{Array4, ArrayD, s};
use radix_sim::FloatEngine;

fn fixture(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures")
        .join(rel)
}

fn first_photo() -> ArrayD<f32> {
    const MEAN: [f32; 3] = [0.485, 0.456, 0.406];
    const STD: [f32; 3] = [0.229, 0.224, 0.225];
    let photos: Array4<u8> =
        ndarray_npy::read_npy(fixture("images/photos_224_uint8_nhwc.npy")).expect("photos");
    let p = photos.slice(s![0..1, .., .., ..]);
    let (n, h, w, _) = p.dim();
    let mut x = Array4::<f32>::zeros((n, 3, h, w));
    for ((i, y, xx, c), &v) in p.indexed_iter() {
        x[[i, c, y, xx]] = (v as f32 / 255.0 - MEAN[c]) / STD[c];
    }
    x.into_dyn()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let threads: usize = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(2);
    let runs: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(30);
    let mut graph = radix_onnx::import_path(&fixture("models/mobilenetv2.onnx")).expect("import");
    radix_ir::passes::optimize(&mut graph).expect("optimize");
    let engine = FloatEngine::new(&graph).expect("engine");
    let x = [first_photo()];
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("pool");
    let n = graph.nodes.len();
    let mut per_node: Vec<Vec<f64>> = vec![Vec::new(); n];
    let mut totals = Vec::new();
    pool.install(|| {
        engine.run(&x).expect("warm-up");
        for _ in 0..runs {
            let mut i = 0;
            let start = Instant::now();
            let mut last = start;
            engine
                .run_observed(&x, &mut |_, _| {
                    let now = Instant::now();
                    if i < n {
                        per_node[i].push((now - last).as_secs_f64() * 1e3);
                    }
                    i += 1;
                    last = now;
                })
                .expect("run");
            totals.push(start.elapsed().as_secs_f64() * 1e3);
        }
    });
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let mut rows: Vec<(f64, usize)> = per_node
        .iter_mut()
        .enumerate()
        .map(|(i, v)| (median(v), i))
        .collect();
    let sum: f64 = rows.iter().map(|r| r.0).sum();
    rows.sort_by(|a, b| b.0.total_cmp(&a.0));
    println!(
        "total median {:.3} ms, sum of node medians {sum:.3} ms",
        median(&mut totals)
    );
    let top: usize = std::env::var("TOP")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(25);
    for (t, i) in rows.iter().take(top) {
        let node = &graph.nodes[*i];
        let ins: Vec<_> = node
            .inputs
            .iter()
            .map(|&v| graph.shape(v).to_vec())
            .collect();
        println!("{t:7.3} ms  {:?}  {:?} {}", node.op, ins, node.name);
    }
}
