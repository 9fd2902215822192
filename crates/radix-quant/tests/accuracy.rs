//! Quantized accuracy on the fixture models (issue 4): MTCNN RNet/ONet on the 200-patch lfw
//! subset (int8, KL520 and KL720), PP-OCRv4 det's binarized map on the `page` photo (int8,
//! KL720 and KL520).
//! Each model is calibrated on its own fixture inputs and run on the fast fixed-point engine.
//! `RADIX_OPTIMIZE=1|3` (default 0) adds bias adjust at that level, to measure it on the same
//! models: `RADIX_OPTIMIZE=3 cargo test -p radix-quant --test accuracy -- --nocapture`.

mod common;

use common::{fixture, graph};
use ndarray::{Array1, Array3, Array4, ArrayD, Axis};
use radix_quant::{BiasAdjust, QuantConfig, adjust_bias, calibrate, quantize};
use radix_target::Platform;

fn int8(platform: Platform) -> QuantConfig {
    QuantConfig::int8(platform)
}

/// Quantizes `g` for `platform` int8, with bias adjust when `RADIX_OPTIMIZE` asks for it.
fn quantized(
    g: &radix_ir::Graph,
    items: &[Vec<ArrayD<f32>>],
    platform: Platform,
) -> radix_ir::qmodel::QuantModel {
    let calib = calibrate(g, items).unwrap();
    let mut q = quantize(g, &calib, &int8(platform)).unwrap().model;
    let level: u8 = std::env::var("RADIX_OPTIMIZE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    if let Some(how) = BiasAdjust::from_optimize(level) {
        adjust_bias(&mut q, items, how, &mut |_, _| {}).unwrap();
    }
    q
}

/// The 200 lfw patches at `size` (fixtures/README.md formula), one item each.
fn lfw(size: usize) -> Vec<Vec<ArrayD<f32>>> {
    let u: Array3<u8> =
        ndarray_npy::read_npy(fixture(&format!("reference/mtcnn_lfw{size}_u8.npy"))).unwrap();
    u.axis_iter(Axis(0))
        .map(|p| {
            vec![
                Array4::from_shape_fn((1, 3, size, size), |(_, _, y, x)| {
                    (p[[y, x]] as f32 / 255.0 * 255.0 - 127.5) / 128.0
                })
                .into_dyn(),
            ]
        })
        .collect()
}

fn lfw_accuracy(model: &str, size: usize, platform: Platform) -> f64 {
    let g = graph(model);
    let items = lfw(size);
    let q = quantized(&g, &items, platform);
    let engine = radix_sim::FixedEngine::new(&q).unwrap();
    let labels: Array1<u8> =
        ndarray_npy::read_npy(fixture("reference/mtcnn_lfw_labels.npy")).unwrap();
    let prob_index = g
        .outputs
        .iter()
        .position(|&o| g.value(o).name == "face_prob")
        .expect("face_prob output");
    let mut correct = 0;
    for (item, &label) in items.iter().zip(labels.iter()) {
        let outs = engine.run(item).unwrap();
        let p_face = outs[prob_index].as_slice().unwrap()[1];
        if (p_face > 0.5) == (label == 1) {
            correct += 1;
        }
    }
    correct as f64 / items.len() as f64
}

#[test]
fn mtcnn_rnet_and_onet_int8_reach_98_percent_on_lfw() {
    for (model, size) in [("mtcnn_rnet", 24), ("mtcnn_onet", 48)] {
        for platform in [Platform::Kl520, Platform::Kl720] {
            let acc = lfw_accuracy(model, size, platform);
            eprintln!(
                "{model} KL{} int8: lfw accuracy {acc:.3}",
                platform.number()
            );
            assert!(acc >= 0.98, "{model} KL{}: {acc}", platform.number());
        }
    }
}

#[test]
fn ppocr_int8_binarized_map_iou_on_page() {
    let g = graph("ppocrv4_det");
    let u: Array3<u8> = ndarray_npy::read_npy(fixture("reference/ppocr_page_rgb_u8.npy")).unwrap();
    let x = Array4::from_shape_fn((1, 3, 640, 640), |(_, c, y, x)| {
        (u[[y, x, 2 - c]] as f32 / 255.0 - 0.5) / 0.5
    })
    .into_dyn();
    let items = vec![vec![x]];
    let float = radix_sim::FloatEngine::new(&g)
        .unwrap()
        .run(&items[0])
        .unwrap()
        .remove(0);
    for platform in [Platform::Kl720, Platform::Kl520] {
        let q = quantized(&g, &items, platform);
        let fixed = radix_sim::FixedEngine::new(&q)
            .unwrap()
            .run(&items[0])
            .unwrap()
            .remove(0);
        let (mut inter, mut union) = (0usize, 0usize);
        for (&a, &b) in float.iter().zip(fixed.iter()) {
            let (a, b) = (a > 0.3, b > 0.3);
            inter += (a && b) as usize;
            union += (a || b) as usize;
        }
        let iou = inter as f64 / union.max(1) as f64;
        eprintln!(
            "ppocrv4_det KL{} int8: IoU {iou:.4} ({inter} / {union} pixels)",
            platform.number()
        );
        assert!(iou >= 0.85, "KL{}: IoU {iou}", platform.number());
    }
}
