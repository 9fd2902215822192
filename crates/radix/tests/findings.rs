//! Never silently wrong: every quantizing mode measures output SNR, and the findings name what a
//! user must act on (here: the YOLOv8-style detector head of fixtures/models/detectors, whose
//! output concatenates pixel boxes with probabilities).

mod common;

use common::{fixtures, opts};
use ndarray::{Array4, ArrayD, Axis};
use radix::{AnalysisOptions, FindingLevel, InputMapping, ModelConfig};

fn detector_inputs(n: usize) -> InputMapping {
    let u8s: ndarray::Array4<u8> =
        ndarray_npy::read_npy(fixtures().join("models/detectors/yolov8_head_photos_u8.npy"))
            .unwrap();
    let arrays: Vec<ArrayD<f32>> = u8s
        .axis_iter(Axis(0))
        .take(n)
        .map(|p| {
            Array4::from_shape_fn((1, 3, 320, 320), |(_, c, y, x)| {
                p[[y, x, c]] as f32 / 127.5 - 1.0
            })
            .into_dyn()
        })
        .collect();
    let mut m = InputMapping::new();
    m.insert("images", arrays);
    m
}

fn detector() -> ModelConfig {
    ModelConfig::from_onnx(fixtures().join("models/detectors/yolov8_head.onnx"), 720).unwrap()
}

#[test]
fn mixed_range_output_is_named_with_its_remedies_and_int16_output_clears_it() {
    let tmp = tempfile::tempdir().unwrap();
    // Mode 1: no verification run, yet the output SNR is measured on the first input.
    let out = detector()
        .analysis(&detector_inputs(2), &opts(tmp.path()))
        .unwrap();
    assert!(out.snr_db.is_some(), "mode 1 must report the output SNR");
    assert_eq!(out.btm, None);
    let mixed: Vec<_> = out
        .findings
        .iter()
        .filter(|f| f.kind == "mixed-range-output")
        .collect();
    assert_eq!(mixed.len(), 1, "{:#?}", out.findings);
    let m = &mixed[0].message;
    assert_eq!(mixed[0].level, FindingLevel::Warning);
    assert!(m.contains("along axis 1") && m.contains("4..=21"), "{m}");
    assert!(
        m.contains("model-out-bitwidth-mode int16") && m.contains("post-processing"),
        "{m}"
    );
    assert!(!out.has_errors());
    // The same in the report's JSON and HTML.
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&out.report_json).unwrap()).unwrap();
    let kinds: Vec<&str> = json["summary"]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["kind"].as_str().unwrap())
        .collect();
    assert!(kinds.contains(&"mixed-range-output"), "{kinds:?}");
    let html = std::fs::read_to_string(&out.report_html).unwrap();
    assert!(html.contains("id=\"findings\"") && html.contains("data-kind=\"mixed-range-output\""));

    // The remedy it names: a 16-bit model output.
    let o = AnalysisOptions {
        model_out_bitwidth_mode: radix::BitwidthMode::Int16,
        output_dir: tmp.path().join("out16"),
        mode: 2,
        ..opts(tmp.path())
    };
    let out16 = detector().analysis(&detector_inputs(2), &o).unwrap();
    assert_eq!(out16.btm, Some(true));
    assert!(
        out16
            .findings
            .iter()
            .all(|f| f.kind != "mixed-range-output"),
        "{:#?}",
        out16.findings
    );
    println!("{m}");
}

/// A classifier's logits are not "mixed ranges": many classes sit near zero beside a few large
/// logits, and no Concat merged them; MobileNetV2 gets no such warning.
#[test]
fn classifier_logits_are_not_called_mixed_ranges() {
    let tmp = tempfile::tempdir().unwrap();
    let out = common::mobilenet(720)
        .analysis(
            &common::mapping(common::photos(2)),
            &common::opts(tmp.path()),
        )
        .unwrap();
    assert!(
        !out.findings.iter().any(|f| f.kind == "mixed-range-output"),
        "{:#?}",
        out.findings
    );
}
