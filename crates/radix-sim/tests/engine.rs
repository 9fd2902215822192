//! Engine behaviour: input checks, batching, observers, outputs, errors.

mod common;

use common::{Rng, one_node, run_with_threads};
use ndarray::{ArrayD, Axis, IxDyn};
use radix_ir::{Activation, ConvAttrs, Graph, Node, Op, PoolAttrs, ValueId, shape};
use radix_sim::{FloatEngine, InputError, SimError};

fn push(g: &mut Graph, name: &str, op: Op, inputs: Vec<ValueId>) -> ValueId {
    let shapes: Vec<&[usize]> = inputs.iter().map(|&v| g.shape(v)).collect();
    let out = shape::infer(&op, &shapes).unwrap().remove(0);
    let y = g.add_value(format!("{name}_out"), out);
    g.nodes.push(Node {
        name: name.into(),
        op,
        inputs,
        outputs: vec![y],
        origin: vec![name.into()],
    });
    y
}

/// x[1,3,12,12] -> conv3x3 s2 (+relu) -> depthwise -> add(const) -> maxpool -> gap -> flatten -> gemm
/// with a second output (the conv) that is also read later.
fn small_net(rng: &mut Rng) -> Graph {
    let mut g = Graph::new("small");
    let x = g.add_value("x", vec![1, 3, 12, 12]);
    let conv = |k: usize, s: usize, p: usize, group: usize, act| ConvAttrs {
        kernel: [k, k],
        strides: [s, s],
        pads: [p; 4],
        dilations: [1, 1],
        group,
        output_padding: [0, 0],
        activation: act,
    };
    let w1 = g.add_const("w1", rng.array(&[8, 3, 3, 3]));
    let b1 = g.add_const("b1", rng.array(&[8]));
    let c1 = push(
        &mut g,
        "conv1",
        Op::Conv(conv(3, 2, 1, 1, Activation::Relu)),
        vec![x, w1, b1],
    );
    let w2 = g.add_const("w2", rng.array(&[8, 1, 3, 3]));
    let c2 = push(
        &mut g,
        "dw",
        Op::Conv(conv(3, 1, 1, 8, Activation::None)),
        vec![c1, w2],
    );
    let k = g.add_const("k", rng.array(&[1, 8, 1, 1]));
    let a = push(&mut g, "add", Op::Add, vec![c2, k]);
    let a2 = push(&mut g, "add_skip", Op::Add, vec![a, c1]);
    let pool = PoolAttrs {
        kernel: [2, 2],
        strides: [2, 2],
        pads: [0; 4],
        dilations: [1, 1],
        ceil_mode: true,
        count_include_pad: false,
    };
    let m = push(&mut g, "pool", Op::MaxPool(pool), vec![a2]);
    let gap = push(&mut g, "gap", Op::GlobalAveragePool, vec![m]);
    let f = push(&mut g, "flatten", Op::Flatten { axis: 1 }, vec![gap]);
    let wf = g.add_const("wf", rng.array(&[5, 8]));
    let bf = g.add_const("bf", rng.array(&[5]));
    let y = push(
        &mut g,
        "fc",
        Op::Gemm {
            activation: Activation::None,
        },
        vec![f, wf, bf],
    );
    g.inputs = vec![x];
    g.outputs = vec![y, c1];
    g.validate().unwrap();
    g
}

#[test]
fn batch_equals_per_item_runs_and_observer_sees_every_node() {
    let mut rng = Rng::new(21);
    let g = small_net(&mut rng);
    let engine = FloatEngine::new(&g).unwrap();
    let batch = rng.array(&[3, 3, 12, 12]);
    let mut seen: Vec<(ValueId, Vec<usize>)> = Vec::new();
    let outs = engine
        .run_observed(std::slice::from_ref(&batch), &mut |v, t| {
            seen.push((v, t.shape().to_vec()))
        })
        .unwrap();
    assert_eq!(outs[0].shape(), &[3, 5]);
    assert_eq!(outs[1].shape(), &[3, 8, 6, 6]);
    // Every node output, once per item, with its static shape, in node order.
    let per_item: Vec<(ValueId, Vec<usize>)> = g
        .nodes
        .iter()
        .map(|n| (n.outputs[0], g.shape(n.outputs[0]).to_vec()))
        .collect();
    assert_eq!(seen.len(), 3 * g.nodes.len());
    for item in seen.chunks(g.nodes.len()) {
        assert_eq!(item, per_item.as_slice());
    }
    for i in 0..3 {
        let xi = batch.slice_axis(Axis(0), (i..i + 1).into()).to_owned();
        let single = engine.run(&[xi]).unwrap();
        for (o, s) in outs.iter().zip(&single) {
            let part = o.slice_axis(Axis(0), (i..i + 1).into()).to_owned();
            assert_eq!(&part, s, "item {i} differs from its own run");
        }
    }
    // Bit-identical results with 1, 2 and 3 threads.
    let one = run_with_threads(&g, std::slice::from_ref(&batch), 1);
    for threads in [2, 3] {
        assert_eq!(
            one,
            run_with_threads(&g, std::slice::from_ref(&batch), threads),
            "{threads} threads"
        );
    }
}

#[test]
fn observer_values_match_outputs() {
    let mut rng = Rng::new(2);
    let g = small_net(&mut rng);
    let engine = FloatEngine::new(&g).unwrap();
    let x = rng.array(&[1, 3, 12, 12]);
    let mut fc = None;
    let mut conv = None;
    let outs = engine
        .run_observed(std::slice::from_ref(&x), &mut |v, t| {
            if v == g.outputs[0] {
                fc = Some(t.clone());
            }
            if v == g.outputs[1] {
                conv = Some(t.clone());
            }
        })
        .unwrap();
    assert_eq!(fc.as_ref(), Some(&outs[0]));
    assert_eq!(conv.as_ref(), Some(&outs[1]));
}

#[test]
fn input_errors_name_the_input() {
    let mut rng = Rng::new(4);
    let g = small_net(&mut rng);
    let engine = FloatEngine::new(&g).unwrap();
    match engine.run(&[]) {
        Err(SimError::Input(InputError::Count {
            expected: 1,
            got: 0,
        })) => {}
        other => panic!("expected InputCount, got {other:?}"),
    }
    for bad in [
        vec![1, 3, 12, 13],
        vec![1, 3, 12],
        vec![0, 3, 12, 12],
        vec![2, 4, 12, 12],
    ] {
        let err = engine.run(&[ArrayD::zeros(IxDyn(&bad))]).unwrap_err();
        match &err {
            SimError::Input(InputError::Shape {
                input,
                expected,
                got,
            }) => {
                assert_eq!(input, "x");
                assert_eq!(expected, &vec![1, 3, 12, 12]);
                assert_eq!(got, &bad);
            }
            other => panic!("expected InputShape, got {other:?}"),
        }
        assert!(err.to_string().contains("`x`"), "{err}");
    }
}

#[test]
fn batch_mismatch_between_inputs() {
    let g = common::one_node_dynamic(Op::Add, &[&[1, 4], &[1, 4]]);
    let engine = FloatEngine::new(&g).unwrap();
    let out = engine
        .run(&[ArrayD::ones(IxDyn(&[2, 4])), ArrayD::ones(IxDyn(&[2, 4]))])
        .unwrap();
    assert_eq!(out[0], ArrayD::from_elem(IxDyn(&[2, 4]), 2.0));
    match engine.run(&[ArrayD::ones(IxDyn(&[2, 4])), ArrayD::ones(IxDyn(&[3, 4]))]) {
        Err(SimError::Input(InputError::Batch {
            input,
            expected: 2,
            got: 3,
        })) => assert_eq!(input, "in1"),
        other => panic!("expected BatchMismatch, got {other:?}"),
    }
}

#[test]
fn bad_parameters_are_node_errors() {
    let a = ConvAttrs {
        kernel: [3, 3],
        strides: [1, 1],
        pads: [1; 4],
        dilations: [1, 1],
        group: 1,
        output_padding: [0, 0],
        activation: Activation::None,
    };
    // Bias of the wrong length.
    let g = one_node(
        Op::Conv(a.clone()),
        &[1, 2, 5, 5],
        vec![
            ArrayD::zeros(IxDyn(&[4, 2, 3, 3])),
            ArrayD::zeros(IxDyn(&[3])),
        ],
    );
    let err = FloatEngine::new(&g).unwrap_err();
    assert!(
        matches!(&err, SimError::Node { node, op, .. } if node == "n0" && op == "Conv"),
        "{err:?}"
    );
    assert!(err.to_string().contains("bias"), "{err}");
    // Weight whose spatial size disagrees with the kernel attribute.
    let g = one_node(
        Op::Conv(a),
        &[1, 2, 5, 5],
        vec![ArrayD::zeros(IxDyn(&[4, 2, 1, 1]))],
    );
    let err = FloatEngine::new(&g).unwrap_err();
    assert!(
        err.to_string().contains("n0") && err.to_string().contains("kernel"),
        "{err}"
    );
}

#[test]
fn dynamic_conv_weights() {
    let mut rng = Rng::new(8);
    let a = ConvAttrs {
        kernel: [3, 3],
        strides: [1, 1],
        pads: [1; 4],
        dilations: [1, 1],
        group: 1,
        output_padding: [0, 0],
        activation: Activation::None,
    };
    let (x, w) = (rng.array(&[1, 3, 6, 6]), rng.array(&[4, 3, 3, 3]));
    let dynamic = common::one_node_dynamic(Op::Conv(a.clone()), &[&[1, 3, 6, 6], &[4, 3, 3, 3]]);
    let constant = one_node(Op::Conv(a), &[1, 3, 6, 6], vec![w.clone()]);
    let got = FloatEngine::new(&dynamic)
        .unwrap()
        .run(&[x.clone(), w])
        .unwrap();
    let want = FloatEngine::new(&constant).unwrap().run(&[x]).unwrap();
    assert_eq!(got, want);
}

#[test]
fn light_ops_go_through_eval_light() {
    let mut rng = Rng::new(12);
    let g = one_node(
        Op::Softmax {
            axis: 1,
            legacy: false,
        },
        &[2, 7],
        vec![],
    );
    let x = rng.array(&[2, 7]);
    let got = FloatEngine::new(&g)
        .unwrap()
        .run(std::slice::from_ref(&x))
        .unwrap();
    let want = radix_ir::eval::eval_light(
        &Op::Softmax {
            axis: 1,
            legacy: false,
        },
        &[&x],
        &[vec![2, 7]],
    )
    .unwrap()
    .unwrap();
    assert_eq!(got[0], want[0]);
}

/// A chain of heavy ops whose tensors change size up and down, so later nodes get recycled
/// (stale) buffers: every node output must still equal that node run alone on its inputs, on
/// the first run and on the next ones (buffers kept between runs).
#[test]
fn recycled_buffers_do_not_leak_stale_values() {
    use radix_ir::{ResizeAttrs, ResizeCoord, ResizeMode, ResizeNearest};
    let mut rng = Rng::new(31);
    let mut g = Graph::new("chain");
    let x = g.add_value("x", vec![1, 4, 20, 20]);
    let conv = |k: usize, s: usize, p: usize, group: usize| ConvAttrs {
        kernel: [k, k],
        strides: [s, s],
        pads: [p; 4],
        dilations: [1, 1],
        group,
        output_padding: [0, 0],
        activation: Activation::Relu,
    };
    let w1 = g.add_const("w1", rng.array(&[24, 4, 1, 1]));
    let a = push(&mut g, "pw_up", Op::Conv(conv(1, 1, 0, 1)), vec![x, w1]);
    let w2 = g.add_const("w2", rng.array(&[24, 1, 3, 3]));
    let b = push(&mut g, "dw_s2", Op::Conv(conv(3, 2, 1, 24)), vec![a, w2]);
    let w3 = g.add_const("w3", rng.array(&[6, 24, 1, 1]));
    let c = push(&mut g, "pw_down", Op::Conv(conv(1, 1, 0, 1)), vec![b, w3]);
    let rs = ResizeAttrs {
        mode: ResizeMode::Linear,
        coord: ResizeCoord::HalfPixel,
        nearest: ResizeNearest::RoundPreferFloor,
        scales: [2.0, 2.0],
        out_hw: [20, 20],
    };
    let d = push(&mut g, "resize", Op::Resize(rs), vec![c]);
    let w4 = g.add_const("w4", rng.array(&[10, 6, 3, 3]));
    let e = push(&mut g, "conv3", Op::Conv(conv(3, 1, 1, 1)), vec![d, w4]);
    let pool = PoolAttrs {
        kernel: [3, 3],
        strides: [2, 2],
        pads: [1; 4],
        dilations: [1, 1],
        ceil_mode: false,
        count_include_pad: true,
    };
    let f = push(&mut g, "avgpool", Op::AveragePool(pool), vec![e]);
    let w5 = g.add_const("w5", rng.array(&[10, 3, 2, 2]));
    let ct = ConvAttrs {
        kernel: [2, 2],
        strides: [2, 2],
        pads: [0; 4],
        dilations: [1, 1],
        group: 1,
        output_padding: [0, 0],
        activation: Activation::None,
    };
    let h = push(&mut g, "deconv", Op::ConvTranspose(ct), vec![f, w5]);
    let w6 = g.add_const("w6", rng.array(&[40, 3, 1, 1]));
    let i = push(&mut g, "pw_big", Op::Conv(conv(1, 1, 0, 1)), vec![h, w6]);
    g.inputs = vec![x];
    g.outputs = vec![i, c];
    g.validate().unwrap();

    let engine = FloatEngine::new(&g).unwrap();
    let mut first: Option<Vec<ArrayD<f32>>> = None;
    for run in 0..3 {
        let x = rng.array(&[1, 4, 20, 20]);
        let mut seen = std::collections::HashMap::new();
        let outs = engine
            .run_observed(std::slice::from_ref(&x), &mut |v, t| {
                seen.insert(v, t.clone());
            })
            .unwrap();
        seen.insert(g.inputs[0], x.clone());
        for node in &g.nodes {
            // The node alone, on the inputs the chain gave it.
            let mut sub = Graph::new("one");
            let mut ins = Vec::new();
            let mut feeds = Vec::new();
            for &v in &node.inputs {
                match g.const_data(v) {
                    Some(d) => ins.push(sub.add_const(g.value(v).name.clone(), d.clone())),
                    None => {
                        let id = sub.add_value(g.value(v).name.clone(), g.shape(v).to_vec());
                        sub.inputs.push(id);
                        ins.push(id);
                        feeds.push(seen[&v].clone());
                    }
                }
            }
            let y = sub.add_value("y", g.shape(node.outputs[0]).to_vec());
            sub.nodes.push(Node {
                name: node.name.clone(),
                op: node.op.clone(),
                inputs: ins,
                outputs: vec![y],
                origin: vec![],
            });
            sub.outputs = vec![y];
            let alone = FloatEngine::new(&sub)
                .unwrap()
                .run(&feeds)
                .unwrap()
                .remove(0);
            assert_eq!(
                alone, seen[&node.outputs[0]],
                "run {run}: node {} differs from its solo run",
                node.name
            );
        }
        assert_eq!(&outs[0], &seen[&i]);
        if run == 0 {
            first = Some(outs);
        }
    }
    assert!(first.is_some());
}
