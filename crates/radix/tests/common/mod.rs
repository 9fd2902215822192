//! Helpers shared by the facade's integration tests: the bundled MobileNetV2, the bundled photos
//! (ImageNet-normalised NCHW) and analysis options writing into a temporary directory.

// Each test binary uses its own subset of these.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use ndarray::{Array4, ArrayD, Axis};
use radix::{AnalysisOptions, InputMapping, ModelConfig};

pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures")
}

/// The first `n` bundled photos as `[1, 3, 224, 224]` ImageNet-normalised arrays.
pub fn photos(n: usize) -> Vec<ArrayD<f32>> {
    let raw: ndarray::Array4<u8> =
        ndarray_npy::read_npy(fixtures().join("images/photos_224_uint8_nhwc.npy")).unwrap();
    let (mean, std) = ([0.485f32, 0.456, 0.406], [0.229f32, 0.224, 0.225]);
    raw.axis_iter(Axis(0))
        .take(n)
        .map(|img| {
            Array4::from_shape_fn((1, 3, 224, 224), |(_, c, y, x)| {
                (img[[y, x, c]] as f32 / 255.0 - mean[c]) / std[c]
            })
            .into_dyn()
        })
        .collect()
}

pub fn mobilenet(platform: u32) -> ModelConfig {
    ModelConfig::from_onnx(fixtures().join("models/mobilenetv2.onnx"), platform).unwrap()
}

pub fn key_file(dir: &Path) -> PathBuf {
    let p = dir.join("test.key");
    std::fs::write(&p, "11".repeat(32)).unwrap();
    p
}

/// Default options (mode 1, int8) writing into `dir/out`, with a test key in `dir`.
pub fn opts(dir: &Path) -> AnalysisOptions {
    AnalysisOptions {
        output_dir: dir.join("out"),
        threads: 2,
        key_file: Some(key_file(dir)),
        ..Default::default()
    }
}

/// The arrays as the model's single input `input`.
pub fn mapping(arrays: Vec<ArrayD<f32>>) -> InputMapping {
    let mut m = InputMapping::new();
    m.insert("input", arrays);
    m
}
