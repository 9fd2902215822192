//! Import of the ops added for vision-model coverage: each single-op fixture
//! (`fixtures/ops/*.onnx`, from `tools/make_op_fixtures.py`) becomes the expected IR nodes, and
//! unsupported attribute values fail with a typed error naming the node and the attribute.

#[path = "common/onnx_builder.rs"]
mod onnx_builder;

use std::path::PathBuf;

use onnx_builder::*;
use radix_onnx::{ImportOptions, OnnxError, import_bytes, import_path};
use tract_onnx::pb::AttributeProto;
use tract_onnx::pb::attribute_proto::AttributeType;

fn fixture(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures")
        .join(rel)
}

fn ops_of(case: &str) -> Vec<String> {
    let g = import_path(&fixture(&format!("ops/{case}.onnx")))
        .unwrap_or_else(|e| panic!("{case}: {e}"));
    g.nodes
        .iter()
        .map(|n| {
            assert_eq!(n.origin.len(), 1, "{case}: one ONNX node per IR node");
            n.op.type_name().to_string()
        })
        .collect()
}

#[test]
fn each_op_imports_to_its_ir_nodes() {
    #[rustfmt::skip]
    let table: &[(&str, &[&str])] = &[
        ("elu", &["Elu"]), ("selu", &["Selu"]), ("softplus", &["Softplus"]),
        ("gelu", &["Gelu"]), ("gelu_tanh", &["Gelu"]), ("erf", &["Erf"]), ("sqrt", &["Sqrt"]),
        ("reciprocal", &["Reciprocal"]), ("abs", &["Abs"]), ("neg", &["Neg"]), ("log", &["Log"]),
        ("exp", &["Exp"]),
        ("gelu_erf_decomposition", &["Div", "Erf", "Add", "Mul", "Mul"]),
        ("pow_const2", &["Pow"]), ("pow_tensor", &["Pow"]),
        ("sum3", &["Sum"]), ("sum2", &["Add"]), ("sum1", &["Identity"]), ("sum2_opset9", &["Add"]),
        ("mean3", &["Mean"]), ("mean2", &["Mean"]), ("max3", &["Max"]), ("max2", &["Max"]),
        ("min3", &["Min"]), ("min2", &["Min"]), ("max1", &["Identity"]),
        ("lrn", &["LRN"]), ("lrn_size3_defaults", &["LRN"]),
        ("reducemax_axis1_keep", &["ReduceMax"]), ("reducemin_axes13_nokeep", &["ReduceMin"]),
        ("reducesum_all_nokeep", &["ReduceSum"]), ("reducemean_input_axes_keep", &["ReduceMean"]),
        ("reducesum_input_axes_nokeep", &["ReduceSum"]), ("reducemax_noop_empty", &["Identity"]),
        ("reducesum_noop_empty", &["Identity"]), ("reducemin_empty_all", &["ReduceMin"]),
        ("argmax_axis1_keep", &["ArgMax"]), ("argmax_ties_last", &["ArgMax"]),
        ("depth_to_space_dcr", &["DepthToSpace"]), ("depth_to_space_crd", &["DepthToSpace"]),
        ("space_to_depth", &["SpaceToDepth"]),
        ("instance_norm", &["InstanceNormalization"]),
        ("layer_norm_last", &["LayerNormalization"]),
        ("layer_norm_axis1_nobias", &["LayerNormalization"]),
        ("batchnorm_opset9", &["BatchNormalization"]),
        ("batchnorm_opset7_rank2", &["BatchNormalization"]),
        ("upsample7_nearest", &["Resize"]), ("upsample7_linear", &["Resize"]),
        ("upsample9_nearest", &["Resize"]), ("upsample9_linear", &["Resize"]),
        ("tile", &["Tile"]), ("expand", &["Expand"]),
        ("maxpool1d", &["Unsqueeze", "MaxPool", "Squeeze"]),
        ("avgpool1d_same_upper", &["Unsqueeze", "AveragePool", "Squeeze"]),
        ("global_avgpool_1d", &["GlobalAveragePool"]), ("global_maxpool_1d", &["GlobalMaxPool"]),
    ];
    for (case, want) in table {
        assert_eq!(ops_of(case), *want, "{case}");
    }
}

#[test]
fn reduce_and_argmax_attributes_are_resolved() {
    use radix_ir::Op;
    let op = |case: &str| {
        import_path(&fixture(&format!("ops/{case}.onnx")))
            .unwrap()
            .nodes
            .remove(0)
            .op
    };
    assert_eq!(
        op("reducemax_neg_axis_attr"),
        Op::ReduceMax {
            axes: vec![0, 3],
            keepdims: true
        }
    );
    assert_eq!(
        op("reducesum_input_axes_nokeep"),
        Op::ReduceSum {
            axes: vec![0, 2],
            keepdims: false
        }
    );
    assert_eq!(
        op("reducemean_all_nokeep"),
        Op::ReduceMean {
            axes: vec![0, 1, 2, 3],
            keepdims: false
        }
    );
    assert_eq!(
        op("argmax_last_nokeep"),
        Op::ArgMax {
            axis: 3,
            keepdims: false,
            select_last_index: false
        }
    );
    assert_eq!(
        op("depth_to_space_crd"),
        Op::DepthToSpace {
            blocksize: 2,
            crd: true
        }
    );
}

fn attr_s(name: &str, v: &str) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: AttributeType::String as i32,
        s: v.as_bytes().to_vec(),
        ..Default::default()
    }
}

/// Imports a one-node model `x [1, 8, 4, 4] -> op -> y`; returns the error.
fn import_err(
    op: &str,
    attrs: Vec<AttributeProto>,
    extra_inputs: &[&str],
    outputs: &[&str],
    inits: Vec<tract_onnx::pb::TensorProto>,
    opset: i64,
) -> OnnxError {
    let mut ins = vec!["x"];
    ins.extend_from_slice(extra_inputs);
    let bytes = model_bytes(
        vec![node(op, "the_node", &ins, outputs, attrs)],
        inits,
        vec![float_info("x", &[1, 8, 4, 4])],
        vec![float_info("y", &[1, 8, 4, 4])],
        opset,
    );
    import_bytes(&bytes, "m", &ImportOptions::default()).expect_err("import should fail")
}

#[test]
fn unsupported_attribute_values_name_node_and_attribute() {
    let per_channel = |n: &str| f32_tensor(n, &[8], &[1.0; 8]);
    let cases: Vec<(OnnxError, &str)> = vec![
        (
            import_err(
                "Gelu",
                vec![attr_s("approximate", "erf")],
                &[],
                &["y"],
                vec![],
                20,
            ),
            "approximate",
        ),
        (
            import_err(
                "DepthToSpace",
                vec![attr_i("blocksize", 2), attr_s("mode", "XYZ")],
                &[],
                &["y"],
                vec![],
                13,
            ),
            "mode",
        ),
        (
            import_err("DepthToSpace", vec![], &[], &["y"], vec![], 13),
            "blocksize",
        ),
        (import_err("LRN", vec![], &[], &["y"], vec![], 13), "size"),
        (
            import_err(
                "LayerNormalization",
                vec![attr_i("stash_type", 0)],
                &["s"],
                &["y", "mean"],
                vec![f32_tensor("s", &[4], &[1.0; 4])],
                17,
            ),
            "stash_type",
        ),
        (
            import_err(
                "BatchNormalization",
                vec![attr_i("spatial", 0)],
                &["s", "b", "m", "v"],
                &["y"],
                vec![
                    per_channel("s"),
                    per_channel("b"),
                    per_channel("m"),
                    per_channel("v"),
                ],
                7,
            ),
            "spatial",
        ),
        (
            import_err(
                "BatchNormalization",
                vec![attr_i("training_mode", 1)],
                &["s", "b", "m", "v"],
                &["y"],
                vec![
                    per_channel("s"),
                    per_channel("b"),
                    per_channel("m"),
                    per_channel("v"),
                ],
                // Training mode is supported from opset 14 (its outputs changed there).
                13,
            ),
            "training_mode",
        ),
        (
            import_err("Upsample", vec![], &[], &["y"], vec![], 7),
            "scales",
        ),
        (
            import_err(
                "Tile",
                vec![],
                &["r"],
                &["y"],
                vec![i64_tensor("r", &[4], &[1, 0, 1, 1])],
                13,
            ),
            "repeats",
        ),
        (
            import_err(
                "Expand",
                vec![],
                &["s"],
                &["y"],
                vec![i64_tensor("s", &[2], &[3, 4])],
                13,
            ),
            "broadcast",
        ),
    ];
    for (e, attr) in cases {
        assert!(matches!(e, OnnxError::Node { .. }), "{e}");
        let msg = e.to_string();
        assert!(msg.contains("the_node"), "{msg}");
        assert!(msg.contains(attr), "{msg} does not name {attr}");
        assert!(!msg.contains('\n'));
    }
}
