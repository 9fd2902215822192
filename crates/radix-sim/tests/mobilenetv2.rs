//! Model-level check: float MobileNetV2 on the 22 fixture photos against the reference logits.

use std::path::PathBuf;

use ndarray::{Array2, Array4, ArrayD, Axis};
use radix_sim::FloatEngine;

fn fixture(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures")
        .join(rel)
}

/// uint8 NHWC -> x/255, ImageNet mean/std, NCHW.
fn preprocess(photos: &Array4<u8>) -> ArrayD<f32> {
    const MEAN: [f32; 3] = [0.485, 0.456, 0.406];
    const STD: [f32; 3] = [0.229, 0.224, 0.225];
    let (n, h, w, _) = photos.dim();
    let mut x = Array4::<f32>::zeros((n, 3, h, w));
    for ((i, y, xx, c), &v) in photos.indexed_iter() {
        x[[i, c, y, xx]] = (v as f32 / 255.0 - MEAN[c]) / STD[c];
    }
    x.into_dyn()
}

fn snr_db(reference: &ArrayD<f32>, test: &ArrayD<f32>) -> f64 {
    let (mut s, mut e) = (0.0f64, 0.0f64);
    for (&r, &t) in reference.iter().zip(test.iter()) {
        s += (r as f64).powi(2);
        e += (r as f64 - t as f64).powi(2);
    }
    10.0 * (s / e.max(1e-30)).log10()
}

fn argmax(row: ndarray::ArrayView1<f32>) -> usize {
    row.iter()
        .enumerate()
        .fold((0, f32::MIN), |b, (i, &v)| if v > b.1 { (i, v) } else { b })
        .0
}

#[test]
fn mobilenetv2_matches_reference_logits() {
    let mut graph = radix_onnx::import_path(&fixture("models/mobilenetv2.onnx")).expect("import");
    radix_ir::passes::optimize(&mut graph).expect("optimize");
    let photos: Array4<u8> =
        ndarray_npy::read_npy(fixture("images/photos_224_uint8_nhwc.npy")).expect("photos");
    let reference: Array2<f32> =
        ndarray_npy::read_npy(fixture("reference/mobilenetv2_logits_photos22.npy"))
            .expect("reference");
    let x = preprocess(&photos);
    assert_eq!(x.shape(), &[22, 3, 224, 224]);

    let engine = FloatEngine::new(&graph).expect("engine");
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build()
        .unwrap();
    let logits = pool
        .install(|| engine.run(std::slice::from_ref(&x)))
        .expect("run")
        .remove(0);
    assert_eq!(logits.shape(), &[22, 1000]);

    // Thread count does not change a single bit (each output element is summed in one fixed
    // order whatever the tiling), which calibration relies on.
    let few = x.slice_axis(Axis(0), (0..3).into()).to_owned();
    let single = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    let one = single
        .install(|| engine.run(std::slice::from_ref(&few)))
        .expect("run")
        .remove(0);
    assert_eq!(
        one,
        logits.slice_axis(Axis(0), (0..3).into()).to_owned(),
        "1 vs 2 threads differ"
    );

    let reference = reference.into_dyn();
    let snr = snr_db(&reference, &logits);
    eprintln!("mobilenetv2 logits SNR vs reference: {snr:.2} dB");
    assert!(snr >= 80.0, "SNR {snr:.2} dB < 80 dB");
    for i in 0..22 {
        let (r, t) = (
            reference.index_axis(Axis(0), i),
            logits.index_axis(Axis(0), i),
        );
        let (r, t) = (
            r.into_dimensionality().unwrap(),
            t.into_dimensionality().unwrap(),
        );
        assert_eq!(argmax(r), argmax(t), "top-1 differs on photo {i}");
    }
}
