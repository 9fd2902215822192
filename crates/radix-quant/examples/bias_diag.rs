//! Diagnostic: per-layer SNR (fixed vs float) before and after bias adjust.
use ndarray::{Array4, Axis};
use radix_quant::*;
use std::collections::HashMap;

fn layer_snr(
    m: &radix_ir::qmodel::QuantModel,
    items: &[Vec<ndarray::ArrayD<f32>>],
) -> HashMap<usize, (f64, f64, f64)> {
    let fe = radix_sim::FloatEngine::new(&m.graph).unwrap();
    let xe = radix_sim::FixedEngine::new(m).unwrap();
    let mut acc: HashMap<usize, (f64, f64, f64)> = HashMap::new();
    for it in items {
        let mut fl: HashMap<usize, Vec<f32>> = HashMap::new();
        fe.run_observed(it, &mut |v, t| {
            fl.insert(v.0, t.iter().copied().collect());
        })
        .unwrap();
        let mut obs = |v: radix_ir::ValueId, t: &radix_ir::qmodel::QTensor| {
            if let (Some(f), Some(p)) = (fl.get(&v.0), m.params(v)) {
                let e = acc.entry(v.0).or_default();
                for (a, &q) in f.iter().zip(&t.data) {
                    let d = p.dequantize(q) as f64;
                    e.0 += (*a as f64).powi(2);
                    e.1 += (*a as f64 - d).powi(2);
                    e.2 += *a as f64 - d;
                }
            }
        };
        let mut o: Option<radix_sim::fixed::QObserver<'_>> = Some(&mut obs);
        xe.run_item_quantized(it, &mut o).unwrap();
    }
    acc
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let platform: u32 = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(720);
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures");
    let mut g = radix_onnx::import_path(&root.join("models/mobilenetv2.onnx")).unwrap();
    radix_ir::passes::optimize(&mut g).unwrap();
    prepare(&mut g);
    let raw: ndarray::Array4<u8> =
        ndarray_npy::read_npy(root.join("images/photos_224_uint8_nhwc.npy")).unwrap();
    let mean = [0.485f32, 0.456, 0.406];
    let std = [0.229f32, 0.224, 0.225];
    let items: Vec<_> = raw
        .axis_iter(Axis(0))
        .map(|img| {
            vec![
                Array4::from_shape_fn((1, 3, 224, 224), |(_, c, y, x)| {
                    (img[[y, x, c]] as f32 / 255.0 - mean[c]) / std[c]
                })
                .into_dyn(),
            ]
        })
        .collect();
    let calib = calibrate(&g, &items, false).unwrap();
    let cfg = QuantConfig::int8(radix_target::Platform::from_number(platform).unwrap());
    let q = quantize(&g, &calib, &cfg).unwrap();
    let before = layer_snr(&q.model, &items);
    let mut m2 = q.model.clone();
    adjust_bias(&mut m2, &items, BiasAdjust::Parallel, &mut |_, _| {}).unwrap();
    let after = layer_snr(&m2, &items);
    let n = items.len() as f64;
    for node in &g.nodes {
        let v = node.outputs[0].0;
        if let (Some(b), Some(a)) = (before.get(&v), after.get(&v)) {
            let cnt = g.shape(node.outputs[0]).iter().product::<usize>() as f64 * n;
            println!(
                "{:40} {:6} before {:7.2} dB mean_err {:+.4}  after {:7.2} dB mean_err {:+.4}",
                node.name,
                node.op.type_name(),
                10.0 * (b.0 / b.1).log10(),
                b.2 / cnt,
                10.0 * (a.0 / a.1).log10(),
                a.2 / cnt
            );
        }
    }
}
