//! Per-node wall time of the fixed-point engine on MobileNetV2 (where a run spends its time):
//! `cargo run --release -p radix-quant --example fixed_node_times -- [platform] [bits] [threads] [runs]`.
//! Node time = time between consecutive observer calls, median over the runs.
use ndarray::{Array4, Axis};
use radix_quant::*;

fn main() {
    if std::env::var_os("LATENCY_ALLOC").is_some() {
        // SAFETY: mallopt only changes malloc tuning parameters.
        unsafe {
            libc::mallopt(libc::M_MMAP_THRESHOLD, 256 << 20);
            libc::mallopt(libc::M_TRIM_THRESHOLD, 512 << 20);
        }
    }
    let args: Vec<String> = std::env::args().collect();
    let arg = |i: usize, d: usize| args.get(i).and_then(|s| s.parse().ok()).unwrap_or(d);
    let (platform, bits, threads, runs) =
        (arg(1, 720) as u32, arg(2, 8) as u8, arg(3, 2), arg(4, 20));
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures");
    let mut g = radix_onnx::import_path(&root.join("models/mobilenetv2.onnx")).expect("import");
    radix_ir::passes::optimize(&mut g).expect("optimize");
    prepare(&mut g);
    let raw: Array4<u8> =
        ndarray_npy::read_npy(root.join("images/photos_224_uint8_nhwc.npy")).expect("photos");
    let (mean, std) = ([0.485f32, 0.456, 0.406], [0.229f32, 0.224, 0.225]);
    let items: Vec<_> = raw
        .axis_iter(Axis(0))
        .take(4)
        .map(|img| {
            vec![
                Array4::from_shape_fn((1, 3, 224, 224), |(_, c, y, x)| {
                    (img[[y, x, c]] as f32 / 255.0 - mean[c]) / std[c]
                })
                .into_dyn(),
            ]
        })
        .collect();
    let calib = calibrate(&g, &items).expect("calibrate");
    let mut cfg =
        QuantConfig::int8(radix_target::Platform::from_number(platform).expect("platform"));
    (
        cfg.datapath_bits,
        cfg.weight_bits,
        cfg.model_in_bits,
        cfg.model_out_bits,
    ) = (bits, bits, bits, bits);
    let q = quantize(&g, &calib, &cfg).expect("quantize");
    let engine = radix_sim::FixedEngine::new(&q.model).expect("engine");
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("pool");
    let mut per_value: std::collections::HashMap<usize, Vec<f64>> = Default::default();
    let mut totals = Vec::new();
    pool.install(|| {
        engine.run(&items[0]).expect("warm-up");
        for _ in 0..runs {
            let start = std::time::Instant::now();
            let mut last = start;
            let mut obs = |v: radix_ir::ValueId, _: &radix_ir::qmodel::QTensor| {
                let now = std::time::Instant::now();
                per_value
                    .entry(v.0)
                    .or_default()
                    .push((now - last).as_secs_f64() * 1e3);
                last = now;
            };
            engine.run_observed(&items[0], Some(&mut obs)).expect("run");
            totals.push(start.elapsed().as_secs_f64() * 1e3);
        }
    });
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let producer: std::collections::HashMap<usize, &radix_ir::Node> = q
        .model
        .graph
        .nodes
        .iter()
        .flat_map(|n| n.outputs.iter().map(move |o| (o.0, n)))
        .collect();
    let mut rows: Vec<(f64, usize)> = per_value.iter_mut().map(|(v, t)| (median(t), *v)).collect();
    rows.sort_by(|a, b| b.0.total_cmp(&a.0));
    let sum: f64 = rows.iter().map(|r| r.0).sum();
    println!(
        "total median {:.3} ms, sum of node medians {sum:.3} ms",
        median(&mut totals)
    );
    let top: usize = std::env::var("TOP")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(25);
    for (t, v) in rows.iter().take(top) {
        match producer.get(v) {
            Some(n) => {
                let gr = &q.model.graph;
                let ins: Vec<_> = n.inputs.iter().map(|&i| gr.shape(i).to_vec()).collect();
                let kind = match &n.op {
                    radix_ir::Op::Conv(a) if a.group > 1 => "dw".to_string(),
                    radix_ir::Op::Conv(a) => format!("conv{}x{}", a.kernel[0], a.kernel[1]),
                    op => op.type_name().to_string(),
                };
                println!("{t:7.3} ms  {kind:8} {ins:?}");
            }
            None => println!("{t:7.3} ms  (input quantization)"),
        }
    }
}
