//! Every single-op model in `fixtures/ops/` (written by `tools/make_op_fixtures.py`: one case per
//! op and attribute variant, with onnxruntime's float outputs in `expected.json`):
//! - the float engine matches onnxruntime, as imported and after `optimize`;
//! - quantized to int16 (KL720, where most new ops are CPU nodes, and KL730, where most run on the
//!   NPU as lookup tables or CPU nodes), the fast fixed engine matches the reference engine bit
//!   for bit on every tensor, and stays close to the float result;
//! - placement follows the operator tables.

#[allow(dead_code)]
mod common;

use ndarray::{ArrayD, IxDyn};
use radix_ir::ValueId;
use radix_ir::qmodel::QTensor;
use radix_quant::{Calibrated, QuantConfig};
use radix_sim::FloatEngine;
use radix_target::Target;
use radix_target::{Placement, Platform};
use serde_json::Value;

struct Case {
    name: String,
    inputs: Vec<ArrayD<f32>>,
    expected: ArrayD<f32>,
}

fn tensor(v: &Value) -> ArrayD<f32> {
    let shape: Vec<usize> = v["shape"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_u64().unwrap() as usize)
        .collect();
    let data: Vec<f32> = v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_f64().unwrap() as f32)
        .collect();
    ArrayD::from_shape_vec(IxDyn(&shape), data).unwrap()
}

fn cases() -> Vec<Case> {
    let text = std::fs::read_to_string(common::fixture("ops/expected.json")).unwrap();
    let all: Value = serde_json::from_str(&text).unwrap();
    let cases: Vec<Case> = all
        .as_object()
        .unwrap()
        .iter()
        .map(|(name, c)| Case {
            name: name.clone(),
            inputs: c["inputs"].as_array().unwrap().iter().map(tensor).collect(),
            expected: tensor(&c["outputs"][0]),
        })
        .collect();
    assert!(cases.len() >= 90, "only {} cases", cases.len());
    cases
}

fn import(name: &str) -> radix_ir::Graph {
    radix_onnx::import_path(&common::fixture(&format!("ops/{name}.onnx")))
        .unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// Largest |got - want| relative to max(1, |want|); shapes must agree.
fn max_err(got: &ArrayD<f32>, want: &ArrayD<f32>) -> f32 {
    assert_eq!(got.shape(), want.shape());
    got.iter()
        .zip(want)
        .map(|(&g, &w)| (g - w).abs() / w.abs().max(1.0))
        .fold(0.0, f32::max)
}

#[test]
fn float_engine_matches_onnxruntime() {
    let mut failures = Vec::new();
    for c in cases() {
        let g = import(&c.name);
        let mut opt = g.clone();
        radix_ir::passes::optimize(&mut opt).unwrap();
        for (stage, g) in [("imported", &g), ("optimized", &opt)] {
            let y = FloatEngine::new(g).unwrap().run(&c.inputs).unwrap();
            let err = max_err(&y[0], &c.expected);
            if err > 2e-6 {
                failures.push(format!("{} ({stage}): max error {err:e}", c.name));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn int16_fast_engine_is_bit_true_to_the_reference() {
    let mut failures = Vec::new();
    for c in cases() {
        let mut g = import(&c.name);
        radix_ir::passes::optimize(&mut g).unwrap();
        // A few items with the same signs (Sqrt and Log stay in their domain).
        let items: Vec<Vec<ArrayD<f32>>> = [1.0f32, 0.5, 0.8]
            .iter()
            .map(|&k| c.inputs.iter().map(|x| x.mapv(|v| v * k)).collect())
            .collect();
        let calibrated = Calibrated::new(&g, &items, &radix_quant::Silent).unwrap();
        for platform in [Platform::Kl720, Platform::Kl730] {
            let q = calibrated
                .quantize(&QuantConfig::uniform(platform, 16))
                .unwrap_or_else(|e| panic!("{} on {platform:?}: {e}", c.name))
                .model;
            let nv = q.graph.values.len();
            let mut fast: Vec<Option<QTensor>> = vec![None; nv];
            let y = radix_sim::FixedEngine::new(&q)
                .unwrap()
                .run_observed(
                    &c.inputs,
                    Some(&mut |id: ValueId, t: &QTensor| fast[id.0] = Some(t.clone())),
                )
                .unwrap_or_else(|e| panic!("{} on {platform:?}: fast: {e}", c.name));
            let mut reference: Vec<Option<QTensor>> = vec![None; nv];
            radix_sim::reference::run_reference(&q, &c.inputs, &mut |id, t| {
                reference[id.0] = Some(t.clone())
            })
            .unwrap_or_else(|e| panic!("{} on {platform:?}: reference: {e}", c.name));
            // Node outputs (the engines differ in whether they report the graph inputs).
            let outputs = q.graph.nodes.iter().flat_map(|n| n.outputs.iter());
            for &ValueId(v) in outputs {
                let (a, b) = (&fast[v], &reference[v]);
                if a.is_none() || a != b {
                    failures.push(format!(
                        "{} on {platform:?}: tensor `{}` differs",
                        c.name,
                        q.graph.value(ValueId(v)).name
                    ));
                }
            }
            let snr = radix_calib::sqnr_db(
                c.expected.as_slice().unwrap(),
                y[0].as_standard_layout().as_slice().unwrap(),
            );
            if snr < 40.0 {
                failures.push(format!("{} on {platform:?}: int16 SNR {snr:.1} dB", c.name));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The op type of the one node that is not a unit-axis view (1-D pools import as
/// Unsqueeze → pool → Squeeze), and its placement on `p`.
fn placement(name: &str, p: Platform) -> (String, Placement) {
    let mut g = import(name);
    radix_ir::passes::optimize(&mut g).unwrap();
    let profile = p.profile();
    let placed = profile.check_graph(&g).unwrap();
    let (node, place) = g
        .nodes
        .iter()
        .zip(placed)
        .find(|(n, _)| {
            !matches!(
                n.op,
                radix_ir::Op::Unsqueeze { .. } | radix_ir::Op::Squeeze { .. }
            )
        })
        .unwrap();
    (node.op.type_name().to_string(), place)
}

#[test]
fn placement_follows_the_operator_tables() {
    use Placement::{Cpu, Npu};
    use Platform::{Kl520, Kl530, Kl720, Kl730};
    #[rustfmt::skip]
    let table: &[(&str, &str, [Placement; 4])] = &[
        //  case                         op                      520  720  530  730
        ("elu",                       "Elu",                  [Cpu, Cpu, Npu, Npu]),
        ("erf",                       "Erf",                  [Cpu, Cpu, Npu, Npu]),
        ("sqrt",                      "Sqrt",                 [Cpu, Cpu, Npu, Npu]),
        ("reciprocal",                "Reciprocal",           [Cpu, Cpu, Npu, Npu]),
        ("space_to_depth",            "SpaceToDepth",         [Cpu, Cpu, Npu, Npu]),
        ("abs",                       "Abs",                  [Cpu, Cpu, Cpu, Npu]),
        ("log",                       "Log",                  [Cpu, Cpu, Cpu, Npu]),
        ("max2",                      "Max",                  [Cpu, Cpu, Cpu, Npu]),
        ("reducemin_axis1_keep",      "ReduceMin",            [Cpu, Cpu, Cpu, Npu]),
        ("reducemax_axis1_keep",      "ReduceMax",            [Cpu, Cpu, Cpu, Npu]),
        ("reducemax_axes13_nokeep",   "ReduceMax",            [Cpu, Cpu, Cpu, Cpu]),
        ("reducesum_axis1_keep",      "ReduceSum",            [Cpu, Npu, Npu, Npu]),
        ("layer_norm_last",           "LayerNormalization",   [Cpu, Cpu, Cpu, Npu]),
        ("instance_norm",             "InstanceNormalization",[Cpu, Cpu, Cpu, Npu]),
        ("pow_const2",                "Pow",                  [Npu, Npu, Npu, Npu]),
        ("pow_const_half",            "Pow",                  [Cpu, Cpu, Cpu, Cpu]),
        ("sum2",                      "Add",                  [Npu, Npu, Npu, Npu]),
        ("sum3",                      "Sum",                  [Cpu, Cpu, Cpu, Cpu]),
        ("lrn",                       "LRN",                  [Cpu, Cpu, Cpu, Cpu]),
        ("gelu",                      "Gelu",                 [Cpu, Cpu, Cpu, Cpu]),
        ("selu",                      "Selu",                 [Cpu, Cpu, Cpu, Cpu]),
        ("argmax_axis1_keep",         "ArgMax",               [Cpu, Cpu, Cpu, Cpu]),
        ("depth_to_space_dcr",        "DepthToSpace",         [Cpu, Cpu, Cpu, Cpu]),
        ("tile",                      "Tile",                 [Cpu, Cpu, Cpu, Cpu]),
        ("maxpool1d",                 "MaxPool",              [Npu, Npu, Npu, Npu]),
        ("upsample7_nearest",         "Resize",               [Npu, Npu, Npu, Npu]),
        ("upsample9_linear",          "Resize",               [Cpu, Npu, Npu, Npu]),
    ];
    for (case, op, want) in table {
        for (p, w) in [Kl520, Kl720, Kl530, Kl730].into_iter().zip(want) {
            let (got_op, got) = placement(case, p);
            assert_eq!(&got_op, op, "{case}");
            assert_eq!(got, *w, "{case} on {p:?}");
        }
    }
}
