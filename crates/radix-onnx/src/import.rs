//! The import driver: decoding the model, the opset check, initializers and graph inputs, the
//! walk over the nodes (each translated by [`crate::ops`] and added as IR nodes, or folded to
//! constants when its inputs are constant), the outputs, and the final validation.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use ndarray::{ArrayD, IxDyn};
use radix_ir::eval::eval_light;
use radix_ir::{Graph, Node, Op, ValueId};
use tract_onnx::pb::{self, NodeProto};
use tract_onnx::prelude::Framework;

use crate::ops::{NodeCtx, Src, Step, Translated};
use crate::{MAX_OPSET, MIN_OPSET, OnnxError, tensor};

/// Options for import.
#[derive(Clone, Debug, Default)]
pub struct ImportOptions {
    /// Fixed shapes for inputs, by name; overrides what the model declares (needed for inputs
    /// with dynamic dimensions other than the batch).
    pub input_shapes: HashMap<String, Vec<usize>>,
}

/// Reads and imports an ONNX file. Shapes are static; a dynamic batch becomes 1.
pub fn import_path(path: &Path) -> Result<Graph, OnnxError> {
    import_path_with(path, &ImportOptions::default())
}

/// Reads and imports an ONNX file with `opts` (e.g. fixed input shapes). The model is named
/// after the file stem in messages.
pub fn import_path_with(path: &Path, opts: &ImportOptions) -> Result<Graph, OnnxError> {
    let (name, bytes) = read_model_file(path)?;
    import_bytes(&bytes, &name, opts)
}

/// Reads an ONNX file: the model's name (the file stem, "model" if it has none) and its bytes.
pub fn read_model_file(path: &Path) -> Result<(String, Vec<u8>), OnnxError> {
    let bytes = std::fs::read(path).map_err(|source| OnnxError::Io {
        path: path.display().to_string(),
        source,
    })?;
    let name = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "model".into());
    Ok((name, bytes))
}

/// Imports an in-memory ONNX model named `name` (used in messages).
pub fn import_bytes(bytes: &[u8], name: &str, opts: &ImportOptions) -> Result<Graph, OnnxError> {
    let mut reader = bytes;
    let proto = tract_onnx::onnx()
        .proto_model_for_read(&mut reader)
        .map_err(|e| OnnxError::Decode {
            model: name.into(),
            msg: format!("{e:#}"),
        })
        .map_err(OnnxError::one_line)?;
    import_proto(&proto, name, opts)
}

/// Imports a decoded ONNX model named `name` (used in messages).
pub fn import_proto(
    model: &pb::ModelProto,
    name: &str,
    opts: &ImportOptions,
) -> Result<Graph, OnnxError> {
    import_proto_inner(model, name, opts).map_err(OnnxError::one_line)
}

fn import_proto_inner(
    model: &pb::ModelProto,
    name: &str,
    opts: &ImportOptions,
) -> Result<Graph, OnnxError> {
    let graph = model
        .graph
        .as_ref()
        .ok_or_else(|| OnnxError::NoGraph { model: name.into() })?;
    if graph.node.is_empty() {
        return Err(OnnxError::NoGraph { model: name.into() });
    }
    let opset = model
        .opset_import
        .iter()
        .find(|o| o.domain.is_empty() || o.domain == "ai.onnx")
        .map(|o| o.version)
        .unwrap_or(MIN_OPSET);
    if !(MIN_OPSET..=MAX_OPSET).contains(&opset) {
        return Err(OnnxError::Opset {
            model: name.into(),
            opset,
        });
    }
    let mut imp = Importer {
        model: name.to_string(),
        opset,
        g: Graph::new(name),
        names: HashMap::new(),
        node_names: HashSet::new(),
    };
    for init in &graph.initializer {
        let data = tensor::to_f32(init).map_err(|msg| OnnxError::Tensor {
            model: name.into(),
            name: init.name.clone(),
            msg,
        })?;
        let id = imp.g.add_const(init.name.clone(), data);
        imp.names.insert(init.name.clone(), id);
    }
    for input in &graph.input {
        if imp.names.contains_key(&input.name) {
            continue; // an initializer listed as input (old exporters): a constant
        }
        let shape = match opts.input_shapes.get(&input.name) {
            Some(s) => s.clone(),
            None => imp.declared_shape(input)?,
        };
        let id = imp.g.add_value(input.name.clone(), shape);
        imp.g.inputs.push(id);
        imp.names.insert(input.name.clone(), id);
    }
    if imp.g.inputs.is_empty() {
        return Err(OnnxError::Graph {
            model: name.into(),
            msg: "the graph has no inputs".into(),
        });
    }
    for (i, node) in graph.node.iter().enumerate() {
        imp.node(node, i)?;
    }
    for out in &graph.output {
        let id = *imp.names.get(&out.name).ok_or_else(|| OnnxError::Graph {
            model: name.into(),
            msg: format!("output `{}` is never produced", out.name),
        })?;
        // An output that folded to a constant is returned as it is by every engine.
        imp.g.outputs.push(id);
    }
    imp.g.prune();
    imp.g.validate().map_err(|e| OnnxError::Graph {
        model: name.into(),
        msg: e.to_string(),
    })?;
    Ok(imp.g)
}

/// The state of one import: the graph built so far and the ONNX names it has seen.
pub(crate) struct Importer {
    /// The model's name, for messages.
    pub(crate) model: String,
    /// The model's default-domain opset.
    pub(crate) opset: i64,
    pub(crate) g: Graph,
    /// ONNX tensor name -> IR value.
    names: HashMap<String, ValueId>,
    /// IR node names in use.
    node_names: HashSet<String>,
}

impl Importer {
    fn declared_shape(&self, vi: &pb::ValueInfoProto) -> Result<Vec<usize>, OnnxError> {
        use pb::tensor_shape_proto::dimension::Value as D;
        let dyn_err = |axis: usize, dim: String| OnnxError::DynamicShape {
            model: self.model.clone(),
            input: vi.name.clone(),
            axis,
            dim,
        };
        let Some(pb::type_proto::Value::TensorType(t)) =
            vi.r#type.as_ref().and_then(|t| t.value.as_ref())
        else {
            return Err(dyn_err(0, "no tensor type".into()));
        };
        let Some(shape) = &t.shape else {
            return Err(dyn_err(0, "no shape".into()));
        };
        let mut out = Vec::with_capacity(shape.dim.len());
        for (axis, d) in shape.dim.iter().enumerate() {
            match &d.value {
                Some(D::DimValue(v)) if *v > 0 => out.push(*v as usize),
                // A symbolic or unknown batch becomes 1: Radix runs one item at a time.
                _ if axis == 0 => out.push(1),
                Some(D::DimParam(p)) => return Err(dyn_err(axis, p.clone())),
                Some(D::DimValue(v)) => return Err(dyn_err(axis, v.to_string())),
                None => return Err(dyn_err(axis, "?".into())),
            }
        }
        Ok(out)
    }

    pub(crate) fn err(&self, n: &NodeProto, name: &str, msg: impl Into<String>) -> OnnxError {
        OnnxError::Node {
            model: self.model.clone(),
            op: n.op_type.clone(),
            node: name.to_string(),
            msg: msg.into(),
        }
    }

    fn node(&mut self, n: &NodeProto, index: usize) -> Result<(), OnnxError> {
        let mut name = if n.name.is_empty() {
            format!("{}_{}", n.op_type, index)
        } else {
            n.name.clone()
        };
        while self.node_names.contains(&name) {
            name.push_str("_dup");
        }
        self.node_names.insert(name.clone());
        if !(n.domain.is_empty() || n.domain == "ai.onnx") {
            return Err(OnnxError::UnsupportedOp {
                model: self.model.clone(),
                op: format!("{}::{}", n.domain, n.op_type),
                node: name,
            });
        }
        // Inputs: "" marks an absent optional input.
        let mut inputs: Vec<Option<ValueId>> = Vec::with_capacity(n.input.len());
        for i in &n.input {
            if i.is_empty() {
                inputs.push(None);
                continue;
            }
            let id = *self.names.get(i).ok_or_else(|| OnnxError::MissingInput {
                model: self.model.clone(),
                node: name.clone(),
                input: i.clone(),
            })?;
            inputs.push(Some(id));
        }
        let ctx = NodeCtx {
            imp: self,
            n,
            name: &name,
            inputs: &inputs,
        };
        let translated = ctx.translate()?;
        let (op, ins) = match translated {
            Translated::Const(data) => {
                let out = n
                    .output
                    .first()
                    .ok_or_else(|| self.err(n, &name, "has no output"))?;
                let id = self.g.add_const(out.clone(), data);
                self.names.insert(out.clone(), id);
                return Ok(());
            }
            Translated::Op(op, ins) => (op, ins),
            Translated::OpWithConsts(op, mut ins, consts) => {
                for (cname, data) in consts {
                    ins.push(self.g.add_const(cname, data));
                }
                (op, ins)
            }
            Translated::Chain(ops, ins) => return self.chain(n, &name, ops, ins),
            Translated::Steps(steps) => return self.steps(n, &name, steps),
            Translated::WithConstOutputs(op, ins, consts) => {
                let first: Vec<String> = n.output.iter().take(1).cloned().collect();
                self.emit(n, &name, op, ins, &first, name.clone())?;
                for (out, data) in n.output.iter().skip(1).zip(consts) {
                    if !out.is_empty() {
                        let id = self.g.add_const(out.clone(), data);
                        self.names.insert(out.clone(), id);
                    }
                }
                return Ok(());
            }
        };
        let out_names: Vec<String> = n.output.clone();
        self.emit(n, &name, op, ins, &out_names, name.clone())
    }

    /// Adds `ops` as a chain of IR nodes (each reads the previous output; the first reads `ins`),
    /// all with the ONNX node as origin; the last one writes the ONNX node's outputs.
    fn chain(
        &mut self,
        n: &NodeProto,
        name: &str,
        ops: Vec<(Op, &'static str)>,
        ins: Vec<ValueId>,
    ) -> Result<(), OnnxError> {
        let count = ops.len();
        let mut cur = ins;
        for (k, (op, suffix)) in ops.into_iter().enumerate() {
            let node_name = if suffix.is_empty() {
                name.to_string()
            } else {
                let mut s = format!("{name}/{suffix}");
                while self.node_names.contains(&s) {
                    s.push_str("_dup");
                }
                self.node_names.insert(s.clone());
                s
            };
            let out_names = if k + 1 == count {
                n.output.clone()
            } else {
                let mut v = format!("{name}/{suffix}_out");
                while self.names.contains_key(&v) {
                    v.push_str("_dup");
                }
                vec![v]
            };
            self.emit(n, name, op, cur, &out_names, node_name)?;
            cur = out_names
                .first()
                .and_then(|o| self.names.get(o))
                .copied()
                .into_iter()
                .collect();
        }
        Ok(())
    }

    /// Adds the IR nodes of a [`Translated::Steps`], all with the ONNX node as origin.
    fn steps(&mut self, n: &NodeProto, name: &str, steps: Vec<Step>) -> Result<(), OnnxError> {
        let count = steps.len();
        let mut prev: Option<ValueId> = None;
        for (k, step) in steps.into_iter().enumerate() {
            let mut ins = Vec::with_capacity(step.inputs.len());
            for src in step.inputs {
                ins.push(match src {
                    Src::Value(v) => v,
                    Src::Prev => prev.ok_or_else(|| self.err(n, name, "no previous step"))?,
                    Src::Const(suffix, data) => {
                        let mut c = format!("{name}_{suffix}");
                        while self.names.contains_key(&c) {
                            c.push_str("_dup");
                        }
                        let id = self.g.add_const(c.clone(), data);
                        self.names.insert(c, id);
                        id
                    }
                });
            }
            let node_name = if step.suffix.is_empty() {
                name.to_string()
            } else {
                let mut s = format!("{name}/{}", step.suffix);
                while self.node_names.contains(&s) {
                    s.push_str("_dup");
                }
                self.node_names.insert(s.clone());
                s
            };
            let out_names = if k + 1 == count {
                n.output.clone()
            } else {
                let mut v = format!("{name}/{}_out", step.suffix);
                while self.names.contains_key(&v) {
                    v.push_str("_dup");
                }
                vec![v]
            };
            self.emit(n, name, step.op, ins, &out_names, node_name)?;
            prev = out_names.first().and_then(|o| self.names.get(o)).copied();
        }
        Ok(())
    }

    /// Adds one IR node for ONNX node `n` (named `name` in errors), or folds it to constants
    /// when every input is constant.
    fn emit(
        &mut self,
        n: &NodeProto,
        name: &str,
        op: Op,
        ins: Vec<ValueId>,
        out_names: &[String],
        node_name: String,
    ) -> Result<(), OnnxError> {
        let in_shapes: Vec<&[usize]> = ins.iter().map(|&v| self.g.shape(v)).collect();
        let out_shapes =
            radix_ir::shape::infer(&op, &in_shapes).map_err(|e| self.err(n, name, e))?;
        let n_out = out_shapes.len();
        // Optional outputs the model does not read (absent or "") still get a value.
        let padded: Vec<String>;
        let out_names = if matches!(op, Op::LayerNormStats { .. } | Op::BatchNormTrain { .. }) {
            padded = (0..n_out)
                .map(|k| match out_names.get(k) {
                    Some(o) if !o.is_empty() => o.clone(),
                    _ => format!("{node_name}/unused_output_{k}"),
                })
                .collect();
            &padded[..]
        } else {
            out_names
        };
        let out_names: Vec<&String> = out_names.iter().take(n_out).collect();
        if out_names.len() < n_out && !matches!(op, Op::Split { .. }) {
            return Err(self.err(n, name, "has fewer outputs than the op produces"));
        }
        // Fold when every input is constant (or the op only needs shapes).
        let all_const = ins.iter().all(|&v| self.g.values[v.0].is_const());
        if all_const || matches!(op, Op::Shape) {
            let arrays: Vec<ArrayD<f32>> = ins
                .iter()
                .map(|&v| {
                    self.g.values[v.0]
                        .data
                        .as_deref()
                        .cloned()
                        .unwrap_or_else(|| ArrayD::zeros(IxDyn(&self.g.values[v.0].shape)))
                })
                .collect();
            let refs: Vec<&ArrayD<f32>> = arrays.iter().collect();
            if let Some(r) = eval_light(&op, &refs, &out_shapes) {
                let outs = r.map_err(|e| self.err(n, name, e))?;
                for (o, data) in out_names.iter().zip(outs) {
                    let id = self.g.add_const((*o).clone(), data);
                    self.names.insert((*o).clone(), id);
                }
                return Ok(());
            }
        }
        let mut outputs = Vec::with_capacity(n_out);
        for (o, s) in out_names.iter().zip(out_shapes) {
            let id = self.g.add_value((*o).clone(), s);
            self.names.insert((*o).clone(), id);
            outputs.push(id);
        }
        self.g.nodes.push(Node {
            name: node_name,
            op,
            inputs: ins,
            outputs,
            origin: vec![name.to_string()],
        });
        Ok(())
    }
}
