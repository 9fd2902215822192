//! Every fixture model evaluates on every platform, with both tiling strategies.

use std::collections::HashMap;
use std::path::PathBuf;

use radix_ir::Graph;
use radix_onnx::ImportOptions;
use radix_target::{CompilerTiling, Platform, evaluate_uniform};

fn load(name: &str, shapes: &[(&str, Vec<usize>)]) -> Graph {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures/models")
        .join(name);
    let opts = ImportOptions {
        input_shapes: shapes
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect::<HashMap<_, _>>(),
    };
    let mut g =
        radix_onnx::import_path_with(&path, &opts).unwrap_or_else(|e| panic!("{name}: {e}"));
    radix_ir::passes::optimize(&mut g).unwrap_or_else(|e| panic!("{name}: {e}"));
    g
}

#[test]
fn all_fixture_models_on_all_platforms() {
    let pnet_input = {
        // PNet has dynamic H/W: fix them.
        let path =
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/models/mtcnn_pnet.onnx");
        let g = radix_onnx::import_path_with(
            &path,
            &ImportOptions {
                input_shapes: HashMap::new(),
            },
        );
        match g {
            Ok(g) => g.values[g.inputs[0].0].name.clone(),
            Err(radix_onnx::OnnxError::DynamicShape { input, .. }) => input,
            Err(e) => panic!("pnet: {e}"),
        }
    };
    let models = [
        ("mobilenetv2.onnx", load("mobilenetv2.onnx", &[])),
        (
            "mtcnn_pnet.onnx",
            load("mtcnn_pnet.onnx", &[(&pnet_input, vec![1, 3, 48, 48])]),
        ),
        ("mtcnn_rnet.onnx", load("mtcnn_rnet.onnx", &[])),
        ("mtcnn_onet.onnx", load("mtcnn_onet.onnx", &[])),
        ("ppocrv4_det.onnx", load("ppocrv4_det.onnx", &[])),
    ];
    for (name, g) in &models {
        for p in Platform::ALL {
            let d = evaluate_uniform(g, p, CompilerTiling::Default)
                .unwrap_or_else(|e| panic!("{name} {p}: {e}"));
            let s = evaluate_uniform(g, p, CompilerTiling::DeepSearch)
                .unwrap_or_else(|e| panic!("{name} {p}: {e}"));
            assert!(d.total.fps.is_finite() && d.total.fps > 0.0, "{name} {p}");
            assert!(
                s.total.itc_ms <= d.total.itc_ms + 1e-12,
                "{name} {p}: deep search slower"
            );
            assert_eq!(
                d.total.npu_nodes.len() + d.total.cpu_nodes.len(),
                g.nodes.len()
            );
            // Deterministic.
            let again = evaluate_uniform(g, p, CompilerTiling::DeepSearch).expect("again");
            assert_eq!(
                serde_json::to_string(&s).unwrap(),
                serde_json::to_string(&again).unwrap()
            );
            println!(
                "{name:<18} {p}: {:9.2} fps default, {:9.2} deep, DDR {:.2} -> {:.2} MB, cpu nodes {:?}",
                d.total.fps,
                s.total.fps,
                d.ddr_bytes() as f64 / 1e6,
                s.ddr_bytes() as f64 / 1e6,
                d.total
                    .cpu_nodes
                    .iter()
                    .map(|n| d.node(n).map(|c| c.op_type.as_str()).unwrap_or(""))
                    .collect::<Vec<_>>()
            );
        }
    }
}
