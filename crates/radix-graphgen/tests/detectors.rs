//! The two detector head structures that broke on real models (issue: last-axis Concat), rebuilt
//! as test graphs by `tools/make_detector_graphs.py` (fixtures/models/detectors): a YOLOX-style
//! head (Focus stem, SiLU, three levels reshaped to [1, 6, HW_i] and concatenated on the last
//! axis) and a YOLOv8-style head (Split, DFL Softmax, [1, 144, 2100] concatenation, pixel boxes
//! concatenated with sigmoid scores into [1, 22, 2100]). On real photos:
//! float vs onnxruntime, fast vs reference bit for bit, int16 >= 40 dB, and an int8 datapath
//! with a 16-bit model output >= 15 dB for boxes and scores separately.

use std::path::{Path, PathBuf};

use ndarray::{Array4, ArrayD, Axis};
use radix_graphgen::compare_engines;
use radix_quant::{Calibrated, QuantConfig};
use radix_sim::{FixedEngine, FloatEngine};
use radix_target::Platform;

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/models/detectors")
}

/// Photos used for calibration; the others are only measured (unseen).
const CALIBRATION_PHOTOS: usize = 4;

struct Detector {
    name: &'static str,
    /// Output channels [0, boxes) are box values, the rest scores.
    boxes: usize,
}

fn inputs(name: &str) -> Vec<Vec<ArrayD<f32>>> {
    let u8s: ndarray::Array4<u8> =
        ndarray_npy::read_npy(dir().join(format!("{name}_photos_u8.npy"))).expect("photos");
    u8s.axis_iter(Axis(0))
        .map(|p| {
            let (h, w) = (p.shape()[0], p.shape()[1]);
            let x = Array4::from_shape_fn((1, 3, h, w), |(_, c, y, x)| {
                p[[y, x, c]] as f32 / 127.5 - 1.0
            });
            vec![x.into_dyn()]
        })
        .collect()
}

/// SNR over items of output channels `lo..hi` (axis 1).
fn part_snr(want: &[ArrayD<f32>], got: &[ArrayD<f32>], lo: usize, hi: usize) -> f64 {
    let (mut r, mut t) = (Vec::new(), Vec::new());
    for (a, b) in want.iter().zip(got) {
        let a = a.slice_axis(Axis(1), (lo..hi).into());
        let b = b.slice_axis(Axis(1), (lo..hi).into());
        r.extend(a.iter().copied());
        t.extend(b.iter().copied());
    }
    radix_calib::sqnr_db(&r, &t)
}

fn check(d: &Detector) {
    let mut g = radix_onnx::import_path(&dir().join(format!("{}.onnx", d.name))).expect("import");
    radix_ir::passes::optimize(&mut g).expect("passes");
    let items = inputs(d.name);
    // Float engine vs onnxruntime.
    let ort: ArrayD<f32> =
        ndarray_npy::read_npy(dir().join(format!("{}_float.npy", d.name))).expect("refs");
    let float = FloatEngine::new(&g).expect("float engine");
    let ys: Vec<ArrayD<f32>> = items
        .iter()
        .map(|it| float.run(it).expect("float run").remove(0))
        .collect();
    let channels = ys[0].shape()[1];
    for (k, y) in ys.iter().enumerate() {
        let want = ort.index_axis(Axis(0), k);
        let snr = radix_calib::sqnr_db(
            &want.iter().copied().collect::<Vec<_>>(),
            &y.iter().copied().collect::<Vec<_>>(),
        );
        assert!(
            snr >= 80.0,
            "{} photo {k}: float vs onnxruntime {snr:.1} dB",
            d.name
        );
    }
    let calibrated =
        Calibrated::new(&g, &items[..CALIBRATION_PHOTOS], &radix_quant::Silent).expect("calibrate");
    // (platform, datapath/weight bits, model output bits, SNR floor for each part).
    let configs = [
        (Platform::Kl720, 16u8, 16u8, Some(40.0)),
        (Platform::Kl720, 8, 16, Some(15.0)),
        (Platform::Kl720, 8, 8, None),
        (Platform::Kl520, 8, 8, None),
    ];
    for (platform, bits, out_bits, floor) in configs {
        let mut cfg = QuantConfig::uniform(platform, bits);
        cfg.model_out_bits = out_bits;
        let what = format!(
            "{} KL{} int{bits} out int{out_bits}",
            d.name,
            platform.number()
        );
        let q = calibrated
            .quantize(&cfg)
            .unwrap_or_else(|e| panic!("{what}: {e}"))
            .model;
        // Bit for bit on one calibration photo and one unseen photo (the reference engine is
        // plain loops: the slow part of this test).
        let pair = [items[0].clone(), items[items.len() - 1].clone()];
        let fast = FixedEngine::new(&q).expect("fast engine");
        let tensors = compare_engines(&q, &fast, &pair).unwrap_or_else(|e| panic!("{what}: {e}"));
        let yq: Vec<ArrayD<f32>> = items
            .iter()
            .map(|it| fast.run(it).expect("fixed run").remove(0))
            .collect();
        let boxes = part_snr(&ys, &yq, 0, d.boxes);
        let scores = part_snr(&ys, &yq, d.boxes, channels);
        let unseen_boxes = part_snr(
            &ys[CALIBRATION_PHOTOS..],
            &yq[CALIBRATION_PHOTOS..],
            0,
            d.boxes,
        );
        let unseen_scores = part_snr(
            &ys[CALIBRATION_PHOTOS..],
            &yq[CALIBRATION_PHOTOS..],
            d.boxes,
            channels,
        );
        println!(
            "{what}: {tensors} tensors bit-true; boxes {boxes:.1} dB, scores {scores:.1} dB \
             (unseen photos: {unseen_boxes:.1} / {unseen_scores:.1} dB)"
        );
        if let Some(floor) = floor {
            for (part, snr) in [("boxes", boxes), ("scores", scores)] {
                assert!(snr >= floor, "{what}: {part} at {snr:.1} dB < {floor} dB");
            }
        }
    }
}

#[test]
fn yolox_style_head() {
    check(&Detector {
        name: "yolox_head",
        boxes: 4,
    });
}

#[test]
fn yolov8_style_head() {
    check(&Detector {
        name: "yolov8_head",
        boxes: 4,
    });
}
