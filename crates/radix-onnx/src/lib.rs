//! ONNX import: protobuf (read with tract-onnx's generated types) to the Radix IR.
//!
//! One IR node per ONNX node (a 1-D pool is three: Unsqueeze, the 2-D pool, Squeeze, all with
//! the ONNX node as origin). Constant inputs that ONNX uses as attributes (Reshape's shape,
//! Slice's starts, Resize's scales...) are resolved into typed attributes, and constant
//! subgraphs (shape arithmetic) are folded as they are read, which static shapes make possible.

pub mod export;
mod tensor;

use std::collections::{HashMap, HashSet};
use std::path::Path;

use ndarray::{ArrayD, IxDyn};
use radix_ir::eval::eval_light;
use radix_ir::op::{
    PadMode, PoolAttrs, PoolNdAttrs, ReduceKind, ResizeNdAttrs, ResizeNdCoord, ResizeNdMode,
};
use radix_ir::{
    Activation, AutoPad, ConvAttrs, Graph, Node, Op, ResizeAttrs, ResizeCoord, ResizeMode,
    ResizeNearest, ValueId,
};
use tract_onnx::pb::{self, AttributeProto, NodeProto};
use tract_onnx::prelude::Framework;

/// Opsets whose operator semantics Radix implements (inclusive).
pub const MIN_OPSET: i64 = 7;
pub const MAX_OPSET: i64 = 21;

#[derive(Debug, thiserror::Error)]
pub enum OnnxError {
    #[error("cannot read `{path}`: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("`{model}` is not a valid ONNX model (corrupt or truncated protobuf): {msg}")]
    Decode { model: String, msg: String },
    #[error("`{model}` has no graph")]
    NoGraph { model: String },
    #[error("`{model}` uses opset {opset}; Radix supports opsets {MIN_OPSET}-{MAX_OPSET}")]
    Opset { model: String, opset: i64 },
    #[error("unsupported op `{op}` in node `{node}` of `{model}`")]
    UnsupportedOp {
        model: String,
        op: String,
        node: String,
    },
    #[error("node `{node}` ({op}) of `{model}`: {msg}")]
    Node {
        model: String,
        op: String,
        node: String,
        msg: String,
    },
    #[error(
        "node `{node}` of `{model}` reads `{input}`, which is neither a graph input, an initializer nor an earlier node's output"
    )]
    MissingInput {
        model: String,
        node: String,
        input: String,
    },
    #[error(
        "input `{input}` of `{model}` has a dynamic dimension {axis} (`{dim}`); fix it with an input shape (e.g. --input-shape {input}=1,3,224,224)"
    )]
    DynamicShape {
        model: String,
        input: String,
        axis: usize,
        dim: String,
    },
    #[error("initializer `{name}` of `{model}`: {msg}")]
    Tensor {
        model: String,
        name: String,
        msg: String,
    },
    #[error("`{model}`: {msg}")]
    Graph { model: String, msg: String },
}

impl OnnxError {
    /// The same error with control characters (newlines, ...) in the strings it quotes from the
    /// file escaped, so that even a damaged model gives a one-line message.
    fn one_line(self) -> Self {
        fn esc(s: String) -> String {
            if s.chars().any(char::is_control) {
                s.chars()
                    .map(|c| {
                        if c.is_control() {
                            c.escape_default().to_string()
                        } else {
                            c.to_string()
                        }
                    })
                    .collect()
            } else {
                s
            }
        }
        use OnnxError::*;
        match self {
            Io { path, source } => Io {
                path: esc(path),
                source,
            },
            Decode { model, msg } => Decode {
                model: esc(model),
                msg: esc(msg),
            },
            NoGraph { model } => NoGraph { model: esc(model) },
            Opset { model, opset } => Opset {
                model: esc(model),
                opset,
            },
            UnsupportedOp { model, op, node } => UnsupportedOp {
                model: esc(model),
                op: esc(op),
                node: esc(node),
            },
            Node {
                model,
                op,
                node,
                msg,
            } => Node {
                model: esc(model),
                op: esc(op),
                node: esc(node),
                msg: esc(msg),
            },
            MissingInput { model, node, input } => MissingInput {
                model: esc(model),
                node: esc(node),
                input: esc(input),
            },
            DynamicShape {
                model,
                input,
                axis,
                dim,
            } => DynamicShape {
                model: esc(model),
                input: esc(input),
                axis,
                dim: esc(dim),
            },
            Tensor { model, name, msg } => Tensor {
                model: esc(model),
                name: esc(name),
                msg: esc(msg),
            },
            Graph { model, msg } => Graph {
                model: esc(model),
                msg: esc(msg),
            },
        }
    }
}

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

pub fn import_path_with(path: &Path, opts: &ImportOptions) -> Result<Graph, OnnxError> {
    let bytes = std::fs::read(path).map_err(|source| OnnxError::Io {
        path: path.display().to_string(),
        source,
    })?;
    let name = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "model".into());
    import_bytes(&bytes, &name, opts)
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

struct Importer {
    model: String,
    opset: i64,
    g: Graph,
    names: HashMap<String, ValueId>,
    node_names: HashSet<String>,
}

fn attr<'a>(n: &'a NodeProto, name: &str) -> Option<&'a AttributeProto> {
    n.attribute.iter().find(|a| a.name == name)
}

fn norm_axis(axis: i64, rank: usize) -> Result<usize, String> {
    let a = if axis < 0 { axis + rank as i64 } else { axis };
    if a < 0 || a >= rank as i64 {
        Err(format!("axis {axis} out of range for rank {rank}"))
    } else {
        Ok(a as usize)
    }
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

    fn err(&self, n: &NodeProto, name: &str, msg: impl Into<String>) -> OnnxError {
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

enum Translated {
    Op(Op, Vec<ValueId>),
    /// An op plus constants the translation created (e.g. Gemm's transposed, alpha-scaled W),
    /// appended to its inputs in order.
    OpWithConsts(Op, Vec<ValueId>, Vec<(String, ArrayD<f32>)>),
    Const(ArrayD<f32>),
    /// Several IR nodes in a row (see `Importer::chain`): op and node-name suffix ("" = the
    /// ONNX node's own name).
    Chain(Vec<(Op, &'static str)>, Vec<ValueId>),
    /// Several IR nodes, each reading graph values, constants it creates or the previous
    /// step's output (see `Importer::steps`); the last one writes the ONNX node's outputs.
    Steps(Vec<Step>),
    /// An op producing the ONNX node's first output; the other outputs are these constants
    /// (e.g. Dropout's mask in inference).
    WithConstOutputs(Op, Vec<ValueId>, Vec<ArrayD<f32>>),
}

/// Resize's scales, sizes and roi as given (absent or empty: `None`).
type ResizeInputs = (Option<Vec<f32>>, Option<Vec<i64>>, Option<Vec<f32>>);

/// One IR node of a [`Translated::Steps`] translation.
struct Step {
    op: Op,
    /// Node-name suffix ("" = the ONNX node's own name).
    suffix: &'static str,
    inputs: Vec<Src>,
}

/// An input of a [`Step`].
enum Src {
    Value(ValueId),
    /// The previous step's (first) output.
    Prev,
    /// A constant the translation made, by name suffix.
    Const(&'static str, ArrayD<f32>),
}

struct NodeCtx<'a> {
    imp: &'a Importer,
    n: &'a NodeProto,
    name: &'a str,
    inputs: &'a [Option<ValueId>],
}

impl NodeCtx<'_> {
    fn err(&self, msg: impl Into<String>) -> OnnxError {
        self.imp.err(self.n, self.name, msg)
    }
    fn input(&self, i: usize) -> Result<ValueId, OnnxError> {
        self.inputs
            .get(i)
            .copied()
            .flatten()
            .ok_or_else(|| self.err(format!("missing required input {i}")))
    }
    fn opt_input(&self, i: usize) -> Option<ValueId> {
        self.inputs.get(i).copied().flatten()
    }
    fn shape(&self, i: usize) -> Result<&[usize], OnnxError> {
        Ok(self.imp.g.shape(self.input(i)?))
    }
    fn konst(&self, i: usize, what: &str) -> Result<&ArrayD<f32>, OnnxError> {
        let id = self.input(i)?;
        self.imp.g.const_data(id).ok_or_else(|| {
            self.err(format!(
                "{what} (input {i}, `{}`) must be a constant",
                self.imp.g.values[id.0].name
            ))
        })
    }
    fn opt_konst(&self, i: usize, what: &str) -> Result<Option<&ArrayD<f32>>, OnnxError> {
        match self.opt_input(i) {
            None => Ok(None),
            Some(_) => self.konst(i, what).map(Some),
        }
    }
    fn ints_of(&self, i: usize, what: &str) -> Result<Vec<i64>, OnnxError> {
        Ok(self.konst(i, what)?.iter().map(|&v| v as i64).collect())
    }
    fn attr_i(&self, name: &str, default: i64) -> i64 {
        attr(self.n, name).map(|a| a.i).unwrap_or(default)
    }
    fn attr_f(&self, name: &str, default: f32) -> f32 {
        attr(self.n, name).map(|a| a.f).unwrap_or(default)
    }
    fn attr_ints(&self, name: &str) -> Option<Vec<i64>> {
        attr(self.n, name).map(|a| a.ints.clone())
    }
    fn attr_s(&self, name: &str, default: &str) -> String {
        attr(self.n, name)
            .map(|a| String::from_utf8_lossy(&a.s).into_owned())
            .unwrap_or_else(|| default.to_string())
    }
    fn pair(
        &self,
        v: Option<Vec<i64>>,
        default: usize,
        what: &str,
    ) -> Result<[usize; 2], OnnxError> {
        match v {
            None => Ok([default, default]),
            Some(v) if v.len() == 2 && v.iter().all(|&x| x >= 0) => {
                Ok([v[0] as usize, v[1] as usize])
            }
            Some(v) => Err(self.err(format!(
                "{what} {v:?}: only 2-D (two non-negative values) is supported"
            ))),
        }
    }
    fn auto_pad(&self) -> Result<AutoPad, OnnxError> {
        Ok(match self.attr_s("auto_pad", "NOTSET").as_str() {
            "NOTSET" | "" => AutoPad::NotSet,
            "SAME_UPPER" => AutoPad::SameUpper,
            "SAME_LOWER" => AutoPad::SameLower,
            "VALID" => AutoPad::Valid,
            other => return Err(self.err(format!("unknown auto_pad `{other}`"))),
        })
    }
    /// Explicit pads (top, left, bottom, right) from `pads` / `auto_pad`.
    fn pads(
        &self,
        in_hw: &[usize],
        kernel: [usize; 2],
        strides: [usize; 2],
        dil: [usize; 2],
    ) -> Result<[usize; 4], OnnxError> {
        match self.auto_pad()? {
            AutoPad::NotSet => match self.attr_ints("pads") {
                None => Ok([0; 4]),
                // A 1-D window lifted to [1, L]: (begin, end) along L.
                Some(p)
                    if in_hw[0] == 1
                        && kernel[0] == 1
                        && p.len() == 2
                        && p.iter().all(|&x| x >= 0)
                        && self.shape(0).is_ok_and(|s| s.len() == 3) =>
                {
                    Ok([0, p[0] as usize, 0, p[1] as usize])
                }
                Some(p) if p.len() == 4 && p.iter().all(|&x| x >= 0) => {
                    Ok([p[0] as usize, p[1] as usize, p[2] as usize, p[3] as usize])
                }
                Some(p) => {
                    Err(self.err(format!("pads {p:?}: need four non-negative values (2-D)")))
                }
            },
            AutoPad::Valid => Ok([0; 4]),
            mode => {
                let mut pads = [0; 4];
                for i in 0..2 {
                    let out = in_hw[i].div_ceil(strides[i]);
                    let eff = (kernel[i] - 1) * dil[i] + 1;
                    let total = ((out - 1) * strides[i] + eff).saturating_sub(in_hw[i]);
                    let (lo, hi) = if mode == AutoPad::SameUpper {
                        (total / 2, total - total / 2)
                    } else {
                        (total - total / 2, total / 2)
                    };
                    pads[i] = lo;
                    pads[i + 2] = hi;
                }
                Ok(pads)
            }
        }
    }

    /// Convolution attributes; a 1-D convolution (input `[N, C, L]`, weight `[., ., k]`) is
    /// lifted to a 2-D one over `[N, C, 1, L]` with a `[1, k]` kernel.
    fn conv_attrs(&self, transpose: bool) -> Result<ConvAttrs, OnnxError> {
        let (x0, w0) = (self.shape(0)?, self.shape(1)?);
        let one_d = x0.len() == 3 && w0.len() == 3;
        let (x, w) = if one_d {
            (vec![x0[0], x0[1], 1, x0[2]], vec![w0[0], w0[1], 1, w0[2]])
        } else {
            (x0.to_vec(), w0.to_vec())
        };
        if x.len() != 4 || w.len() != 4 {
            return Err(self.err(format!(
                "only 1-D and 2-D convolution are supported (input {x0:?}, weight {w0:?})"
            )));
        }
        let lift = |v: Option<Vec<i64>>, fill: i64| -> Option<Vec<i64>> {
            match v {
                Some(v) if one_d && v.len() == 1 => Some(vec![fill, v[0]]),
                v => v,
            }
        };
        let kernel = match self.attr_ints("kernel_shape") {
            Some(k) => self.pair(lift(Some(k), 1), 1, "kernel_shape")?,
            None => [w[2], w[3]],
        };
        let strides = self.pair(lift(self.attr_ints("strides"), 1), 1, "strides")?;
        let dilations = self.pair(lift(self.attr_ints("dilations"), 1), 1, "dilations")?;
        let group = self.attr_i("group", 1);
        if group < 1 {
            return Err(self.err(format!("group {group} must be >= 1")));
        }
        if strides.contains(&0) || dilations.contains(&0) || kernel.contains(&0) {
            return Err(self.err("strides, dilations and kernel must be positive"));
        }
        let mut output_padding = [0, 0];
        let pads = if transpose {
            output_padding = self.pair(
                lift(self.attr_ints("output_padding"), 0),
                0,
                "output_padding",
            )?;
            if let Some(os) = lift(self.attr_ints("output_shape"), 1) {
                // Pads follow from the requested output size (SAME_UPPER-style split).
                let os: Vec<i64> = if os.len() > 2 {
                    os[os.len() - 2..].to_vec()
                } else {
                    os
                };
                if os.len() != 2 {
                    return Err(self.err("output_shape must give two spatial sizes"));
                }
                let mut pads = [0; 4];
                for i in 0..2 {
                    let full = strides[i] * (x[2 + i] - 1)
                        + output_padding[i]
                        + (kernel[i] - 1) * dilations[i]
                        + 1;
                    let total = full as i64 - os[i];
                    if total < 0 {
                        // An output larger than the full result: no padding, the extra
                        // rows / columns at the end hold only the bias (as the ONNX reference
                        // and onnxruntime do).
                        output_padding[i] += (-total) as usize;
                        continue;
                    }
                    let total = total as usize;
                    let (lo, hi) = if self.auto_pad()? == AutoPad::SameLower {
                        (total - total / 2, total / 2)
                    } else {
                        (total / 2, total - total / 2)
                    };
                    pads[i] = lo;
                    pads[i + 2] = hi;
                }
                pads
            } else {
                match self.auto_pad()? {
                    AutoPad::NotSet | AutoPad::Valid => {
                        self.pads(&x[2..], kernel, strides, dilations)?
                    }
                    mode => {
                        let mut pads = [0; 4];
                        for i in 0..2 {
                            let full = strides[i] * (x[2 + i] - 1)
                                + output_padding[i]
                                + (kernel[i] - 1) * dilations[i]
                                + 1;
                            let total = full.saturating_sub(x[2 + i] * strides[i]);
                            let (lo, hi) = if mode == AutoPad::SameUpper {
                                (total / 2, total - total / 2)
                            } else {
                                (total - total / 2, total / 2)
                            };
                            pads[i] = lo;
                            pads[i + 2] = hi;
                        }
                        pads
                    }
                }
            }
        } else {
            self.pads(&x[2..], kernel, strides, dilations)?
        };
        if kernel != [w[2], w[3]] {
            return Err(self.err(format!(
                "kernel_shape {kernel:?} disagrees with weight {w:?}"
            )));
        }
        Ok(ConvAttrs {
            kernel,
            strides,
            pads,
            dilations,
            group: group as usize,
            output_padding,
            activation: Activation::None,
        })
    }

    /// Pooling attributes; a 1-D pool (input `[N, C, L]`) is lifted to a 2-D window `[1, k]`
    /// over `[N, C, 1, L]`.
    fn pool_attrs(&self) -> Result<PoolAttrs, OnnxError> {
        let x = self.shape(0)?;
        let one_d = x.len() == 3;
        if x.len() != 4 && !one_d {
            return Err(self.err(format!(
                "only 1-D and 2-D pooling are supported (input {x:?})"
            )));
        }
        let lift = |v: Option<Vec<i64>>| -> Option<Vec<i64>> {
            if one_d {
                v.map(|v| if v.len() == 1 { vec![1, v[0]] } else { v })
            } else {
                v
            }
        };
        let kernel = self.pair(
            lift(Some(
                self.attr_ints("kernel_shape")
                    .ok_or_else(|| self.err("kernel_shape is required"))?,
            )),
            1,
            "kernel_shape",
        )?;
        let strides = self.pair(lift(self.attr_ints("strides")), 1, "strides")?;
        let dilations = self.pair(lift(self.attr_ints("dilations")), 1, "dilations")?;
        if strides.contains(&0) || dilations.contains(&0) || kernel.contains(&0) {
            return Err(self.err("strides, dilations and kernel must be positive"));
        }
        let in_hw = if one_d {
            vec![1, x[2]]
        } else {
            x[2..].to_vec()
        };
        let pads = self.pads(&in_hw, kernel, strides, dilations)?;
        Ok(PoolAttrs {
            kernel,
            strides,
            pads,
            dilations,
            ceil_mode: self.attr_i("ceil_mode", 0) != 0,
            count_include_pad: self.attr_i("count_include_pad", 0) != 0,
        })
    }

    fn translate(&self) -> Result<Translated, OnnxError> {
        let opset = self.imp.opset;
        let x = || self.input(0);
        let unary = |op: Op| -> Result<Translated, OnnxError> {
            Ok(Translated::Op(op, vec![self.input(0)?]))
        };
        let binary = |op: Op| -> Result<Translated, OnnxError> {
            Ok(Translated::Op(op, vec![self.input(0)?, self.input(1)?]))
        };
        let t = match self.n.op_type.as_str() {
            op @ ("Conv" | "ConvTranspose") => {
                let transpose = op == "ConvTranspose";
                let a = self.conv_attrs(transpose)?;
                let w = self.konst(1, &format!("the {op} weight"))?;
                let bias = match self.opt_input(2) {
                    Some(b) => {
                        self.konst(2, &format!("the {op} bias"))?;
                        Some(b)
                    }
                    None => None,
                };
                let op = if transpose {
                    Op::ConvTranspose(a)
                } else {
                    Op::Conv(a)
                };
                if self.shape(0)?.len() == 3 {
                    // 1-D: Unsqueeze → 2-D convolution with a [.., .., 1, k] weight → Squeeze.
                    let s = w.shape();
                    let w4 = w
                        .as_standard_layout()
                        .into_owned()
                        .into_shape_with_order(IxDyn(&[s[0], s[1], 1, s[2]]))
                        .map_err(|e| self.err(e.to_string()))?;
                    let mut ins = vec![Src::Prev, Src::Const("W_2d", w4)];
                    ins.extend(bias.map(Src::Value));
                    return Ok(Translated::Steps(vec![
                        Step {
                            op: Op::Unsqueeze { axes: vec![2] },
                            suffix: "to_2d",
                            inputs: vec![Src::Value(x()?)],
                        },
                        Step {
                            op,
                            suffix: "",
                            inputs: ins,
                        },
                        Step {
                            op: Op::Squeeze { axes: vec![2] },
                            suffix: "to_1d",
                            inputs: vec![Src::Prev],
                        },
                    ]));
                }
                let mut ins = vec![x()?, self.input(1)?];
                ins.extend(bias);
                Translated::Op(op, ins)
            }
            "Gemm" => return self.gemm(),
            "MatMul" => binary(Op::MatMul)?,
            "BatchNormalization" => {
                if opset < 9 && self.attr_i("spatial", 1) == 0 {
                    return Err(
                        self.err("attribute spatial=0 (per-element statistics) is not supported")
                    );
                }
                let training = self.attr_i("training_mode", 0) != 0;
                if training && opset < 14 {
                    return Err(self.err("training_mode=1 before opset 14 is not supported"));
                }
                let ins = (0..5)
                    .map(|i| self.input(i))
                    .collect::<Result<Vec<_>, _>>()?;
                for i in 1..5 {
                    self.konst(i, "BatchNormalization parameters")?;
                }
                let epsilon = self.attr_f("epsilon", 1e-5);
                let op = if training {
                    Op::BatchNormTrain {
                        epsilon,
                        momentum: self.attr_f("momentum", 0.9),
                    }
                } else {
                    Op::BatchNorm { epsilon }
                };
                Translated::Op(op, ins)
            }
            "Relu" => unary(Op::Relu)?,
            "Sigmoid" => unary(Op::Sigmoid)?,
            "Tanh" => unary(Op::Tanh)?,
            "Exp" => unary(Op::Exp)?,
            "HardSwish" => unary(Op::HardSwish)?,
            "HardSigmoid" => unary(Op::HardSigmoid {
                alpha: self.attr_f("alpha", 0.2),
                beta: self.attr_f("beta", 0.5),
            })?,
            "LeakyRelu" => unary(Op::LeakyRelu {
                alpha: self.attr_f("alpha", 0.01),
            })?,
            "PRelu" => binary(Op::PRelu)?,
            "Clip" => {
                let (min, max) = if opset < 11 {
                    (self.attr_f("min", f32::MIN), self.attr_f("max", f32::MAX))
                } else {
                    let lo = self
                        .opt_konst(1, "Clip min")?
                        .and_then(|a| a.iter().next().copied())
                        .unwrap_or(f32::MIN);
                    let hi = self
                        .opt_konst(2, "Clip max")?
                        .and_then(|a| a.iter().next().copied())
                        .unwrap_or(f32::MAX);
                    (lo, hi)
                };
                unary(Op::Clip { min, max })?
            }
            "Add" => binary(Op::Add)?,
            "Sub" => binary(Op::Sub)?,
            "Mul" => binary(Op::Mul)?,
            "Div" => binary(Op::Div)?,
            op @ ("MaxPool" | "AveragePool") => {
                let max = op == "MaxPool";
                let indices = max && self.n.output.get(1).is_some_and(|o| !o.is_empty());
                if indices || self.shape(0)?.len() > 4 {
                    // Pooling over 3+ axes, or MaxPool's Indices: the general float op.
                    return self.pool_nd(max, indices);
                }
                // storage_order only changes the Indices.
                let a = self.pool_attrs()?;
                self.pool(if max {
                    Op::MaxPool(a)
                } else {
                    Op::AveragePool(a)
                })?
            }
            "GlobalAveragePool" => unary(Op::GlobalAveragePool)?,
            "GlobalMaxPool" => unary(Op::GlobalMaxPool)?,
            "Concat" => {
                let rank = self.shape(0)?.len();
                let axis = norm_axis(self.attr_i("axis", 1), rank).map_err(|e| self.err(e))?;
                let ins = (0..self.inputs.len())
                    .map(|i| self.input(i))
                    .collect::<Result<Vec<_>, _>>()?;
                Translated::Op(Op::Concat { axis }, ins)
            }
            "Split" => {
                let s = self.shape(0)?;
                let axis = norm_axis(self.attr_i("axis", 0), s.len()).map_err(|e| self.err(e))?;
                let dim = s[axis];
                let given: Option<Vec<i64>> = if opset < 13 {
                    self.attr_ints("split")
                } else {
                    self.opt_konst(1, "Split sizes")?
                        .map(|a| a.iter().map(|&v| v as i64).collect())
                };
                let splits: Vec<usize> = match given {
                    Some(v) if v.iter().all(|&x| x >= 0) => v.iter().map(|&x| x as usize).collect(),
                    Some(v) => return Err(self.err(format!("negative split sizes {v:?}"))),
                    None => {
                        let k = if opset >= 18 {
                            self.attr_i("num_outputs", self.n.output.len() as i64)
                        } else {
                            self.n.output.len() as i64
                        };
                        let k = k.max(1) as usize;
                        let chunk = dim.div_ceil(k);
                        (0..k)
                            .map(|i| chunk.min(dim.saturating_sub(i * chunk)))
                            .collect()
                    }
                };
                Translated::Op(Op::Split { axis, splits }, vec![x()?])
            }
            "Slice" => return self.slice(),
            "Reshape" => {
                let s = self.shape(0)?.to_vec();
                let target = if opset < 5 {
                    self.attr_ints("shape").unwrap_or_default()
                } else {
                    self.ints_of(1, "the Reshape shape")?
                };
                let allowzero = self.attr_i("allowzero", 0) != 0;
                let total: usize = s.iter().product();
                let mut out: Vec<usize> = Vec::with_capacity(target.len());
                let mut infer_at = None;
                for (i, &d) in target.iter().enumerate() {
                    match d {
                        -1 if infer_at.is_none() => {
                            infer_at = Some(i);
                            out.push(1);
                        }
                        0 if !allowzero => out.push(
                            *s.get(i)
                                .ok_or_else(|| self.err("shape 0 refers past the input rank"))?,
                        ),
                        d if d >= 0 => out.push(d as usize),
                        d => return Err(self.err(format!("invalid target dimension {d}"))),
                    }
                }
                if let Some(i) = infer_at {
                    let known: usize = out.iter().product();
                    if known == 0 || !total.is_multiple_of(known) {
                        return Err(self.err(format!("cannot reshape {s:?} into {target:?}")));
                    }
                    out[i] = total / known;
                }
                Translated::Op(Op::Reshape { shape: out }, vec![x()?])
            }
            "Flatten" => {
                let rank = self.shape(0)?.len();
                let a = self.attr_i("axis", 1);
                let axis = if a < 0 { a + rank as i64 } else { a };
                if axis < 0 || axis > rank as i64 {
                    return Err(self.err(format!("axis {a} out of range")));
                }
                unary(Op::Flatten {
                    axis: axis as usize,
                })?
            }
            "Transpose" => {
                let rank = self.shape(0)?.len();
                let perm = match self.attr_ints("perm") {
                    Some(p) => p
                        .iter()
                        .map(|&v| norm_axis(v, rank))
                        .collect::<Result<Vec<_>, _>>()
                        .map_err(|e| self.err(e))?,
                    None => (0..rank).rev().collect(),
                };
                unary(Op::Transpose { perm })?
            }
            "Squeeze" => {
                let s = self.shape(0)?;
                let axes: Option<Vec<i64>> = if opset < 13 {
                    self.attr_ints("axes")
                } else {
                    self.opt_konst(1, "Squeeze axes")?
                        .map(|a| a.iter().map(|&v| v as i64).collect())
                };
                let axes = match axes {
                    Some(a) => a
                        .iter()
                        .map(|&v| norm_axis(v, s.len()))
                        .collect::<Result<Vec<_>, _>>()
                        .map_err(|e| self.err(e))?,
                    None => s
                        .iter()
                        .enumerate()
                        .filter(|(_, d)| **d == 1)
                        .map(|(i, _)| i)
                        .collect(),
                };
                unary(Op::Squeeze { axes })?
            }
            "Unsqueeze" => {
                let rank = self.shape(0)?.len();
                let axes: Vec<i64> = if opset < 13 {
                    self.attr_ints("axes")
                        .ok_or_else(|| self.err("axes are required"))?
                } else {
                    self.ints_of(1, "Unsqueeze axes")?
                };
                let out_rank = rank + axes.len();
                let mut axes = axes
                    .iter()
                    .map(|&v| norm_axis(v, out_rank))
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| self.err(e))?;
                axes.sort_unstable();
                unary(Op::Unsqueeze { axes })?
            }
            "Resize" | "Upsample" => return self.resize(),
            "Pad" => {
                let rank = self.shape(0)?.len();
                let (pads, value) = if opset < 11 {
                    (
                        self.attr_ints("pads")
                            .ok_or_else(|| self.err("pads are required"))?,
                        self.attr_f("value", 0.0),
                    )
                } else {
                    let p = self.ints_of(1, "Pad pads")?;
                    let v = self
                        .opt_konst(2, "Pad value")?
                        .and_then(|a| a.iter().next().copied())
                        .unwrap_or(0.0);
                    let p = match self.opt_input(3) {
                        None => p,
                        Some(_) => {
                            // pads for the listed axes only: begins, then ends.
                            let axes = self
                                .ints_of(3, "Pad axes")?
                                .iter()
                                .map(|&a| norm_axis(a, rank))
                                .collect::<Result<Vec<_>, _>>()
                                .map_err(|e| self.err(e))?;
                            if p.len() != 2 * axes.len() {
                                return Err(self.err(format!(
                                    "pads {p:?}: need {} values for axes {axes:?}",
                                    2 * axes.len()
                                )));
                            }
                            let mut full = vec![0i64; 2 * rank];
                            for (i, &ax) in axes.iter().enumerate() {
                                full[ax] = p[i];
                                full[rank + ax] = p[axes.len() + i];
                            }
                            full
                        }
                    };
                    (p, v)
                };
                if pads.len() != 2 * rank || pads.iter().any(|&p| p < 0) {
                    return Err(self.err(format!(
                        "pads {pads:?}: need {} non-negative values",
                        2 * rank
                    )));
                }
                let mode = match self.attr_s("mode", "constant").as_str() {
                    "constant" => PadMode::Constant,
                    "reflect" => PadMode::Reflect,
                    "edge" => PadMode::Edge,
                    m => return Err(self.err(format!("pad mode `{m}` is not supported"))),
                };
                let pairs = (0..rank)
                    .map(|i| (pads[i] as usize, pads[i + rank] as usize))
                    .collect();
                unary(Op::Pad {
                    pads: pairs,
                    mode,
                    value,
                })?
            }
            "Softmax" => {
                let rank = self.shape(0)?.len();
                let legacy = opset < 13;
                let axis = norm_axis(self.attr_i("axis", if legacy { 1 } else { -1 }), rank)
                    .map_err(|e| self.err(e))?;
                unary(Op::Softmax { axis, legacy })?
            }
            op @ ("ReduceMean" | "ReduceMax" | "ReduceMin" | "ReduceSum") => {
                let Some(axes) = self.reduce_axes(op == "ReduceSum")? else {
                    return unary(Op::Identity);
                };
                let keepdims = self.attr_i("keepdims", 1) != 0;
                unary(match op {
                    "ReduceMean" => Op::ReduceMean { axes, keepdims },
                    "ReduceMax" => Op::ReduceMax { axes, keepdims },
                    "ReduceMin" => Op::ReduceMin { axes, keepdims },
                    _ => Op::ReduceSum { axes, keepdims },
                })?
            }
            op @ ("ReduceProd" | "ReduceL1" | "ReduceL2" | "ReduceSumSquare" | "ReduceLogSum"
            | "ReduceLogSumExp") => {
                let Some(axes) = self.reduce_axes(false)? else {
                    return unary(Op::Identity);
                };
                let kind = match op {
                    "ReduceProd" => ReduceKind::Prod,
                    "ReduceL1" => ReduceKind::L1,
                    "ReduceL2" => ReduceKind::L2,
                    "ReduceSumSquare" => ReduceKind::SumSquare,
                    "ReduceLogSum" => ReduceKind::LogSum,
                    _ => ReduceKind::LogSumExp,
                };
                unary(Op::Reduce {
                    kind,
                    axes,
                    keepdims: self.attr_i("keepdims", 1) != 0,
                })?
            }
            "ArgMax" => {
                let rank = self.shape(0)?.len();
                let axis = norm_axis(self.attr_i("axis", 0), rank).map_err(|e| self.err(e))?;
                unary(Op::ArgMax {
                    axis,
                    keepdims: self.attr_i("keepdims", 1) != 0,
                    select_last_index: self.attr_i("select_last_index", 0) != 0,
                })?
            }
            "LRN" => {
                let size = self.attr_i("size", 0);
                if size < 1 {
                    return Err(self.err(format!("attribute size={size} must be >= 1")));
                }
                unary(Op::Lrn {
                    size: size as usize,
                    alpha: self.attr_f("alpha", 1e-4),
                    beta: self.attr_f("beta", 0.75),
                    bias: self.attr_f("bias", 1.0),
                })?
            }
            op @ ("Sum" | "Mean" | "Max" | "Min") => {
                let ins = (0..self.inputs.len())
                    .map(|i| self.input(i))
                    .collect::<Result<Vec<_>, _>>()?;
                let op = match (op, ins.len()) {
                    (_, 0) => return Err(self.err("needs at least one input")),
                    (_, 1) => Op::Identity,
                    // Two-input Sum is Add, which has an integer kernel.
                    ("Sum", 2) => Op::Add,
                    ("Sum", _) => Op::Sum,
                    ("Mean", _) => Op::Mean,
                    ("Max", _) => Op::Max,
                    _ => Op::Min,
                };
                Translated::Op(op, ins)
            }
            "Elu" => unary(Op::Elu {
                alpha: self.attr_f("alpha", 1.0),
            })?,
            "Selu" => unary(Op::Selu {
                alpha: self.attr_f("alpha", 1.673_263_2),
                gamma: self.attr_f("gamma", 1.050_701),
            })?,
            "Softplus" => unary(Op::Softplus)?,
            "Gelu" => {
                let tanh = match self.attr_s("approximate", "none").as_str() {
                    "none" => false,
                    "tanh" => true,
                    m => {
                        return Err(self.err(format!(
                            "attribute approximate=`{m}` is not supported (none, tanh)"
                        )));
                    }
                };
                unary(Op::Gelu { tanh })?
            }
            "Erf" => unary(Op::Erf)?,
            "Sqrt" => unary(Op::Sqrt)?,
            "Reciprocal" => unary(Op::Reciprocal)?,
            "Abs" => unary(Op::Abs)?,
            "Neg" => unary(Op::Neg)?,
            "Log" => unary(Op::Log)?,
            "Pow" => binary(Op::Pow)?,
            op @ ("DepthToSpace" | "SpaceToDepth") => {
                let b = self.attr_i("blocksize", 0);
                if b < 1 {
                    return Err(self.err(format!("attribute blocksize={b} must be >= 1")));
                }
                let blocksize = b as usize;
                if op == "SpaceToDepth" {
                    unary(Op::SpaceToDepth { blocksize })?
                } else {
                    let crd = match self.attr_s("mode", "DCR").as_str() {
                        "DCR" => false,
                        "CRD" => true,
                        m => {
                            return Err(self
                                .err(format!("attribute mode=`{m}` is not supported (DCR, CRD)")));
                        }
                    };
                    unary(Op::DepthToSpace { blocksize, crd })?
                }
            }
            "InstanceNormalization" => Translated::Op(
                Op::InstanceNorm {
                    epsilon: self.attr_f("epsilon", 1e-5),
                },
                vec![x()?, self.input(1)?, self.input(2)?],
            ),
            "LayerNormalization" => {
                if self.attr_i("stash_type", 1) != 1 {
                    return Err(self.err("stash_type other than 1 (float32) is not supported"));
                }
                let rank = self.shape(0)?.len();
                let axis = norm_axis(self.attr_i("axis", -1), rank).map_err(|e| self.err(e))?;
                let mut ins = vec![x()?, self.input(1)?];
                if let Some(b) = self.opt_input(2) {
                    ins.push(b);
                }
                let epsilon = self.attr_f("epsilon", 1e-5);
                let op = if self.n.output.iter().skip(1).any(|o| !o.is_empty()) {
                    Op::LayerNormStats { axis, epsilon }
                } else {
                    Op::LayerNorm { axis, epsilon }
                };
                Translated::Op(op, ins)
            }
            "Tile" => {
                let reps = self.ints_of(1, "Tile repeats")?;
                if reps.iter().any(|&r| r < 1) {
                    return Err(self.err(format!("repeats {reps:?} must be >= 1")));
                }
                unary(Op::Tile {
                    repeats: reps.iter().map(|&r| r as usize).collect(),
                })?
            }
            "Expand" => {
                let want = self.ints_of(1, "the Expand shape")?;
                if want.iter().any(|&d| d < 0) {
                    return Err(self.err(format!("shape {want:?} has a negative dimension")));
                }
                let want: Vec<usize> = want.iter().map(|&d| d as usize).collect();
                let x_shape = self.shape(0)?;
                let shape = radix_ir::shape::broadcast(x_shape, &want).ok_or_else(|| {
                    self.err(format!(
                        "input {x_shape:?} does not broadcast with {want:?}"
                    ))
                })?;
                unary(Op::Expand { shape })?
            }
            "Gather" => {
                let rank = self.shape(0)?.len();
                let axis = norm_axis(self.attr_i("axis", 0), rank).map_err(|e| self.err(e))?;
                self.konst(1, "Gather indices")?;
                binary(Op::Gather { axis })?
            }
            "Identity" => unary(Op::Identity)?,
            "Dropout" => {
                // Inference: the identity, mask all ones. Training mode (opset 12: input 2)
                // drops at random unless the ratio is 0.
                if opset >= 12 && self.opt_input(2).is_some() {
                    let training = self.konst(2, "Dropout training_mode")?;
                    if training.iter().any(|&t| t != 0.0) {
                        let ratio = match self.opt_input(1) {
                            Some(_) => self.konst(1, "Dropout ratio")?.iter().copied().next(),
                            None => Some(0.5),
                        };
                        if ratio != Some(0.0) {
                            return Err(self.err(
                                "training_mode=1 with a non-zero ratio (random output) is not supported",
                            ));
                        }
                    }
                }
                let mask = ArrayD::from_elem(IxDyn(self.shape(0)?), 1.0);
                Translated::WithConstOutputs(Op::Dropout, vec![x()?], vec![mask])
            }
            "Cast" => {
                let to = self.attr_i("to", 1) as i32;
                if let Some(c) = self.imp.g.const_data(x()?) {
                    let c = if tensor::is_integer_type(to) {
                        c.mapv(f32::trunc)
                    } else {
                        c.clone()
                    };
                    return Ok(Translated::Const(c));
                }
                if tensor::is_integer_type(to) {
                    return Err(self.err("casting a computed (non-constant) tensor to an integer type is not supported"));
                }
                unary(Op::Cast)?
            }
            "Shape" => {
                let s = self.shape(0)?;
                let rank = s.len() as i64;
                let clamp = |v: i64| (if v < 0 { v + rank } else { v }).clamp(0, rank) as usize;
                let start = clamp(self.attr_i("start", 0));
                let end = clamp(self.attr_i("end", rank));
                let dims: Vec<f32> = s[start..end.max(start)].iter().map(|&d| d as f32).collect();
                Translated::Const(
                    ArrayD::from_shape_vec(IxDyn(&[dims.len()]), dims)
                        .map_err(|e| self.err(e.to_string()))?,
                )
            }
            "Constant" => return self.constant(),
            "ConstantOfShape" => {
                let shape: Vec<usize> = self
                    .ints_of(0, "the shape")?
                    .iter()
                    .map(|&v| v.max(0) as usize)
                    .collect();
                let value = match attr(self.n, "value").and_then(|a| a.t.as_ref()) {
                    Some(t) => tensor::to_f32(t)
                        .map_err(|e| self.err(e))?
                        .iter()
                        .next()
                        .copied()
                        .unwrap_or(0.0),
                    None => 0.0,
                };
                Translated::Const(ArrayD::from_elem(IxDyn(&shape), value))
            }
            "Floor" => unary(Op::Floor)?,
            "Ceil" => unary(Op::Ceil)?,
            other => {
                return Err(OnnxError::UnsupportedOp {
                    model: self.imp.model.clone(),
                    op: other.to_string(),
                    node: self.name.to_string(),
                });
            }
        };
        Ok(t)
    }

    /// Pooling over any number of spatial axes (Op::PoolNd), with MaxPool's Indices when
    /// `indices`.
    fn pool_nd(&self, max: bool, indices: bool) -> Result<Translated, OnnxError> {
        let x = self.shape(0)?.to_vec();
        if x.len() < 3 {
            return Err(self.err(format!("pooling needs rank >= 3, got {x:?}")));
        }
        let d = x.len() - 2;
        let per_axis = |name: &str, default: usize| -> Result<Vec<usize>, OnnxError> {
            match self.attr_ints(name) {
                None => Ok(vec![default; d]),
                Some(v) if v.len() == d && v.iter().all(|&s| s > 0) => {
                    Ok(v.iter().map(|&s| s as usize).collect())
                }
                Some(v) => Err(self.err(format!("{name} {v:?}: need {d} positive values"))),
            }
        };
        if self.attr_ints("kernel_shape").is_none() {
            return Err(self.err("kernel_shape is required"));
        }
        let kernel = per_axis("kernel_shape", 1)?;
        let strides = per_axis("strides", 1)?;
        let dilations = per_axis("dilations", 1)?;
        let pads: Vec<(usize, usize)> = match self.auto_pad()? {
            AutoPad::NotSet => match self.attr_ints("pads") {
                None => vec![(0, 0); d],
                Some(p) if p.len() == 2 * d && p.iter().all(|&v| v >= 0) => {
                    (0..d).map(|i| (p[i] as usize, p[d + i] as usize)).collect()
                }
                Some(p) => {
                    return Err(self.err(format!("pads {p:?}: need {} non-negative values", 2 * d)));
                }
            },
            AutoPad::Valid => vec![(0, 0); d],
            mode => (0..d)
                .map(|i| {
                    let out = x[2 + i].div_ceil(strides[i]);
                    let eff = (kernel[i] - 1) * dilations[i] + 1;
                    let total = ((out - 1) * strides[i] + eff).saturating_sub(x[2 + i]);
                    if mode == AutoPad::SameUpper {
                        (total / 2, total - total / 2)
                    } else {
                        (total - total / 2, total / 2)
                    }
                })
                .collect(),
        };
        let storage_order = self.attr_i("storage_order", 0);
        if !(0..=1).contains(&storage_order) {
            return Err(self.err(format!("storage_order={storage_order} must be 0 or 1")));
        }
        let op = Op::PoolNd(PoolNdAttrs {
            max,
            kernel,
            strides,
            pads,
            dilations,
            ceil_mode: self.attr_i("ceil_mode", 0) != 0,
            count_include_pad: self.attr_i("count_include_pad", 0) != 0,
            indices: indices.then_some(storage_order == 1),
        });
        Ok(Translated::Op(op, vec![self.input(0)?]))
    }

    /// A 2-D pool as is; a 1-D pool (rank-3 input) as Unsqueeze → 2-D pool → Squeeze on axis 2
    /// (both unit-axis views, free on every platform).
    fn pool(&self, op: Op) -> Result<Translated, OnnxError> {
        if self.shape(0)?.len() == 3 {
            Ok(Translated::Chain(
                vec![
                    (Op::Unsqueeze { axes: vec![2] }, "to_2d"),
                    (op, ""),
                    (Op::Squeeze { axes: vec![2] }, "to_1d"),
                ],
                vec![self.input(0)?],
            ))
        } else {
            Ok(Translated::Op(op, vec![self.input(0)?]))
        }
    }

    /// Axes of a Reduce* node, sorted; `None` when the node is the identity
    /// (`noop_with_empty_axes=1` and no axes). Axes are an attribute before opset 18 (before 13
    /// for ReduceSum) and an optional input from then on; no axes means every axis.
    fn reduce_axes(&self, sum: bool) -> Result<Option<Vec<usize>>, OnnxError> {
        let rank = self.shape(0)?.len();
        let as_input = self.imp.opset >= if sum { 13 } else { 18 };
        let axes: Option<Vec<i64>> = if as_input {
            self.opt_konst(1, "the reduce axes")?
                .map(|a| a.iter().map(|&v| v as i64).collect())
        } else {
            self.attr_ints("axes")
        };
        let mut axes = match axes {
            Some(a) if !a.is_empty() => a
                .iter()
                .map(|&v| norm_axis(v, rank))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| self.err(e))?,
            _ if self.attr_i("noop_with_empty_axes", 0) != 0 => return Ok(None),
            _ => (0..rank).collect(),
        };
        axes.sort_unstable();
        axes.dedup();
        Ok(Some(axes))
    }

    fn constant(&self) -> Result<Translated, OnnxError> {
        let a = self
            .n
            .attribute
            .first()
            .ok_or_else(|| self.err("has no value"))?;
        let data = match a.name.as_str() {
            "value" => tensor::to_f32(
                a.t.as_ref()
                    .ok_or_else(|| self.err("value is not a tensor"))?,
            )
            .map_err(|e| self.err(e))?,
            "value_float" => ArrayD::from_elem(IxDyn(&[]), a.f),
            "value_int" => ArrayD::from_elem(IxDyn(&[]), a.i as f32),
            "value_floats" => ArrayD::from_shape_vec(IxDyn(&[a.floats.len()]), a.floats.clone())
                .map_err(|e| self.err(e.to_string()))?,
            "value_ints" => ArrayD::from_shape_vec(
                IxDyn(&[a.ints.len()]),
                a.ints.iter().map(|&v| v as f32).collect(),
            )
            .map_err(|e| self.err(e.to_string()))?,
            other => return Err(self.err(format!("constant attribute `{other}` is not supported"))),
        };
        Ok(Translated::Const(data))
    }

    fn gemm(&self) -> Result<Translated, OnnxError> {
        let a_shape = self.shape(0)?;
        if a_shape.len() != 2 {
            return Err(self.err(format!("input A must be 2-D, got {a_shape:?}")));
        }
        let trans_a = self.attr_i("transA", 0) != 0;
        let alpha = self.attr_f("alpha", 1.0);
        let beta = self.attr_f("beta", 1.0);
        let b = self.konst(1, "the Gemm weight B")?;
        if b.ndim() != 2 {
            return Err(self.err("B must be 2-D"));
        }
        // W is [N, K]: B as given when transB=1, else Bᵀ.
        let w = if self.attr_i("transB", 0) != 0 {
            b.clone()
        } else {
            b.t().as_standard_layout().into_owned()
        };
        let w = if alpha != 1.0 {
            w.mapv(|v| v * alpha)
        } else {
            w
        };
        let n = w.shape()[0];
        let m = if trans_a { a_shape[1] } else { a_shape[0] };
        let mut bias = None;
        // A bias C that is not one value per output (e.g. [M, N]) is added after the product.
        let mut add = None;
        if let Some(c) = self.opt_konst(2, "the Gemm bias C")? {
            match c.len() {
                1 => bias = Some(vec![c.iter().next().copied().unwrap_or(0.0) * beta; n]),
                l if l == n && c.shape().iter().rev().skip(1).all(|&d| d == 1) => {
                    bias = Some(c.iter().map(|&v| v * beta).collect())
                }
                _ => {
                    if radix_ir::shape::broadcast(c.shape(), &[m, n]).as_deref() != Some(&[m, n]) {
                        return Err(self.err(format!(
                            "bias C of shape {:?} does not broadcast to [{m}, {n}]",
                            c.shape()
                        )));
                    }
                    add = Some(c.mapv(|v| v * beta));
                }
            }
        }
        let gemm = Op::Gemm {
            activation: Activation::None,
        };
        if !trans_a && add.is_none() {
            let mut consts = vec![(format!("{}_W", self.name), w)];
            if let Some(b) = bias {
                consts.push((
                    format!("{}_b", self.name),
                    ArrayD::from_shape_vec(IxDyn(&[n]), b).map_err(|e| self.err(e.to_string()))?,
                ));
            }
            return Ok(Translated::OpWithConsts(gemm, vec![self.input(0)?], consts));
        }
        let mut steps = Vec::new();
        let a = if trans_a {
            steps.push(Step {
                op: Op::Transpose { perm: vec![1, 0] },
                suffix: "transpose_a",
                inputs: vec![Src::Value(self.input(0)?)],
            });
            Src::Prev
        } else {
            Src::Value(self.input(0)?)
        };
        let mut gemm_ins = vec![a, Src::Const("W", w)];
        if let Some(b) = bias {
            gemm_ins.push(Src::Const(
                "b",
                ArrayD::from_shape_vec(IxDyn(&[n]), b).map_err(|e| self.err(e.to_string()))?,
            ));
        }
        let last = add.is_none();
        steps.push(Step {
            op: gemm,
            suffix: if last { "" } else { "gemm" },
            inputs: gemm_ins,
        });
        if let Some(c) = add {
            steps.push(Step {
                op: Op::Add,
                suffix: "",
                inputs: vec![Src::Prev, Src::Const("C", c)],
            });
        }
        Ok(Translated::Steps(steps))
    }

    fn slice(&self) -> Result<Translated, OnnxError> {
        let s = self.shape(0)?.to_vec();
        let rank = s.len();
        let (starts, ends, axes, steps) = if self.imp.opset < 10 {
            let st = self
                .attr_ints("starts")
                .ok_or_else(|| self.err("starts are required"))?;
            let en = self
                .attr_ints("ends")
                .ok_or_else(|| self.err("ends are required"))?;
            let ax = self.attr_ints("axes");
            (st, en, ax, None)
        } else {
            let st = self.ints_of(1, "Slice starts")?;
            let en = self.ints_of(2, "Slice ends")?;
            let ax = self
                .opt_konst(3, "Slice axes")?
                .map(|a| a.iter().map(|&v| v as i64).collect());
            let sp: Option<Vec<i64>> = self
                .opt_konst(4, "Slice steps")?
                .map(|a| a.iter().map(|&v| v as i64).collect());
            (st, en, ax, sp)
        };
        let axes: Vec<i64> = axes.unwrap_or_else(|| (0..starts.len() as i64).collect());
        let steps: Vec<i64> = steps.unwrap_or_else(|| vec![1; starts.len()]);
        if ends.len() != starts.len() || axes.len() != starts.len() || steps.len() != starts.len() {
            return Err(self.err("starts, ends, axes and steps differ in length"));
        }
        let mut full_s: Vec<i64> = vec![0; rank];
        let mut full_e: Vec<i64> = s.iter().map(|&d| d as i64).collect();
        let mut full_st: Vec<i64> = vec![1; rank];
        for i in 0..starts.len() {
            let ax = norm_axis(axes[i], rank).map_err(|e| self.err(e))?;
            let d = s[ax] as i64;
            let st = steps[i];
            if st == 0 {
                return Err(self.err("slice step 0"));
            }
            // f32 storage saturates INT64 sentinels; clamp per ONNX.
            let norm = |v: i64| if v < 0 { v + d } else { v };
            let (mut b, mut e) = (norm(starts[i]), norm(ends[i]));
            if st > 0 {
                b = b.clamp(0, d);
                e = e.clamp(0, d);
            } else {
                b = b.clamp(-1, d - 1);
                e = e.clamp(-1, d - 1);
            }
            full_s[ax] = b;
            full_e[ax] = e;
            full_st[ax] = st;
        }
        Ok(Translated::Op(
            Op::Slice {
                starts: full_s,
                ends: full_e,
                steps: full_st,
            },
            vec![self.input(0)?],
        ))
    }

    fn resize(&self) -> Result<Translated, OnnxError> {
        let x = self.shape(0)?.to_vec();
        let rank = x.len();
        let opset = self.imp.opset;
        let upsample = self.n.op_type == "Upsample";
        let modern = !upsample && opset >= 11;
        let v18 = !upsample && opset >= 18;
        let mode_s = self.attr_s("mode", "nearest");
        let (scales, sizes, roi): ResizeInputs = if upsample && opset < 9 {
            let sc = attr(self.n, "scales")
                .map(|a| a.floats.clone())
                .ok_or_else(|| {
                    self.err("attribute scales is required (Upsample before opset 9)")
                })?;
            (Some(sc), None, None)
        } else if !modern {
            let what = if upsample {
                "Upsample scales"
            } else {
                "Resize scales"
            };
            (
                Some(self.konst(1, what)?.iter().copied().collect()),
                None,
                None,
            )
        } else {
            let roi = self
                .opt_konst(1, "Resize roi")?
                .filter(|a| !a.is_empty())
                .map(|a| a.iter().copied().collect());
            let sc = self
                .opt_konst(2, "Resize scales")?
                .filter(|a| !a.is_empty())
                .map(|a| a.iter().copied().collect());
            let sz = self
                .opt_konst(3, "Resize sizes")?
                .filter(|a| !a.is_empty())
                .map(|a| a.iter().map(|&v| v as i64).collect());
            (sc, sz, roi)
        };
        // The axes scales / sizes / roi refer to (opset 18: `axes`), in that order.
        let axes: Vec<usize> = match self.attr_ints("axes").filter(|_| v18) {
            Some(a) => {
                let axes = a
                    .iter()
                    .map(|&v| norm_axis(v, rank))
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| self.err(e))?;
                let mut sorted = axes.clone();
                sorted.sort_unstable();
                sorted.dedup();
                if sorted.len() != axes.len() {
                    return Err(self.err(format!("axes {a:?} repeat an axis")));
                }
                axes
            }
            None => (0..rank).collect(),
        };
        let policy = if v18 {
            self.attr_s("keep_aspect_ratio_policy", "stretch")
        } else {
            "stretch".to_string()
        };
        let mut full_scales = vec![1f64; rank];
        let mut out: Vec<usize> = x.clone();
        match (sizes, scales) {
            (Some(sz), _) => {
                if sz.len() != axes.len() || sz.iter().any(|&v| v < 1) {
                    return Err(self.err(format!(
                        "sizes {sz:?}: need {} positive values (one per resized axis)",
                        axes.len()
                    )));
                }
                for (&ax, &n) in axes.iter().zip(&sz) {
                    full_scales[ax] = n as f64 / x[ax] as f64;
                    out[ax] = n as usize;
                }
                if policy != "stretch" {
                    let it = axes.iter().map(|&a| full_scales[a]);
                    let s = match policy.as_str() {
                        "not_larger" => it.fold(f64::INFINITY, f64::min),
                        "not_smaller" => it.fold(0.0, f64::max),
                        p => {
                            return Err(
                                self.err(format!("keep_aspect_ratio_policy `{p}` is not known"))
                            );
                        }
                    };
                    for &ax in &axes {
                        full_scales[ax] = s;
                        out[ax] = (s * x[ax] as f64 + 0.5) as usize;
                    }
                }
            }
            (None, Some(sc)) => {
                if sc.len() != axes.len() || sc.iter().any(|&v| !(v > 0.0 && v.is_finite())) {
                    return Err(self.err(format!(
                        "scales {sc:?}: need {} positive values (one per resized axis)",
                        axes.len()
                    )));
                }
                for (&ax, &v) in axes.iter().zip(&sc) {
                    full_scales[ax] = v as f64;
                    out[ax] = (v as f64 * x[ax] as f64) as usize;
                }
            }
            (None, None) => return Err(self.err("needs scales or sizes")),
        }
        if x.contains(&0) || out.contains(&0) {
            return Err(self.err(format!("resize from {x:?} to {out:?}: empty tensor")));
        }
        let mut full_roi = vec![(0f32, 1f32); rank];
        if let Some(r) = &roi {
            if r.len() != 2 * axes.len() {
                return Err(self.err(format!(
                    "roi {r:?}: need {} values (start and end per resized axis)",
                    2 * axes.len()
                )));
            }
            for (i, &ax) in axes.iter().enumerate() {
                full_roi[ax] = (r[i], r[axes.len() + i]);
            }
        }
        let coord_s = if modern {
            self.attr_s("coordinate_transformation_mode", "half_pixel")
        } else {
            "asymmetric".to_string()
        };
        let coord = match coord_s.as_str() {
            "half_pixel" => ResizeNdCoord::HalfPixel,
            "half_pixel_symmetric" if v18 => ResizeNdCoord::HalfPixelSymmetric,
            "pytorch_half_pixel" => ResizeNdCoord::PytorchHalfPixel,
            "align_corners" => ResizeNdCoord::AlignCorners,
            "asymmetric" => ResizeNdCoord::Asymmetric,
            "tf_half_pixel_for_nearest" => ResizeNdCoord::TfHalfPixelForNearest,
            "tf_crop_and_resize" => ResizeNdCoord::TfCropAndResize,
            m => {
                return Err(self.err(format!(
                    "coordinate_transformation_mode `{m}` is not supported"
                )));
            }
        };
        if coord == ResizeNdCoord::TfCropAndResize && roi.is_none() {
            return Err(self.err("tf_crop_and_resize needs a roi input"));
        }
        let nearest = if modern {
            match self.attr_s("nearest_mode", "round_prefer_floor").as_str() {
                "round_prefer_floor" => ResizeNearest::RoundPreferFloor,
                "round_prefer_ceil" => ResizeNearest::RoundPreferCeil,
                "floor" => ResizeNearest::Floor,
                "ceil" => ResizeNearest::Ceil,
                m => return Err(self.err(format!("nearest_mode `{m}` is not supported"))),
            }
        } else {
            ResizeNearest::Floor
        };
        let mode = match mode_s.as_str() {
            "nearest" => ResizeNdMode::Nearest(nearest),
            "linear" | "bilinear" => ResizeNdMode::Linear,
            "cubic" if modern => ResizeNdMode::Cubic {
                a: self.attr_f("cubic_coeff_a", -0.75),
            },
            m => return Err(self.err(format!("resize mode `{m}` is not supported"))),
        };
        let antialias = v18 && self.attr_i("antialias", 0) != 0;
        if antialias && matches!(mode, ResizeNdMode::Nearest(_)) {
            return Err(self.err("antialias = 1 is not defined for nearest resize"));
        }
        let exclude_outside = modern && self.attr_i("exclude_outside", 0) != 0;
        // Before opset 19, align_corners divides by the output length; from 19 on by the
        // unrounded scaled length (in * scale - 1), which the general op uses.
        if opset < 19 && coord == ResizeNdCoord::AlignCorners {
            for ax in 0..rank {
                full_scales[ax] = out[ax] as f64 / x[ax] as f64;
            }
        }
        let spatial_only = rank == 4 && out[..2] == x[..2] && full_scales[..2] == [1.0, 1.0];
        let old_coord = match coord {
            ResizeNdCoord::HalfPixel => Some(ResizeCoord::HalfPixel),
            ResizeNdCoord::PytorchHalfPixel => Some(ResizeCoord::PytorchHalfPixel),
            ResizeNdCoord::AlignCorners => Some(ResizeCoord::AlignCorners),
            ResizeNdCoord::Asymmetric => Some(ResizeCoord::Asymmetric),
            ResizeNdCoord::TfHalfPixelForNearest => Some(ResizeCoord::TfHalfPixelForNearest),
            ResizeNdCoord::HalfPixelSymmetric | ResizeNdCoord::TfCropAndResize => None,
        };
        let old_mode = match mode {
            ResizeNdMode::Nearest(_) if !exclude_outside => Some(ResizeMode::Nearest),
            ResizeNdMode::Linear => Some(ResizeMode::Linear),
            _ => None,
        };
        let scaled_len_integral = opset < 19
            || coord != ResizeNdCoord::AlignCorners
            || (0..rank).all(|i| full_scales[i] * x[i] as f64 == out[i] as f64);
        if let (true, Some(coord), Some(mode), false, true) = (
            spatial_only,
            old_coord,
            old_mode,
            antialias,
            scaled_len_integral,
        ) {
            // The NCHW spatial resize the NPU runs (f32 coordinates).
            let scales = [full_scales[2] as f32, full_scales[3] as f32];
            return Ok(Translated::Op(
                Op::Resize(ResizeAttrs {
                    mode,
                    coord,
                    nearest,
                    scales,
                    out_hw: [out[2], out[3]],
                }),
                vec![self.input(0)?],
            ));
        }
        Ok(Translated::Op(
            Op::ResizeNd(ResizeNdAttrs {
                mode,
                coord,
                scales: full_scales,
                out_shape: out,
                roi: full_roi,
                antialias,
                exclude_outside,
                extrapolation: self.attr_f("extrapolation_value", 0.0),
            }),
            vec![self.input(0)?],
        ))
    }
}
