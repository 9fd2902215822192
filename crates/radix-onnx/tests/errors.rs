//! Bad models give clear, one-line errors of the right kind, never a panic: corrupt and truncated
//! files, unknown ops, missing initializers, dynamic shapes nobody fixed, unsupported opsets, and
//! 200 randomly damaged copies of a real model. Also a wrong input shape at run time.

#[path = "common/onnx_builder.rs"]
mod onnx_builder;

use std::collections::HashMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;

use ndarray::{ArrayD, IxDyn};
use onnx_builder::*;
use radix_onnx::{ImportOptions, OnnxError, import_bytes, import_path, import_path_with};
use radix_sim::{FloatEngine, InputError, SimError};

fn fixture(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures")
        .join(rel)
}

/// Asserts the error's message is a single line containing every `needle`.
fn assert_message(e: &dyn std::fmt::Display, needles: &[&str]) {
    let msg = e.to_string();
    assert!(!msg.is_empty());
    assert!(!msg.contains('\n'), "message is not one line: {msg:?}");
    for n in needles {
        assert!(msg.contains(n), "message {msg:?} does not name {n:?}");
    }
}

/// x [1,2,4,4] -> Relu -> y: the smallest valid model, to damage in controlled ways.
fn tiny_nodes() -> Vec<tract_onnx::pb::NodeProto> {
    vec![node("Relu", "relu0", &["x"], &["y"], vec![])]
}

fn tiny_io() -> (
    Vec<tract_onnx::pb::ValueInfoProto>,
    Vec<tract_onnx::pb::ValueInfoProto>,
) {
    (
        vec![float_info("x", &[1, 2, 4, 4])],
        vec![float_info("y", &[1, 2, 4, 4])],
    )
}

#[test]
fn tiny_model_imports() {
    // The builder itself is sound: without damage the model imports and runs.
    let (i, o) = tiny_io();
    let bytes = model_bytes(tiny_nodes(), vec![], i, o, 13);
    let g = import_bytes(&bytes, "tiny", &ImportOptions::default()).expect("valid model");
    assert_eq!(g.nodes.len(), 1);
    let x = ArrayD::from_shape_fn(IxDyn(&[1, 2, 4, 4]), |i| i[2] as f32 - 1.5);
    let y = FloatEngine::new(&g)
        .unwrap()
        .run(std::slice::from_ref(&x))
        .unwrap();
    assert_eq!(y[0], x.mapv(|v| v.max(0.0)));
}

#[test]
fn random_bytes_are_a_decode_error() {
    let mut rng = Rng::new(7);
    let bytes: Vec<u8> = (0..4096).map(|_| rng.next_u64() as u8).collect();
    let e = import_bytes(&bytes, "noise", &ImportOptions::default()).unwrap_err();
    assert!(matches!(e, OnnxError::Decode { .. }), "{e:?}");
    assert_message(&e, &["noise", "not a valid ONNX model"]);

    // Through a file: the message names the file.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("corrupt.onnx");
    std::fs::write(&path, &bytes).unwrap();
    let e = import_path(&path).unwrap_err();
    assert!(matches!(e, OnnxError::Decode { .. }), "{e:?}");
    assert_message(&e, &["corrupt"]);

    // Text is not ONNX either.
    let e = import_bytes(
        b"this is not an onnx file\n",
        "text",
        &ImportOptions::default(),
    )
    .unwrap_err();
    assert!(
        matches!(e, OnnxError::Decode { .. } | OnnxError::NoGraph { .. }),
        "{e:?}"
    );
    assert_message(&e, &["text"]);
}

#[test]
fn empty_and_missing_files() {
    let e = import_bytes(&[], "empty", &ImportOptions::default()).unwrap_err();
    assert!(matches!(e, OnnxError::NoGraph { .. }), "{e:?}");
    assert_message(&e, &["empty", "no graph"]);

    let e = import_path(&fixture("models/does_not_exist.onnx")).unwrap_err();
    assert!(matches!(e, OnnxError::Io { .. }), "{e:?}");
    assert_message(&e, &["does_not_exist.onnx"]);
}

#[test]
fn truncated_mobilenetv2_is_a_decode_error() {
    let bytes = std::fs::read(fixture("models/mobilenetv2.onnx")).unwrap();
    for (what, len) in [("first 1000 bytes", 1000), ("first half", bytes.len() / 2)] {
        let e =
            import_bytes(&bytes[..len], "mobilenetv2", &ImportOptions::default()).expect_err(what);
        assert!(matches!(e, OnnxError::Decode { .. }), "{what}: {e:?}");
        assert_message(&e, &["mobilenetv2", "corrupt or truncated"]);
    }
}

#[test]
fn unknown_op_names_op_and_node() {
    let (i, o) = tiny_io();
    let nodes = vec![
        node("Relu", "relu0", &["x"], &["r"], vec![]),
        node("FooBar", "my_foobar", &["r"], &["y"], vec![attr_i("k", 3)]),
    ];
    let e = import_bytes(
        &model_bytes(nodes, vec![], i, o, 13),
        "foo",
        &ImportOptions::default(),
    )
    .unwrap_err();
    match &e {
        OnnxError::UnsupportedOp { op, node, .. } => {
            assert_eq!(op, "FooBar");
            assert_eq!(node, "my_foobar");
        }
        other => panic!("expected UnsupportedOp, got {other:?}"),
    }
    assert_message(&e, &["FooBar", "my_foobar", "foo"]);

    // An unnamed node is named after its op type and position.
    let (i, o) = tiny_io();
    let nodes = vec![node("FooBar", "", &["x"], &["y"], vec![])];
    let e = import_bytes(
        &model_bytes(nodes, vec![], i, o, 13),
        "foo",
        &ImportOptions::default(),
    )
    .unwrap_err();
    assert!(
        matches!(&e, OnnxError::UnsupportedOp { node, .. } if node == "FooBar_0"),
        "{e:?}"
    );

    // Names from the file with control characters in them are escaped: still one line.
    let (i, o) = tiny_io();
    let nodes = vec![node("Foo\nBar", "bad\r\nname", &["x"], &["y"], vec![])];
    let e = import_bytes(
        &model_bytes(nodes, vec![], i, o, 13),
        "esc",
        &ImportOptions::default(),
    )
    .unwrap_err();
    assert!(matches!(e, OnnxError::UnsupportedOp { .. }), "{e:?}");
    assert_message(&e, &["Foo\\nBar", "bad\\r\\nname"]);

    // An op from another domain is unsupported too, with the domain in the name.
    let (i, o) = tiny_io();
    let mut n = node("Relu", "custom_relu", &["x"], &["y"], vec![]);
    n.domain = "com.example".into();
    let e = import_bytes(
        &model_bytes(vec![n], vec![], i, o, 13),
        "dom",
        &ImportOptions::default(),
    )
    .unwrap_err();
    assert!(matches!(e, OnnxError::UnsupportedOp { .. }), "{e:?}");
    assert_message(&e, &["com.example", "custom_relu"]);
}

#[test]
fn missing_initializer_names_node_and_input() {
    // A Conv whose weight `conv0.weight` is neither an initializer, an input nor a node output.
    let nodes = vec![node(
        "Conv",
        "conv0",
        &["x", "conv0.weight", "conv0.bias"],
        &["y"],
        vec![attr_ints("kernel_shape", &[3, 3])],
    )];
    let inits = vec![f32_tensor("conv0.bias", &[2], &[0.0, 0.0])];
    let (i, o) = tiny_io();
    let e = import_bytes(
        &model_bytes(nodes, inits, i, o, 13),
        "nowt",
        &ImportOptions::default(),
    )
    .unwrap_err();
    match &e {
        OnnxError::MissingInput { node, input, .. } => {
            assert_eq!(node, "conv0");
            assert_eq!(input, "conv0.weight");
        }
        other => panic!("expected MissingInput, got {other:?}"),
    }
    assert_message(&e, &["conv0", "conv0.weight"]);

    // An output nothing produces.
    let (i, _) = tiny_io();
    let e = import_bytes(
        &model_bytes(tiny_nodes(), vec![], i, vec![float_info("ghost", &[1])], 13),
        "ghost",
        &ImportOptions::default(),
    )
    .unwrap_err();
    assert!(matches!(e, OnnxError::Graph { .. }), "{e:?}");
    assert_message(&e, &["ghost"]);
}

#[test]
fn conv_weight_must_be_constant() {
    // A Conv weight that is a graph input (computed at run time) is rejected by name.
    let nodes = vec![node("Conv", "conv0", &["x", "w"], &["y"], vec![])];
    let inputs = vec![
        float_info("x", &[1, 2, 4, 4]),
        float_info("w", &[2, 2, 1, 1]),
    ];
    let e = import_bytes(
        &model_bytes(
            nodes,
            vec![],
            inputs,
            vec![float_info("y", &[1, 2, 4, 4])],
            13,
        ),
        "wdyn",
        &ImportOptions::default(),
    )
    .unwrap_err();
    assert!(
        matches!(&e, OnnxError::Node { op, node, .. } if op == "Conv" && node == "conv0"),
        "{e:?}"
    );
    assert_message(&e, &["conv0", "Conv", "`w`"]);
}

#[test]
fn dynamic_non_batch_dimension_needs_a_fix() {
    // A tiny model with x [N, 2, H, 4]: N is fine (batch becomes 1), H is not.
    let nodes = tiny_nodes();
    let inputs = vec![value_info(
        "x",
        FLOAT,
        &[
            Dim::Param("N"),
            Dim::Fixed(2),
            Dim::Param("H"),
            Dim::Fixed(4),
        ],
    )];
    let outputs = vec![float_info("y", &[1, 2, 4, 4])];
    let bytes = model_bytes(nodes, vec![], inputs, outputs, 13);
    let e = import_bytes(&bytes, "dyn", &ImportOptions::default()).unwrap_err();
    match &e {
        OnnxError::DynamicShape {
            input, axis, dim, ..
        } => {
            assert_eq!(input, "x");
            assert_eq!(*axis, 2);
            assert_eq!(dim, "H");
        }
        other => panic!("expected DynamicShape, got {other:?}"),
    }
    assert_message(&e, &["`x`", "dimension 2", "H"]);

    // Fixing the shape makes it import with exactly that shape.
    let opts = ImportOptions {
        input_shapes: HashMap::from([("x".to_string(), vec![1, 2, 6, 4])]),
    };
    let g = import_bytes(&bytes, "dyn", &opts).expect("fixed");
    assert_eq!(g.shape(g.inputs[0]), &[1, 2, 6, 4]);
    assert_eq!(g.shape(g.outputs[0]), &[1, 2, 6, 4]);

    // The real PNet (input [1, 3, H, W]) the same way.
    let pnet = fixture("models/mtcnn_pnet.onnx");
    let e = import_path(&pnet).unwrap_err();
    assert!(
        matches!(&e, OnnxError::DynamicShape { input, axis: 2, dim, .. } if input == "input" && dim == "H"),
        "{e:?}"
    );
    assert_message(&e, &["mtcnn_pnet", "`input`", "H"]);
    let opts = ImportOptions {
        input_shapes: HashMap::from([("input".to_string(), vec![1, 3, 24, 24])]),
    };
    let g = import_path_with(&pnet, &opts).expect("fixed pnet");
    assert_eq!(g.shape(g.inputs[0]), &[1, 3, 24, 24]);
}

#[test]
fn unsupported_opset_is_named() {
    let (i, o) = tiny_io();
    let e = import_bytes(
        &model_bytes(tiny_nodes(), vec![], i, o, 99),
        "future",
        &ImportOptions::default(),
    )
    .unwrap_err();
    assert!(matches!(e, OnnxError::Opset { opset: 99, .. }), "{e:?}");
    assert_message(&e, &["future", "99"]);
}

#[test]
fn bad_initializer_is_named() {
    // raw_data shorter than the declared shape.
    let nodes = vec![node("Add", "add0", &["x", "b"], &["y"], vec![])];
    let mut b = f32_tensor("b", &[2, 1, 1], &[1.0, 2.0]);
    b.raw_data.truncate(5);
    let (i, o) = tiny_io();
    let e = import_bytes(
        &model_bytes(nodes, vec![b], i, o, 13),
        "short",
        &ImportOptions::default(),
    )
    .unwrap_err();
    assert!(
        matches!(&e, OnnxError::Tensor { name, .. } if name == "b"),
        "{e:?}"
    );
    assert_message(&e, &["`b`"]);
}

/// Imports `bytes` (and runs the passes on whatever imports) after `n` rounds of 1-4 random bytes
/// replaced. Must return, never panic; Ok and Err are both fine. Returns (ok, err).
fn flip_bytes_never_panics(
    what: &str,
    bytes: &[u8],
    opts: &ImportOptions,
    seed: u64,
    n: usize,
) -> (usize, usize) {
    import_bytes(bytes, what, opts).expect("undamaged model imports");
    // RADIX_FLIP_CASES=N runs more (a longer local fuzz); CI runs `n`.
    let n = std::env::var("RADIX_FLIP_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(n);
    let mut rng = Rng::new(seed);
    let (mut ok, mut err, mut panics) = (0, 0, Vec::new());
    for case in 0..n {
        let mut damaged = bytes.to_vec();
        let flips = 1 + rng.below(4);
        for _ in 0..flips {
            let at = rng.below(damaged.len());
            damaged[at] ^= 1 + rng.below(255) as u8;
        }
        let r = catch_unwind(AssertUnwindSafe(|| {
            match import_bytes(&damaged, what, opts) {
                Ok(mut g) => {
                    // Whatever imported must also survive the passes.
                    let _ = radix_ir::passes::optimize(&mut g);
                    true
                }
                Err(e) => {
                    let msg = e.to_string();
                    assert!(!msg.contains('\n'), "multi-line error: {msg:?}");
                    false
                }
            }
        }));
        match r {
            Ok(true) => ok += 1,
            Ok(false) => err += 1,
            Err(_) => panics.push(case),
        }
    }
    eprintln!(
        "{what}: {n} damaged copies: {ok} imported, {err} errors, {} panics",
        panics.len()
    );
    assert!(panics.is_empty(), "{what}: panicked on cases {panics:?}");
    assert!(
        err > 0,
        "{what}: no damaged model was rejected: the flips do nothing"
    );
    (ok, err)
}

/// 200 damaged copies of a real model (PNet, 28 kB, mostly weights).
#[test]
fn random_byte_flips_of_pnet_never_panic() {
    let bytes = std::fs::read(fixture("models/mtcnn_pnet.onnx")).unwrap();
    let opts = ImportOptions {
        input_shapes: HashMap::from([("input".to_string(), vec![1, 3, 24, 24])]),
    };
    flip_bytes_never_panics("pnet", &bytes, &opts, 2024, 200);
}

/// 200 damaged copies of a small model that is mostly structure (names, attributes, shapes,
/// Constant nodes): Conv, Relu, MaxPool (ceil_mode), Shape-computed Reshape, Gemm, Softmax.
#[test]
fn random_byte_flips_of_a_small_model_never_panic() {
    let mut rng = Rng::new(1);
    let nodes = vec![
        node(
            "Conv",
            "conv0",
            &["x", "w", "b"],
            &["c"],
            vec![
                attr_ints("pads", &[1, 1, 1, 1]),
                attr_ints("strides", &[1, 1]),
                attr_i("group", 1),
            ],
        ),
        node("Relu", "relu0", &["c"], &["r"], vec![]),
        node(
            "MaxPool",
            "pool0",
            &["r"],
            &["p"],
            vec![
                attr_ints("kernel_shape", &[3, 3]),
                attr_ints("strides", &[2, 2]),
                attr_i("ceil_mode", 1),
            ],
        ),
        node("Shape", "shape0", &["p"], &["s"], vec![]),
        constant("c_idx", "idx", i64_tensor("idx", &[1], &[0])),
        node(
            "Gather",
            "gather0",
            &["s", "idx"],
            &["n"],
            vec![attr_i("axis", 0)],
        ),
        constant("c_m1", "m1", i64_tensor("m1", &[1], &[-1])),
        node(
            "Concat",
            "concat0",
            &["n", "m1"],
            &["target"],
            vec![attr_i("axis", 0)],
        ),
        node("Reshape", "reshape0", &["p", "target"], &["f"], vec![]),
        node(
            "Gemm",
            "fc0",
            &["f", "fw", "fb"],
            &["g"],
            vec![attr_i("transB", 1), attr_f("alpha", 1.0)],
        ),
        node(
            "Softmax",
            "softmax0",
            &["g"],
            &["y"],
            vec![attr_i("axis", 1)],
        ),
    ];
    let inits = vec![
        f32_tensor("w", &[2, 3, 3, 3], &rng.vec(54)),
        f32_tensor("b", &[2], &rng.vec(2)),
        f32_tensor("fw", &[3, 32], &rng.vec(96)),
        f32_tensor("fb", &[3], &rng.vec(3)),
    ];
    let bytes = model_bytes(
        nodes,
        inits,
        vec![float_info("x", &[1, 3, 8, 8])],
        vec![float_info("y", &[1, 3])],
        13,
    );
    let g = import_bytes(&bytes, "small", &ImportOptions::default()).expect("small model");
    assert_eq!(g.shape(g.outputs[0]), &[1, 3]);
    let (_, err) = flip_bytes_never_panics("small", &bytes, &ImportOptions::default(), 99, 200);
    assert!(
        err >= 50,
        "only {err} of 200 damaged small models were rejected"
    );
}

#[test]
fn wrong_input_shape_at_run_time_names_the_input() {
    let g = import_path(&fixture("models/mtcnn_rnet.onnx")).expect("rnet");
    let engine = FloatEngine::new(&g).expect("engine");
    let bad = ArrayD::<f32>::zeros(IxDyn(&[1, 3, 25, 24]));
    let e = engine.run(std::slice::from_ref(&bad)).unwrap_err();
    match &e {
        SimError::Input(InputError::Shape {
            input,
            expected,
            got,
        }) => {
            assert_eq!(input, "input");
            assert_eq!(expected, &[1, 3, 24, 24]);
            assert_eq!(got, &[1, 3, 25, 24]);
        }
        other => panic!("expected InputShape, got {other:?}"),
    }
    assert_message(&e, &["`input`", "[1, 3, 24, 24]", "[1, 3, 25, 24]"]);

    // Wrong rank, and a batch that is fine (axis 0 = 2).
    let e = engine
        .run(&[ArrayD::<f32>::zeros(IxDyn(&[3, 24, 24]))])
        .unwrap_err();
    assert!(
        matches!(e, SimError::Input(InputError::Shape { .. })),
        "{e:?}"
    );
    let ok = engine.run(&[ArrayD::<f32>::zeros(IxDyn(&[2, 3, 24, 24]))]);
    assert_eq!(ok.expect("batch of 2")[0].shape()[0], 2);

    // Wrong number of inputs.
    let e = engine.run(&[bad.clone(), bad]).unwrap_err();
    assert!(
        matches!(
            e,
            SimError::Input(InputError::Count {
                expected: 1,
                got: 2
            })
        ),
        "{e:?}"
    );
    assert_message(&e, &["1", "2"]);
}
