//! Bit-true match in CI on small fixture models: MTCNN RNet and ONet quantized for KL520 int8 and
//! KL720 int8 and int16, mode 3 (fast and reference engines compared on every tensor of every
//! input). `cargo xtask btm` runs the same check on every fixture model.

mod common;

use common::{fixtures, key_file};
use ndarray::{Array3, Array4, ArrayD, Axis};
use radix::{AnalysisOptions, InputMapping, ModelConfig};

/// Every 25th lfw patch at `size`, as the float input of fixtures/README.md.
fn lfw(size: usize) -> Vec<ArrayD<f32>> {
    let u: Array3<u8> =
        ndarray_npy::read_npy(fixtures().join(format!("reference/mtcnn_lfw{size}_u8.npy")))
            .unwrap();
    u.axis_iter(Axis(0))
        .step_by(25)
        .map(|p| {
            Array4::from_shape_fn((1, 3, size, size), |(_, _, y, x)| {
                (p[[y, x]] as f32 / 255.0 * 255.0 - 127.5) / 128.0
            })
            .into_dyn()
        })
        .collect()
}

fn check(net: &str, size: usize) {
    for (platform, bits) in [(520, "int8"), (720, "int8"), (720, "int16")] {
        let dir = tempfile::tempdir().unwrap();
        let km = ModelConfig::from_onnx(fixtures().join(format!("models/{net}.onnx")), platform)
            .unwrap();
        let mut inputs = InputMapping::new();
        inputs.insert("input", lfw(size));
        let opts = AnalysisOptions {
            mode: 3,
            output_dir: dir.path().join("out"),
            threads: 2,
            key_file: Some(key_file(dir.path())),
            datapath_bitwidth_mode: bits.parse().unwrap(),
            weight_bitwidth_mode: bits.parse().unwrap(),
            model_in_bitwidth_mode: bits.parse().unwrap(),
            model_out_bitwidth_mode: bits.parse().unwrap(),
            ..Default::default()
        };
        let out = km.analysis(&inputs, &opts).unwrap();
        assert_eq!(out.btm, Some(true), "{net} KL{platform} {bits}");
        eprintln!("{net} KL{platform} {bits}: btm, SNR {:?}", out.snr_db);
    }
}

#[test]
fn rnet_fast_and_reference_engines_agree_on_every_tensor() {
    check("mtcnn_rnet", 24);
}

#[test]
fn onet_fast_and_reference_engines_agree_on_every_tensor() {
    check("mtcnn_onet", 48);
}
