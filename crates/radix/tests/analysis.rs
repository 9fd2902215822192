//! End-to-end checks of the public API on the bundled MobileNetV2 and photos.

mod common;

use common::{mapping, mobilenet, opts, photos};
use ndarray::ArrayD;
use radix::{AnalysisOptions, Error, InputMapping, Model, ModelConfig};

#[test]
fn mode2_writes_bie_and_report_and_bie_round_trips() {
    let tmp = tempfile::tempdir().unwrap();
    let km = mobilenet(720);
    let inputs = photos(4);
    let o = AnalysisOptions {
        mode: 2,
        ..opts(tmp.path())
    };
    let out = km.analysis(&mapping(inputs.clone()), &o).unwrap();
    let bie = out.bie_path.clone().unwrap();
    assert!(bie.ends_with("mobilenetv2.kdp720.scaled.bie"));
    assert_eq!(
        out.btm,
        Some(true),
        "fast and reference engines must agree bit for bit"
    );
    assert!(out.snr_db.unwrap() > 5.0, "output SNR {:?}", out.snr_db);
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&out.report_json).unwrap()).unwrap();
    assert_eq!(json["summary"]["btm"], serde_json::Value::Bool(true));
    assert!(json["nodes"].as_array().unwrap().len() >= 60);
    // Round trip: the model read back from the BIE gives identical simulator outputs.
    let back = ModelConfig::from_bie(&bie, o.key_file.as_deref()).unwrap();
    let radix::ModelSource::Bie { model, .. } = &back.source else {
        panic!("not a BIE")
    };
    let x = inputs[0].clone();
    let a = radix::inference(std::slice::from_ref(&x), Model::Bie(model), &[], 2).unwrap();
    // Quantize again from the same data: same options give the same model, hence equal outputs.
    let out2 = km
        .analysis(
            &mapping(inputs),
            &AnalysisOptions {
                mode: 1,
                threads: 1,
                output_dir: tmp.path().join("out2"),
                ..o.clone()
            },
        )
        .unwrap();
    let again = ModelConfig::from_bie(out2.bie_path.unwrap(), o.key_file.as_deref()).unwrap();
    let radix::ModelSource::Bie { model: m2, .. } = &again.source else {
        panic!("not a BIE")
    };
    let b = radix::inference(std::slice::from_ref(&x), Model::Bie(m2), &[], 1).unwrap();
    assert_eq!(
        a, b,
        "same inputs and options, different threads: identical outputs"
    );
    // A prepared runner, reused: the same outputs on every call and as `inference`, a batch of
    // two photos is the photos one by one, and its engine observes every node.
    let runner = radix::Runner::new(Model::Bie(model), 2).unwrap();
    let photo1 = photos(2).remove(1);
    for _ in 0..2 {
        assert_eq!(runner.run(std::slice::from_ref(&x), &["input"]).unwrap(), a);
    }
    let batch = ndarray::concatenate(ndarray::Axis(0), &[x.view(), photo1.view()]).unwrap();
    let both = runner.run(&[batch], &[]).unwrap();
    let second = runner.run(std::slice::from_ref(&photo1), &[]).unwrap();
    assert_eq!(
        both[0].index_axis(ndarray::Axis(0), 0),
        a[0].index_axis(ndarray::Axis(0), 0)
    );
    assert_eq!(
        both[0].index_axis(ndarray::Axis(0), 1),
        second[0].index_axis(ndarray::Axis(0), 0)
    );
    let mut observed = 0;
    runner
        .engine()
        .run_observing(std::slice::from_ref(&x), &mut |_, t| {
            observed += usize::from(matches!(t, radix::Observed::Fixed(_)))
        })
        .unwrap();
    assert!(
        observed >= model.graph.nodes.len(),
        "{observed} tensors observed"
    );
    // One threads rule for every entry point.
    for threads in [0, 1025] {
        let e = radix::Runner::new(Model::Bie(model), threads)
            .err()
            .expect("refused");
        assert!(e.to_string().contains("1..=1024"), "{e}");
    }
}

#[test]
fn wrong_bie_key_is_reported() {
    let tmp = tempfile::tempdir().unwrap();
    let o = opts(tmp.path());
    let out = mobilenet(720).analysis(&mapping(photos(1)), &o).unwrap();
    let other = tmp.path().join("other.key");
    std::fs::write(&other, "22".repeat(32)).unwrap();
    let e = ModelConfig::from_bie(out.bie_path.unwrap(), Some(&other))
        .err()
        .unwrap();
    assert!(e.to_string().to_lowercase().contains("key"), "{e}");
}

fn analysis_err(platform: u32, inputs: InputMapping, f: impl Fn(&mut AnalysisOptions)) -> Error {
    let tmp = tempfile::tempdir().unwrap();
    let mut o = opts(tmp.path());
    f(&mut o);
    let e = mobilenet(platform)
        .analysis(&inputs, &o)
        .expect_err("must fail");
    // No partial BIE is left behind.
    if o.output_dir.is_dir() {
        let bies: Vec<_> = std::fs::read_dir(&o.output_dir)
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.path().to_string_lossy().contains(".bie"))
            .collect();
        assert!(bies.is_empty(), "a failed run left {bies:?}");
    }
    e
}

#[test]
fn error_matrix() {
    let e = analysis_err(720, InputMapping::new(), |_| {});
    assert_eq!(
        e.to_string(),
        "Cannot find the corresponding input image folder of model input `input`"
    );
    let e = analysis_err(720, mapping(vec![]), |_| {});
    assert!(e.to_string().contains("empty"), "{e}");
    let mut bad = photos(2);
    bad[1] = ArrayD::zeros(ndarray::IxDyn(&[1, 3, 200, 224]));
    let e = analysis_err(720, mapping(bad), |_| {});
    assert!(
        e.to_string().contains("array 1") && e.to_string().contains("shape"),
        "{e}"
    );
    let mut nan = photos(2);
    nan[1][[0, 1, 5, 5]] = f32::NAN;
    let e = analysis_err(720, mapping(nan), |_| {});
    assert!(
        e.to_string().contains("array 1") && e.to_string().contains("not finite"),
        "{e}"
    );
    let e = analysis_err(520, mapping(photos(1)), |o| {
        o.datapath_bitwidth_mode = radix::BitwidthMode::Int16
    });
    assert!(
        e.to_string().contains("520") && e.to_string().contains("datapath_bitwidth_mode"),
        "{e}"
    );
    let e = analysis_err(720, mapping(photos(1)), |o| {
        o.weight_bitwidth_mode = radix::BitwidthMode::Int4
    });
    assert!(
        e.to_string().contains("720") && e.to_string().contains("weight_bitwidth_mode"),
        "{e}"
    );
    // A misspelled option cannot be built any more; its parse error names the spellings.
    let e = "magic".parse::<radix::RangeMethod>().unwrap_err();
    assert_eq!(e.to_string(), "`magic` is not one of percentage, mmse");
    let e = analysis_err(720, mapping(photos(1)), |o| o.optimize = 5);
    assert!(
        e.to_string().contains("optimize") && e.to_string().contains("0..=4"),
        "{e}"
    );
    // An output_dir that cannot be created (below a regular file).
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("plain-file");
    std::fs::write(&file, b"x").unwrap();
    let e = analysis_err(720, mapping(photos(1)), |o| o.output_dir = file.join("sub"));
    assert!(matches!(e, Error::OutputDir { .. }), "{e}");
    assert!(!e.to_string().contains('\n'));
}

#[test]
fn mode0_evaluates_without_bie() {
    let tmp = tempfile::tempdir().unwrap();
    let o = AnalysisOptions {
        mode: 0,
        ..opts(tmp.path())
    };
    let out = mobilenet(720).analysis(&InputMapping::new(), &o).unwrap();
    assert!(out.bie_path.is_none());
    let fps = out.fps.unwrap();
    assert!((fps - 683.1).abs() / 683.1 < 0.15, "fps {fps}");
    assert!(out.report_html.exists());
}

#[test]
fn get_radix_rules() {
    let a =
        |v: &[f32]| vec![ArrayD::from_shape_vec(ndarray::IxDyn(&[v.len()]), v.to_vec()).unwrap()];
    assert_eq!(radix::get_radix(&a(&[0.5, -1.0])).unwrap(), 7);
    assert_eq!(radix::get_radix(&a(&[3.0])).unwrap(), 5);
    assert_eq!(radix::get_radix(&a(&[128.0])).unwrap(), 0);
    assert!(radix::get_radix(&a(&[129.0])).is_err());
    assert!(radix::get_radix(&a(&[0.0, 0.0])).is_err());
    assert!(radix::get_radix(&a(&[f32::NAN])).is_err());
    assert!(radix::get_radix(&[]).is_err());
}

#[test]
fn quantized_model_survives_the_bie_unchanged() {
    let tmp = tempfile::tempdir().unwrap();
    let km = mobilenet(720);
    let items: Vec<Vec<ArrayD<f32>>> = photos(3).into_iter().map(|p| vec![p]).collect();
    let q = radix_quant::Calibrated::new(km.graph(), &items, &radix::Silent)
        .unwrap()
        .quantize(&radix_quant::QuantConfig::int8(radix::Platform::Kl720))
        .unwrap()
        .model;
    let key = radix::BieKey::from_bytes([7; 32]);
    let path = tmp.path().join("m.bie");
    let header = radix::bie::header(&q, "mobilenetv2", String::new(), [9; 32]);
    radix::bie::write(&path, &header, &q, &key).unwrap();
    let (h, back) = radix::bie::read(&path, &key).unwrap();
    assert_eq!(h, header);
    let before = radix_sim::FixedEngine::new(&q)
        .unwrap()
        .run(&items[0])
        .unwrap();
    let after = radix_sim::FixedEngine::new(&back)
        .unwrap()
        .run(&items[0])
        .unwrap();
    assert_eq!(before, after);
    // No 16-byte run of the quantized weights appears in the clear.
    let file = std::fs::read(&path).unwrap();
    let weights = q
        .nodes
        .iter()
        .rev()
        .find_map(|n| match &n.kernel {
            radix_ir::qmodel::QKernel::Mac { weights, .. } => Some(weights),
            _ => None,
        })
        .expect("a MAC layer");
    let bytes: Vec<u8> = weights.iter().flat_map(|w| w.to_le_bytes()).collect();
    // 1,000 sampled 16-byte windows of the weights; one pass over the file looks each up.
    let sample: std::collections::HashSet<&[u8]> = bytes
        .windows(16)
        .step_by((bytes.len() / 1000).max(1))
        .collect();
    assert!(
        !file.windows(16).any(|f| sample.contains(f)),
        "weights in the clear"
    );
}

/// optimize 4 = sequential bias adjust + deep-search tiling: the report says both, the biases
/// moved, and the adjusted model still passes the bit-true-match check.
#[test]
fn optimize4_adjusts_biases_and_tiles_with_deep_search() {
    let tmp = tempfile::tempdir().unwrap();
    let km = mobilenet(520);
    let inputs = mapping(photos(3));
    let run = |optimize: u8, dir: &str| {
        let o = AnalysisOptions {
            mode: 2,
            optimize,
            output_dir: tmp.path().join(dir),
            ..opts(tmp.path())
        };
        let out = km.analysis(&inputs, &o).unwrap();
        let json: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&out.report_json).unwrap()).unwrap();
        (out, json)
    };
    let (plain, plain_json) = run(0, "o0");
    let (adjusted, json) = run(4, "o4");
    assert_eq!(adjusted.btm, Some(true));
    assert_eq!(json["summary"]["optimize"], 4);
    assert_eq!(json["summary"]["bias_adjusted_nodes"], 53);
    assert_eq!(
        plain_json["summary"]["bias_adjusted_nodes"],
        serde_json::Value::Null
    );
    assert_eq!(json["evaluator"]["compiler_tiling"], "deep_search");
    assert_eq!(plain_json["evaluator"]["compiler_tiling"], "default");
    let html = std::fs::read_to_string(&adjusted.report_html).unwrap();
    assert!(html.contains("sequential, 53 nodes (optimize 4)"));
    let bias_of = |out: &radix::AnalysisOutput| {
        let back = ModelConfig::from_bie(
            out.bie_path.as_ref().unwrap(),
            Some(&common::key_file(tmp.path())),
        )
        .unwrap();
        let radix::ModelSource::Bie { model, .. } = back.source else {
            panic!("not a BIE")
        };
        model
            .nodes
            .iter()
            .filter_map(|n| match &n.kernel {
                radix_ir::qmodel::QKernel::Mac { bias, .. } => Some(bias.clone()),
                _ => None,
            })
            .collect::<Vec<_>>()
    };
    assert_ne!(bias_of(&plain), bias_of(&adjusted));
}

/// Long work reports through `AnalysisOptions::progress` (the library prints nothing itself):
/// every calibration item, the bias-adjust layers and the verified inputs, each up to its total.
#[test]
fn progress_is_reported_through_the_sink() {
    use std::sync::{Arc, Mutex};
    let tmp = tempfile::tempdir().unwrap();
    let seen: Arc<Mutex<Vec<(String, usize, usize)>>> = Arc::default();
    let sink = seen.clone();
    let o = AnalysisOptions {
        mode: 3,
        optimize: 1,
        progress: radix::ProgressSink::new(move |stage: &str, done: usize, total: usize| {
            sink.lock().unwrap().push((stage.to_string(), done, total))
        }),
        ..opts(tmp.path())
    };
    mobilenet(720).analysis(&mapping(photos(2)), &o).unwrap();
    let seen = seen.lock().unwrap();
    for stage in ["calibrating", "bias adjust", "verifying"] {
        let last = seen
            .iter()
            .filter(|s| s.0 == stage)
            .map(|s| (s.1, s.2))
            .max();
        let Some((done, total)) = last else {
            panic!("no `{stage}` progress in {seen:?}")
        };
        assert!(total > 0 && done == total, "{stage}: {done} of {total}");
    }
}
