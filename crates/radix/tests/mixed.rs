//! Mixed precision end to end on MTCNN R-Net (small: every mode in seconds): each mixed mode
//! quantizes, verifies bit for bit, seals a BIE that reads back to the same outputs, and reports
//! its decision; the in-memory pipeline gives the same model as the analysis.

mod common;

use common::{fixtures, mapping, opts};
use ndarray::{Array4, ArrayD};
use radix::{AnalysisOptions, BitwidthMode, Model, ModelConfig};

/// LFW face crops as R-Net wants them (`[1, 3, 24, 24]`, (x - 127.5) / 128).
fn faces(n: usize) -> Vec<ArrayD<f32>> {
    let u: ndarray::Array3<u8> =
        ndarray_npy::read_npy(fixtures().join("reference/mtcnn_lfw24_u8.npy")).unwrap();
    (0..n)
        .map(|k| {
            let p = u.index_axis(ndarray::Axis(0), k * 7);
            Array4::from_shape_fn((1, 3, 24, 24), |(_, _, y, x)| {
                (p[[y, x]] as f32 - 127.5) / 128.0
            })
            .into_dyn()
        })
        .collect()
}

#[test]
fn every_mixed_mode_verifies_seals_and_reports() {
    use BitwidthMode::*;
    let km = ModelConfig::from_onnx(fixtures().join("models/mtcnn_rnet.onnx"), 720).unwrap();
    let inputs = faces(6);
    for (mode, ratio) in [(MixLight, 0.2), (MixBalance, 0.2), (Mixbw, 0.3)] {
        let tmp = tempfile::tempdir().unwrap();
        let o = AnalysisOptions {
            mode: 2,
            datapath_bitwidth_mode: mode,
            weight_bitwidth_mode: mode,
            flops_ratio: ratio,
            ..opts(tmp.path())
        };
        let out = km.analysis(&mapping(inputs.clone()), &o).unwrap();
        assert_eq!(out.btm, Some(true), "{mode}: fast vs reference");
        let json: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&out.report_json).unwrap()).unwrap();
        let mp = &json["summary"]["mixed_precision"];
        assert_eq!(mp["mode"], mode.as_str(), "{json}");
        let share = mp["sixteen_bit_mac_share"].as_f64().unwrap();
        assert!(share > 0.0 && share < 1.0, "{mode}: 16-bit share {share}");
        if mode == Mixbw {
            assert!(share <= ratio, "{share} > flops_ratio {ratio}");
            let layers = mp["layers"].as_array().unwrap();
            assert!(layers.iter().all(|l| l["snr_db_alone_at_8"].is_number()));
        }
        let points = mp["tradeoff"].as_array().unwrap();
        assert_eq!(points.iter().filter(|p| p["chosen"] == true).count(), 1);
        // Mixed bits are in the model: some tensors 8-bit, some 16-bit.
        let q = km.quantize(&mapping(inputs.clone()), &o).unwrap();
        let bits: std::collections::BTreeSet<u8> =
            q.model.tensors.iter().flatten().map(|p| p.bits).collect();
        assert!(bits.contains(&8) && bits.contains(&16), "{mode}: {bits:?}");
        // The BIE reads back to the model quantized in memory: same outputs.
        let back = ModelConfig::from_bie(out.bie_path.unwrap(), o.key_file.as_deref()).unwrap();
        let radix::ModelSource::Bie { model, .. } = &back.source else {
            panic!("not a BIE")
        };
        let x = std::slice::from_ref(&inputs[0]);
        assert_eq!(
            radix::inference(x, Model::Bie(model), &[], 1).unwrap(),
            radix::inference(x, Model::Bie(&q.model), &[], 2).unwrap(),
            "{mode}: BIE vs in-memory"
        );
    }
}
