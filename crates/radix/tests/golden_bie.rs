//! The golden BIE: a committed file (`fixtures/golden/mtcnn_pnet_kl720_int8.bie`, MTCNN P-Net
//! quantized for KL720 int8, sealed with a fixed test key) that this build must read and run to
//! the committed fixed-point outputs (`mtcnn_pnet_kl720_int8_output_<k>.npy`), bit for bit.
//!
//! The BIE payload is bincode of the IR types, which encodes enum variants by position and
//! fields by order: reordering `Op` or `QKernel`, or adding a field, silently changes the file
//! format. This test turns that into a failure: either the file no longer decodes, or it
//! decodes into another model and the outputs differ. The fix is to bump
//! `radix_ir::qmodel::SCHEMA_VERSION` (so that old files are refused with a clear message
//! instead of misread) and to rewrite the golden files:
//!
//!     RADIX_WRITE_GOLDEN=1 cargo test --workspace --test golden_bie
//!
//! (A deliberate change to a fixed-point kernel's semantics also changes the outputs; then only
//! the outputs need rewriting, with the same command.)

use std::path::{Path, PathBuf};

use ndarray::{ArrayD, IxDyn};
use radix::bie::SCHEMA_VERSION;
use radix::{BieError, BieKey, Error};

const BIE: &str = "mtcnn_pnet_kl720_int8.bie";
/// `{OUTPUTS}_{k}.npy`: the fixed-point engine's output `k` on [`input`].
const OUTPUTS: &str = "mtcnn_pnet_kl720_int8_output";

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures")
}

fn key() -> BieKey {
    BieKey::from_bytes([0x60; 32])
}

/// A deterministic input for P-Net ([1, 3, 24, 24], values in [-1, 1]).
fn input() -> ArrayD<f32> {
    let v = (0..3 * 24 * 24)
        .map(|i| ((i as f32 * 0.37).sin() * 0.9 + (i as f32 * 0.011).cos() * 0.1).clamp(-1.0, 1.0))
        .collect();
    ArrayD::from_shape_vec(IxDyn(&[1, 3, 24, 24]), v).expect("shape")
}

fn run(model: &radix::QuantModel) -> Vec<ArrayD<f32>> {
    radix_sim::FixedEngine::new(model)
        .expect("engine")
        .run(&[input()])
        .expect("run")
}

fn quantized_pnet() -> radix::QuantModel {
    let opts = radix_onnx::ImportOptions {
        input_shapes: [("input".to_string(), vec![1, 3, 24, 24])].into(),
    };
    let path = fixtures().join("models/mtcnn_pnet.onnx");
    let mut g = radix_onnx::import_path_with(&path, &opts).expect("import");
    radix_ir::passes::optimize(&mut g).expect("optimize");
    radix_quant::Calibrated::new(&g, &[vec![input()]], &radix::Silent)
        .expect("calibrate")
        .quantize(&radix_quant::QuantConfig::int8(radix::Platform::Kl720))
        .expect("quantize")
        .model
}

fn write_golden(dir: &Path) {
    let q = quantized_pnet();
    // As `analysis` writes it.
    let mut q = q;
    assert!(q.drop_mac_float_weights() > 0);
    let header = radix::bie::header(&q, "mtcnn_pnet", String::new(), [0; 32]);
    radix::bie::write(&dir.join(BIE), &header, &q, &key()).expect("write");
    for (k, out) in run(&q).iter().enumerate() {
        ndarray_npy::write_npy(dir.join(format!("{OUTPUTS}_{k}.npy")), out).expect("write npy");
    }
}

#[test]
fn golden_bie_reads_and_runs_to_the_committed_outputs() {
    let dir = fixtures().join("golden");
    if std::env::var_os("RADIX_WRITE_GOLDEN").is_some() {
        write_golden(&dir);
    }
    let how = "bump radix_ir::qmodel::SCHEMA_VERSION if the model layout changed, and rewrite \
               the golden files: RADIX_WRITE_GOLDEN=1 cargo test --workspace --test golden_bie";
    let (header, model) = match radix::bie::read(&dir.join(BIE), &key()) {
        Ok(m) => m,
        Err(e) => panic!("the golden BIE no longer reads ({e}): {how}"),
    };
    assert_eq!(header.payload_schema, SCHEMA_VERSION);
    assert_eq!(header.platform, 720);
    // Stored as `analysis` stores it, without the float copies of the Mac weights (the file
    // is smaller than those alone would be), and restored from the integer weights on read.
    let mut mac_weights = 0;
    for (node, q) in model.graph.nodes.iter().zip(&model.nodes) {
        if let radix_ir::qmodel::QKernel::Mac { weights, .. } = &q.kernel {
            assert!(
                model.graph.value(node.inputs[1]).is_const(),
                "{}",
                node.name
            );
            mac_weights += weights.len();
        }
    }
    let file_len = std::fs::metadata(dir.join(BIE)).unwrap().len() as usize;
    assert!(
        file_len < 4 * mac_weights,
        "{file_len} bytes for {mac_weights} weights"
    );
    let got = run(&model);
    // The reference engine runs the stored model too, bit for bit with the fast engine.
    let reference =
        radix_sim::run_reference(&model, &[input()], &mut |_, _| {}).expect("reference");
    assert_eq!(reference, got);
    assert_eq!(got.len(), 2, "P-Net has two outputs: {how}");
    for (k, g) in got.iter().enumerate() {
        let want: ArrayD<f32> = ndarray_npy::read_npy(dir.join(format!("{OUTPUTS}_{k}.npy")))
            .unwrap_or_else(|e| panic!("output {k}: {e}"));
        assert_eq!(g.shape(), want.shape(), "output {k}: {how}");
        let same = g.iter().zip(&want).all(|(a, b)| a.to_bits() == b.to_bits());
        assert!(
            same,
            "output {k} differs from the committed fixed-point outputs: {how}"
        );
    }
}

#[test]
fn a_bie_of_another_schema_version_is_refused_naming_both() {
    // The golden file with its header's schema version changed by one (the header is
    // authenticated, so it is re-sealed): refused before the payload is decoded.
    let (mut header, model) =
        radix::bie::read(&fixtures().join("golden").join(BIE), &key()).expect("golden BIE reads");
    for other in [SCHEMA_VERSION + 1, SCHEMA_VERSION - 1] {
        header.payload_schema = other;
        let bytes = radix_bie::seal_to_vec(&header, &model, &key()).expect("seal");
        let err = radix::bie::open(&bytes, &key()).unwrap_err();
        let msg = err.to_string();
        assert!(
            matches!(&err, Error::Bie(BieError::SchemaMismatch { found, expected, .. })
                if *found == other && *expected == SCHEMA_VERSION),
            "{msg}"
        );
        assert!(
            msg.contains(&format!("schema version {other}"))
                && msg.contains(&format!("schema version {SCHEMA_VERSION}")),
            "{msg}"
        );
    }
}

#[test]
fn float_weights_left_out_of_a_bie_are_restored() {
    let q = quantized_pnet();
    let mut stored = q.clone();
    let dropped = stored.drop_mac_float_weights();
    assert!(dropped > 0);
    let mut back = stored.clone();
    assert_eq!(back.restore_mac_float_weights(), dropped);
    assert!(back.graph.validate().is_ok());
    assert_eq!(run(&back), run(&q));
    // The values themselves: within a quantization step (checked on every generated graph
    // too, by radix-graphgen's differential test).
    radix_graphgen::check::restored_weights_within_a_step(&q, &back).expect("restored");
}
