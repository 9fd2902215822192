//! Model-level checks of the float engine against onnxruntime on the other fixture models:
//! PP-OCRv4 det on a photo of a page, MTCNN PNet on a photo, RNet/ONet on 200 lfw patches.
//! References come from `tools/make_references.py` (see fixtures/README.md); the float inputs are
//! rebuilt here from the stored uint8 images with the same f32 formula.

use std::collections::HashMap;
use std::path::PathBuf;

use ndarray::{Array1, Array3, Array4, ArrayD, Axis, Ix2};
use radix_ir::Graph;
use radix_onnx::ImportOptions;
use radix_sim::FloatEngine;

fn fixture(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures")
        .join(rel)
}

fn reference(name: &str) -> ArrayD<f32> {
    ndarray_npy::read_npy(fixture(&format!("reference/{name}.npy")))
        .unwrap_or_else(|e| panic!("reading reference {name}: {e}"))
}

fn snr_db(reference: &ArrayD<f32>, test: &ArrayD<f32>) -> f64 {
    assert_eq!(reference.shape(), test.shape());
    let (mut s, mut e) = (0.0f64, 0.0f64);
    for (&r, &t) in reference.iter().zip(test.iter()) {
        s += (r as f64).powi(2);
        e += (r as f64 - t as f64).powi(2);
    }
    10.0 * (s / e.max(1e-30)).log10()
}

/// Imports and optimises a fixture model (the path every later stage takes).
fn load(model: &str, opts: &ImportOptions) -> Graph {
    let mut g = radix_onnx::import_path_with(&fixture(&format!("models/{model}.onnx")), opts)
        .unwrap_or_else(|e| panic!("{model}: {e}"));
    radix_ir::passes::optimize(&mut g).unwrap_or_else(|e| panic!("{model}: {e}"));
    g
}

/// Runs on two threads; returns outputs by name.
fn run(g: &Graph, x: &ArrayD<f32>) -> HashMap<String, ArrayD<f32>> {
    let engine = FloatEngine::new(g).expect("engine");
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build()
        .unwrap();
    let outs = pool
        .install(|| engine.run(std::slice::from_ref(x)))
        .expect("run");
    g.outputs
        .iter()
        .map(|&o| g.value(o).name.clone())
        .zip(outs)
        .collect()
}

/// Checks every named output against its reference file `<prefix>_<name>.npy`; returns the SNRs.
fn check_outputs(
    what: &str,
    outs: &HashMap<String, ArrayD<f32>>,
    prefix: &str,
    names: &[&str],
) -> Vec<f64> {
    assert_eq!(outs.len(), names.len(), "{what}: outputs {:?}", outs.keys());
    names
        .iter()
        .map(|name| {
            let r = reference(&format!("{prefix}_{name}"));
            let t = outs
                .get(*name)
                .unwrap_or_else(|| panic!("{what}: no output `{name}`"));
            let snr = snr_db(&r, t);
            eprintln!(
                "{what} `{name}` {:?}: SNR {snr:.2} dB vs onnxruntime",
                t.shape()
            );
            assert!(snr >= 80.0, "{what} `{name}`: SNR {snr:.2} dB < 80 dB");
            snr
        })
        .collect()
}

#[test]
fn ppocrv4_det_matches_onnxruntime() {
    let g = load("ppocrv4_det", &ImportOptions::default());
    // uint8 RGB [640,640,3] -> BGR, (x/255 - 0.5)/0.5, NCHW.
    let u: Array3<u8> =
        ndarray_npy::read_npy(fixture("reference/ppocr_page_rgb_u8.npy")).expect("page");
    assert_eq!(u.shape(), &[640, 640, 3]);
    let mut x = Array4::<f32>::zeros((1, 3, 640, 640));
    for ((h, w, c), &v) in u.indexed_iter() {
        x[[0, 2 - c, h, w]] = (v as f32 / 255.0 - 0.5) / 0.5;
    }
    let outs = run(&g, &x.into_dyn());
    let name = g.value(g.outputs[0]).name.clone();
    assert_eq!(name, "sigmoid_0.tmp_0");
    let r = reference("ppocr_page_output");
    let t = &outs[&name];
    let snr = snr_db(&r, t);
    eprintln!(
        "ppocrv4_det {:?}: SNR {snr:.2} dB vs onnxruntime",
        t.shape()
    );
    assert!(snr >= 80.0, "ppocrv4_det: SNR {snr:.2} dB < 80 dB");
    // The map is not trivial: text pixels are found where onnxruntime finds them.
    let text_ref = r.iter().filter(|&&v| v > 0.3).count();
    let agree = r
        .iter()
        .zip(t.iter())
        .filter(|&(&a, &b)| (a > 0.3) == (b > 0.3))
        .count();
    assert!(text_ref > 1000, "reference has only {text_ref} text pixels");
    assert!(
        agree as f64 >= 0.9999 * r.len() as f64,
        "binarised maps differ on {} pixels",
        r.len() - agree
    );
}

#[test]
fn mtcnn_pnet_matches_onnxruntime() {
    // PNet's input is [1, 3, H, W]; fix it to the reference photo's 72x96.
    let opts = ImportOptions {
        input_shapes: HashMap::from([("input".to_string(), vec![1, 3, 72, 96])]),
    };
    let g = load("mtcnn_pnet", &opts);
    let u: Array3<u8> =
        ndarray_npy::read_npy(fixture("reference/mtcnn_pnet_astronaut_rgb_u8.npy")).expect("photo");
    assert_eq!(u.shape(), &[72, 96, 3]);
    let mut x = Array4::<f32>::zeros((1, 3, 72, 96));
    for ((h, w, c), &v) in u.indexed_iter() {
        x[[0, c, h, w]] = (v as f32 - 127.5) / 128.0;
    }
    let outs = run(&g, &x.into_dyn());
    check_outputs(
        "mtcnn_pnet",
        &outs,
        "mtcnn_pnet_astronaut",
        &["bbox_reg", "face_prob"],
    );
    assert_eq!(outs["face_prob"].shape(), &[1, 2, 31, 43]);
}

/// The 200 lfw patches at `size` as the float batch [200, 3, size, size]:
/// ((u/255)*255 - 127.5)/128, gray repeated on 3 channels.
fn lfw_batch(size: usize) -> ArrayD<f32> {
    let u: Array3<u8> =
        ndarray_npy::read_npy(fixture(&format!("reference/mtcnn_lfw{size}_u8.npy")))
            .expect("lfw patches");
    assert_eq!(u.shape(), &[200, size, size]);
    let mut x = Array4::<f32>::zeros((200, 3, size, size));
    for ((i, h, w), &v) in u.indexed_iter() {
        let f = (v as f32 / 255.0 * 255.0 - 127.5) / 128.0;
        for c in 0..3 {
            x[[i, c, h, w]] = f;
        }
    }
    x.into_dyn()
}

/// Accuracy of p(face) = face_prob[:, 1] > 0.5 against the labels.
fn accuracy(face_prob: &ArrayD<f32>) -> f64 {
    let labels: Array1<u8> =
        ndarray_npy::read_npy(fixture("reference/mtcnn_lfw_labels.npy")).expect("labels");
    let p = face_prob.view().into_dimensionality::<Ix2>().unwrap();
    assert_eq!(p.nrows(), labels.len());
    let right = p
        .index_axis(Axis(1), 1)
        .iter()
        .zip(labels.iter())
        .filter(|&(&pf, &l)| (pf > 0.5) == (l == 1))
        .count();
    right as f64 / labels.len() as f64
}

fn check_lfw(net: &str, size: usize, names: &[&str]) {
    let g = load(net, &ImportOptions::default());
    assert_eq!(g.shape(g.inputs[0]), &[1, 3, size, size]);
    let outs = run(&g, &lfw_batch(size));
    check_outputs(net, &outs, &format!("{net}_lfw"), names);
    let acc = accuracy(&outs["face_prob"]);
    let ref_acc = accuracy(&reference(&format!("{net}_lfw_face_prob")));
    eprintln!("{net}: lfw accuracy {acc:.4} (onnxruntime {ref_acc:.4})");
    assert_eq!(ref_acc, 1.0, "{net}: the reference itself is not 100%");
    assert_eq!(acc, 1.0, "{net}: accuracy {acc} on the lfw subset");
}

#[test]
fn mtcnn_rnet_matches_onnxruntime_and_is_exact_on_lfw() {
    check_lfw("mtcnn_rnet", 24, &["bbox_reg", "face_prob"]);
}

#[test]
fn mtcnn_onet_matches_onnxruntime_and_is_exact_on_lfw() {
    check_lfw("mtcnn_onet", 48, &["bbox_reg", "landmarks", "face_prob"]);
}
