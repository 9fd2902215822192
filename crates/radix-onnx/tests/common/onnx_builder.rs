//! Builds small ONNX models in memory with tract-onnx's protobuf types, encoded with prost, so
//! tests can feed the importer real ONNX bytes (names, attributes, initializers, `Constant`s).
//!
//! Shared by the radix-onnx tests and (through `#[path]`) the radix-ir pass tests.
#![allow(dead_code)]

use prost::Message;
use tract_onnx::pb::{
    self, AttributeProto, GraphProto, ModelProto, NodeProto, OperatorSetIdProto, TensorProto,
    TensorShapeProto, TypeProto, ValueInfoProto,
    attribute_proto::AttributeType,
    tensor_shape_proto::{Dimension, dimension},
};

/// ONNX `TensorProto.DataType` codes used here.
pub const FLOAT: i32 = 1;
pub const INT64: i32 = 7;

/// One dimension of a declared input/output shape.
#[derive(Clone, Debug)]
pub enum Dim {
    Fixed(i64),
    Param(&'static str),
}

pub fn f32_tensor(name: &str, dims: &[usize], data: &[f32]) -> TensorProto {
    assert_eq!(dims.iter().product::<usize>(), data.len(), "{name}");
    TensorProto {
        name: name.into(),
        dims: dims.iter().map(|&d| d as i64).collect(),
        data_type: FLOAT,
        raw_data: data.iter().flat_map(|v| v.to_le_bytes()).collect(),
        ..Default::default()
    }
}

/// An int64 tensor stored in `int64_data` (not `raw_data`), as some exporters write it.
pub fn i64_tensor(name: &str, dims: &[usize], data: &[i64]) -> TensorProto {
    assert_eq!(dims.iter().product::<usize>(), data.len(), "{name}");
    TensorProto {
        name: name.into(),
        dims: dims.iter().map(|&d| d as i64).collect(),
        data_type: INT64,
        int64_data: data.to_vec(),
        ..Default::default()
    }
}

pub fn value_info(name: &str, elem_type: i32, dims: &[Dim]) -> ValueInfoProto {
    let dim = dims
        .iter()
        .map(|d| Dimension {
            value: Some(match d {
                Dim::Fixed(v) => dimension::Value::DimValue(*v),
                Dim::Param(p) => dimension::Value::DimParam((*p).into()),
            }),
            ..Default::default()
        })
        .collect();
    ValueInfoProto {
        name: name.into(),
        r#type: Some(TypeProto {
            value: Some(pb::type_proto::Value::TensorType(pb::type_proto::Tensor {
                elem_type,
                shape: Some(TensorShapeProto { dim }),
            })),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// A float tensor value with a fully static shape.
pub fn float_info(name: &str, dims: &[usize]) -> ValueInfoProto {
    let dims: Vec<Dim> = dims.iter().map(|&d| Dim::Fixed(d as i64)).collect();
    value_info(name, FLOAT, &dims)
}

pub fn attr_i(name: &str, v: i64) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: AttributeType::Int as i32,
        i: v,
        ..Default::default()
    }
}

pub fn attr_f(name: &str, v: f32) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: AttributeType::Float as i32,
        f: v,
        ..Default::default()
    }
}

pub fn attr_ints(name: &str, v: &[i64]) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: AttributeType::Ints as i32,
        ints: v.to_vec(),
        ..Default::default()
    }
}

pub fn attr_tensor(name: &str, t: TensorProto) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: AttributeType::Tensor as i32,
        t: Some(t),
        ..Default::default()
    }
}

pub fn node(
    op: &str,
    name: &str,
    inputs: &[&str],
    outputs: &[&str],
    attrs: Vec<AttributeProto>,
) -> NodeProto {
    NodeProto {
        op_type: op.into(),
        name: name.into(),
        input: inputs.iter().map(|s| (*s).into()).collect(),
        output: outputs.iter().map(|s| (*s).into()).collect(),
        attribute: attrs,
        ..Default::default()
    }
}

/// A `Constant` node holding `t` (its output is named `out`).
pub fn constant(name: &str, out: &str, t: TensorProto) -> NodeProto {
    node("Constant", name, &[], &[out], vec![attr_tensor("value", t)])
}

/// A whole model (ir_version 8, default domain at `opset`), as a protobuf message.
pub fn model_proto(
    nodes: Vec<NodeProto>,
    initializers: Vec<TensorProto>,
    inputs: Vec<ValueInfoProto>,
    outputs: Vec<ValueInfoProto>,
    opset: i64,
) -> ModelProto {
    ModelProto {
        ir_version: 8,
        producer_name: "radix-tests".into(),
        opset_import: vec![OperatorSetIdProto {
            domain: String::new(),
            version: opset,
        }],
        graph: Some(GraphProto {
            name: "test".into(),
            node: nodes,
            initializer: initializers,
            input: inputs,
            output: outputs,
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// The same, encoded to ONNX bytes.
pub fn model_bytes(
    nodes: Vec<NodeProto>,
    initializers: Vec<TensorProto>,
    inputs: Vec<ValueInfoProto>,
    outputs: Vec<ValueInfoProto>,
    opset: i64,
) -> Vec<u8> {
    model_proto(nodes, initializers, inputs, outputs, opset).encode_to_vec()
}

/// xorshift64*: a tiny deterministic RNG for weights and byte flips.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// Uniform in [0, n).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
    /// Uniform in [-1, 1).
    pub fn f32(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 23) as f32 - 1.0
    }
    pub fn vec(&mut self, n: usize) -> Vec<f32> {
        (0..n).map(|_| self.f32()).collect()
    }
}
