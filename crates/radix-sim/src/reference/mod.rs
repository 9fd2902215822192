//! The independent reference engine for quantized models: the simplest, obviously correct
//! reading of `docs/FIXED_POINT.md`.
//!
//! It is written separately from the fast engine ([`crate::fixed`]) and shares nothing with it
//! but the `radix_ir::qmodel` primitives (`Requant::apply`, `AddRequant::apply`, `saturate`,
//! `QParams::quantize` / `dequantize`), so that a bit-true match of the two on every tensor means
//! something. Plain loops over output elements with explicit index arithmetic, i64 accumulators,
//! no GEMM, no threads, no unsafe; it is slow on purpose.
//!
//! Choices where the document leaves room (the fast engine must make the same ones):
//! * The kernel defines the arithmetic, the op only its geometry and attributes: e.g. a `Mul`
//!   kernel on a `Div` node multiplies by the quantized constant as given.
//! * PassThrough requires every output's parameters to equal input 0's (and Concat's copied
//!   inputs to equal the output's); otherwise the node is malformed and reported.
//! * PassThrough on `Relu` gives `max(q, 0)`, on `Clip { min, max }` clamps to
//!   `[quantize(min), quantize(max)]` at the output parameters (max applied first, then min).
//! * MaxPool over a window with no cell inside the input is an error (ONNX never builds one).
//! * AvgPool's divisor `n`: with `count_include_pad`, kernel cells inside the padded input
//!   (`-pad_top <= iy < H + pad_bottom`, same for x; ceil_mode cells past the padding do not
//!   count), otherwise the cells inside the input; `requant[n]` is then applied to the sum of the
//!   in-input cells.
//! * PRelu's channel is axis 1 (a single channel for rank < 2); `neg.len()` must equal it.
//! * Model inputs are quantized with `QParams::quantize`; the observer sees node outputs only
//!   (not the quantized model inputs).
//! * CPU nodes: activations dequantized with their parameters, constants from the float graph,
//!   float op with f64 accumulation (Conv, Gemm, MatMul, AvgPool) or `eval_light`, output
//!   quantized with `QParams::quantize`. A CPU node whose float result lands within an ulp of a
//!   rounding boundary may legitimately differ from another float implementation by one code.
//! * A batch whose axis 0 is `k` times the graph's runs as `k` separate items, outputs
//!   concatenated on axis 0, the observer called for each item.

pub(crate) mod cpu;
mod index;
mod int;
mod layout;

use ndarray::{ArrayD, ArrayViewD, IxDyn};
use radix_ir::qmodel::{Placement, QKernel, QParams, QTensor, QuantModel};
use radix_ir::{Node, ValueId};

use int::Operand;

/// What can go wrong in the reference engine. Errors about a node name it and its op type.
#[derive(Debug, thiserror::Error)]
pub enum ReferenceError {
    /// The quantized model does not have one node entry per graph node.
    #[error("the graph has {graph} nodes but the quantized model has {quantized}")]
    NodeCount {
        /// Nodes in the model's graph.
        graph: usize,
        /// Node entries in the quantized model.
        quantized: usize,
    },
    /// The inputs do not fit the graph (the rule every engine shares: [`crate::engine::batch_items`]).
    #[error(transparent)]
    Input(#[from] crate::engine::InputError),
    /// A tensor's fixed-point parameters are missing or outside the supported 2 to 16 bits.
    #[error("tensor `{tensor}` has no usable fixed-point parameters: {msg}")]
    Params {
        /// Name of the tensor.
        tensor: String,
        /// What is wrong with its parameters.
        msg: String,
    },
    /// A malformed node: a kernel that does not fit its op, parameters or shapes that disagree.
    #[error("node `{node}` ({op}): {msg}")]
    Node {
        /// Node name.
        node: String,
        /// ONNX op type of the node.
        op: String,
        /// What is wrong.
        msg: String,
    },
    /// The graph fails `Graph::validate` (ids, topological order, single producers), or an
    /// output is never produced or cannot be concatenated over the batch.
    #[error("graph: {0}")]
    Graph(String),
}

fn node_err(node: &Node, msg: impl Into<String>) -> ReferenceError {
    ReferenceError::Node {
        node: node.name.clone(),
        op: node.op.type_name().to_string(),
        msg: msg.into(),
    }
}

/// Checks that parameters describe a supported code range (2 to 16 bits).
fn check_params(p: QParams) -> Result<QParams, String> {
    if !(2..=16).contains(&p.bits) {
        return Err(format!("{} bits is not a supported width", p.bits));
    }
    Ok(p)
}

/// Runs `model` on float `inputs` (graph input order) in the reference engine and returns the
/// dequantized graph outputs. `observer` sees every node output's integer tensor.
pub fn run_reference(
    model: &QuantModel,
    inputs: &[ArrayD<f32>],
    observer: &mut dyn FnMut(ValueId, &QTensor),
) -> Result<Vec<ArrayD<f32>>, ReferenceError> {
    ReferenceEngine::new(model)?.run_with(inputs, observer)
}

/// The reference engine over one model, the model checked once (graph order, node count).
#[derive(Clone, Copy, Debug)]
pub struct ReferenceEngine<'m> {
    model: &'m QuantModel,
}

impl<'m> ReferenceEngine<'m> {
    /// Checks that `model` is well formed for this engine.
    pub fn new(model: &'m QuantModel) -> Result<Self, ReferenceError> {
        let g = &model.graph;
        g.validate()
            .map_err(|e| ReferenceError::Graph(e.to_string()))?;
        if model.nodes.len() != g.nodes.len() {
            return Err(ReferenceError::NodeCount {
                graph: g.nodes.len(),
                quantized: model.nodes.len(),
            });
        }
        Ok(ReferenceEngine { model })
    }

    /// Runs on float `inputs` (graph input order); `observer` sees every node output's integer
    /// tensor (not the quantized graph inputs).
    pub fn run_with(
        &self,
        inputs: &[ArrayD<f32>],
        observer: &mut dyn FnMut(ValueId, &QTensor),
    ) -> Result<Vec<ArrayD<f32>>, ReferenceError> {
        let model = self.model;
        let g = &model.graph;
        let items = crate::engine::batch_items(g, inputs)?;
        let mut per_item: Vec<Vec<ArrayD<f32>>> = Vec::with_capacity(items);
        for k in 0..items {
            let views: Vec<ArrayViewD<f32>> = g
                .inputs
                .iter()
                .zip(inputs)
                .map(|(&id, x)| crate::engine::item_view(g, id, x, k))
                .collect();
            per_item.push(run_item(model, &views, observer)?);
        }
        crate::engine::join_items(g, per_item).map_err(ReferenceError::Graph)
    }
}

impl crate::Engine for ReferenceEngine<'_> {
    fn kind(&self) -> crate::EngineKind {
        crate::EngineKind::Reference
    }

    fn graph(&self) -> &radix_ir::Graph {
        &self.model.graph
    }

    fn run_observing(
        &self,
        inputs: &[ArrayD<f32>],
        observer: &mut dyn FnMut(ValueId, crate::Observed<'_>),
    ) -> Result<Vec<ArrayD<f32>>, crate::SimError> {
        self.run_with(inputs, &mut |id, t| observer(id, crate::Observed::Fixed(t)))
            .map_err(|e| match e {
                // Refused inputs read the same from every engine.
                ReferenceError::Input(e) => crate::SimError::Input(e),
                e => e.into(),
            })
    }
}

/// A value during a run: its codes and parameters.
struct Slot {
    t: QTensor,
    p: QParams,
}

/// One item (graph-shaped inputs).
fn run_item(
    model: &QuantModel,
    inputs: &[ArrayViewD<f32>],
    observer: &mut dyn FnMut(ValueId, &QTensor),
) -> Result<Vec<ArrayD<f32>>, ReferenceError> {
    let g = &model.graph;
    let mut env: Vec<Option<Slot>> = (0..g.values.len()).map(|_| None).collect();
    for (&id, x) in g.inputs.iter().zip(inputs) {
        let name = &g.value(id).name;
        let p = model
            .params(id)
            .ok_or_else(|| "missing".to_string())
            .and_then(check_params)
            .map_err(|msg| ReferenceError::Params {
                tensor: name.clone(),
                msg,
            })?;
        let data = x.iter().map(|&v| p.quantize(v)).collect();
        env[id.0] = Some(Slot {
            t: QTensor {
                shape: x.shape().to_vec(),
                data,
            },
            p,
        });
    }
    // Last node reading each value (graph outputs are kept to the end).
    let mut last_use = vec![None; g.values.len()];
    for (ni, n) in g.nodes.iter().enumerate() {
        for &v in &n.inputs {
            last_use[v.0] = Some(ni);
        }
    }
    for &o in &g.outputs {
        last_use[o.0] = None;
    }
    for (ni, (node, qn)) in g.nodes.iter().zip(&model.nodes).enumerate() {
        let mut outs = Vec::with_capacity(node.outputs.len());
        for &o in &node.outputs {
            let p = model
                .params(o)
                .ok_or_else(|| "missing".to_string())
                .and_then(check_params)
                .map_err(|m| {
                    node_err(
                        node,
                        format!("output `{}`: {m} fixed-point parameters", g.value(o).name),
                    )
                })?;
            outs.push((g.shape(o).to_vec(), p));
        }
        let results = if qn.placement == Placement::Cpu || matches!(qn.kernel, QKernel::Cpu) {
            run_cpu(model, node, &env, &outs)
        } else {
            let ins = node
                .inputs
                .iter()
                .map(|&v| operand(model, &env, v))
                .collect::<Result<Vec<_>, _>>();
            ins.and_then(|ins| int::run(g, node, &qn.kernel, &ins, &outs))
        }
        .map_err(|m| node_err(node, m))?;
        if results.len() != node.outputs.len() {
            return Err(node_err(
                node,
                format!(
                    "{} results for {} outputs",
                    results.len(),
                    node.outputs.len()
                ),
            ));
        }
        for ((&o, data), (shape, p)) in node.outputs.iter().zip(results).zip(outs) {
            if data.len() != shape.iter().product::<usize>() {
                return Err(node_err(
                    node,
                    format!("{} values for output shape {shape:?}", data.len()),
                ));
            }
            let t = QTensor { shape, data };
            observer(o, &t);
            env[o.0] = Some(Slot { t, p });
        }
        for &v in &node.inputs {
            if last_use[v.0] == Some(ni) {
                env[v.0] = None;
            }
        }
    }
    let mut outs = Vec::with_capacity(g.outputs.len());
    for &o in &g.outputs {
        let out = match (&env[o.0], g.const_data(o)) {
            (Some(s), _) => ArrayD::from_shape_vec(
                IxDyn(&s.t.shape),
                s.t.data.iter().map(|&q| s.p.dequantize(q)).collect(),
            )
            .map_err(|e| ReferenceError::Graph(e.to_string()))?,
            (None, Some(c)) => c.clone(),
            (None, None) => {
                return Err(ReferenceError::Graph(format!(
                    "output `{}` was never produced",
                    g.value(o).name
                )));
            }
        };
        outs.push(out);
    }
    Ok(outs)
}

/// Input `v` of an integer kernel: an activation, a quantized constant, or (None) a constant
/// without quantized data (weights and other constants the kernel carries itself).
fn operand<'a>(
    model: &'a QuantModel,
    env: &'a [Option<Slot>],
    v: ValueId,
) -> Result<Option<Operand<'a>>, String> {
    let g = &model.graph;
    if let Some(s) = &env[v.0] {
        return Ok(Some(Operand {
            shape: &s.t.shape,
            data: &s.t.data,
            params: s.p,
        }));
    }
    if !g.value(v).is_const() {
        return Err(format!("input `{}` is not available", g.value(v).name));
    }
    match model.consts.get(v.0).and_then(Option::as_ref) {
        Some(c) => {
            let params = check_params(c.params)
                .map_err(|m| format!("constant `{}`: {m}", g.value(v).name))?;
            Ok(Some(Operand {
                shape: g.shape(v),
                data: &c.data,
                params,
            }))
        }
        None => Ok(None),
    }
}

/// A CPU node: dequantize the activations, take constants from the float graph, run the float
/// op, quantize each output with its parameters.
fn run_cpu(
    model: &QuantModel,
    node: &Node,
    env: &[Option<Slot>],
    outs: &[(Vec<usize>, QParams)],
) -> Result<Vec<Vec<i32>>, String> {
    let g = &model.graph;
    let mut ins = Vec::with_capacity(node.inputs.len());
    for &v in &node.inputs {
        let x = match (&env[v.0], g.const_data(v)) {
            (Some(s), _) => ArrayD::from_shape_vec(
                IxDyn(&s.t.shape),
                s.t.data.iter().map(|&q| s.p.dequantize(q)).collect(),
            )
            .map_err(|e| e.to_string())?,
            (None, Some(c)) => c.clone(),
            (None, None) => return Err(format!("input `{}` is not available", g.value(v).name)),
        };
        ins.push(x);
    }
    let shapes: Vec<Vec<usize>> = outs.iter().map(|(s, _)| s.clone()).collect();
    let ys = cpu::eval(g, node, &ins, &shapes)?;
    Ok(ys
        .iter()
        .zip(outs)
        .map(|(y, (_, p))| y.iter().map(|&v| p.quantize(v)).collect())
        .collect())
}
