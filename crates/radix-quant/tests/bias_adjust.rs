//! Bias adjust (`optimize` 1-4): it must raise MobileNetV2's logit SNR on the power-of-two KL520
//! (issue 4's 10 dB target), keep the model otherwise unchanged, and give the same model
//! whatever the thread count.

mod common;

use common::{fixture, graph};
use ndarray::{Array4, ArrayD, Axis};
use radix_ir::qmodel::{QKernel, QuantModel};
use radix_quant::{BiasAdjust, QuantConfig, adjust_bias, calibrate, quantize};
use radix_target::Platform;

/// The 22 bundled photos with MobileNetV2's ImageNet normalisation.
fn photos() -> Vec<Vec<ArrayD<f32>>> {
    let raw: ndarray::Array4<u8> =
        ndarray_npy::read_npy(fixture("images/photos_224_uint8_nhwc.npy")).unwrap();
    let mean = [0.485f32, 0.456, 0.406];
    let std = [0.229f32, 0.224, 0.225];
    raw.axis_iter(Axis(0))
        .map(|img| {
            vec![
                Array4::from_shape_fn((1, 3, 224, 224), |(_, c, y, x)| {
                    (img[[y, x, c]] as f32 / 255.0 - mean[c]) / std[c]
                })
                .into_dyn(),
            ]
        })
        .collect()
}

/// SNR (dB) of the fixed-point first output against float over `items`.
fn snr(model: &QuantModel, items: &[Vec<ArrayD<f32>>]) -> f64 {
    let float = radix_sim::FloatEngine::new(&model.graph).unwrap();
    let fixed = radix_sim::FixedEngine::new(model).unwrap();
    let (mut sig, mut err) = (0f64, 0f64);
    for it in items {
        let f = float.run(it).unwrap().remove(0);
        let x = fixed.run(it).unwrap().remove(0);
        for (a, b) in f.iter().zip(x.iter()) {
            sig += (*a as f64).powi(2);
            err += (*a as f64 - *b as f64).powi(2);
        }
    }
    10.0 * (sig / err).log10()
}

fn biases(m: &QuantModel) -> Vec<Vec<i64>> {
    m.nodes
        .iter()
        .filter_map(|n| match &n.kernel {
            QKernel::Mac { bias, .. } => Some(bias.clone()),
            _ => None,
        })
        .collect()
}

fn in_pool<T: Send>(threads: usize, f: impl FnOnce() -> T + Send) -> T {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap()
        .install(f)
}

#[test]
fn parallel_bias_adjust_lifts_kl520_mobilenetv2_above_10_db() {
    let g = graph("mobilenetv2");
    let items = photos();
    let calib = calibrate(&g, &items).unwrap();
    let base = quantize(&g, &calib, &QuantConfig::int8(Platform::Kl520))
        .unwrap()
        .model;
    let before = snr(&base, &items);
    let mut adjusted = base.clone();
    let mut passes = Vec::new();
    let summary = adjust_bias(&mut adjusted, &items, BiasAdjust::Parallel, &mut |k, n| {
        passes.push((k, n))
    })
    .unwrap();
    let after = snr(&adjusted, &items);
    eprintln!("KL520 int8 MobileNetV2: {before:.2} dB -> {after:.2} dB ({summary:?})");
    assert_eq!(summary.nodes, 53, "every Conv and the Gemm");
    assert_eq!(passes, vec![(1, 1)]);
    assert!(after >= 10.0, "SNR {after:.2} dB < 10 dB");
    assert!(after > before + 0.5, "{before:.2} -> {after:.2} dB");
    // Only biases move.
    let changed = biases(&base)
        .iter()
        .zip(biases(&adjusted))
        .filter(|(a, b)| **a != *b)
        .count();
    assert!(changed > 40, "{changed} nodes changed their bias");
    let strip = |m: &QuantModel| {
        let mut m = m.clone();
        for n in &mut m.nodes {
            if let QKernel::Mac { bias, .. } = &mut n.kernel {
                bias.clear();
            }
        }
        (m.nodes, m.tensors, m.consts)
    };
    assert!(
        strip(&base) == strip(&adjusted),
        "more than the biases changed"
    );
}

#[test]
fn bias_adjust_is_thread_independent_and_improves_rnet() {
    let g = graph("mtcnn_rnet");
    // RNet on 24x24 lfw patches: a few dozen are plenty for the means.
    let u: ndarray::Array3<u8> =
        ndarray_npy::read_npy(fixture("reference/mtcnn_lfw24_u8.npy")).unwrap();
    let items: Vec<Vec<ArrayD<f32>>> = u
        .axis_iter(Axis(0))
        .take(48)
        .map(|p| {
            vec![
                Array4::from_shape_fn((1, 3, 24, 24), |(_, _, y, x)| {
                    (p[[y, x]] as f32 - 127.5) / 128.0
                })
                .into_dyn(),
            ]
        })
        .collect();
    let calib = calibrate(&g, &items).unwrap();
    let base = quantize(&g, &calib, &QuantConfig::int8(Platform::Kl520))
        .unwrap()
        .model;
    let run = |threads: usize, how: BiasAdjust| {
        in_pool(threads, || {
            let mut m = base.clone();
            let s = adjust_bias(&mut m, &items, how, &mut |_, _| {}).unwrap();
            (m, s)
        })
    };
    for how in [BiasAdjust::Parallel, BiasAdjust::Sequential] {
        let (a, sa) = run(1, how);
        let (b, sb) = run(2, how);
        assert_eq!(sa, sb, "{how:?}");
        assert!(
            a.nodes == b.nodes,
            "{how:?} bias adjust depends on the thread count"
        );
    }
    let (one, s1) = run(2, BiasAdjust::Sequential);
    assert!(s1.passes >= 4, "one pass per MAC depth: {s1:?}");
    let (before, after) = (snr(&base, &items), snr(&one, &items));
    eprintln!("RNet KL520 int8: {before:.2} dB -> {after:.2} dB ({s1:?})");
    assert!(after > before, "{before:.2} -> {after:.2} dB");
}
