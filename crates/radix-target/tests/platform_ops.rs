//! Platforms, capabilities, bitwidth validation and operator tables.

use ndarray::{ArrayD, IxDyn};
use radix_ir::op::{PadMode, PoolAttrs};
use radix_ir::{
    Activation, ConvAttrs, Graph, Node, Op, ResizeAttrs, ResizeCoord, ResizeMode, ResizeNearest,
    ValueId,
};
use radix_target::ops::npu_check;
use radix_target::{
    BitwidthMode, CompilerTiling, Placement, Platform, PlatformProfile, Target, TargetError,
    check_graph, evaluate_uniform,
};

#[test]
fn platform_names_and_numbers() {
    for (p, n) in Platform::ALL.iter().zip([520, 530, 630, 720, 730]) {
        assert_eq!(p.number(), n);
        assert_eq!(Platform::from_number(n).unwrap(), *p);
        assert_eq!(p.to_string(), format!("KL{n}"));
        assert_eq!(n.to_string().parse::<Platform>().unwrap(), *p);
        assert_eq!(format!("kl{n}").parse::<Platform>().unwrap(), *p);
        assert_eq!(format!(" KL{n} ").parse::<Platform>().unwrap(), *p);
    }
    assert!(matches!(
        Platform::from_number(999),
        Err(TargetError::UnknownPlatform(_))
    ));
    let e = "kl999".parse::<Platform>().unwrap_err();
    assert!(e.to_string().contains("kl999"), "{e}");
    assert!("".parse::<Platform>().is_err());
    // serde round trip
    let j = serde_json::to_string(&Platform::Kl720).unwrap();
    assert_eq!(
        serde_json::from_str::<Platform>(&j).unwrap(),
        Platform::Kl720
    );
}

#[test]
fn capabilities_follow_spec_table() {
    let c = |p: Platform| p.capabilities().clone();
    let k520 = c(Platform::Kl520);
    assert!(!k520.int16 && k520.int4_weights && !k520.mix_modes && !k520.non_pow2_scale);
    let k720 = c(Platform::Kl720);
    assert!(k720.int16 && !k720.int4_weights && k720.mix_modes && k720.non_pow2_scale);
    for p in [Platform::Kl530, Platform::Kl630, Platform::Kl730] {
        let k = c(p);
        assert!(
            k.int16 && k.int4_weights && k.mix_modes && k.non_pow2_scale,
            "{p}"
        );
    }
    for p in Platform::ALL {
        assert!(c(p).per_channel_weights);
        assert_eq!(c(p).max_model_inputs, 5);
    }
}

#[test]
fn bitwidth_requests_fail_naming_platform_and_option() {
    let err =
        |p: Platform, o: &str, v: &str| p.check_bitwidth_request(o, v).unwrap_err().to_string();
    assert_eq!(
        err(Platform::Kl520, "datapath_bitwidth_mode", "int16"),
        "KL520 does not support int16 for datapath_bitwidth_mode"
    );
    assert_eq!(
        err(Platform::Kl520, "weight_bitwidth_mode", "int16"),
        "KL520 does not support int16 for weight_bitwidth_mode"
    );
    assert_eq!(
        err(Platform::Kl720, "weight_bitwidth_mode", "int4"),
        "KL720 does not support int4 for weight_bitwidth_mode"
    );
    assert_eq!(
        err(Platform::Kl520, "datapath_bitwidth_mode", "mix light"),
        "KL520 does not support mix light for datapath_bitwidth_mode"
    );
    assert_eq!(
        err(Platform::Kl520, "weight_bitwidth_mode", "mix_balance"),
        "KL520 does not support mix balance for weight_bitwidth_mode"
    );
    assert_eq!(
        err(Platform::Kl520, "datapath_bitwidth_mode", "mixbw"),
        "KL520 does not support mixbw for datapath_bitwidth_mode"
    );
    assert_eq!(
        err(Platform::Kl520, "model_in_bitwidth_mode", "int16"),
        "KL520 does not support int16 for model_in_bitwidth_mode"
    );
    assert_eq!(
        err(Platform::Kl520, "cpu_node_bitwidth_mode", "int16"),
        "KL520 does not support int16 for cpu_node_bitwidth_mode"
    );
    // Values an option never takes, whatever the platform.
    let e = err(Platform::Kl720, "datapath_bitwidth_mode", "int4");
    assert!(
        e.contains("not a valid value for datapath_bitwidth_mode"),
        "{e}"
    );
    let e = err(Platform::Kl720, "model_out_bitwidth_mode", "mixbw");
    assert!(e.contains("model_out_bitwidth_mode"), "{e}");
    let e = err(Platform::Kl720, "weight_bitwidth_mode", "int7");
    assert!(e.contains("int7"), "{e}");
    let e = err(Platform::Kl720, "bogus_mode", "int8");
    assert!(
        e.contains("bogus_mode") && e.contains("datapath_bitwidth_mode"),
        "{e}"
    );
    // What is allowed.
    for p in Platform::ALL {
        for o in radix_target::platform::BITWIDTH_OPTIONS {
            p.check_bitwidth_request(o, "int8").unwrap();
        }
    }
    Platform::Kl720
        .check_bitwidth_request("datapath_bitwidth_mode", "int16")
        .unwrap();
    Platform::Kl720
        .check_bitwidth_request("datapath_bitwidth_mode", "Mix Light")
        .unwrap();
    Platform::Kl530
        .check_bitwidth_request("weight_bitwidth_mode", "int4")
        .unwrap();
    Platform::Kl520
        .check_bitwidth_request("weight_bitwidth_mode", "int4")
        .unwrap();
    Platform::Kl730
        .check_bitwidth_request("weight_bitwidth_mode", "mixbw")
        .unwrap();
    assert_eq!(
        "mix_light".parse::<BitwidthMode>().unwrap(),
        BitwidthMode::MixLight
    );
    let caps = Platform::Kl520.capabilities();
    assert!(caps.check_model_inputs(Platform::Kl520, 5).is_ok());
    assert_eq!(
        caps.check_model_inputs(Platform::Kl520, 6)
            .unwrap_err()
            .to_string(),
        "KL520 accepts at most 5 model inputs; the model has 6"
    );
}

/// A one-node graph around `op` with dynamic input shapes `ins` and constant inputs `consts`.
fn one(op: Op, ins: &[&[usize]], consts: &[&[usize]]) -> Graph {
    let mut g = Graph::new("t");
    let mut inputs: Vec<ValueId> = Vec::new();
    for (k, s) in ins.iter().enumerate() {
        let v = g.add_value(format!("x{k}"), s.to_vec());
        g.inputs.push(v);
        inputs.push(v);
    }
    for (k, s) in consts.iter().enumerate() {
        inputs.push(g.add_const(format!("c{k}"), ArrayD::zeros(IxDyn(s))));
    }
    let shapes: Vec<&[usize]> = inputs.iter().map(|&v| g.shape(v)).collect();
    let outs = radix_ir::shape::infer(&op, &shapes).expect("shape");
    let outputs: Vec<ValueId> = outs
        .into_iter()
        .enumerate()
        .map(|(k, s)| g.add_value(format!("y{k}"), s))
        .collect();
    g.outputs = outputs.clone();
    g.nodes.push(Node {
        name: "n".into(),
        op,
        inputs,
        outputs,
        origin: vec!["n".into()],
    });
    g
}

fn place(p: Platform, g: &Graph) -> Placement {
    p.placement(g, &g.nodes[0]).expect("placed")
}

fn conv(k: usize, sh: usize, sw: usize) -> Op {
    Op::Conv(ConvAttrs {
        kernel: [k, k],
        strides: [sh, sw],
        pads: [0; 4],
        dilations: [1, 1],
        group: 1,
        output_padding: [0, 0],
        activation: Activation::None,
    })
}

#[test]
fn conv_limits_on_520() {
    let x: &[usize] = &[1, 4, 64, 64];
    let ok = one(conv(12, 4, 16), &[x], &[&[4, 4, 12, 12]]);
    assert_eq!(place(Platform::Kl520, &ok), Placement::Npu);
    for (k, sh, sw) in [(13, 1, 1), (3, 5, 1), (3, 1, 17)] {
        let g = one(conv(k, sh, sw), &[x], &[&[4, 4, k, k]]);
        assert_eq!(
            place(Platform::Kl520, &g),
            Placement::Cpu,
            "k{k} s{sh}x{sw}"
        );
        assert_eq!(
            place(Platform::Kl720, &g),
            Placement::Npu,
            "k{k} s{sh}x{sw}"
        );
        let why = Platform::Kl520
            .profile()
            .npu_reason(&g, &g.nodes[0])
            .unwrap();
        assert!(why.contains("exceeds"), "{why}");
    }
}

#[test]
fn global_average_pool_area_on_520() {
    let small = one(Op::GlobalAveragePool, &[&[1, 8, 16, 16]], &[]);
    let big = one(Op::GlobalAveragePool, &[&[1, 8, 16, 17]], &[]);
    assert_eq!(place(Platform::Kl520, &small), Placement::Npu);
    assert_eq!(place(Platform::Kl520, &big), Placement::Cpu);
    assert_eq!(place(Platform::Kl720, &big), Placement::Npu);
}

#[test]
fn resize_modes() {
    let r = |mode, nearest| {
        one(
            Op::Resize(ResizeAttrs {
                mode,
                coord: ResizeCoord::Asymmetric,
                nearest,
                scales: [2.0, 2.0],
                out_hw: [8, 8],
            }),
            &[&[1, 4, 4, 4]],
            &[],
        )
    };
    let nearest = r(ResizeMode::Nearest, ResizeNearest::Floor);
    let linear = r(ResizeMode::Linear, ResizeNearest::Floor);
    let round = r(ResizeMode::Nearest, ResizeNearest::RoundPreferFloor);
    assert_eq!(place(Platform::Kl520, &nearest), Placement::Npu);
    assert_eq!(place(Platform::Kl520, &linear), Placement::Cpu);
    assert_eq!(place(Platform::Kl520, &round), Placement::Cpu);
    for p in [
        Platform::Kl530,
        Platform::Kl630,
        Platform::Kl720,
        Platform::Kl730,
    ] {
        assert_eq!(place(p, &linear), Placement::Npu, "{p}");
    }
}

#[test]
fn op_sets_per_platform() {
    use Placement::{Cpu, Npu};
    let x: &[usize] = &[1, 8, 4, 4];
    // (op, consts, [520, 530, 630, 720, 730])
    type Case<'a> = (Op, Vec<&'a [usize]>, [Placement; 5]);
    let cases: Vec<Case> = vec![
        (Op::Sigmoid, vec![], [Cpu, Npu, Npu, Npu, Npu]),
        (Op::Tanh, vec![], [Cpu, Npu, Npu, Npu, Npu]),
        (Op::Exp, vec![], [Cpu, Npu, Npu, Npu, Npu]),
        (
            Op::Softmax {
                axis: 1,
                legacy: false,
            },
            vec![],
            [Cpu, Npu, Npu, Npu, Npu],
        ),
        (
            Op::Transpose {
                perm: vec![0, 2, 3, 1],
            },
            vec![],
            [Cpu, Npu, Npu, Npu, Npu],
        ),
        (
            Op::Reshape {
                shape: vec![1, 8, 16],
            },
            vec![],
            [Cpu, Npu, Npu, Npu, Npu],
        ),
        (Op::Flatten { axis: 1 }, vec![], [Cpu, Npu, Npu, Npu, Npu]),
        (
            Op::ReduceMean {
                axes: vec![2, 3],
                keepdims: true,
            },
            vec![],
            [Cpu, Npu, Npu, Npu, Npu],
        ),
        (
            Op::ReduceMean {
                axes: vec![2, 3],
                keepdims: false,
            },
            vec![],
            [Cpu, Cpu, Cpu, Cpu, Cpu],
        ),
        (
            Op::HardSigmoid {
                alpha: 0.2,
                beta: 0.5,
            },
            vec![],
            [Cpu, Npu, Npu, Cpu, Npu],
        ),
        (Op::HardSwish, vec![], [Cpu, Npu, Npu, Cpu, Npu]),
        (
            Op::Split {
                axis: 1,
                splits: vec![4, 4],
            },
            vec![],
            [Cpu, Cpu, Cpu, Cpu, Npu],
        ),
        (Op::Relu, vec![], [Npu; 5]),
        (Op::LeakyRelu { alpha: 0.1 }, vec![], [Npu; 5]),
        (Op::Clip { min: 0.0, max: 6.0 }, vec![], [Npu; 5]),
        (
            Op::Clip {
                min: -1.0,
                max: 1.0,
            },
            vec![],
            [Cpu; 5],
        ),
        (Op::Add, vec![&[1, 8, 1, 1]], [Npu; 5]),
        // Division by a constant is a Mul by its reciprocal: NPU everywhere.
        (Op::Div, vec![&[1, 8, 1, 1]], [Npu; 5]),
        (Op::PRelu, vec![&[8, 1, 1]], [Npu; 5]),
        (Op::Gather { axis: 1 }, vec![&[1]], [Npu; 5]),
        (Op::Gather { axis: 1 }, vec![&[2]], [Cpu; 5]),
        (
            Op::Slice {
                starts: vec![0, 0, 0, 0],
                ends: vec![1, 8, 4, 4],
                steps: vec![1, 1, 1, 1],
            },
            vec![],
            [Cpu, Npu, Npu, Npu, Npu],
        ),
        (
            Op::Slice {
                starts: vec![0, 0, 0, 0],
                ends: vec![1, 8, 4, 4],
                steps: vec![1, 2, 1, 1],
            },
            vec![],
            [Cpu; 5],
        ),
        (
            Op::Pad {
                pads: vec![(0, 0), (0, 0), (1, 1), (1, 1)],
                mode: PadMode::Constant,
                value: 0.0,
            },
            vec![],
            [Npu; 5],
        ),
        (
            Op::Pad {
                pads: vec![(0, 0), (0, 0), (32, 0), (0, 0)],
                mode: PadMode::Constant,
                value: 0.0,
            },
            vec![],
            [Cpu; 5],
        ),
        (
            Op::Pad {
                pads: vec![(0, 0), (0, 0), (1, 1), (1, 1)],
                mode: PadMode::Reflect,
                value: 0.0,
            },
            vec![],
            [Cpu; 5],
        ),
        (
            Op::MaxPool(PoolAttrs {
                kernel: [2, 2],
                strides: [2, 2],
                pads: [0; 4],
                dilations: [1, 1],
                ceil_mode: true,
                count_include_pad: false,
            }),
            vec![],
            [Npu; 5],
        ),
    ];
    for (op, consts, want) in cases {
        let name = format!("{op:?}");
        let g = one(op, &[x], &consts);
        for (p, w) in Platform::ALL.iter().zip(want) {
            assert_eq!(place(*p, &g), w, "{name} on {p}");
        }
    }
    // A true division (dynamic divisor) needs the 530 / 630 / 730 NPU.
    let div = one(Op::Div, &[x, x], &[]);
    for (p, w) in Platform::ALL.iter().zip([Cpu, Npu, Npu, Cpu, Npu]) {
        assert_eq!(place(*p, &div), w, "Div on {p}");
    }
    // MatMul needs a constant B on the NPU; a dynamic B falls back to the CPU.
    let mm_const = one(Op::MatMul, &[&[1, 4, 8]], &[&[8, 3]]);
    let mm_dyn = one(Op::MatMul, &[&[1, 4, 8], &[1, 8, 3]], &[]);
    assert_eq!(place(Platform::Kl720, &mm_const), Placement::Npu);
    assert_eq!(place(Platform::Kl720, &mm_dyn), Placement::Cpu);
    assert_eq!(place(Platform::Kl520, &mm_const), Placement::Cpu);
    // ConvTranspose: stride 2 on 720 and later, CPU on 520.
    let ct = |s: usize| {
        one(
            Op::ConvTranspose(ConvAttrs {
                kernel: [2, 2],
                strides: [s, s],
                pads: [0; 4],
                dilations: [1, 1],
                group: 1,
                output_padding: [0, 0],
                activation: Activation::None,
            }),
            &[&[1, 4, 4, 4]],
            &[&[4, 4, 2, 2]],
        )
    };
    assert_eq!(place(Platform::Kl520, &ct(2)), Placement::Cpu);
    assert_eq!(place(Platform::Kl720, &ct(2)), Placement::Npu);
    assert_eq!(place(Platform::Kl730, &ct(3)), Placement::Cpu);
    // A flatten of [1, C, 1, 1] moves no byte: NPU everywhere.
    let view = one(Op::Flatten { axis: 1 }, &[&[1, 8, 1, 1]], &[]);
    assert_eq!(place(Platform::Kl520, &view), Placement::Npu);
    // Rank > 4 is not for the NPU.
    let r5 = one(Op::Relu, &[&[1, 2, 3, 4, 5]], &[]);
    assert_eq!(place(Platform::Kl720, &r5), Placement::Cpu);
}

#[test]
fn undefined_cpu_op_error_reads_exactly() {
    let g = one(Op::Shape, &[&[1, 8, 4, 4]], &[]);
    for p in Platform::ALL {
        assert_eq!(p.placement(&g, &g.nodes[0]), None);
        let e = check_graph(&p.profile().ops, &g).unwrap_err();
        assert_eq!(
            e.to_string(),
            "Invalid program input: undefined CPU op [Shape] of node [n]"
        );
        assert_eq!(
            e,
            TargetError::UndefinedCpuOp {
                op: "Shape".into(),
                node: "n".into()
            }
        );
        let e = evaluate_uniform(&g, p, CompilerTiling::Default).unwrap_err();
        assert_eq!(
            e.to_string(),
            "Invalid program input: undefined CPU op [Shape] of node [n]"
        );
    }
    // A platform without a CPU fallback turns a CPU node into the same error.
    let mut custom: PlatformProfile = Platform::Kl520.profile().clone();
    custom.ops.cpu_fallback = false;
    let g = one(Op::Sigmoid, &[&[1, 8, 4, 4]], &[]);
    assert_eq!(custom.placement(&g, &g.nodes[0]), None);
    let e = custom.check_graph(&g).unwrap_err();
    assert_eq!(
        e.to_string(),
        "Invalid program input: undefined CPU op [Sigmoid] of node [n]"
    );
    assert!(npu_check(&custom.ops, &g, &g.nodes[0]).is_err());
}

#[test]
fn too_many_inputs() {
    let mut g = Graph::new("t");
    let mut xs = Vec::new();
    for k in 0..6 {
        let v = g.add_value(format!("x{k}"), vec![1, 4, 2, 2]);
        g.inputs.push(v);
        xs.push(v);
    }
    let mut acc = xs[0];
    for (k, &x) in xs.iter().enumerate().skip(1) {
        let y = g.add_value(format!("s{k}"), vec![1, 4, 2, 2]);
        g.nodes.push(Node {
            name: format!("add{k}"),
            op: Op::Add,
            inputs: vec![acc, x],
            outputs: vec![y],
            origin: vec![format!("add{k}")],
        });
        acc = y;
    }
    g.outputs = vec![acc];
    let e = evaluate_uniform(&g, Platform::Kl720, CompilerTiling::Default).unwrap_err();
    assert_eq!(
        e.to_string(),
        "KL720 accepts at most 5 model inputs; the model has 6"
    );
}

#[test]
fn profiles_serialize_and_quote_their_peaks() {
    for p in Platform::ALL {
        let prof = p.profile();
        let j = serde_json::to_value(prof).unwrap();
        assert!(j["hw"]["clock_mhz"].as_f64().unwrap() > 0.0);
        assert_eq!(prof.name(), p.to_string());
    }
    let tops = |p: Platform| p.profile().hw.peak_tops();
    // Datasheet figures the profiles are derived from.
    assert!((tops(Platform::Kl520) - 0.3456).abs() < 1e-3);
    assert!((tops(Platform::Kl720) - 1.4336).abs() < 1e-3);
    assert!((tops(Platform::Kl530) - 0.512).abs() < 1e-3);
    assert!(
        (tops(Platform::Kl730) - 3.6).abs() < 0.01,
        "{}",
        tops(Platform::Kl730)
    );
}

#[test]
fn unknown_option_values_name_the_option_and_the_spellings() {
    let e = "int7".parse::<radix_target::BitwidthMode>().unwrap_err();
    assert_eq!(
        e.to_string(),
        "`int7` is not a valid value for a bitwidth mode; expected one of \"int4\", \"int8\", \"int16\", \"mix light\", \"mix balance\", \"mixbw\""
    );
    let e = "deep".parse::<CompilerTiling>().unwrap_err();
    assert!(e.to_string().contains("compiler_tiling"), "{e}");
    assert!(e.to_string().contains("\"deep_search\""), "{e}");
}
