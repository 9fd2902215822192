//! Quick end-to-end check: `cargo run --release -p radix-quant --example e2e -- 720 8`.
use ndarray::{Array4, ArrayD, Axis, IxDyn};
use radix_quant::*;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let platform: u32 = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(720);
    let bits: u8 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(8);
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures");
    let mut g = radix_onnx::import_path(&root.join("models/mobilenetv2.onnx")).unwrap();
    radix_ir::passes::optimize(&mut g).unwrap();
    prepare(&mut g);
    let raw: ndarray::Array4<u8> =
        ndarray_npy::read_npy(root.join("images/photos_224_uint8_nhwc.npy")).unwrap();
    let mean = [0.485f32, 0.456, 0.406];
    let std = [0.229f32, 0.224, 0.225];
    let mut items = Vec::new();
    for img in raw.axis_iter(Axis(0)) {
        let a = Array4::from_shape_fn((1, 3, 224, 224), |(_, c, y, x)| {
            (img[[y, x, c]] as f32 / 255.0 - mean[c]) / std[c]
        });
        items.push(vec![a.into_dyn()]);
    }
    let t = std::time::Instant::now();
    // RADIX_HOLDOUT=1: calibrate (and bias-adjust) on the even photos, measure on the odd ones.
    let (fit, eval): (Vec<_>, Vec<_>) = if std::env::var("RADIX_HOLDOUT").is_ok() {
        let (a, b): (Vec<_>, Vec<_>) = items
            .iter()
            .cloned()
            .enumerate()
            .partition(|(i, _)| i % 2 == 0);
        (
            a.into_iter().map(|x| x.1).collect(),
            b.into_iter().map(|x| x.1).collect(),
        )
    } else {
        (items.clone(), items.clone())
    };
    let calib = calibrate(&g, &fit).unwrap();
    println!("calibrate {:.2}s", t.elapsed().as_secs_f64());
    let mut cfg = QuantConfig::int8(radix_target::Platform::from_number(platform).unwrap());
    cfg.datapath_bits = bits;
    // RADIX_WEIGHT_BITS=16: wider weights than the datapath (to see what the weights cost).
    cfg.weight_bits = std::env::var("RADIX_WEIGHT_BITS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(bits);
    cfg.model_in_bits = bits;
    cfg.model_out_bits = bits;
    match args.get(3).map(String::as_str) {
        Some("mmse") => {
            cfg.range = RangeChoice::Mmse {
                percentile: 0.001,
                outlier_factor: 1.0,
            }
        }
        Some(p) => {
            let p: f64 = p.parse().unwrap();
            cfg.range = RangeChoice::Percentage {
                percentage: p,
                percentage_16b: 0.999999,
            }
        }
        None => {}
    }
    let mut q = quantize(&g, &calib, &cfg).unwrap();
    // RADIX_BIAS_ADJUST=parallel|sequential: bias adjust (optimize 1 / 3) on the same items.
    if let Ok(how) = std::env::var("RADIX_BIAS_ADJUST") {
        let how = if how == "sequential" {
            BiasAdjust::Sequential
        } else {
            BiasAdjust::Parallel
        };
        let t = std::time::Instant::now();
        let s = adjust_bias(&mut q.model, &fit, how, &mut |_, _| {}).unwrap();
        println!(
            "bias adjust {how:?}: {s:?} in {:.2}s",
            t.elapsed().as_secs_f64()
        );
    }
    for w in &q.warnings {
        println!("warn: {w}");
    }
    let fe = radix_sim::FloatEngine::new(&g).unwrap();
    let xe = radix_sim::FixedEngine::new(&q.model).unwrap();
    let (mut num, mut den, mut agree) = (0f64, 0f64, 0);
    let t = std::time::Instant::now();
    println!("fit on {} photos, measured on {}", fit.len(), eval.len());
    for it in &eval {
        let f = fe.run(it).unwrap().remove(0);
        let x = xe.run(it).unwrap().remove(0);
        for (a, b) in f.iter().zip(x.iter()) {
            num += (*a as f64).powi(2);
            den += (*a as f64 - *b as f64).powi(2);
        }
        let am = |v: &ArrayD<f32>| {
            v.iter()
                .enumerate()
                .fold((0, f32::MIN), |m, (i, &v)| if v > m.1 { (i, v) } else { m })
                .0
        };
        if am(&f) == am(&x) {
            agree += 1;
        }
    }
    let _ = IxDyn(&[1]);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build()
        .unwrap();
    pool.install(|| {
        let mut tf = Vec::new();
        let mut tx = Vec::new();
        for it in items.iter().take(10) {
            let t = std::time::Instant::now();
            fe.run(it).unwrap();
            tf.push(t.elapsed().as_secs_f64() * 1e3);
            let t = std::time::Instant::now();
            xe.run(it).unwrap();
            tx.push(t.elapsed().as_secs_f64() * 1e3);
        }
        tf.sort_by(f64::total_cmp);
        tx.sort_by(f64::total_cmp);
        println!("2 threads: float {:.2} ms, fixed {:.2} ms", tf[5], tx[5]);
    });
    println!(
        "platform {platform} bits {bits}: SNR {:.2} dB, top1 agree {agree}/{}, verify time {:.2}s",
        10.0 * (num / den).log10(),
        eval.len(),
        t.elapsed().as_secs_f64()
    );
}
