//! The reference engine on tiny hand-built quantized models, against integers computed by hand
//! (docs/FIXED_POINT.md). Inputs use `radix 0, scale 1` so a float input `v` is the code `v`.

use std::collections::HashMap;

use ndarray::{ArrayD, IxDyn};
use radix_ir::op::PadMode;
use radix_ir::qmodel::{
    AddRequant, AxisPlan, Placement, QConst, QKernel, QNode, QParams, QTensor, QuantModel, Requant,
};
use radix_ir::{
    Activation, ConvAttrs, Graph, Node, Op, PoolAttrs, ResizeAttrs, ResizeCoord, ResizeMode,
    ResizeNearest, ValueId,
};
use radix_sim::{InputError, ReferenceError, run_reference};

/// int8, `real = q`.
const P8: QParams = QParams {
    bits: 8,
    radix: 0,
    scale: 1.0,
};
/// `real = q / (1 * 2^r)`.
fn p8(radix: i32) -> QParams {
    QParams {
        bits: 8,
        radix,
        scale: 1.0,
    }
}
/// `mult / 2^shift`.
fn rq(mult: i32, shift: i32) -> Requant {
    Requant { mult, shift }
}
/// Factor 1.
const ONE: Requant = Requant {
    mult: 1 << 14,
    shift: 14,
};
/// Factor 0.5.
const HALF: Requant = Requant {
    mult: 1 << 14,
    shift: 15,
};

fn arr(shape: &[usize], v: &[f32]) -> ArrayD<f32> {
    ArrayD::from_shape_vec(IxDyn(shape), v.to_vec()).unwrap_or_else(|e| panic!("{e}"))
}
fn seq(n: i32) -> Vec<f32> {
    (1..=n).map(|v| v as f32).collect()
}

/// Builds a QuantModel node by node.
struct M {
    g: Graph,
    tensors: HashMap<usize, QParams>,
    consts: HashMap<usize, QConst>,
    nodes: Vec<QNode>,
}

impl M {
    fn new() -> M {
        M {
            g: Graph::new("t"),
            tensors: HashMap::new(),
            consts: HashMap::new(),
            nodes: Vec::new(),
        }
    }
    fn input(&mut self, name: &str, shape: &[usize], p: QParams) -> ValueId {
        let v = self.g.add_value(name, shape.to_vec());
        self.g.inputs.push(v);
        self.tensors.insert(v.0, p);
        v
    }
    /// A float constant, with optional quantized data (codes, params).
    fn constant(
        &mut self,
        name: &str,
        data: ArrayD<f32>,
        q: Option<(Vec<i32>, QParams)>,
    ) -> ValueId {
        let v = self.g.add_const(name, data);
        if let Some((data, params)) = q {
            self.consts.insert(v.0, QConst { params, data });
        }
        v
    }
    fn node_n(
        &mut self,
        name: &str,
        op: Op,
        inputs: &[ValueId],
        outs: &[(&[usize], QParams)],
        placement: Placement,
        kernel: QKernel,
    ) -> Vec<ValueId> {
        let outputs: Vec<ValueId> = outs
            .iter()
            .enumerate()
            .map(|(k, (s, p))| {
                let v = self.g.add_value(format!("{name}_out{k}"), s.to_vec());
                self.tensors.insert(v.0, *p);
                v
            })
            .collect();
        self.g.nodes.push(Node {
            name: name.into(),
            op,
            inputs: inputs.to_vec(),
            outputs: outputs.clone(),
            origin: vec![name.into()],
        });
        self.nodes.push(QNode { placement, kernel });
        outputs
    }
    fn node(
        &mut self,
        name: &str,
        op: Op,
        inputs: &[ValueId],
        out: &[usize],
        p: QParams,
        kernel: QKernel,
    ) -> ValueId {
        self.node_n(name, op, inputs, &[(out, p)], Placement::Npu, kernel)[0]
    }
    fn output(&mut self, v: ValueId) {
        self.g.outputs.push(v);
    }
    fn build(self) -> QuantModel {
        let n = self.g.values.len();
        QuantModel {
            platform: 720,
            tensors: (0..n).map(|i| self.tensors.get(&i).copied()).collect(),
            consts: (0..n).map(|i| self.consts.get(&i).cloned()).collect(),
            nodes: self.nodes,
            graph: self.g,
        }
    }
}

/// Runs and returns the outputs and every observed tensor (per value, one per batch item).
fn run(
    m: &QuantModel,
    inputs: &[ArrayD<f32>],
) -> (Vec<ArrayD<f32>>, HashMap<ValueId, Vec<QTensor>>) {
    let mut seen: HashMap<ValueId, Vec<QTensor>> = HashMap::new();
    let outs = run_reference(m, inputs, &mut |v, t| {
        seen.entry(v).or_default().push(t.clone())
    })
    .unwrap_or_else(|e| panic!("{e}"));
    (outs, seen)
}

/// The codes of value `v` (single item).
fn codes(seen: &HashMap<ValueId, Vec<QTensor>>, v: ValueId) -> Vec<i32> {
    let ts = seen
        .get(&v)
        .unwrap_or_else(|| panic!("value {v:?} never observed"));
    assert_eq!(ts.len(), 1);
    ts[0].data.clone()
}

fn conv_attrs(kernel: [usize; 2], stride: usize, pad: usize, group: usize) -> ConvAttrs {
    ConvAttrs {
        kernel,
        strides: [stride; 2],
        pads: [pad; 4],
        dilations: [1, 1],
        group,
        output_padding: [0, 0],
        activation: Activation::None,
    }
}

fn mac(weights: Vec<i32>, bias: Vec<i64>, requant: Vec<Requant>) -> QKernel {
    let n = bias.len();
    QKernel::Mac {
        weights,
        weight_params: vec![P8; n],
        bias,
        requant,
        requant_neg: None,
        act_min: -127,
        act_max: 127,
    }
}

fn expect_node_error(r: Result<Vec<ArrayD<f32>>, ReferenceError>, name: &str, needle: &str) {
    match r {
        Err(ReferenceError::Node { node, msg, .. }) => {
            assert_eq!(node, name);
            assert!(msg.contains(needle), "message `{msg}` lacks `{needle}`");
        }
        other => panic!("expected an error on node {name}, got {other:?}"),
    }
}

/// Conv 3x3, pad 1, two output channels, factor 0.5: exercises zero padding and rounding half
/// away from zero on both signs.
#[test]
fn conv3x3_pad1_two_channels_rounds_half_away() {
    let mut m = M::new();
    let x = m.input("x", &[1, 1, 3, 3], P8);
    let w = m.constant("w", ArrayD::zeros(IxDyn(&[2, 1, 3, 3])), None);
    // ch0: all ones; ch1: centre 2.
    let mut wq = vec![1; 9];
    wq.extend([0, 0, 0, 0, 2, 0, 0, 0, 0]);
    let y = m.node(
        "conv",
        Op::Conv(conv_attrs([3, 3], 1, 1, 1)),
        &[x, w],
        &[1, 2, 3, 3],
        P8,
        mac(wq, vec![0, -9], vec![HALF, HALF]),
    );
    m.output(y);
    let m = m.build();
    // x = 1..9 row-major.
    let (outs, seen) = run(&m, &[arr(&[1, 1, 3, 3], &seq(9))]);
    // ch0 = neighbourhood sums / 2: (0,0) 1+2+4+5 = 12 -> 6; (0,1) 21 -> 10.5 -> 11;
    // (1,1) 45 -> 22.5 -> 23; (2,1) 39 -> 19.5 -> 20.
    // ch1 = (2x - 9) / 2 = x - 4.5: x=1 -> -3.5 -> -4, x=4 -> -0.5 -> -1, x=5 -> 0.5 -> 1.
    let want = vec![
        6, 11, 8, 14, 23, 17, 12, 20, 14, -4, -3, -2, -1, 1, 2, 3, 4, 5,
    ];
    assert_eq!(codes(&seen, y), want);
    let f: Vec<f32> = want.iter().map(|&q| q as f32).collect();
    assert_eq!(outs[0], arr(&[1, 2, 3, 3], &f));
}

/// LeakyRelu through `requant_neg`, Relu/Clip through the activation range, saturation at ±127.
#[test]
fn mac_negative_requant_activation_clamp_and_saturation() {
    let mut m = M::new();
    let x = m.input("x", &[1, 1, 1, 4], P8);
    let w = m.constant("w", ArrayD::zeros(IxDyn(&[1, 1, 1, 1])), None);
    let leaky = QKernel::Mac {
        weights: vec![2],
        weight_params: vec![P8],
        bias: vec![0],
        requant: vec![ONE],
        // 0.1 ≈ 26214 / 2^18
        requant_neg: Some(vec![rq(26214, 18)]),
        act_min: -127,
        act_max: 127,
    };
    let a = m.node(
        "leaky",
        Op::Conv(conv_attrs([1, 1], 1, 0, 1)),
        &[x, w],
        &[1, 1, 1, 4],
        P8,
        leaky,
    );
    let clip = QKernel::Mac {
        weights: vec![2],
        weight_params: vec![P8],
        bias: vec![0],
        requant: vec![ONE],
        requant_neg: None,
        act_min: 0,
        act_max: 50,
    };
    let b = m.node(
        "clip",
        Op::Conv(conv_attrs([1, 1], 1, 0, 1)),
        &[x, w],
        &[1, 1, 1, 4],
        P8,
        clip,
    );
    m.output(a);
    m.output(b);
    let m = m.build();
    let (_, seen) = run(&m, &[arr(&[1, 1, 1, 4], &[100.0, -100.0, 3.0, -3.0])]);
    // acc = 200, -200, 6, -6. Leaky: 200 -> 127 (saturated); -200 * 26214 / 2^18 = -19.9997 -> -20;
    // 6; -6 * 26214 / 2^18 = -0.59999 -> -1.
    assert_eq!(codes(&seen, a), vec![127, -20, 6, -1]);
    // Clip [0, 50]: 127 -> 50, -127 -> 0, 6, -6 -> 0.
    assert_eq!(codes(&seen, b), vec![50, 0, 6, 0]);
}

/// Depthwise 3x3, stride 2, pad 1 (group = channels): channel c reads only input channel c.
#[test]
fn depthwise_conv_stride2() {
    let mut m = M::new();
    let x = m.input("x", &[1, 2, 4, 4], P8);
    let w = m.constant("w", ArrayD::zeros(IxDyn(&[2, 1, 3, 3])), None);
    let mut wq = vec![1; 9]; // ch0: box sum
    wq.extend([1, 0, 0, 0, 1, 0, 0, 0, 0]); // ch1: centre + top-left
    let y = m.node(
        "dw",
        Op::Conv(conv_attrs([3, 3], 2, 1, 2)),
        &[x, w],
        &[1, 2, 2, 2],
        P8,
        mac(wq, vec![0, 0], vec![ONE, ONE]),
    );
    m.output(y);
    let m = m.build();
    let mut input = seq(16);
    input.extend(seq(16).iter().map(|v| -v));
    let (_, seen) = run(&m, &[arr(&[1, 2, 4, 4], &input)]);
    // ch0 (x = 1..16), windows centred on (0,0), (0,2), (2,0), (2,2):
    //   1+2+5+6 = 14; 2+3+4+6+7+8 = 30; 5+6+9+10+13+14 = 57; 6+7+8+10+11+12+14+15+16 = 99.
    // ch1 (x = -1..-16): centre + top-left (padding for the first three): -1, -3, -9, -11 + -6 = -17.
    assert_eq!(codes(&seen, y), vec![14, 30, 57, 99, -1, -3, -9, -17]);
}

/// ConvTranspose stride 2 (non-overlapping blocks) and grouped ConvTranspose channel mapping.
#[test]
fn conv_transpose_stride2_and_groups() {
    let mut m = M::new();
    let x = m.input("x", &[1, 1, 2, 2], P8);
    let w = m.constant("w", ArrayD::zeros(IxDyn(&[1, 1, 2, 2])), None);
    let y = m.node(
        "ct",
        Op::ConvTranspose(conv_attrs([2, 2], 2, 0, 1)),
        &[x, w],
        &[1, 1, 4, 4],
        P8,
        mac(vec![1, -1, 2, 0], vec![0], vec![ONE]),
    );
    let x2 = m.input("x2", &[1, 2, 1, 1], P8);
    let w2 = m.constant("w2", ArrayD::zeros(IxDyn(&[2, 2, 1, 1])), None);
    // weight [Cin=2, Cout/g=2, 1, 1]: ci0 -> [1, 2], ci1 -> [3, 4]; output channel g*2 + j.
    let y2 = m.node(
        "ctg",
        Op::ConvTranspose(conv_attrs([1, 1], 1, 0, 2)),
        &[x2, w2],
        &[1, 4, 1, 1],
        P8,
        mac(vec![1, 2, 3, 4], vec![0, 0, 0, 1], vec![ONE; 4]),
    );
    m.output(y);
    m.output(y2);
    let m = m.build();
    let (_, seen) = run(
        &m,
        &[
            arr(&[1, 1, 2, 2], &[1.0, 2.0, 3.0, 4.0]),
            arr(&[1, 2, 1, 1], &[3.0, 5.0]),
        ],
    );
    // Each input pixel scales the kernel [[1, -1], [2, 0]] into its own 2x2 block.
    assert_eq!(
        codes(&seen, y),
        vec![1, -1, 2, -2, 2, 0, 4, 0, 3, -3, 4, -4, 6, 0, 8, 0]
    );
    // oc0 = 3*1, oc1 = 3*2, oc2 = 5*3, oc3 = 5*4 + bias 1.
    assert_eq!(codes(&seen, y2), vec![3, 6, 15, 21]);
}

/// Gemm with per-output-channel bias and requantization.
#[test]
fn gemm_per_channel() {
    let mut m = M::new();
    let x = m.input("x", &[1, 3], P8);
    let w = m.constant("w", ArrayD::zeros(IxDyn(&[2, 3])), None);
    let y = m.node(
        "fc",
        Op::Gemm {
            activation: Activation::None,
        },
        &[x, w],
        &[1, 2],
        P8,
        mac(
            vec![1, 0, -1, 2, 2, 2],
            vec![10, -1],
            vec![ONE, rq(1 << 14, 16)],
        ),
    );
    m.output(y);
    let m = m.build();
    let (_, seen) = run(&m, &[arr(&[1, 3], &[1.0, 2.0, 3.0])]);
    // n0: 1 - 3 + 10 = 8; n1: (2+4+6 - 1) * 0.25 = 2.75 -> 3.
    assert_eq!(codes(&seen, y), vec![8, 3]);
}

/// Sub (negative `mb`) against a broadcast constant `[1, 2, 1, 1]`, one shared shift.
#[test]
fn sub_with_broadcast_constant() {
    let mut m = M::new();
    let a = m.input("a", &[1, 2, 2, 2], P8);
    let b = m.constant(
        "b",
        arr(&[1, 2, 1, 1], &[3.0, -3.0]),
        Some((vec![3, -3], P8)),
    );
    let k = QKernel::Add {
        rq: AddRequant {
            ma: 1 << 14,
            mb: -(1 << 14),
            shift: 15,
        },
    };
    let y = m.node("sub", Op::Sub, &[a, b], &[1, 2, 2, 2], P8, k);
    m.output(y);
    let m = m.build();
    let (_, seen) = run(&m, &[arr(&[1, 2, 2, 2], &seq(8))]);
    // y = (a - b) / 2: ch0 (b=3): -1, -0.5 -> -1, 0, 0.5 -> 1; ch1 (b=-3): 4, 4.5 -> 5, 5, 5.5 -> 6.
    assert_eq!(codes(&seen, y), vec![-1, -1, 0, 1, 4, 5, 5, 6]);
}

/// Add saturates symmetrically: -200 -> -127, never -128.
#[test]
fn add_saturates_symmetric() {
    let mut m = M::new();
    let a = m.input("a", &[1, 3], P8);
    let b = m.input("b", &[1, 1], P8);
    let y = m.node(
        "add",
        Op::Add,
        &[a, b],
        &[1, 3],
        P8,
        QKernel::Add {
            rq: AddRequant {
                ma: 1 << 14,
                mb: 1 << 14,
                shift: 14,
            },
        },
    );
    m.output(y);
    let m = m.build();
    let (_, seen) = run(
        &m,
        &[arr(&[1, 3], &[-100.0, 100.0, 7.0]), arr(&[1, 1], &[-100.0])],
    );
    assert_eq!(codes(&seen, y), vec![-127, 0, -93]);
}

/// Mul by a scalar constant: half-way products on both signs, and saturation.
#[test]
fn mul_rounding_and_saturation() {
    let mut m = M::new();
    let a = m.input("a", &[1, 4], P8);
    let c = m.constant("c", arr(&[1], &[1.0]), Some((vec![1], P8)));
    let y = m.node(
        "mul",
        Op::Mul,
        &[a, c],
        &[1, 4],
        P8,
        QKernel::Mul { requant: HALF },
    );
    let z = m.node(
        "mul64",
        Op::Mul,
        &[a, c],
        &[1, 4],
        P8,
        QKernel::Mul {
            requant: rq(1 << 14, 8),
        },
    );
    m.output(y);
    m.output(z);
    let m = m.build();
    let (_, seen) = run(&m, &[arr(&[1, 4], &[3.0, -3.0, 5.0, -5.0])]);
    // 1.5 -> 2, -1.5 -> -2, 2.5 -> 3, -2.5 -> -3.
    assert_eq!(codes(&seen, y), vec![2, -2, 3, -3]);
    // x64: 192 -> 127, -192 -> -127.
    assert_eq!(codes(&seen, z), vec![127, -127, 127, -127]);
}

fn concat_model(second: Option<Requant>) -> (QuantModel, ValueId) {
    let mut m = M::new();
    let a = m.input("a", &[1, 1, 1, 2], P8);
    let b = m.input("b", &[1, 1, 1, 2], p8(-1));
    let y = m.node(
        "cat",
        Op::Concat { axis: 3 },
        &[a, b],
        &[1, 1, 1, 4],
        p8(-1),
        QKernel::Concat {
            requant: vec![Some(HALF), second],
        },
    );
    m.output(y);
    (m.build(), y)
}

/// Concat: the input with the output's parameters is copied, the other one rescaled.
#[test]
fn concat_with_requant() {
    let (m, y) = concat_model(None);
    // b has real = 2q: floats 10, 14 are codes 5, 7.
    let (outs, seen) = run(
        &m,
        &[
            arr(&[1, 1, 1, 2], &[3.0, -3.0]),
            arr(&[1, 1, 1, 2], &[10.0, 14.0]),
        ],
    );
    // a: 3 * 0.5 = 1.5 -> 2, -1.5 -> -2; b copied.
    assert_eq!(codes(&seen, y), vec![2, -2, 5, 7]);
    assert_eq!(outs[0], arr(&[1, 1, 1, 4], &[4.0, -4.0, 10.0, 14.0]));
}

/// MaxPool 2x2 stride 2 with ceil_mode on 3x3: partial windows ignore the missing cells (all
/// values negative, so a zero-filled pad would win).
#[test]
fn maxpool_ceil_mode_ignores_padding() {
    let mut m = M::new();
    let x = m.input("x", &[1, 1, 3, 3], P8);
    let a = PoolAttrs {
        kernel: [2, 2],
        strides: [2, 2],
        pads: [0; 4],
        dilations: [1, 1],
        ceil_mode: true,
        count_include_pad: false,
    };
    let y = m.node(
        "mp",
        Op::MaxPool(a),
        &[x],
        &[1, 1, 2, 2],
        P8,
        QKernel::PassThrough { pad_value: 0 },
    );
    m.output(y);
    let m = m.build();
    let neg: Vec<f32> = seq(9).iter().map(|v| -v).collect();
    let (_, seen) = run(&m, &[arr(&[1, 1, 3, 3], &neg)]);
    // max(-1,-2,-4,-5) = -1; max(-3,-6) = -3; max(-7,-8) = -7; -9.
    assert_eq!(codes(&seen, y), vec![-1, -3, -7, -9]);
}

fn avg_table() -> Vec<Requant> {
    (0..=9)
        .map(|n| {
            if n == 0 {
                rq(0, 0)
            } else {
                Requant::from_factor(1.0 / n as f64)
            }
        })
        .collect()
}

/// AveragePool 3x3, stride 1, pad 1, with and without count_include_pad.
#[test]
fn avgpool_count_include_pad() {
    let mut m = M::new();
    let x = m.input("x", &[1, 1, 3, 3], P8);
    let mut a = PoolAttrs {
        kernel: [3, 3],
        strides: [1, 1],
        pads: [1; 4],
        dilations: [1, 1],
        ceil_mode: false,
        count_include_pad: true,
    };
    let inc = m.node(
        "inc",
        Op::AveragePool(a.clone()),
        &[x],
        &[1, 1, 3, 3],
        P8,
        QKernel::AvgPool {
            requant: avg_table(),
        },
    );
    a.count_include_pad = false;
    let exc = m.node(
        "exc",
        Op::AveragePool(a),
        &[x],
        &[1, 1, 3, 3],
        P8,
        QKernel::AvgPool {
            requant: avg_table(),
        },
    );
    m.output(inc);
    m.output(exc);
    let m = m.build();
    let (_, seen) = run(&m, &[arr(&[1, 1, 3, 3], &seq(9))]);
    // Sums 12 21 16 / 27 45 33 / 24 39 28. requant[9] = 29127 / 2^18, requant[6] = 21845 / 2^17,
    // requant[4] = 16384 / 2^16.
    // Include pad (n = 9 everywhere): 12 * 29127 / 2^18 = 1.33 -> 1; 27 * 29127 / 2^18 = 2.99999 -> 3;
    // 45 -> 4.99998 -> 5.
    assert_eq!(codes(&seen, inc), vec![1, 2, 2, 3, 5, 4, 3, 4, 3]);
    // Exclude pad (n = 4 corners, 6 edges, 9 centre): 12/4 = 3; 21 * 21845 / 2^17 = 3.49998 -> 3
    // (the 15-bit multiplier is just below 1/6); 33 * 21845 / 2^17 = 5.49998 -> 5; 28/4 = 7.
    assert_eq!(codes(&seen, exc), vec![3, 3, 4, 4, 5, 5, 6, 6, 7]);
}

/// ceil_mode AveragePool: cells past the padded input do not count, even with count_include_pad.
#[test]
fn avgpool_ceil_mode_divisor_clipped() {
    let mut m = M::new();
    let x = m.input("x", &[1, 1, 3, 3], P8);
    let a = PoolAttrs {
        kernel: [2, 2],
        strides: [2, 2],
        pads: [0; 4],
        dilations: [1, 1],
        ceil_mode: true,
        count_include_pad: true,
    };
    let y = m.node(
        "ap",
        Op::AveragePool(a),
        &[x],
        &[1, 1, 2, 2],
        P8,
        QKernel::AvgPool {
            requant: avg_table(),
        },
    );
    m.output(y);
    let m = m.build();
    let (_, seen) = run(&m, &[arr(&[1, 1, 3, 3], &seq(9))]);
    // (0,0): 12/4 = 3; (0,1): (3+6)/2 = 4.5 -> 5; (1,0): (7+8)/2 = 7.5 -> 8; (1,1): 9/1 = 9.
    assert_eq!(codes(&seen, y), vec![3, 5, 8, 9]);
}

fn lut_model(table: Vec<i32>) -> (QuantModel, ValueId) {
    let mut m = M::new();
    let x = m.input("x", &[1, 7], P8);
    let y = m.node(
        "lut",
        Op::Sigmoid,
        &[x],
        &[1, 7],
        P8,
        QKernel::Lut { table },
    );
    m.output(y);
    (m.build(), y)
}

/// Lut: `y = table[q - qmin]`, here `table[i] = sat(2 * (i - 127))`.
#[test]
fn lut_indexes_from_qmin() {
    let table: Vec<i32> = (0..255).map(|i| (2 * (i - 127)).clamp(-127, 127)).collect();
    let (m, y) = lut_model(table);
    let (_, seen) = run(
        &m,
        &[arr(&[1, 7], &[-127.0, -1.0, 0.0, 1.0, 63.0, 64.0, 127.0])],
    );
    assert_eq!(codes(&seen, y), vec![-127, -2, 0, 2, 126, 127, 127]);
}

/// PRelu: positive side `pos`, negative side per channel (axis 1).
#[test]
fn prelu_per_channel() {
    let mut m = M::new();
    let x = m.input("x", &[1, 2, 1, 2], P8);
    let s = m.constant("slope", arr(&[2, 1, 1], &[0.5, 0.25]), None);
    let k = QKernel::PRelu {
        pos: ONE,
        neg: vec![HALF, rq(1 << 14, 16)],
    };
    let y = m.node("prelu", Op::PRelu, &[x, s], &[1, 2, 1, 2], P8, k);
    m.output(y);
    let m = m.build();
    let (_, seen) = run(&m, &[arr(&[1, 2, 1, 2], &[3.0, -3.0, -5.0, -6.0])]);
    // ch0: 3, -1.5 -> -2; ch1: -1.25 -> -1, -1.5 -> -2.
    assert_eq!(codes(&seen, y), vec![3, -2, -1, -2]);
}

fn resize_attrs(mode: ResizeMode, out_hw: [usize; 2]) -> ResizeAttrs {
    ResizeAttrs {
        mode,
        coord: ResizeCoord::Asymmetric,
        nearest: ResizeNearest::Floor,
        scales: [2.0, 2.0],
        out_hw,
    }
}

fn plan(i0: &[u32], i1: &[u32], w0: &[i32]) -> AxisPlan {
    AxisPlan {
        i0: i0.to_vec(),
        i1: i1.to_vec(),
        w0: w0.to_vec(),
        w1: w0.iter().map(|w| 1024 - w).collect(),
    }
}

/// Resize with a nearest plan (identity requant 2^-20 gives the codes back) and a bilinear plan
/// with half weights (rounding half away from zero).
#[test]
fn resize_nearest_and_half_weights() {
    let mut m = M::new();
    let x = m.input("x", &[1, 1, 2, 2], P8);
    let near = plan(&[0, 0, 1, 1], &[0, 0, 1, 1], &[1024; 4]);
    let id = Requant::from_factor(2f64.powi(-20));
    assert_eq!(id, rq(1 << 14, 34));
    let k = QKernel::Resize {
        rows: near.clone(),
        cols: near,
        requant: id,
    };
    let y = m.node(
        "up",
        Op::Resize(resize_attrs(ResizeMode::Nearest, [4, 4])),
        &[x],
        &[1, 1, 4, 4],
        P8,
        k,
    );
    let x2 = m.input("x2", &[1, 1, 1, 2], P8);
    let rows = plan(&[0], &[0], &[1024]);
    let cols = plan(&[0, 0, 1], &[0, 1, 1], &[1024, 512, 1024]);
    let k2 = QKernel::Resize {
        rows,
        cols,
        requant: id,
    };
    let y2 = m.node(
        "lin",
        Op::Resize(resize_attrs(ResizeMode::Linear, [1, 3])),
        &[x2],
        &[1, 1, 1, 3],
        P8,
        k2,
    );
    m.output(y);
    m.output(y2);
    let m = m.build();
    let (_, seen) = run(
        &m,
        &[
            arr(&[1, 1, 2, 2], &[1.0, 2.0, 3.0, -4.0]),
            arr(&[1, 1, 1, 2], &[-1.0, -4.0]),
        ],
    );
    assert_eq!(
        codes(&seen, y),
        vec![1, 1, 2, 2, 1, 1, 2, 2, 3, 3, -4, -4, 3, 3, -4, -4]
    );
    // middle: (512 * -1 + 512 * -4) * 1024 / 2^20 = -2.5 -> -3.
    assert_eq!(codes(&seen, y2), vec![-1, -3, -4]);
}

/// Transpose then Reshape as PassThrough.
#[test]
fn transpose_then_reshape() {
    let mut m = M::new();
    let x = m.input("x", &[1, 2, 2, 3], P8);
    let t = m.node(
        "t",
        Op::Transpose {
            perm: vec![0, 2, 3, 1],
        },
        &[x],
        &[1, 2, 3, 2],
        P8,
        QKernel::PassThrough { pad_value: 0 },
    );
    let r = m.node(
        "r",
        Op::Reshape { shape: vec![1, 12] },
        &[t],
        &[1, 12],
        P8,
        QKernel::PassThrough { pad_value: 0 },
    );
    m.output(r);
    let m = m.build();
    let input: Vec<f32> = (0..12).map(|v| v as f32).collect();
    let (outs, seen) = run(&m, &[arr(&[1, 2, 2, 3], &input)]);
    // out[0, h, w, c] = x[0, c, h, w] = 6c + 3h + w.
    let want = vec![0, 6, 1, 7, 2, 8, 3, 9, 4, 10, 5, 11];
    assert_eq!(codes(&seen, t), want);
    assert_eq!(codes(&seen, r), want);
    assert_eq!(outs[0].shape(), &[1, 12]);
}

/// Pad (constant pad value), Slice with a negative step, Gather with a negative index, Split.
#[test]
fn pad_slice_gather_split() {
    let mut m = M::new();
    let x = m.input("x", &[1, 1, 2, 3], P8);
    let pad = Op::Pad {
        pads: vec![(0, 0), (0, 0), (1, 0), (0, 1)],
        mode: PadMode::Constant,
        value: 9.0,
    };
    let p = m.node(
        "pad",
        pad,
        &[x],
        &[1, 1, 3, 4],
        P8,
        QKernel::PassThrough { pad_value: 9 },
    );
    let sl = Op::Slice {
        starts: vec![0, 0, 0, 2],
        ends: vec![1, 1, 2, -1],
        steps: vec![1, 1, 1, -1],
    };
    let s = m.node(
        "slice",
        sl,
        &[x],
        &[1, 1, 2, 3],
        P8,
        QKernel::PassThrough { pad_value: 0 },
    );
    let idx = m.constant("idx", arr(&[2], &[-1.0, 0.0]), None);
    let g = m.node(
        "gather",
        Op::Gather { axis: 3 },
        &[x, idx],
        &[1, 1, 2, 2],
        P8,
        QKernel::PassThrough { pad_value: 0 },
    );
    let parts = m.node_n(
        "split",
        Op::Split {
            axis: 3,
            splits: vec![1, 2],
        },
        &[x],
        &[(&[1, 1, 2, 1], P8), (&[1, 1, 2, 2], P8)],
        Placement::Npu,
        QKernel::PassThrough { pad_value: 0 },
    );
    for v in [p, s, g, parts[0], parts[1]] {
        m.output(v);
    }
    let m = m.build();
    let (_, seen) = run(&m, &[arr(&[1, 1, 2, 3], &seq(6))]);
    assert_eq!(codes(&seen, p), vec![9, 9, 9, 9, 1, 2, 3, 9, 4, 5, 6, 9]);
    assert_eq!(codes(&seen, s), vec![3, 2, 1, 6, 5, 4]);
    assert_eq!(codes(&seen, g), vec![3, 1, 6, 4]);
    assert_eq!(codes(&seen, parts[0]), vec![1, 4]);
    assert_eq!(codes(&seen, parts[1]), vec![2, 3, 5, 6]);
}

/// GlobalAveragePool: sum of the plane times requant (1/4 here).
#[test]
fn global_avg() {
    let mut m = M::new();
    let x = m.input("x", &[1, 2, 2, 2], P8);
    let y = m.node(
        "gap",
        Op::GlobalAveragePool,
        &[x],
        &[1, 2, 1, 1],
        P8,
        QKernel::GlobalAvg {
            requant: rq(1 << 14, 16),
        },
    );
    m.output(y);
    let m = m.build();
    let (_, seen) = run(
        &m,
        &[arr(
            &[1, 2, 2, 2],
            &[1.0, 2.0, 3.0, 4.0, -1.0, -2.0, -3.0, -5.0],
        )],
    );
    // 10/4 = 2.5 -> 3; -11/4 = -2.75 -> -3.
    assert_eq!(codes(&seen, y), vec![3, -3]);
}

/// numpy MatMul: batched 3-D x 2-D constant, and a 1-D right operand.
#[test]
fn matmul_batched_and_vector() {
    let mut m = M::new();
    let a = m.input("a", &[2, 2, 3], P8);
    let b = m.constant(
        "b",
        arr(&[3, 2], &[1.0, 0.0, 0.0, 1.0, 1.0, 1.0]),
        Some((vec![1, 0, 0, 1, 1, 1], P8)),
    );
    let v = m.constant("v", arr(&[3], &[1.0; 3]), Some((vec![1; 3], P8)));
    let y = m.node(
        "mm",
        Op::MatMul,
        &[a, b],
        &[2, 2, 2],
        P8,
        QKernel::MatMul { requant: ONE },
    );
    let z = m.node(
        "mv",
        Op::MatMul,
        &[a, v],
        &[2, 2],
        P8,
        QKernel::MatMul { requant: ONE },
    );
    m.output(y);
    m.output(z);
    let m = m.build();
    let (_, seen) = run(&m, &[arr(&[2, 2, 3], &seq(12))]);
    // rows [1,2,3] -> [1+3, 2+3] = [4, 5]; [4,5,6] -> [10, 11]; [7,8,9] -> [16, 17]; [10,11,12] -> [22, 23].
    assert_eq!(codes(&seen, y), vec![4, 5, 10, 11, 16, 17, 22, 23]);
    assert_eq!(codes(&seen, z), vec![6, 15, 24, 33]);
}

/// CPU nodes: dequantize, float op, quantize (round half away from zero); a CPU Conv agrees with
/// the integer sums when everything is exact.
#[test]
fn cpu_nodes_run_in_float() {
    let mut m = M::new();
    let x = m.input("x", &[1, 3], P8);
    let c = m.constant("four", arr(&[1], &[4.0]), None);
    let d = m.node_n(
        "div",
        Op::Div,
        &[x, c],
        &[(&[1, 3], p8(1))],
        Placement::Cpu,
        QKernel::Cpu,
    )[0];
    let img = m.input("img", &[1, 1, 3, 3], P8);
    let w = m.constant("w", ArrayD::from_elem(IxDyn(&[1, 1, 3, 3]), 1.0), None);
    let conv = m.node_n(
        "cpuconv",
        Op::Conv(conv_attrs([3, 3], 1, 1, 1)),
        &[img, w],
        &[(&[1, 1, 3, 3], P8)],
        Placement::Cpu,
        QKernel::Cpu,
    )[0];
    m.output(d);
    m.output(conv);
    let m = m.build();
    let (outs, seen) = run(
        &m,
        &[arr(&[1, 3], &[4.0, -6.0, 3.0]), arr(&[1, 1, 3, 3], &seq(9))],
    );
    // [1, -1.5, 0.75] at radix 1 (q = 2 * real): 2, -3, 1.5 -> 2.
    assert_eq!(codes(&seen, d), vec![2, -3, 2]);
    assert_eq!(outs[0], arr(&[1, 3], &[1.0, -1.5, 1.0]));
    assert_eq!(codes(&seen, conv), vec![12, 21, 16, 27, 45, 33, 24, 39, 28]);
}

/// Inputs quantize with round-half-away and symmetric saturation.
#[test]
fn input_quantization() {
    let mut m = M::new();
    let x = m.input("x", &[1, 6], p8(1));
    let y = m.node(
        "id",
        Op::Identity,
        &[x],
        &[1, 6],
        p8(1),
        QKernel::PassThrough { pad_value: 0 },
    );
    m.output(y);
    let m = m.build();
    // q = x * 2: 0.25 -> 0.5 -> 1; -0.25 -> -1; 0.2 -> 0; 100 -> 127; -100 -> -127; NaN -> 0.
    let (outs, seen) = run(
        &m,
        &[arr(&[1, 6], &[0.25, -0.25, 0.2, 100.0, -100.0, f32::NAN])],
    );
    assert_eq!(codes(&seen, y), vec![1, -1, 0, 127, -127, 0]);
    assert_eq!(outs[0], arr(&[1, 6], &[0.5, -0.5, 0.0, 63.5, -63.5, 0.0]));
}

/// A batch of 2 items on a batch-1 graph runs item by item; outputs concatenate on axis 0.
#[test]
fn batch_runs_per_item() {
    let mut m = M::new();
    let a = m.input("a", &[1, 2], P8);
    let c = m.constant("c", arr(&[1], &[1.0]), Some((vec![1], P8)));
    let y = m.node(
        "mul",
        Op::Mul,
        &[a, c],
        &[1, 2],
        P8,
        QKernel::Mul { requant: HALF },
    );
    m.output(y);
    let m = m.build();
    let (outs, seen) = run(&m, &[arr(&[2, 2], &[3.0, -3.0, 5.0, 7.0])]);
    let items: Vec<Vec<i32>> = seen[&y].iter().map(|t| t.data.clone()).collect();
    assert_eq!(items, vec![vec![2, -2], vec![3, 4]]);
    assert_eq!(outs[0], arr(&[2, 2], &[2.0, -2.0, 3.0, 4.0]));
    // Not a multiple of the graph batch.
    let bad = run_reference(&m, &[arr(&[3, 3], &[0.0; 9])], &mut |_, _| {});
    assert!(
        matches!(bad, Err(ReferenceError::Input(InputError::Shape { .. }))),
        "{bad:?}"
    );
}

/// Malformed models give errors naming the node, never a panic.
#[test]
fn malformed_models_are_errors() {
    let x1 = arr(&[1, 1, 3, 3], &seq(9));
    // Weights too short.
    let mut m = M::new();
    let x = m.input("x", &[1, 1, 3, 3], P8);
    let w = m.constant("w", ArrayD::zeros(IxDyn(&[1, 1, 3, 3])), None);
    let y = m.node(
        "conv",
        Op::Conv(conv_attrs([3, 3], 1, 1, 1)),
        &[x, w],
        &[1, 1, 3, 3],
        P8,
        mac(vec![1; 8], vec![0], vec![ONE]),
    );
    m.output(y);
    let m = m.build();
    expect_node_error(
        run_reference(&m, std::slice::from_ref(&x1), &mut |_, _| {}),
        "conv",
        "weights",
    );

    // Activation range outside the output range / inverted.
    let mut m = M::new();
    let x = m.input("x", &[1, 1, 3, 3], P8);
    let w = m.constant("w", ArrayD::zeros(IxDyn(&[1, 1, 3, 3])), None);
    let k = QKernel::Mac {
        weights: vec![1; 9],
        weight_params: vec![P8],
        bias: vec![0],
        requant: vec![ONE],
        requant_neg: None,
        act_min: 5,
        act_max: 1,
    };
    let y = m.node(
        "conv",
        Op::Conv(conv_attrs([3, 3], 1, 1, 1)),
        &[x, w],
        &[1, 1, 3, 3],
        P8,
        k,
    );
    m.output(y);
    let m = m.build();
    expect_node_error(
        run_reference(&m, std::slice::from_ref(&x1), &mut |_, _| {}),
        "conv",
        "activation range",
    );

    // A multiplier outside the 15-bit mantissa range (FIXED_POINT.md "Requantization").
    let mut m = M::new();
    let x = m.input("x", &[1, 1, 3, 3], P8);
    let w = m.constant("w", ArrayD::zeros(IxDyn(&[1, 1, 3, 3])), None);
    let y = m.node(
        "conv",
        Op::Conv(conv_attrs([3, 3], 1, 1, 1)),
        &[x, w],
        &[1, 1, 3, 3],
        P8,
        mac(vec![1; 9], vec![1 << 50], vec![rq(1 << 20, 4)]),
    );
    m.output(y);
    let m = m.build();
    expect_node_error(
        run_reference(&m, std::slice::from_ref(&x1), &mut |_, _| {}),
        "conv",
        "15-bit mantissa",
    );

    // Output shape inconsistent with the attributes.
    let mut m = M::new();
    let x = m.input("x", &[1, 1, 3, 3], P8);
    let w = m.constant("w", ArrayD::zeros(IxDyn(&[1, 1, 3, 3])), None);
    let y = m.node(
        "conv",
        Op::Conv(conv_attrs([3, 3], 1, 0, 1)),
        &[x, w],
        &[1, 1, 3, 3],
        P8,
        mac(vec![1; 9], vec![0], vec![ONE]),
    );
    m.output(y);
    let m = m.build();
    expect_node_error(
        run_reference(&m, std::slice::from_ref(&x1), &mut |_, _| {}),
        "conv",
        "output shape",
    );

    // Lut of the wrong size.
    let (m, _) = lut_model(vec![0; 256]);
    expect_node_error(
        run_reference(&m, &[arr(&[1, 7], &[0.0; 7])], &mut |_, _| {}),
        "lut",
        "255",
    );

    // Concat copying an input whose parameters differ from the output's.
    let (m, _) = concat_model(None);
    let ok = run_reference(
        &m,
        &[arr(&[1, 1, 1, 2], &[0.0; 2]), arr(&[1, 1, 1, 2], &[0.0; 2])],
        &mut |_, _| {},
    );
    assert!(ok.is_ok());
    let mut bad = m.clone();
    if let QKernel::Concat { requant } = &mut bad.nodes[0].kernel {
        requant[0] = None;
    }
    expect_node_error(
        run_reference(
            &bad,
            &[arr(&[1, 1, 1, 2], &[0.0; 2]), arr(&[1, 1, 1, 2], &[0.0; 2])],
            &mut |_, _| {},
        ),
        "cat",
        "copied",
    );
    let mut bad = m.clone();
    if let QKernel::Concat { requant } = &mut bad.nodes[0].kernel {
        requant.pop();
    }
    expect_node_error(
        run_reference(
            &bad,
            &[arr(&[1, 1, 1, 2], &[0.0; 2]), arr(&[1, 1, 1, 2], &[0.0; 2])],
            &mut |_, _| {},
        ),
        "cat",
        "requantizers",
    );

    // AvgPool table too short for the divisor.
    let mut m = M::new();
    let x = m.input("x", &[1, 1, 3, 3], P8);
    let a = PoolAttrs {
        kernel: [3, 3],
        strides: [1, 1],
        pads: [1; 4],
        dilations: [1, 1],
        ceil_mode: false,
        count_include_pad: true,
    };
    let y = m.node(
        "ap",
        Op::AveragePool(a),
        &[x],
        &[1, 1, 3, 3],
        P8,
        QKernel::AvgPool {
            requant: vec![ONE; 5],
        },
    );
    m.output(y);
    let m = m.build();
    expect_node_error(
        run_reference(&m, std::slice::from_ref(&x1), &mut |_, _| {}),
        "ap",
        "divisor of 9",
    );

    // Resize plan shorter than the output; plan index outside the input.
    let mut m = M::new();
    let x = m.input("x", &[1, 1, 2, 2], P8);
    let short = plan(&[0, 1], &[0, 1], &[1024, 1024]);
    let k = QKernel::Resize {
        rows: short.clone(),
        cols: short,
        requant: ONE,
    };
    let y = m.node(
        "up",
        Op::Resize(resize_attrs(ResizeMode::Nearest, [4, 4])),
        &[x],
        &[1, 1, 4, 4],
        P8,
        k,
    );
    m.output(y);
    let m = m.build();
    expect_node_error(
        run_reference(&m, &[arr(&[1, 1, 2, 2], &[0.0; 4])], &mut |_, _| {}),
        "up",
        "plan",
    );

    // PassThrough changing parameters; PassThrough of an op it cannot run.
    let mut m = M::new();
    let x = m.input("x", &[1, 4], P8);
    let y = m.node(
        "r",
        Op::Reshape { shape: vec![4] },
        &[x],
        &[4],
        p8(1),
        QKernel::PassThrough { pad_value: 0 },
    );
    m.output(y);
    let m = m.build();
    expect_node_error(
        run_reference(&m, &[arr(&[1, 4], &[0.0; 4])], &mut |_, _| {}),
        "r",
        "parameters",
    );
    let mut m = M::new();
    let x = m.input("x", &[1, 4], P8);
    let z = m.node(
        "s",
        Op::Sigmoid,
        &[x],
        &[1, 4],
        P8,
        QKernel::PassThrough { pad_value: 0 },
    );
    m.output(z);
    let m = m.build();
    expect_node_error(
        run_reference(&m, &[arr(&[1, 4], &[0.0; 4])], &mut |_, _| {}),
        "s",
        "cannot run Sigmoid",
    );

    // A constant operand without quantized data; a missing output parameter; wrong input count.
    let mut m = M::new();
    let a = m.input("a", &[1, 2], P8);
    let c = m.constant("c", arr(&[1], &[1.0]), None);
    let y = m.node(
        "mul",
        Op::Mul,
        &[a, c],
        &[1, 2],
        P8,
        QKernel::Mul { requant: ONE },
    );
    m.output(y);
    let m = m.build();
    expect_node_error(
        run_reference(&m, &[arr(&[1, 2], &[0.0; 2])], &mut |_, _| {}),
        "mul",
        "without quantized data",
    );
    let mut bad = m.clone();
    bad.tensors[y.0] = None;
    expect_node_error(
        run_reference(&bad, &[arr(&[1, 2], &[0.0; 2])], &mut |_, _| {}),
        "mul",
        "parameters",
    );
    let mut bad = m.clone();
    bad.tensors[a.0] = None;
    assert!(matches!(
        run_reference(&bad, &[arr(&[1, 2], &[0.0; 2])], &mut |_, _| {}),
        Err(ReferenceError::Params { .. })
    ));
    assert!(matches!(
        run_reference(&m, &[], &mut |_, _| {}),
        Err(ReferenceError::Input(InputError::Count {
            expected: 1,
            got: 0
        }))
    ));
    let mut bad = m.clone();
    bad.nodes.clear();
    assert!(matches!(
        run_reference(&bad, &[arr(&[1, 2], &[0.0; 2])], &mut |_, _| {}),
        Err(ReferenceError::NodeCount { .. })
    ));
    let mut bad = m;
    bad.tensors[y.0] = Some(QParams {
        bits: 0,
        radix: 0,
        scale: 1.0,
    });
    expect_node_error(
        run_reference(&bad, &[arr(&[1, 2], &[0.0; 2])], &mut |_, _| {}),
        "mul",
        "bits",
    );
}
