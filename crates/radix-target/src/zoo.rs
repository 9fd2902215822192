//! Shape-faithful reference graphs, built directly in the IR as the ONNX importer plus
//! `radix_ir::passes::optimize` would leave them (BN folded, ReLU / ReLU6 fused into the conv).
//! Weights are zero constants (lazily allocated): the evaluator only reads shapes.
//!
//! Used by tests and benchmarks to evaluate well-known networks without a model file, and to
//! check the cost model on networks it was not calibrated on.

use ndarray::{ArrayD, IxDyn};
use radix_ir::op::PoolAttrs;
use radix_ir::{Activation, ConvAttrs, Graph, Node, Op, ValueId, shape};

use crate::TargetError;

/// A small graph builder.
pub struct Builder {
    g: Graph,
    count: usize,
}

/// ReLU6 as the importer fuses it (Clip 0..6).
pub const RELU6: Activation = Activation::Clip { min: 0.0, max: 6.0 };

impl Builder {
    /// A graph `name` with one input `input` of `shape`.
    pub fn new(name: &str, shape: &[usize]) -> (Builder, ValueId) {
        let mut g = Graph::new(name);
        let x = g.add_value("input", shape.to_vec());
        g.inputs.push(x);
        (Builder { g, count: 0 }, x)
    }

    fn fresh(&mut self, op: &str) -> String {
        self.count += 1;
        format!("{op}_{}", self.count)
    }

    /// Adds a node; output shapes come from shape inference. Fails when the shapes do not
    /// infer (wrong channel counts, bad attributes).
    pub fn try_node(&mut self, op: Op, inputs: Vec<ValueId>) -> Result<ValueId, TargetError> {
        let name = self.fresh(op.type_name());
        let shapes: Vec<&[usize]> = inputs.iter().map(|&v| self.g.shape(v)).collect();
        let outs = shape::infer(&op, &shapes).map_err(|msg| TargetError::Node {
            node: name.clone(),
            op: op.type_name().into(),
            msg,
        })?;
        let ids: Vec<ValueId> = outs
            .into_iter()
            .enumerate()
            .map(|(k, s)| self.g.add_value(format!("{name}_out{k}"), s))
            .collect();
        let origin = match op.fused_activation() {
            Some(a) if !a.is_none() => vec![name.clone(), format!("{name}_{}", a.name())],
            _ => vec![name.clone()],
        };
        let first = ids.first().copied().ok_or_else(|| TargetError::Node {
            node: name.clone(),
            op: op.type_name().into(),
            msg: "has no output".into(),
        })?;
        self.g.nodes.push(Node {
            name,
            op,
            inputs,
            outputs: ids,
            origin,
        });
        Ok(first)
    }

    /// [`Builder::try_node`] for graphs known to be well formed (the reference networks).
    ///
    /// # Panics
    /// When the shapes do not infer: a bug in the calling code, never a property of user data.
    pub fn node(&mut self, op: Op, inputs: Vec<ValueId>) -> ValueId {
        match self.try_node(op, inputs) {
            Ok(v) => v,
            Err(e) => panic!("reference graph: {e}"),
        }
    }

    fn zeros(&mut self, what: &str, shape: &[usize]) -> ValueId {
        let name = format!("{what}_{}", self.count);
        self.g.add_const(name, ArrayD::zeros(IxDyn(shape)))
    }

    /// Conv with square kernel `k`, `stride`, symmetric `pad`, `group`, bias and `act`.
    /// Panics like [`Builder::node`] when `group` does not divide the channels.
    #[allow(clippy::too_many_arguments)]
    pub fn conv(
        &mut self,
        x: ValueId,
        cout: usize,
        k: usize,
        stride: usize,
        pad: usize,
        group: usize,
        act: Activation,
    ) -> ValueId {
        let cin = self.g.shape(x)[1];
        let w = self.zeros("w", &[cout, cin / group, k, k]);
        let b = self.zeros("b", &[cout]);
        let a = ConvAttrs {
            kernel: [k, k],
            strides: [stride, stride],
            pads: [pad; 4],
            dilations: [1, 1],
            group,
            output_padding: [0, 0],
            activation: act,
        };
        self.node(Op::Conv(a), vec![x, w, b])
    }

    /// Elementwise `a + b`.
    pub fn add(&mut self, a: ValueId, b: ValueId) -> ValueId {
        self.node(Op::Add, vec![a, b])
    }

    /// A standalone Relu node.
    pub fn relu(&mut self, x: ValueId) -> ValueId {
        self.node(Op::Relu, vec![x])
    }

    /// MaxPool with square kernel `k`, stride `s` and symmetric padding `p`.
    pub fn maxpool(&mut self, x: ValueId, k: usize, s: usize, p: usize) -> ValueId {
        let a = PoolAttrs {
            kernel: [k, k],
            strides: [s, s],
            pads: [p; 4],
            dilations: [1, 1],
            ceil_mode: false,
            count_include_pad: false,
        };
        self.node(Op::MaxPool(a), vec![x])
    }

    /// GlobalAveragePool.
    pub fn gap(&mut self, x: ValueId) -> ValueId {
        self.node(Op::GlobalAveragePool, vec![x])
    }

    /// Flatten with axis 1 (`[N, C, H, W] -> [N, C*H*W]`).
    pub fn flatten(&mut self, x: ValueId) -> ValueId {
        self.node(Op::Flatten { axis: 1 }, vec![x])
    }

    /// Gemm `[M, K] x [N, K]ᵀ + b`.
    pub fn gemm(&mut self, x: ValueId, n: usize) -> ValueId {
        let k = self.g.shape(x)[1];
        let w = self.zeros("fc_w", &[n, k]);
        let b = self.zeros("fc_b", &[n]);
        self.node(
            Op::Gemm {
                activation: Activation::None,
            },
            vec![x, w, b],
        )
    }

    /// Finishes the graph with `outputs`.
    pub fn finish(mut self, outputs: &[ValueId]) -> Graph {
        self.g.outputs = outputs.to_vec();
        self.g
    }

    /// Access to the graph under construction.
    pub fn graph(&self) -> &Graph {
        &self.g
    }
}

/// torchvision MobileNetV2 (width 1.0) at `hw` x `hw`, 1000 classes: 52 convs, 10 residual
/// Adds, GlobalAveragePool, Flatten, Gemm.
pub fn mobilenet_v2(hw: usize) -> Graph {
    let (mut b, x) = Builder::new("mobilenetv2", &[1, 3, hw, hw]);
    let mut y = b.conv(x, 32, 3, 2, 1, 1, RELU6);
    // (expansion t, channels c, repeats n, stride s)
    let cfg = [
        (1, 16, 1, 1),
        (6, 24, 2, 2),
        (6, 32, 3, 2),
        (6, 64, 4, 2),
        (6, 96, 3, 1),
        (6, 160, 3, 2),
        (6, 320, 1, 1),
    ];
    let mut cin = 32;
    for (t, c, n, s) in cfg {
        for i in 0..n {
            let stride = if i == 0 { s } else { 1 };
            let hidden = cin * t;
            let inp = y;
            let mut h = inp;
            if t != 1 {
                h = b.conv(h, hidden, 1, 1, 0, 1, RELU6);
            }
            h = b.conv(h, hidden, 3, stride, 1, hidden, RELU6);
            h = b.conv(h, c, 1, 1, 0, 1, Activation::None);
            y = if stride == 1 && cin == c {
                b.add(inp, h)
            } else {
                h
            };
            cin = c;
        }
    }
    y = b.conv(y, 1280, 1, 1, 0, 1, RELU6);
    y = b.gap(y);
    y = b.flatten(y);
    y = b.gemm(y, 1000);
    b.finish(&[y])
}

/// MobileNetV1 (width 1.0) at `hw` x `hw`, 1000 classes, ReLU6.
pub fn mobilenet_v1(hw: usize) -> Graph {
    let (mut b, x) = Builder::new("mobilenetv1", &[1, 3, hw, hw]);
    let mut y = b.conv(x, 32, 3, 2, 1, 1, RELU6);
    let cfg = [
        (64, 1),
        (128, 2),
        (128, 1),
        (256, 2),
        (256, 1),
        (512, 2),
        (512, 1),
        (512, 1),
        (512, 1),
        (512, 1),
        (512, 1),
        (1024, 2),
        (1024, 1),
    ];
    let mut cin = 32;
    for (c, s) in cfg {
        y = b.conv(y, cin, 3, s, 1, cin, RELU6);
        y = b.conv(y, c, 1, 1, 0, 1, RELU6);
        cin = c;
    }
    y = b.gap(y);
    y = b.flatten(y);
    y = b.gemm(y, 1000);
    b.finish(&[y])
}

/// ResNet-50 v1.5 at `hw` x `hw`, 1000 classes.
pub fn resnet50(hw: usize) -> Graph {
    let (mut b, x) = Builder::new("resnet50", &[1, 3, hw, hw]);
    let mut y = b.conv(x, 64, 7, 2, 3, 1, Activation::Relu);
    y = b.maxpool(y, 3, 2, 1);
    let mut cin = 64;
    for (width, blocks, stride) in [(64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2)] {
        for i in 0..blocks {
            let s = if i == 0 { stride } else { 1 };
            let out = width * 4;
            let inp = y;
            let mut h = b.conv(inp, width, 1, 1, 0, 1, Activation::Relu);
            h = b.conv(h, width, 3, s, 1, 1, Activation::Relu);
            h = b.conv(h, out, 1, 1, 0, 1, Activation::None);
            let skip = if s != 1 || cin != out {
                b.conv(inp, out, 1, s, 0, 1, Activation::None)
            } else {
                inp
            };
            let sum = b.add(h, skip);
            y = b.relu(sum);
            cin = out;
        }
    }
    y = b.gap(y);
    y = b.flatten(y);
    y = b.gemm(y, 1000);
    b.finish(&[y])
}

/// LeakyReLU(0.1) as darknet uses it, fused into the conv.
pub const LEAKY: Activation = Activation::LeakyRelu { alpha: 0.1 };

impl Builder {
    /// MaxPool with explicit (top, left, bottom, right) pads.
    pub fn maxpool_pads(&mut self, x: ValueId, k: usize, s: usize, pads: [usize; 4]) -> ValueId {
        let a = PoolAttrs {
            kernel: [k, k],
            strides: [s, s],
            pads,
            dilations: [1, 1],
            ceil_mode: false,
            count_include_pad: false,
        };
        self.node(Op::MaxPool(a), vec![x])
    }

    /// Nearest-neighbour 2x upsampling (darknet `upsample`, ONNX Resize nearest / floor).
    pub fn upsample2(&mut self, x: ValueId) -> ValueId {
        let s = self.g.shape(x).to_vec();
        let a = radix_ir::op::ResizeAttrs {
            mode: radix_ir::op::ResizeMode::Nearest,
            coord: radix_ir::op::ResizeCoord::Asymmetric,
            nearest: radix_ir::op::ResizeNearest::Floor,
            scales: [2.0, 2.0],
            out_hw: [2 * s[2], 2 * s[3]],
        };
        self.node(Op::Resize(a), vec![x])
    }

    /// Concatenation along channels.
    pub fn concat(&mut self, xs: Vec<ValueId>) -> ValueId {
        self.node(Op::Concat { axis: 1 }, xs)
    }
}

/// Tiny YOLOv3 (`yolov3-tiny.cfg`, 80 classes) at `hw` x `hw`, BN folded, LeakyReLU fused: 13
/// convs, 6 max-pools (the last one stride 1), a 2x upsample and a concat; outputs the two
/// 255-channel heads. Same layers as `fixtures/models/tiny_yolov3_arch_const.onnx.gz`.
pub fn tiny_yolov3(hw: usize) -> Graph {
    let (mut b, x) = Builder::new("tiny_yolov3", &[1, 3, hw, hw]);
    let mut y = x;
    let mut route = x;
    for (i, c) in [16, 32, 64, 128, 256].into_iter().enumerate() {
        y = b.conv(y, c, 3, 1, 1, 1, LEAKY);
        if i == 4 {
            route = y;
        }
        y = b.maxpool(y, 2, 2, 0);
    }
    y = b.conv(y, 512, 3, 1, 1, 1, LEAKY);
    y = b.maxpool_pads(y, 2, 1, [0, 0, 1, 1]);
    y = b.conv(y, 1024, 3, 1, 1, 1, LEAKY);
    let p = b.conv(y, 256, 1, 1, 0, 1, LEAKY);
    let h = b.conv(p, 512, 3, 1, 1, 1, LEAKY);
    let out13 = b.conv(h, 255, 1, 1, 0, 1, Activation::None);
    let l = b.conv(p, 128, 1, 1, 0, 1, LEAKY);
    let u = b.upsample2(l);
    let c = b.concat(vec![u, route]);
    let h = b.conv(c, 256, 3, 1, 1, 1, LEAKY);
    let out26 = b.conv(h, 255, 1, 1, 0, 1, Activation::None);
    b.finish(&[out13, out26])
}

/// YOLOv3 (`yolov3.cfg`: Darknet-53 and three heads, 80 classes) at `hw` x `hw`, BN folded,
/// LeakyReLU fused, residual Adds after the activation: 75 convs, 23 Adds, 2 upsamples, 2
/// concats; outputs the three 255-channel heads.
pub fn yolov3(hw: usize) -> Graph {
    let (mut b, x) = Builder::new("yolov3", &[1, 3, hw, hw]);
    let mut y = b.conv(x, 32, 3, 1, 1, 1, LEAKY);
    let mut routes = Vec::new();
    for (c, n) in [(64, 1), (128, 2), (256, 8), (512, 8), (1024, 4)] {
        y = b.conv(y, c, 3, 2, 1, 1, LEAKY);
        for _ in 0..n {
            let h = b.conv(y, c / 2, 1, 1, 0, 1, LEAKY);
            let h = b.conv(h, c, 3, 1, 1, 1, LEAKY);
            y = b.add(y, h);
        }
        routes.push(y);
    }
    let mut outs = Vec::new();
    let mut c = 512;
    for scale in 0..3 {
        for _ in 0..2 {
            y = b.conv(y, c, 1, 1, 0, 1, LEAKY);
            y = b.conv(y, 2 * c, 3, 1, 1, 1, LEAKY);
        }
        let branch = b.conv(y, c, 1, 1, 0, 1, LEAKY);
        let h = b.conv(branch, 2 * c, 3, 1, 1, 1, LEAKY);
        outs.push(b.conv(h, 255, 1, 1, 0, 1, Activation::None));
        if scale < 2 {
            let l = b.conv(branch, c / 2, 1, 1, 0, 1, LEAKY);
            let u = b.upsample2(l);
            y = b.concat(vec![u, routes[3 - scale]]);
            c /= 2;
        }
    }
    b.finish(&outs)
}
