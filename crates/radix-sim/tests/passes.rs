//! The graph passes of radix-ir, checked here (with the importer and the float engine) so that
//! radix-ir itself builds and tests without them. Every graph pass keeps the outputs: the graph before and after gives the same outputs on real
//! inputs (MobileNetV2 on photos, PP-OCRv4 on a page, MTCNN RNet on faces, and small ONNX models
//! built here), the rewrite counts are what the graph calls for, and `origin` names the ONNX nodes
//! a fused node stands for.

#[path = "../../radix-onnx/tests/common/onnx_builder.rs"]
mod onnx_builder;

use std::collections::HashMap;
use std::path::PathBuf;

use ndarray::{Array3, Array4, ArrayD, Axis, IxDyn};
use onnx_builder::*;
use radix_ir::passes::{
    drop_identities, fold_batchnorm, fold_constants, fuse_activations, infer_shapes, optimize,
};
use radix_ir::{Activation, Graph, Node, Op};
use radix_onnx::{ImportOptions, import_bytes};
use radix_sim::FloatEngine;

fn fixture(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures")
        .join(rel)
}

fn run(g: &Graph, inputs: &[ArrayD<f32>]) -> Vec<ArrayD<f32>> {
    let engine = FloatEngine::new(g).unwrap_or_else(|e| panic!("engine for {}: {e}", g.name));
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build()
        .unwrap();
    pool.install(|| engine.run(inputs))
        .unwrap_or_else(|e| panic!("running {}: {e}", g.name))
}

fn snr_db(reference: &ArrayD<f32>, test: &ArrayD<f32>) -> f64 {
    let (mut s, mut e) = (0.0f64, 0.0f64);
    for (&r, &t) in reference.iter().zip(test.iter()) {
        s += (r as f64).powi(2);
        e += (r as f64 - t as f64).powi(2);
    }
    if e == 0.0 {
        return f64::INFINITY;
    }
    10.0 * (s / e).log10()
}

/// Same output names, shapes and values (SNR >= `min_db` each; `f64::INFINITY` = bit-exact).
fn assert_same_outputs(
    what: &str,
    before: &Graph,
    after: &Graph,
    want: &[ArrayD<f32>],
    got: &[ArrayD<f32>],
    min_db: f64,
) {
    let names =
        |g: &Graph| -> Vec<String> { g.outputs.iter().map(|&o| g.value(o).name.clone()).collect() };
    assert_eq!(names(before), names(after), "{what}: output names changed");
    assert_eq!(want.len(), got.len(), "{what}: output count");
    for (i, (w, g)) in want.iter().zip(got).enumerate() {
        assert_eq!(w.shape(), g.shape(), "{what}: output {i} shape");
        let snr = snr_db(w, g);
        assert!(
            snr >= min_db,
            "{what}: output {i} SNR {snr:.1} dB < {min_db} dB"
        );
    }
}

fn count(g: &Graph, pred: impl Fn(&Op) -> bool) -> usize {
    g.nodes.iter().filter(|n| pred(&n.op)).count()
}

fn node_named<'a>(g: &'a Graph, name: &str) -> &'a Node {
    let id = g
        .node_by_name(name)
        .unwrap_or_else(|| panic!("no node `{name}`"));
    &g.nodes[id.0]
}

/// The first `n` photos (uint8 NHWC 224x224) with ImageNet mean/std, NCHW.
fn photos(n: usize) -> ArrayD<f32> {
    const MEAN: [f32; 3] = [0.485, 0.456, 0.406];
    const STD: [f32; 3] = [0.229, 0.224, 0.225];
    let all: Array4<u8> =
        ndarray_npy::read_npy(fixture("images/photos_224_uint8_nhwc.npy")).expect("photos");
    let p = all.slice_axis(Axis(0), (0..n).into());
    let mut x = Array4::<f32>::zeros((n, 3, 224, 224));
    for ((i, y, xx, c), &v) in p.indexed_iter() {
        x[[i, c, y, xx]] = (v as f32 / 255.0 - MEAN[c]) / STD[c];
    }
    x.into_dyn()
}

#[test]
fn mobilenetv2_every_pass_keeps_outputs() {
    let g0 = radix_onnx::import_path(&fixture("models/mobilenetv2.onnx")).expect("import");
    let x = [photos(3)];
    let want = run(&g0, &x);
    let clips = count(&g0, |op| matches!(op, Op::Clip { .. }));
    assert_eq!(clips, 35);
    let op_of: HashMap<&str, &'static str> = g0
        .nodes
        .iter()
        .map(|n| (n.name.as_str(), n.op.type_name()))
        .collect();

    // Each pass alone.
    let mut g = g0.clone();
    assert_eq!(fold_constants(&mut g).unwrap(), 0, "import already folded");
    assert_same_outputs(
        "fold_constants",
        &g0,
        &g,
        &want,
        &run(&g, &x),
        f64::INFINITY,
    );

    let mut g = g0.clone();
    assert_eq!(drop_identities(&mut g), 0);
    assert_same_outputs(
        "drop_identities",
        &g0,
        &g,
        &want,
        &run(&g, &x),
        f64::INFINITY,
    );

    let mut g = g0.clone();
    assert_eq!(
        fold_batchnorm(&mut g).unwrap(),
        0,
        "the model's BN is folded already"
    );

    let mut g = g0.clone();
    assert_eq!(fuse_activations(&mut g), clips);
    g.validate().unwrap();
    assert_eq!(count(&g, |op| matches!(op, Op::Clip { .. })), 0);
    assert_eq!(g.nodes.len(), g0.nodes.len() - clips);
    assert_eq!(g.nodes.iter().filter(|n| n.is_fused()).count(), clips);
    for n in g.nodes.iter().filter(|n| n.is_fused()) {
        assert!(
            matches!(n.op, Op::Conv(_)),
            "{} fused into {}",
            n.name,
            n.op.type_name()
        );
        assert_eq!(n.origin.len(), 2, "{}: {:?}", n.name, n.origin);
        assert_eq!(n.origin[0], n.name);
        assert_eq!(op_of[n.origin[0].as_str()], "Conv");
        assert_eq!(op_of[n.origin[1].as_str()], "Clip", "{:?}", n.origin);
        assert_eq!(
            n.op.fused_activation(),
            Some(Activation::Clip { min: 0.0, max: 6.0 })
        );
    }
    // The activation runs inside the conv in the same order: bit-exact.
    assert_same_outputs(
        "fuse_activations",
        &g0,
        &g,
        &want,
        &run(&g, &x),
        f64::INFINITY,
    );

    let mut g = g0.clone();
    infer_shapes(&mut g).unwrap();
    assert_same_outputs("infer_shapes", &g0, &g, &want, &run(&g, &x), f64::INFINITY);

    // All of them.
    let mut g = g0.clone();
    let stats = optimize(&mut g).unwrap();
    assert_eq!(stats.fused_activations, clips);
    assert_eq!(stats.folded_batchnorms, 0);
    assert_same_outputs("optimize", &g0, &g, &want, &run(&g, &x), f64::INFINITY);
    // Idempotent: a second round finds nothing.
    assert_eq!(optimize(&mut g).unwrap(), Default::default());
}

#[test]
fn ppocrv4_det_optimize_keeps_outputs() {
    let g0 = radix_onnx::import_path(&fixture("models/ppocrv4_det.onnx")).expect("import");
    let u: Array3<u8> =
        ndarray_npy::read_npy(fixture("reference/ppocr_page_rgb_u8.npy")).expect("page");
    let mut x = Array4::<f32>::zeros((1, 3, 640, 640));
    for ((h, w, c), &v) in u.indexed_iter() {
        x[[0, 2 - c, h, w]] = (v as f32 / 255.0 - 0.5) / 0.5;
    }
    let x = [x.into_dyn()];
    let want = run(&g0, &x);
    let mut g = g0.clone();
    let stats = optimize(&mut g).unwrap();
    eprintln!(
        "ppocrv4_det: {stats:?}, nodes {} -> {}",
        g0.nodes.len(),
        g.nodes.len()
    );
    assert!(stats.fused_activations > 0, "{stats:?}");
    assert_eq!(
        g.nodes.len(),
        g0.nodes.len()
            - stats.folded_constants
            - stats.dropped_identities
            - stats.folded_batchnorms
            - stats.fused_activations
    );
    assert_same_outputs(
        "ppocrv4_det optimize",
        &g0,
        &g,
        &want,
        &run(&g, &x),
        f64::INFINITY,
    );
}

#[test]
fn mtcnn_rnet_optimize_keeps_outputs() {
    let g0 = radix_onnx::import_path(&fixture("models/mtcnn_rnet.onnx")).expect("import");
    let u: Array3<u8> =
        ndarray_npy::read_npy(fixture("reference/mtcnn_lfw24_u8.npy")).expect("lfw");
    // A few faces and non-faces (labels: the first 100 are faces).
    let pick = [0usize, 1, 2, 100, 101, 199];
    let mut x = Array4::<f32>::zeros((pick.len(), 3, 24, 24));
    for (k, &i) in pick.iter().enumerate() {
        for ((h, w), &v) in u.index_axis(Axis(0), i).indexed_iter() {
            for c in 0..3 {
                x[[k, c, h, w]] = (v as f32 / 255.0 * 255.0 - 127.5) / 128.0;
            }
        }
    }
    let x = [x.into_dyn()];
    let want = run(&g0, &x);
    let mut g = g0.clone();
    optimize(&mut g).unwrap();
    assert_same_outputs(
        "mtcnn_rnet optimize",
        &g0,
        &g,
        &want,
        &run(&g, &x),
        f64::INFINITY,
    );
}

/// BatchNormalization parameters for `c` channels with random gamma/beta/mean and var in [0.5, 1.5).
fn bn_params(prefix: &str, c: usize, rng: &mut Rng) -> Vec<tract_onnx::pb::TensorProto> {
    let var: Vec<f32> = (0..c).map(|_| 1.0 + 0.5 * rng.f32()).collect();
    vec![
        f32_tensor(&format!("{prefix}.scale"), &[c], &rng.vec(c)),
        f32_tensor(&format!("{prefix}.bias"), &[c], &rng.vec(c)),
        f32_tensor(&format!("{prefix}.mean"), &[c], &rng.vec(c)),
        f32_tensor(&format!("{prefix}.var"), &[c], &var),
    ]
}

fn bn_node(name: &str, x: &str, y: &str) -> tract_onnx::pb::NodeProto {
    let p = |s: &str| format!("{name}.{s}");
    let (s, b, m, v) = (p("scale"), p("bias"), p("mean"), p("var"));
    node(
        "BatchNormalization",
        name,
        &[x, &s, &b, &m, &v],
        &[y],
        vec![attr_f("epsilon", 1e-3)],
    )
}

/// x [1,4,10,10] -> conv1 -> bn1 -> relu1 -> deconv1 (stride 2) -> bn2 -> clip1 -> gap -> flat
/// -> fc1 -> bn3 -> lrelu1 -> y [1,7]. Random weights.
fn conv_bn_act_model() -> Vec<u8> {
    let mut rng = Rng::new(11);
    let mut inits = vec![
        f32_tensor("conv1.w", &[6, 4, 3, 3], &rng.vec(6 * 4 * 9)),
        f32_tensor("conv1.b", &[6], &rng.vec(6)),
        f32_tensor("deconv1.w", &[6, 5, 2, 2], &rng.vec(6 * 5 * 4)),
        f32_tensor("fc1.w", &[7, 5], &rng.vec(35)),
        f32_tensor("fc1.b", &[7], &rng.vec(7)),
        f32_tensor("clip.min", &[], &[0.0]),
        f32_tensor("clip.max", &[], &[0.8]),
    ];
    inits.extend(bn_params("bn1", 6, &mut rng));
    inits.extend(bn_params("bn2", 5, &mut rng));
    inits.extend(bn_params("bn3", 7, &mut rng));
    let nodes = vec![
        node(
            "Conv",
            "conv1",
            &["x", "conv1.w", "conv1.b"],
            &["c1"],
            vec![attr_ints("pads", &[1, 1, 1, 1])],
        ),
        bn_node("bn1", "c1", "b1"),
        node("Relu", "relu1", &["b1"], &["r1"], vec![]),
        node(
            "ConvTranspose",
            "deconv1",
            &["r1", "deconv1.w"],
            &["d1"],
            vec![attr_ints("strides", &[2, 2])],
        ),
        bn_node("bn2", "d1", "b2"),
        node(
            "Clip",
            "clip1",
            &["b2", "clip.min", "clip.max"],
            &["k1"],
            vec![],
        ),
        node("GlobalAveragePool", "gap", &["k1"], &["g1"], vec![]),
        node("Flatten", "flat", &["g1"], &["f1"], vec![]),
        node(
            "Gemm",
            "fc1",
            &["f1", "fc1.w", "fc1.b"],
            &["m1"],
            vec![attr_i("transB", 1)],
        ),
        bn_node("bn3", "m1", "b3"),
        node(
            "LeakyRelu",
            "lrelu1",
            &["b3"],
            &["y"],
            vec![attr_f("alpha", 0.1)],
        ),
    ];
    model_bytes(
        nodes,
        inits,
        vec![float_info("x", &[1, 4, 10, 10])],
        vec![float_info("y", &[1, 7])],
        13,
    )
}

fn random_input(shape: &[usize], seed: u64) -> ArrayD<f32> {
    let mut rng = Rng::new(seed);
    let n = shape.iter().product();
    ArrayD::from_shape_vec(IxDyn(shape), rng.vec(n)).unwrap()
}

#[test]
fn batchnorm_folds_and_activations_fuse_with_origins() {
    let g0 = import_bytes(&conv_bn_act_model(), "cba", &ImportOptions::default()).unwrap();
    assert_eq!(g0.nodes.len(), 11);
    let x = [random_input(&[3, 4, 10, 10], 5)];
    let want = run(&g0, &x);
    // The BN and the activations actually change the values (so the test can fail).
    assert!(want[0].iter().any(|&v| v < 0.0) && want[0].iter().any(|&v| v > 0.0));

    let mut g = g0.clone();
    assert_eq!(fold_batchnorm(&mut g).unwrap(), 3);
    g.validate().unwrap();
    assert_eq!(count(&g, |op| matches!(op, Op::BatchNorm { .. })), 0);
    assert_eq!(g.nodes.len(), 8);
    // Folding changes the float rounding, not the function.
    assert_same_outputs("fold_batchnorm", &g0, &g, &want, &run(&g, &x), 100.0);
    let after_bn = run(&g, &x);

    assert_eq!(fuse_activations(&mut g), 3);
    g.validate().unwrap();
    assert_eq!(g.nodes.len(), 5);
    assert_eq!(
        g.nodes.iter().map(|n| n.op.type_name()).collect::<Vec<_>>(),
        [
            "Conv",
            "ConvTranspose",
            "GlobalAveragePool",
            "Flatten",
            "Gemm"
        ]
    );
    assert_eq!(node_named(&g, "conv1").origin, ["conv1", "bn1", "relu1"]);
    assert_eq!(
        node_named(&g, "deconv1").origin,
        ["deconv1", "bn2", "clip1"]
    );
    assert_eq!(node_named(&g, "fc1").origin, ["fc1", "bn3", "lrelu1"]);
    assert!(node_named(&g, "fc1").is_fused());
    assert!(!node_named(&g, "gap").is_fused());
    assert_eq!(
        node_named(&g, "conv1").op.fused_activation(),
        Some(Activation::Relu)
    );
    assert_eq!(
        node_named(&g, "deconv1").op.fused_activation(),
        Some(Activation::Clip { min: 0.0, max: 0.8 })
    );
    assert_eq!(
        node_named(&g, "fc1").op.fused_activation(),
        Some(Activation::LeakyRelu { alpha: 0.1 })
    );
    assert_eq!(g.value(g.outputs[0]).name, "y");
    // Fusing is exact relative to the folded graph.
    assert_same_outputs(
        "fuse_activations",
        &g0,
        &g,
        &after_bn,
        &run(&g, &x),
        f64::INFINITY,
    );
    assert_same_outputs("fold + fuse", &g0, &g, &want, &run(&g, &x), 100.0);

    // optimize does the same in one call.
    let mut g = g0.clone();
    let stats = optimize(&mut g).unwrap();
    assert_eq!((stats.folded_batchnorms, stats.fused_activations), (3, 3));
    assert_eq!(node_named(&g, "conv1").origin, ["conv1", "bn1", "relu1"]);
    assert_same_outputs("optimize", &g0, &g, &want, &run(&g, &x), 100.0);
}

#[test]
fn shared_outputs_are_not_folded_or_fused() {
    // conv1's output feeds bn1 *and* an Add; bn1's output is read by relu1 *and* the Add.
    // Folding or fusing either would change what the Add sees.
    let mut rng = Rng::new(3);
    let mut inits = vec![f32_tensor("conv1.w", &[4, 4, 1, 1], &rng.vec(16))];
    inits.extend(bn_params("bn1", 4, &mut rng));
    let nodes = vec![
        node("Conv", "conv1", &["x", "conv1.w"], &["c1"], vec![]),
        bn_node("bn1", "c1", "b1"),
        node("Relu", "relu1", &["b1"], &["r1"], vec![]),
        node("Add", "add1", &["c1", "b1"], &["a1"], vec![]),
        node("Add", "add2", &["a1", "r1"], &["y"], vec![]),
        // A BN straight on the graph input has nothing to fold into.
        bn_node("bn2", "x", "z"),
    ];
    inits.extend(bn_params("bn2", 4, &mut rng));
    let bytes = model_bytes(
        nodes,
        inits,
        vec![float_info("x", &[1, 4, 5, 5])],
        vec![
            float_info("y", &[1, 4, 5, 5]),
            float_info("z", &[1, 4, 5, 5]),
        ],
        13,
    );
    let g0 = import_bytes(&bytes, "shared", &ImportOptions::default()).unwrap();
    let x = [random_input(&[2, 4, 5, 5], 9)];
    let want = run(&g0, &x);
    let mut g = g0.clone();
    assert_eq!(fold_batchnorm(&mut g).unwrap(), 0);
    assert_eq!(fuse_activations(&mut g), 0);
    let stats = optimize(&mut g).unwrap();
    assert_eq!(stats, Default::default());
    assert_eq!(g.nodes.len(), g0.nodes.len());
    assert_same_outputs("shared", &g0, &g, &want, &run(&g, &x), f64::INFINITY);
}

#[test]
fn identity_dropout_and_cast_are_dropped_keeping_output_names() {
    // x -> id_in -> conv0 -> drop0 -> relu0 -> cast0 -> id_out -> y
    let mut rng = Rng::new(5);
    let nodes = vec![
        node("Identity", "id_in", &["x"], &["x1"], vec![]),
        node(
            "Conv",
            "conv0",
            &["x1", "w", "b"],
            &["c0"],
            vec![attr_ints("pads", &[1, 1, 1, 1])],
        ),
        node("Dropout", "drop0", &["c0"], &["d0"], vec![]),
        node("Relu", "relu0", &["d0"], &["r0"], vec![]),
        node("Cast", "cast0", &["r0"], &["k0"], vec![attr_i("to", 1)]),
        node("Identity", "id_out", &["k0"], &["y"], vec![]),
    ];
    let inits = vec![
        f32_tensor("w", &[3, 2, 3, 3], &rng.vec(54)),
        f32_tensor("b", &[3], &rng.vec(3)),
    ];
    let bytes = model_bytes(
        nodes,
        inits,
        vec![float_info("x", &[1, 2, 6, 6])],
        vec![float_info("y", &[1, 3, 6, 6])],
        13,
    );
    let g0 = import_bytes(&bytes, "ids", &ImportOptions::default()).unwrap();
    assert_eq!(g0.nodes.len(), 6);
    let x = [random_input(&[2, 2, 6, 6], 1)];
    let want = run(&g0, &x);

    let mut g = g0.clone();
    assert_eq!(drop_identities(&mut g), 4);
    g.validate().unwrap();
    assert_eq!(
        g.nodes.iter().map(|n| n.op.type_name()).collect::<Vec<_>>(),
        ["Conv", "Relu"]
    );
    // The graph output keeps its name; the Relu now writes it directly.
    assert_eq!(g.value(g.outputs[0]).name, "y");
    assert_eq!(node_named(&g, "relu0").outputs, g.outputs);
    assert_eq!(g.value(g.inputs[0]).name, "x");
    assert_same_outputs(
        "drop_identities",
        &g0,
        &g,
        &want,
        &run(&g, &x),
        f64::INFINITY,
    );

    // Then the Relu fuses into the conv, which takes over `y`.
    assert_eq!(fuse_activations(&mut g), 1);
    assert_eq!(g.value(g.outputs[0]).name, "y");
    assert_eq!(node_named(&g, "conv0").origin, ["conv0", "relu0"]);
    assert_same_outputs("drop + fuse", &g0, &g, &want, &run(&g, &x), f64::INFINITY);

    let mut g = g0.clone();
    let stats = optimize(&mut g).unwrap();
    assert_eq!((stats.dropped_identities, stats.fused_activations), (4, 1));
    assert_same_outputs("optimize", &g0, &g, &want, &run(&g, &x), f64::INFINITY);
}

#[test]
fn identities_next_to_graph_inputs_and_outputs() {
    // y1 = Identity(x) (input straight to output), r = Relu(x), y2 = Identity(r) while r is
    // also read by a Sigmoid (y3), y4 = Identity(y3) where y3 is itself a graph output.
    let nodes = vec![
        node("Identity", "pass", &["x"], &["y1"], vec![]),
        node("Relu", "relu", &["x"], &["r"], vec![]),
        node("Identity", "id_r", &["r"], &["y2"], vec![]),
        node("Sigmoid", "sig", &["r"], &["y3"], vec![]),
        node("Identity", "id_y3", &["y3"], &["y4"], vec![]),
    ];
    let io = |n: &str| float_info(n, &[1, 2, 3, 3]);
    let bytes = model_bytes(
        nodes,
        vec![],
        vec![io("x")],
        vec![io("y1"), io("y2"), io("y3"), io("y4")],
        13,
    );
    let g0 = import_bytes(&bytes, "edges", &ImportOptions::default()).unwrap();
    let x = [random_input(&[1, 2, 3, 3], 4)];
    let want = run(&g0, &x);
    assert_eq!(want[0], x[0]);

    let mut g = g0.clone();
    let dropped = drop_identities(&mut g);
    g.validate().unwrap();
    // Only `id_r` can go: `pass` copies a graph input, `id_y3` copies a graph output.
    assert_eq!(dropped, 1);
    assert!(g.node_by_name("id_r").is_none());
    assert_eq!(g.value(g.inputs[0]).name, "x");
    assert_same_outputs(
        "drop_identities",
        &g0,
        &g,
        &want,
        &run(&g, &x),
        f64::INFINITY,
    );
    let mut g2 = g.clone();
    assert_eq!(optimize(&mut g2).unwrap(), Default::default());
    assert_same_outputs("optimize", &g0, &g2, &want, &run(&g2, &x), f64::INFINITY);
}

/// x [1,3,4,5] -> Shape -> Gather(0) -> Unsqueeze -> Concat(-1) -> Reshape(x, .) -> Relu -> y [1,60],
/// with the gather index as an initializer and the Unsqueeze axes / Concat tail as `Constant`s.
fn shape_subgraph_model() -> (Vec<u8>, usize) {
    let nodes = vec![
        node("Shape", "shape", &["x"], &["s"], vec![]),
        node(
            "Gather",
            "gather",
            &["s", "idx0"],
            &["d0"],
            vec![attr_i("axis", 0)],
        ),
        constant("axes_const", "axes", i64_tensor("axes", &[1], &[0])),
        node("Unsqueeze", "unsqueeze", &["d0", "axes"], &["d0u"], vec![]),
        constant("minus_one", "m1", i64_tensor("m1", &[1], &[-1])),
        node(
            "Concat",
            "concat",
            &["d0u", "m1"],
            &["target"],
            vec![attr_i("axis", 0)],
        ),
        node("Reshape", "reshape", &["x", "target"], &["flat"], vec![]),
        node("Relu", "relu", &["flat"], &["y"], vec![]),
    ];
    let n = nodes.len();
    let bytes = model_bytes(
        nodes,
        vec![i64_tensor("idx0", &[], &[0])],
        vec![float_info("x", &[1, 3, 4, 5])],
        vec![float_info("y", &[1, 60])],
        13,
    );
    (bytes, n)
}

#[test]
fn shape_subgraph_is_folded_at_import() {
    let (bytes, onnx_nodes) = shape_subgraph_model();
    let mut g = import_bytes(&bytes, "shapes", &ImportOptions::default()).unwrap();
    // Shape, Gather, Unsqueeze, Concat and both Constants became constants: Reshape + Relu remain.
    assert_eq!(
        g.nodes.iter().map(|n| n.op.type_name()).collect::<Vec<_>>(),
        ["Reshape", "Relu"]
    );
    assert!(g.nodes.len() < onnx_nodes);
    assert_eq!(
        node_named(&g, "reshape").op,
        Op::Reshape { shape: vec![1, 60] }
    );
    let x = [random_input(&[1, 3, 4, 5], 8)];
    let want = x[0]
        .clone()
        .into_shape_with_order(IxDyn(&[1, 60]))
        .unwrap()
        .mapv(|v| v.max(0.0));
    let before = run(&g, &x);
    assert_eq!(before[0], want);
    let g0 = g.clone();
    assert_eq!(fold_constants(&mut g).unwrap(), 0);
    optimize(&mut g).unwrap();
    assert_same_outputs("optimize", &g0, &g, &before, &run(&g, &x), f64::INFINITY);
}

/// The IR pass itself, on a graph the importer would have folded: hand-built so the shape
/// subgraph is still made of nodes. y = Reshape[1,60](x * Concat(Unsqueeze(Gather(Shape(x), 3)),
/// [1,2,3,4])) — x [1,3,4,5] times [5,1,2,3,4] along the last axis — plus a constant-only Add.
#[test]
fn fold_constants_folds_a_shape_subgraph() {
    let mut g = Graph::new("ir_shapes");
    let x = g.add_value("x", vec![1, 3, 4, 5]);
    g.inputs.push(x);
    let s = g.add_value("s", vec![4]);
    let idx = g.add_const("idx", ArrayD::from_elem(IxDyn(&[]), 3.0));
    let d = g.add_value("d", vec![]);
    let du = g.add_value("du", vec![1]);
    let tail = g.add_const(
        "tail",
        ArrayD::from_shape_vec(IxDyn(&[4]), vec![1.0, 2.0, 3.0, 4.0]).unwrap(),
    );
    let v = g.add_value("v", vec![5]);
    let one = g.add_const("one", ArrayD::from_elem(IxDyn(&[1]), 0.5));
    let w = g.add_value("w", vec![5]);
    let m = g.add_value("m", vec![1, 3, 4, 5]);
    let y = g.add_value("y", vec![1, 60]);
    let mut push = |name: &str, op: Op, inputs: Vec<_>, outputs: Vec<_>| {
        g.nodes.push(Node {
            name: name.into(),
            op,
            inputs,
            outputs,
            origin: vec![name.into()],
        })
    };
    push("shape", Op::Shape, vec![x], vec![s]);
    push("gather", Op::Gather { axis: 0 }, vec![s, idx], vec![d]);
    push(
        "unsqueeze",
        Op::Unsqueeze { axes: vec![0] },
        vec![d],
        vec![du],
    );
    push("concat", Op::Concat { axis: 0 }, vec![du, tail], vec![v]);
    push("add_const", Op::Add, vec![v, one], vec![w]);
    push("mul", Op::Mul, vec![x, w], vec![m]);
    push(
        "reshape",
        Op::Reshape { shape: vec![1, 60] },
        vec![m],
        vec![y],
    );
    g.outputs.push(y);
    g.validate().unwrap();
    infer_shapes(&mut g).unwrap();

    let xs = [random_input(&[1, 3, 4, 5], 2)];
    let before = run(&g, &xs);
    // Independent expectation: the multiplier along W is [5,1,2,3,4] + 0.5.
    let mul = [5.5f32, 1.5, 2.5, 3.5, 4.5];
    let want = ArrayD::from_shape_fn(IxDyn(&[1, 3, 4, 5]), |i| {
        xs[0][[i[0], i[1], i[2], i[3]]] * mul[i[3]]
    })
    .into_shape_with_order(IxDyn(&[1, 60]))
    .unwrap();
    assert_eq!(before[0], want);

    let g0 = g.clone();
    assert_eq!(fold_constants(&mut g).unwrap(), 5);
    g.validate().unwrap();
    assert_eq!(
        g.nodes.iter().map(|n| n.name.as_str()).collect::<Vec<_>>(),
        ["mul", "reshape"]
    );
    let w_now = g.nodes[0].inputs[1];
    assert_eq!(
        g.const_data(w_now)
            .unwrap()
            .iter()
            .copied()
            .collect::<Vec<_>>(),
        mul
    );
    assert_same_outputs(
        "fold_constants",
        &g0,
        &g,
        &before,
        &run(&g, &xs),
        f64::INFINITY,
    );
    // Pruning then drops the dead constants; nothing changes.
    g.prune();
    assert_same_outputs("prune", &g0, &g, &before, &run(&g, &xs), f64::INFINITY);
    assert_eq!(fold_constants(&mut g).unwrap(), 0);
}

/// A graph output computed only from shapes stays a node output (a graph output must be produced
/// by a node for the engine and for the reports), and its value is still right.
#[test]
fn fold_constants_keeps_graph_outputs_computed() {
    let mut g = Graph::new("shape_out");
    let x = g.add_value("x", vec![2, 3]);
    let dims = g.add_value("dims", vec![2]);
    let y = g.add_value("y", vec![2, 3]);
    g.inputs.push(x);
    g.nodes.push(Node {
        name: "shape".into(),
        op: Op::Shape,
        inputs: vec![x],
        outputs: vec![dims],
        origin: vec!["shape".into()],
    });
    g.nodes.push(Node {
        name: "relu".into(),
        op: Op::Relu,
        inputs: vec![x],
        outputs: vec![y],
        origin: vec!["relu".into()],
    });
    g.outputs = vec![dims, y];
    let xs = [random_input(&[2, 3], 6)];
    let before = run(&g, &xs);
    assert_eq!(before[0].iter().copied().collect::<Vec<_>>(), [2.0, 3.0]);
    let g0 = g.clone();
    assert_eq!(fold_constants(&mut g).unwrap(), 0);
    assert_eq!(g.nodes.len(), 2);
    assert!(!g.value(g.outputs[0]).is_const());
    optimize(&mut g).unwrap();
    assert_eq!(g.nodes.len(), 2);
    assert_same_outputs(
        "fold_constants",
        &g0,
        &g,
        &before,
        &run(&g, &xs),
        f64::INFINITY,
    );
}

#[test]
fn infer_shapes_recomputes_and_rejects() {
    let g0 = radix_onnx::import_path(&fixture("models/mtcnn_onet.onnx")).expect("import");
    let mut g = g0.clone();
    let inputs = g.inputs.clone();
    // Forget every computed shape; infer_shapes restores all of them.
    for (i, v) in g.values.iter_mut().enumerate() {
        if !v.is_const() && !inputs.iter().any(|id| id.0 == i) {
            v.shape = vec![7];
        }
    }
    infer_shapes(&mut g).unwrap();
    for (a, b) in g0.values.iter().zip(&g.values) {
        assert_eq!(a.shape, b.shape, "value `{}`", a.name);
    }

    // A conv weight that no longer matches its input: an error naming the node.
    let mut g = g0.clone();
    let conv = g
        .nodes
        .iter()
        .position(|n| matches!(n.op, Op::Conv(_)))
        .unwrap();
    let w = g.nodes[conv].inputs[1];
    let name = g.nodes[conv].name.clone();
    let mut data = (**g.values[w.0].data.as_ref().unwrap()).clone();
    data = data.slice_axis(Axis(1), (0..1).into()).to_owned();
    g.values[w.0].shape = data.shape().to_vec();
    g.values[w.0].data = Some(std::sync::Arc::new(data));
    let e = infer_shapes(&mut g).unwrap_err().to_string();
    assert!(e.contains(&name) && e.contains("Conv"), "{e}");
    assert!(!e.contains('\n'), "{e}");
}
