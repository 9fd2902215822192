//! IR -> ONNX (opset 14): writes a [`Graph`] as an ONNX model that onnxruntime runs with the
//! same float semantics. Used to check the float engine against onnxruntime on generated graphs
//! (`cargo xtask random-graphs`) and to hand an optimized graph to other tools.
//!
//! Fused activations become their own nodes again; legacy (opset < 13) Softmax becomes
//! Reshape -> Softmax -> Reshape; constants become initializers.

use prost::Message;
use radix_ir::op::PadMode;
use radix_ir::{Activation, Graph, Op, ResizeCoord, ResizeMode, ResizeNearest, ValueId};
use tract_onnx::pb::{
    self, AttributeProto, GraphProto, ModelProto, NodeProto, OperatorSetIdProto, TensorProto,
    TensorShapeProto, TypeProto, ValueInfoProto,
    attribute_proto::AttributeType,
    tensor_shape_proto::{Dimension, dimension},
};

/// The opset the exporter writes.
pub const EXPORT_OPSET: i64 = 14;

/// Why a graph cannot be written as ONNX.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// A node the exporter cannot write: an op with no ONNX form, or attributes or inputs that
    /// opset [`EXPORT_OPSET`] cannot express.
    #[error("model `{model}`, node `{node}` ({op}): {msg}")]
    Node {
        /// The graph's name.
        model: String,
        /// The IR node's name.
        node: String,
        /// The IR op's type name.
        op: String,
        /// What cannot be written.
        msg: String,
    },
}

const FLOAT: i32 = 1;
const INT64: i32 = 7;

fn f32_tensor(name: &str, dims: &[usize], data: impl Iterator<Item = f32>) -> TensorProto {
    TensorProto {
        name: name.into(),
        dims: dims.iter().map(|&d| d as i64).collect(),
        data_type: FLOAT,
        raw_data: data.flat_map(|v| v.to_le_bytes()).collect(),
        ..Default::default()
    }
}

fn i64_tensor(name: &str, data: &[i64]) -> TensorProto {
    TensorProto {
        name: name.into(),
        dims: vec![data.len() as i64],
        data_type: INT64,
        raw_data: data.iter().flat_map(|v| v.to_le_bytes()).collect(),
        ..Default::default()
    }
}

fn info(name: &str, dims: &[usize]) -> ValueInfoProto {
    ValueInfoProto {
        name: name.into(),
        r#type: Some(TypeProto {
            value: Some(pb::type_proto::Value::TensorType(pb::type_proto::Tensor {
                elem_type: FLOAT,
                shape: Some(TensorShapeProto {
                    dim: dims
                        .iter()
                        .map(|&d| Dimension {
                            value: Some(dimension::Value::DimValue(d as i64)),
                            ..Default::default()
                        })
                        .collect(),
                }),
            })),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn ai(name: &str, v: i64) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: AttributeType::Int as i32,
        i: v,
        ..Default::default()
    }
}

fn af(name: &str, v: f32) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: AttributeType::Float as i32,
        f: v,
        ..Default::default()
    }
}

fn ais(name: &str, v: &[i64]) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: AttributeType::Ints as i32,
        ints: v.to_vec(),
        ..Default::default()
    }
}

fn astr(name: &str, v: &str) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: AttributeType::String as i32,
        s: v.as_bytes().to_vec(),
        ..Default::default()
    }
}

fn usizes(v: &[usize]) -> Vec<i64> {
    v.iter().map(|&d| d as i64).collect()
}

struct Writer<'g> {
    g: &'g Graph,
    nodes: Vec<NodeProto>,
    inits: Vec<TensorProto>,
    fresh: usize,
}

impl Writer<'_> {
    fn name(&self, v: ValueId) -> String {
        self.g.value(v).name.clone()
    }
    fn fresh(&mut self, base: &str) -> String {
        self.fresh += 1;
        format!("{base}__x{}", self.fresh)
    }
    fn ints(&mut self, base: &str, v: &[i64]) -> String {
        let n = self.fresh(base);
        self.inits.push(i64_tensor(&n, v));
        n
    }
    fn scalar(&mut self, base: &str, v: f32) -> String {
        let n = self.fresh(base);
        self.inits.push(f32_tensor(&n, &[], std::iter::once(v)));
        n
    }
    fn push(
        &mut self,
        op: &str,
        name: String,
        ins: Vec<String>,
        outs: Vec<String>,
        attrs: Vec<AttributeProto>,
    ) {
        self.nodes.push(NodeProto {
            op_type: op.into(),
            name,
            input: ins,
            output: outs,
            attribute: attrs,
            ..Default::default()
        });
    }
    /// Writes `act(x)` into `out`.
    fn activation(&mut self, base: &str, act: Activation, x: String, out: String) {
        let name = self.fresh(base);
        match act {
            Activation::None => self.push("Identity", name, vec![x], vec![out], vec![]),
            Activation::Relu => self.push("Relu", name, vec![x], vec![out], vec![]),
            Activation::Clip { min, max } => {
                let (lo, hi) = (self.scalar(base, min), self.scalar(base, max));
                self.push("Clip", name, vec![x, lo, hi], vec![out], vec![])
            }
            Activation::LeakyRelu { alpha } => self.push(
                "LeakyRelu",
                name,
                vec![x],
                vec![out],
                vec![af("alpha", alpha)],
            ),
        }
    }
}

fn pads4(p: [usize; 4]) -> Vec<i64> {
    // IR: top, left, bottom, right; ONNX: h_begin, w_begin, h_end, w_end (the same order).
    usizes(&p)
}

/// The ONNX model of `g` (opset [`EXPORT_OPSET`]).
pub fn to_model_proto(g: &Graph) -> Result<ModelProto, ExportError> {
    let mut w = Writer {
        g,
        nodes: Vec::new(),
        inits: Vec::new(),
        fresh: 0,
    };
    for (i, v) in g.values.iter().enumerate() {
        if let Some(d) = &v.data {
            // Constants read only as Gather indices are written as int64 below; constants
            // nobody reads are not written.
            let as_float = g.nodes.iter().any(|n| {
                n.inputs.iter().enumerate().any(|(k, &x)| {
                    x == ValueId(i) && !(matches!(n.op, Op::Gather { .. }) && k == 1)
                })
            });
            if as_float {
                w.inits
                    .push(f32_tensor(&v.name, &v.shape, d.iter().copied()));
            }
        }
    }
    for node in &g.nodes {
        let err = |msg: &str| ExportError::Node {
            model: g.name.clone(),
            node: node.name.clone(),
            op: node.op.type_name().into(),
            msg: msg.into(),
        };
        let ins: Vec<String> = node.inputs.iter().map(|&v| w.name(v)).collect();
        let outs: Vec<String> = node.outputs.iter().map(|&v| w.name(v)).collect();
        let name = node.name.clone();
        let simple = |w: &mut Writer, op: &str, attrs: Vec<AttributeProto>| {
            w.push(op, name.clone(), ins.clone(), outs.clone(), attrs)
        };
        match &node.op {
            Op::Conv(a) | Op::ConvTranspose(a) => {
                let mut attrs = vec![
                    ais("kernel_shape", &usizes(&a.kernel)),
                    ais("strides", &usizes(&a.strides)),
                    ais("pads", &pads4(a.pads)),
                    ais("dilations", &usizes(&a.dilations)),
                    ai("group", a.group as i64),
                ];
                let op = if matches!(node.op, Op::Conv(_)) {
                    "Conv"
                } else {
                    attrs.push(ais("output_padding", &usizes(&a.output_padding)));
                    "ConvTranspose"
                };
                let mid = w.fresh(&outs[0]);
                w.push(op, name.clone(), ins.clone(), vec![mid.clone()], attrs);
                w.activation(&name, a.activation, mid, outs[0].clone());
            }
            Op::Gemm { activation } => {
                let mid = w.fresh(&outs[0]);
                w.push(
                    "Gemm",
                    name.clone(),
                    ins.clone(),
                    vec![mid.clone()],
                    vec![ai("transB", 1)],
                );
                w.activation(&name, *activation, mid, outs[0].clone());
            }
            Op::MatMul => simple(&mut w, "MatMul", vec![]),
            Op::BatchNorm { epsilon } => {
                simple(&mut w, "BatchNormalization", vec![af("epsilon", *epsilon)])
            }
            Op::Relu => simple(&mut w, "Relu", vec![]),
            Op::Clip { min, max } => {
                let (lo, hi) = (w.scalar(&name, *min), w.scalar(&name, *max));
                w.push(
                    "Clip",
                    name.clone(),
                    vec![ins[0].clone(), lo, hi],
                    outs.clone(),
                    vec![],
                )
            }
            Op::LeakyRelu { alpha } => simple(&mut w, "LeakyRelu", vec![af("alpha", *alpha)]),
            Op::PRelu => simple(&mut w, "PRelu", vec![]),
            Op::Sigmoid => simple(&mut w, "Sigmoid", vec![]),
            Op::HardSigmoid { alpha, beta } => simple(
                &mut w,
                "HardSigmoid",
                vec![af("alpha", *alpha), af("beta", *beta)],
            ),
            Op::HardSwish => simple(&mut w, "HardSwish", vec![]),
            Op::Tanh => simple(&mut w, "Tanh", vec![]),
            Op::Exp => simple(&mut w, "Exp", vec![]),
            Op::Add => simple(&mut w, "Add", vec![]),
            Op::Sub => simple(&mut w, "Sub", vec![]),
            Op::Mul => simple(&mut w, "Mul", vec![]),
            Op::Div => simple(&mut w, "Div", vec![]),
            Op::MaxPool(a) | Op::AveragePool(a) => {
                let mut attrs = vec![
                    ais("kernel_shape", &usizes(&a.kernel)),
                    ais("strides", &usizes(&a.strides)),
                    ais("pads", &pads4(a.pads)),
                    ai("ceil_mode", a.ceil_mode as i64),
                ];
                let op = if matches!(node.op, Op::MaxPool(_)) {
                    attrs.push(ais("dilations", &usizes(&a.dilations)));
                    "MaxPool"
                } else {
                    if a.dilations != [1, 1] {
                        return Err(err("AveragePool with dilations needs opset 19"));
                    }
                    attrs.push(ai("count_include_pad", a.count_include_pad as i64));
                    "AveragePool"
                };
                simple(&mut w, op, attrs)
            }
            Op::GlobalAveragePool => simple(&mut w, "GlobalAveragePool", vec![]),
            Op::GlobalMaxPool => simple(&mut w, "GlobalMaxPool", vec![]),
            Op::Concat { axis } => simple(&mut w, "Concat", vec![ai("axis", *axis as i64)]),
            Op::Split { axis, splits } => {
                let s = w.ints(&name, &usizes(splits));
                w.push(
                    "Split",
                    name.clone(),
                    vec![ins[0].clone(), s],
                    outs.clone(),
                    vec![ai("axis", *axis as i64)],
                )
            }
            Op::Slice {
                starts,
                ends,
                steps,
            } => {
                let shape = g.shape(node.inputs[0]);
                // IR ends are exact; a negative end with a negative step means "through index
                // 0", which ONNX spells as any end below -dim.
                let ends: Vec<i64> = ends
                    .iter()
                    .zip(steps)
                    .zip(shape)
                    .map(|((&e, &st), &d)| if st < 0 && e < 0 { -(d as i64) - 1 } else { e })
                    .collect();
                let axes: Vec<i64> = (0..shape.len() as i64).collect();
                let i = vec![
                    ins[0].clone(),
                    w.ints(&name, starts),
                    w.ints(&name, &ends),
                    w.ints(&name, &axes),
                    w.ints(&name, steps),
                ];
                w.push("Slice", name.clone(), i, outs.clone(), vec![])
            }
            Op::Reshape { shape } => {
                let s = w.ints(&name, &usizes(shape));
                w.push(
                    "Reshape",
                    name.clone(),
                    vec![ins[0].clone(), s],
                    outs.clone(),
                    vec![],
                )
            }
            Op::Flatten { axis } => simple(&mut w, "Flatten", vec![ai("axis", *axis as i64)]),
            Op::Transpose { perm } => simple(&mut w, "Transpose", vec![ais("perm", &usizes(perm))]),
            Op::Squeeze { axes } | Op::Unsqueeze { axes } => {
                let a = w.ints(&name, &usizes(axes));
                let op = if matches!(node.op, Op::Squeeze { .. }) {
                    "Squeeze"
                } else {
                    "Unsqueeze"
                };
                w.push(
                    op,
                    name.clone(),
                    vec![ins[0].clone(), a],
                    outs.clone(),
                    vec![],
                )
            }
            Op::Resize(a) => {
                let scales = w.fresh(&name);
                w.inits.push(f32_tensor(
                    &scales,
                    &[4],
                    [1.0, 1.0, a.scales[0], a.scales[1]].into_iter(),
                ));
                let shape = g.shape(node.inputs[0]);
                let expect = |i: usize| (shape[2 + i] as f32 * a.scales[i]).floor() as usize;
                if expect(0) != a.out_hw[0] || expect(1) != a.out_hw[1] {
                    return Err(err("output size is not floor(input * scale)"));
                }
                let coord = match a.coord {
                    ResizeCoord::HalfPixel => "half_pixel",
                    ResizeCoord::PytorchHalfPixel => "pytorch_half_pixel",
                    ResizeCoord::AlignCorners => "align_corners",
                    ResizeCoord::Asymmetric => "asymmetric",
                    ResizeCoord::TfHalfPixelForNearest => "tf_half_pixel_for_nearest",
                };
                let nearest = match a.nearest {
                    ResizeNearest::RoundPreferFloor => "round_prefer_floor",
                    ResizeNearest::RoundPreferCeil => "round_prefer_ceil",
                    ResizeNearest::Floor => "floor",
                    ResizeNearest::Ceil => "ceil",
                };
                let mode = match a.mode {
                    ResizeMode::Nearest => "nearest",
                    ResizeMode::Linear => "linear",
                };
                w.push(
                    "Resize",
                    name.clone(),
                    vec![ins[0].clone(), String::new(), scales],
                    outs.clone(),
                    vec![
                        astr("mode", mode),
                        astr("coordinate_transformation_mode", coord),
                        astr("nearest_mode", nearest),
                    ],
                )
            }
            Op::Pad { pads, mode, value } => {
                let mut p: Vec<i64> = pads.iter().map(|&(b, _)| b as i64).collect();
                p.extend(pads.iter().map(|&(_, e)| e as i64));
                let p = w.ints(&name, &p);
                let v = w.scalar(&name, *value);
                let mode = match mode {
                    PadMode::Constant => "constant",
                    PadMode::Reflect => "reflect",
                    PadMode::Edge => "edge",
                };
                w.push(
                    "Pad",
                    name.clone(),
                    vec![ins[0].clone(), p, v],
                    outs.clone(),
                    vec![astr("mode", mode)],
                )
            }
            Op::Softmax { axis, legacy } => {
                let shape = g.shape(node.inputs[0]);
                if *legacy && *axis + 1 < shape.len() {
                    let rows: usize = shape[..*axis].iter().product();
                    let cols: usize = shape[*axis..].iter().product();
                    let s2 = w.ints(&name, &[rows as i64, cols as i64]);
                    let back = w.ints(&name, &usizes(shape));
                    let (m1, m2) = (w.fresh(&outs[0]), w.fresh(&outs[0]));
                    let n1 = w.fresh(&name);
                    w.push(
                        "Reshape",
                        n1,
                        vec![ins[0].clone(), s2],
                        vec![m1.clone()],
                        vec![],
                    );
                    w.push(
                        "Softmax",
                        name.clone(),
                        vec![m1],
                        vec![m2.clone()],
                        vec![ai("axis", 1)],
                    );
                    let n2 = w.fresh(&name);
                    w.push("Reshape", n2, vec![m2, back], outs.clone(), vec![]);
                } else {
                    simple(&mut w, "Softmax", vec![ai("axis", *axis as i64)])
                }
            }
            Op::ReduceMean { axes, keepdims } => simple(
                &mut w,
                "ReduceMean",
                vec![ais("axes", &usizes(axes)), ai("keepdims", *keepdims as i64)],
            ),
            // Opset 14: axes are an attribute of these reductions.
            Op::Reduce {
                kind,
                axes,
                keepdims,
            } => simple(
                &mut w,
                kind.onnx_name(),
                vec![ais("axes", &usizes(axes)), ai("keepdims", *keepdims as i64)],
            ),
            Op::Gather { axis } => {
                let idx = g
                    .const_data(node.inputs[1])
                    .ok_or_else(|| err("Gather indices must be constant"))?;
                let n = w.fresh(&ins[1]);
                let mut t = i64_tensor(&n, &idx.iter().map(|&v| v as i64).collect::<Vec<_>>());
                t.dims = usizes(idx.shape());
                w.inits.push(t);
                w.push(
                    "Gather",
                    name.clone(),
                    vec![ins[0].clone(), n],
                    outs.clone(),
                    vec![ai("axis", *axis as i64)],
                )
            }
            Op::Identity | Op::Dropout | Op::Cast => simple(&mut w, "Identity", vec![]),
            other => {
                return Err(err(&format!("no ONNX form for {}", other.type_name())));
            }
        }
    }
    let graph = GraphProto {
        name: g.name.clone(),
        node: w.nodes,
        initializer: w.inits,
        input: g
            .inputs
            .iter()
            .map(|&v| info(&g.value(v).name, g.shape(v)))
            .collect(),
        output: g
            .outputs
            .iter()
            .map(|&v| info(&g.value(v).name, g.shape(v)))
            .collect(),
        ..Default::default()
    };
    Ok(ModelProto {
        ir_version: 8,
        producer_name: "radix".into(),
        producer_version: env!("CARGO_PKG_VERSION").into(),
        opset_import: vec![OperatorSetIdProto {
            domain: String::new(),
            version: EXPORT_OPSET,
        }],
        graph: Some(graph),
        ..Default::default()
    })
}

/// [`to_model_proto`], encoded as ONNX bytes.
pub fn to_bytes(g: &Graph) -> Result<Vec<u8>, ExportError> {
    Ok(to_model_proto(g)?.encode_to_vec())
}
