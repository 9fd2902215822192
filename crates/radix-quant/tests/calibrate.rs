//! Calibration driver: determinism across threads and input order, and input validation.

use std::path::Path;

use ndarray::{Array4, ArrayD, Axis};
use radix_quant::{
    InputMapping, QuantConfig, QuantError, calibrate, prepare, quantize, validate_inputs,
};

fn setup(n: usize) -> (radix_ir::Graph, Vec<ArrayD<f32>>) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures");
    let mut g = radix_onnx::import_path(&root.join("models/mobilenetv2.onnx")).unwrap();
    radix_ir::passes::optimize(&mut g).unwrap();
    prepare(&mut g);
    let raw: ndarray::Array4<u8> =
        ndarray_npy::read_npy(root.join("images/photos_224_uint8_nhwc.npy")).unwrap();
    let (mean, std) = ([0.485f32, 0.456, 0.406], [0.229f32, 0.224, 0.225]);
    let photos = raw
        .axis_iter(Axis(0))
        .take(n)
        .map(|img| {
            Array4::from_shape_fn((1, 3, 224, 224), |(_, c, y, x)| {
                (img[[y, x, c]] as f32 / 255.0 - mean[c]) / std[c]
            })
            .into_dyn()
        })
        .collect();
    (g, photos)
}

#[test]
fn identical_for_any_thread_count_and_input_order() {
    let (g, photos) = setup(6);
    let items: Vec<Vec<ArrayD<f32>>> = photos.iter().map(|p| vec![p.clone()]).collect();
    let mut reversed = items.clone();
    reversed.reverse();
    let run = |threads: usize, items: &[Vec<ArrayD<f32>>]| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        let c = pool.install(|| calibrate(&g, items)).unwrap();
        let q = quantize(&g, &c, &QuantConfig::int8(radix_target::Platform::Kl720)).unwrap();
        (c.stats, model_image(&q.model))
    };
    let (s1, m1) = run(1, &items);
    for (threads, its) in [(2, &items), (4, &items), (1, &reversed), (3, &reversed)] {
        let (s, m) = run(threads, its);
        assert_eq!(s, s1, "statistics differ with {threads} threads");
        assert_eq!(m, m1, "quantized model differs with {threads} threads");
    }
}

/// A stable byte image of the quantized model (Debug of the parameters, kernels and constants).
fn model_image(m: &radix_ir::qmodel::QuantModel) -> String {
    format!("{:?}{:?}{:?}", m.tensors, m.nodes, m.consts)
}

#[test]
fn input_mapping_is_validated_before_any_work() {
    let (g, photos) = setup(2);
    let e = validate_inputs(&g, &InputMapping::new()).unwrap_err();
    assert_eq!(
        e.to_string(),
        "Cannot find the corresponding input image folder of model input `input`"
    );
    let mut m = InputMapping::new();
    m.insert("input", vec![]);
    assert!(matches!(
        validate_inputs(&g, &m),
        Err(QuantError::EmptyInput { .. })
    ));
    let mut bad = photos.clone();
    bad.push(ArrayD::zeros(ndarray::IxDyn(&[1, 3, 224, 223])));
    m.insert("input", bad);
    match validate_inputs(&g, &m) {
        Err(QuantError::InputShape { input, index, .. }) => {
            assert_eq!((input.as_str(), index), ("input", 2))
        }
        other => panic!("{other:?}"),
    }
    let mut nan = photos.clone();
    nan[1][[0, 2, 100, 7]] = f32::INFINITY;
    m.insert("input", nan);
    match validate_inputs(&g, &m) {
        Err(QuantError::NonFiniteInput { index, .. }) => assert_eq!(index, 1),
        other => panic!("{other:?}"),
    }
    // Without the batch axis is accepted too.
    m.insert(
        "input",
        photos
            .iter()
            .map(|p| p.index_axis(Axis(0), 0).to_owned())
            .collect(),
    );
    assert_eq!(validate_inputs(&g, &m).unwrap().len(), 2);
    m.insert("other", photos.clone());
    assert!(matches!(
        validate_inputs(&g, &m),
        Err(QuantError::UnknownInput { .. })
    ));
}
