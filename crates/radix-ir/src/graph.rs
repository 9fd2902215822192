//! The graph: values (tensors) and nodes in topological order.

use std::collections::HashMap;
use std::sync::Arc;

use ndarray::ArrayD;
use serde::{Deserialize, Serialize};

use crate::{IrError, Op, Result};

/// Index of a [`Value`] in [`Graph::values`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ValueId(pub usize);

/// Index of a [`Node`] in [`Graph::nodes`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct NodeId(pub usize);

/// A tensor in the graph: a model input, a node output, or a constant.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Value {
    /// The ONNX tensor name (unique in the graph).
    pub name: String,
    /// Static shape.
    pub shape: Vec<usize>,
    /// Data for constants (initializers, `Constant` nodes, folded subgraphs). Integer tensors are
    /// stored as f32: exact for |v| < 2^24, which covers shapes and indices.
    pub data: Option<Arc<ArrayD<f32>>>,
}

impl Value {
    /// True for a constant (the value carries data).
    pub fn is_const(&self) -> bool {
        self.data.is_some()
    }
    /// Number of elements (product of the shape).
    pub fn numel(&self) -> usize {
        self.shape.iter().product()
    }
}

/// One operation.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Node {
    /// Unique node name (the ONNX node name, or a generated one when the model has none).
    pub name: String,
    /// The operation and its attributes.
    pub op: Op,
    /// Input values, in the op's input order.
    pub inputs: Vec<ValueId>,
    /// Output values, in the op's output order.
    pub outputs: Vec<ValueId>,
    /// Names of the ONNX nodes this node stands for, in order. A Conv with a fused BN and Relu
    /// has three entries; the first is the node itself.
    pub origin: Vec<String>,
}

impl Node {
    /// True when more than one ONNX node was folded into this one (reported as FUSED).
    pub fn is_fused(&self) -> bool {
        self.origin.len() > 1
    }
}

/// A dataflow graph with static shapes, nodes in topological order.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Graph {
    /// The model's graph name.
    pub name: String,
    /// Every tensor, indexed by [`ValueId`].
    pub values: Vec<Value>,
    /// Every node, in topological order, indexed by [`NodeId`].
    pub nodes: Vec<Node>,
    /// The model inputs (non-constant values fed by the caller), in order.
    pub inputs: Vec<ValueId>,
    /// The model outputs, in order.
    pub outputs: Vec<ValueId>,
}

impl Graph {
    /// An empty graph.
    pub fn new(name: impl Into<String>) -> Self {
        Graph {
            name: name.into(),
            ..Default::default()
        }
    }

    /// The value `id` (panics when out of range).
    pub fn value(&self, id: ValueId) -> &Value {
        &self.values[id.0]
    }

    /// The shape of value `id`.
    pub fn shape(&self, id: ValueId) -> &[usize] {
        &self.values[id.0].shape
    }

    /// The data of value `id` when it is a constant.
    pub fn const_data(&self, id: ValueId) -> Option<&ArrayD<f32>> {
        self.values[id.0].data.as_deref()
    }

    /// Appends a non-constant value and returns its id.
    pub fn add_value(&mut self, name: impl Into<String>, shape: Vec<usize>) -> ValueId {
        self.values.push(Value {
            name: name.into(),
            shape,
            data: None,
        });
        ValueId(self.values.len() - 1)
    }

    /// Appends a constant (its shape taken from `data`) and returns its id.
    pub fn add_const(&mut self, name: impl Into<String>, data: ArrayD<f32>) -> ValueId {
        let shape = data.shape().to_vec();
        self.values.push(Value {
            name: name.into(),
            shape,
            data: Some(Arc::new(data)),
        });
        ValueId(self.values.len() - 1)
    }

    /// The first value named `name`.
    pub fn value_by_name(&self, name: &str) -> Option<ValueId> {
        self.values.iter().position(|v| v.name == name).map(ValueId)
    }

    /// The first node named `name`.
    pub fn node_by_name(&self, name: &str) -> Option<NodeId> {
        self.nodes.iter().position(|n| n.name == name).map(NodeId)
    }

    /// For every value, the node producing it (None for inputs and constants).
    pub fn producers(&self) -> Vec<Option<NodeId>> {
        let mut p = vec![None; self.values.len()];
        for (i, n) in self.nodes.iter().enumerate() {
            for &o in &n.outputs {
                p[o.0] = Some(NodeId(i));
            }
        }
        p
    }

    /// For every value, the nodes reading it (in node order).
    pub fn consumers(&self) -> Vec<Vec<NodeId>> {
        let mut c = vec![Vec::new(); self.values.len()];
        for (i, n) in self.nodes.iter().enumerate() {
            for &v in &n.inputs {
                if !c[v.0].contains(&NodeId(i)) {
                    c[v.0].push(NodeId(i));
                }
            }
        }
        c
    }

    /// The non-constant inputs of a node (activations), in order.
    pub fn dynamic_inputs<'a>(&'a self, node: &'a Node) -> impl Iterator<Item = ValueId> + 'a {
        node.inputs
            .iter()
            .copied()
            .filter(move |&v| !self.values[v.0].is_const())
    }

    /// Checks the structural invariants: ids in range, every non-constant input produced
    /// earlier (topological order), each value produced once, outputs reachable.
    pub fn validate(&self) -> Result<()> {
        let mut defined = vec![false; self.values.len()];
        for &i in &self.inputs {
            let Some(d) = defined.get_mut(i.0) else {
                return Err(IrError::Graph(format!("input id {} out of range", i.0)));
            };
            *d = true;
        }
        for (i, v) in self.values.iter().enumerate() {
            if v.is_const() {
                defined[i] = true;
            }
        }
        for n in &self.nodes {
            for &v in &n.inputs {
                if v.0 >= self.values.len() {
                    return Err(IrError::node(n, format!("input id {} out of range", v.0)));
                }
                if !defined[v.0] {
                    return Err(IrError::node(
                        n,
                        format!(
                            "input `{}` is used before it is produced",
                            self.values[v.0].name
                        ),
                    ));
                }
            }
            for &o in &n.outputs {
                if o.0 >= self.values.len() {
                    return Err(IrError::node(n, format!("output id {} out of range", o.0)));
                }
                if defined[o.0] {
                    return Err(IrError::node(
                        n,
                        format!("output `{}` is produced twice", self.values[o.0].name),
                    ));
                }
                defined[o.0] = true;
            }
        }
        for &o in &self.outputs {
            if !defined.get(o.0).copied().unwrap_or(false) {
                return Err(IrError::Graph(format!(
                    "graph output id {} is never produced",
                    o.0
                )));
            }
        }
        Ok(())
    }

    /// Removes nodes whose outputs are not needed for the graph outputs, then unused values.
    /// Value ids are renumbered; names are kept.
    pub fn prune(&mut self) {
        let mut needed = vec![false; self.values.len()];
        for &o in &self.outputs {
            needed[o.0] = true;
        }
        let mut keep = vec![false; self.nodes.len()];
        for (i, n) in self.nodes.iter().enumerate().rev() {
            if n.outputs.iter().any(|o| needed[o.0]) {
                keep[i] = true;
                for &v in &n.inputs {
                    needed[v.0] = true;
                }
            }
        }
        let mut k = keep.iter();
        self.nodes.retain(|_| *k.next().unwrap_or(&false));
        // Renumber values: keep graph inputs, outputs, and everything nodes touch.
        let mut used = vec![false; self.values.len()];
        for &v in self.inputs.iter().chain(&self.outputs) {
            used[v.0] = true;
        }
        for n in &self.nodes {
            for &v in n.inputs.iter().chain(&n.outputs) {
                used[v.0] = true;
            }
        }
        let mut remap = vec![usize::MAX; self.values.len()];
        let mut new_values = Vec::with_capacity(self.values.len());
        for (i, v) in std::mem::take(&mut self.values).into_iter().enumerate() {
            if used[i] {
                remap[i] = new_values.len();
                new_values.push(v);
            }
        }
        self.values = new_values;
        let r = |v: &mut ValueId| v.0 = remap[v.0];
        self.inputs.iter_mut().for_each(r);
        self.outputs.iter_mut().for_each(r);
        for n in &mut self.nodes {
            n.inputs.iter_mut().for_each(r);
            n.outputs.iter_mut().for_each(r);
        }
    }

    /// Replaces every use of `from` (node inputs and graph outputs) by `to`.
    pub fn replace_uses(&mut self, from: ValueId, to: ValueId) {
        for n in &mut self.nodes {
            for v in &mut n.inputs {
                if *v == from {
                    *v = to;
                }
            }
        }
        for v in &mut self.outputs {
            if *v == from {
                *v = to;
            }
        }
    }

    /// Total multiply-accumulate count of one inference.
    pub fn total_macs(&self) -> u64 {
        self.nodes
            .iter()
            .map(|n| {
                let ins: Vec<&[usize]> = n.inputs.iter().map(|&v| self.shape(v)).collect();
                n.op.macs(&ins, self.shape(n.outputs[0]))
            })
            .sum()
    }

    /// Map of value name to id.
    pub fn name_index(&self) -> HashMap<&str, ValueId> {
        self.values
            .iter()
            .enumerate()
            .map(|(i, v)| (v.name.as_str(), ValueId(i)))
            .collect()
    }

    /// Summary of op types and counts, e.g. for the CLI.
    pub fn op_histogram(&self) -> Vec<(&'static str, usize)> {
        let mut m: Vec<(&'static str, usize)> = Vec::new();
        for n in &self.nodes {
            let t = n.op.type_name();
            match m.iter_mut().find(|(k, _)| *k == t) {
                Some(e) => e.1 += 1,
                None => m.push((t, 1)),
            }
        }
        m
    }
}
