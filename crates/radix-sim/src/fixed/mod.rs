//! The fast fixed-point engine: integer-only kernels for every [`QKernel`], parallel over output
//! channels with rayon. Semantics are those of docs/FIXED_POINT.md; the reference engine
//! ([`crate::reference`]) is an independent, plain-loop reading of the same page, and the
//! bit-true-match check compares the two on every tensor.
//!
//! Accumulation: products are summed in i32 when a per-layer bound proves it cannot overflow
//! (every 8-bit layer), else in i64; both are exact, so results never depend on the choice.

mod epilogue;
mod kernels;
mod vnni;

use ndarray::{ArrayD, IxDyn};
use radix_ir::qmodel::{Placement, QKernel, QTensor, QuantModel};
use radix_ir::{Node, ValueId};
use rayon::prelude::*;

use crate::SimError;

/// Called with every integer tensor as it is computed.
pub type QObserver<'a> = &'a mut dyn FnMut(ValueId, &QTensor);

/// Runs a [`QuantModel`] in fixed point.
pub struct FixedEngine<'m> {
    model: &'m QuantModel,
    /// Per node: runs on the CPU in float (between dequantize and quantize).
    on_cpu: Vec<bool>,
    /// Per value: index of the last node reading it (to free tensors early).
    last_use: Vec<usize>,
    /// Per node: weights prepared for the MAC kernels (packed once here, not per run).
    mac_prep: Vec<Option<kernels::MacPrep>>,
}

impl<'m> FixedEngine<'m> {
    /// Prepares `model` (placement per node, tensor lifetimes, MAC weights packed once).
    pub fn new(model: &'m QuantModel) -> Result<Self, SimError> {
        let g = &model.graph;
        if model.nodes.len() != g.nodes.len() || model.tensors.len() != g.values.len() {
            return Err(SimError::Graph(
                "quantized model does not match its graph (node or tensor count)".into(),
            ));
        }
        let on_cpu = model
            .nodes
            .iter()
            .map(|q| q.placement == Placement::Cpu || matches!(q.kernel, QKernel::Cpu))
            .collect();
        let mut last_use = vec![0usize; g.values.len()];
        for (i, n) in g.nodes.iter().enumerate() {
            for &v in &n.inputs {
                last_use[v.0] = i;
            }
        }
        for &o in &g.outputs {
            last_use[o.0] = usize::MAX;
        }
        let mac_prep = g
            .nodes
            .iter()
            .zip(&model.nodes)
            .map(|(node, q)| match &q.kernel {
                QKernel::Mac {
                    weights, requant, ..
                } => {
                    // The activation input (a computed tensor, not a constant) has parameters.
                    let x = node.inputs.first().copied();
                    let in_bits = x
                        .filter(|&v| !g.value(v).is_const())
                        .and_then(|v| model.params(v))
                        .map(|p| p.bits);
                    Some(kernels::MacPrep::new(
                        &node.op,
                        weights,
                        requant.len(),
                        in_bits,
                    ))
                }
                _ => None,
            })
            .collect();
        Ok(FixedEngine {
            model,
            on_cpu,
            last_use,
            mac_prep,
        })
    }

    /// Runs the model on float `inputs` (graph-input order) and returns the dequantized outputs.
    pub fn run(&self, inputs: &[ArrayD<f32>]) -> Result<Vec<ArrayD<f32>>, SimError> {
        self.run_observed(inputs, None)
    }

    /// Runs every item of the batch (axis 0) and calls `observer` with every node output.
    pub fn run_observed(
        &self,
        inputs: &[ArrayD<f32>],
        mut observer: Option<QObserver<'_>>,
    ) -> Result<Vec<ArrayD<f32>>, SimError> {
        let g = &self.model.graph;
        let n = crate::engine::batch_items(g, inputs)?;
        let mut per_item = Vec::with_capacity(n);
        for item in 0..n {
            let item_inputs: Vec<ArrayD<f32>> = inputs
                .iter()
                .zip(&g.inputs)
                .map(|(a, &id)| crate::engine::item_view(g, id, a, item).to_owned())
                .collect();
            per_item.push(self.run_item(&item_inputs, &mut observer)?);
        }
        crate::engine::join_items(g, per_item).map_err(SimError::Graph)
    }

    /// Quantizes the inputs and runs the integer graph, returning the quantized outputs.
    pub fn run_item_quantized(
        &self,
        inputs: &[ArrayD<f32>],
        observer: &mut Option<QObserver<'_>>,
    ) -> Result<Vec<QTensor>, SimError> {
        let g = &self.model.graph;
        let mut slots: Vec<Option<QTensor>> = vec![None; g.values.len()];
        for (a, &id) in inputs.iter().zip(&g.inputs) {
            let p = self.model.params(id).ok_or_else(|| {
                SimError::Graph(format!(
                    "input `{}` has no fixed-point parameters",
                    g.value(id).name
                ))
            })?;
            let quantize = p.quantizer();
            let data = match a.as_slice() {
                Some(xs) => {
                    let mut q = vec![0i32; xs.len()];
                    q.par_chunks_mut(1 << 14)
                        .zip(xs.par_chunks(1 << 14))
                        .for_each(|(q, x)| quantize_slice(&quantize, x, q));
                    q
                }
                None => a.iter().map(|&x| quantize(x)).collect(),
            };
            let t = QTensor {
                shape: a.shape().to_vec(),
                data,
            };
            if let Some(obs) = observer.as_mut() {
                obs(id, &t);
            }
            slots[id.0] = Some(t);
        }
        for (i, node) in g.nodes.iter().enumerate() {
            let outs = self.exec(i, node, &slots)?;
            for (&o, t) in node.outputs.iter().zip(outs) {
                if let Some(obs) = observer.as_mut() {
                    obs(o, &t);
                }
                slots[o.0] = Some(t);
            }
            for &v in &node.inputs {
                if self.last_use[v.0] == i {
                    slots[v.0] = None;
                }
            }
        }
        g.outputs
            .iter()
            .map(|&o| match (slots[o.0].take(), g.const_data(o)) {
                (Some(t), _) => Ok(t),
                // A constant output: its codes under the output's parameters.
                (None, Some(c)) => {
                    let p = self.model.params(o).ok_or_else(|| {
                        SimError::Graph(format!(
                            "constant output `{}` has no parameters",
                            g.value(o).name
                        ))
                    })?;
                    Ok(QTensor {
                        shape: c.shape().to_vec(),
                        data: c.iter().map(|&x| p.quantize(x)).collect(),
                    })
                }
                (None, None) => Err(SimError::Graph(format!(
                    "output `{}` was not computed",
                    g.value(o).name
                ))),
            })
            .collect()
    }

    fn run_item(
        &self,
        inputs: &[ArrayD<f32>],
        observer: &mut Option<QObserver<'_>>,
    ) -> Result<Vec<ArrayD<f32>>, SimError> {
        let g = &self.model.graph;
        let outs = self.run_item_quantized(inputs, observer)?;
        outs.into_iter()
            .zip(&g.outputs)
            .map(|(t, &o)| {
                if let Some(c) = g.const_data(o) {
                    // As the reference engine: a constant output is returned as it is.
                    return Ok(c.clone());
                }
                let p = self.model.params(o).ok_or_else(|| {
                    SimError::Graph(format!("output `{}` has no parameters", g.value(o).name))
                })?;
                ArrayD::from_shape_vec(
                    IxDyn(&t.shape),
                    t.data.iter().map(|&q| p.dequantize(q)).collect(),
                )
                .map_err(|e| SimError::Graph(e.to_string()))
            })
            .collect()
    }

    /// Runs node `i` alone on the given integer inputs (one per non-constant input, in the
    /// node's input order; constants come from the model). Used to measure one layer's own
    /// error on exact inputs (bias adjust).
    pub fn run_node(&self, i: usize, inputs: Vec<QTensor>) -> Result<Vec<QTensor>, SimError> {
        let g = &self.model.graph;
        let node = g
            .nodes
            .get(i)
            .ok_or_else(|| SimError::Graph(format!("no node {i}")))?;
        let mut slots: Vec<Option<QTensor>> = vec![None; g.values.len()];
        let mut given = inputs.into_iter();
        for &v in &node.inputs {
            if !g.value(v).is_const() {
                let t = given.next().ok_or_else(|| {
                    SimError::node(
                        node,
                        format!("no tensor given for input `{}`", g.value(v).name),
                    )
                })?;
                slots[v.0] = Some(t);
            }
        }
        self.exec(i, node, &slots)
    }

    fn exec(
        &self,
        i: usize,
        node: &Node,
        slots: &[Option<QTensor>],
    ) -> Result<Vec<QTensor>, SimError> {
        let m = self.model;
        let g = &m.graph;
        let input = |k: usize| -> Result<Operand<'_>, SimError> {
            let v = *node
                .inputs
                .get(k)
                .ok_or_else(|| SimError::node(node, format!("missing input {k}")))?;
            if let Some(t) = &slots[v.0] {
                return Ok(Operand {
                    shape: &t.shape,
                    data: &t.data,
                });
            }
            if let Some(c) = m.consts.get(v.0).and_then(|c| c.as_ref()) {
                return Ok(Operand {
                    shape: g.shape(v),
                    data: &c.data,
                });
            }
            Err(SimError::node(
                node,
                format!("input `{}` is not available as integers", g.value(v).name),
            ))
        };
        let qnode = &m.nodes[i];
        if self.on_cpu[i] {
            return self.exec_cpu(node, slots);
        }
        let out_shape = g.shape(node.outputs[0]).to_vec();
        let out_bits = m
            .params(node.outputs[0])
            .map(|p| p.bits)
            .ok_or_else(|| SimError::node(node, "output has no parameters"))?;
        kernels::exec(
            node,
            &qnode.kernel,
            self.mac_prep[i].as_ref(),
            &input,
            &out_shape,
            out_bits,
            g,
        )
    }

    /// A CPU node: dequantize the activations, take constants from the float graph, run the
    /// float op, quantize the outputs. The float op is the one definition of host float math
    /// (`reference::cpu`), shared with the reference engine: host float is not part of the
    /// integer semantics the two engines cross-check, and two float implementations would
    /// disagree by one code wherever a result lands within float rounding of a step boundary.
    fn exec_cpu(&self, node: &Node, slots: &[Option<QTensor>]) -> Result<Vec<QTensor>, SimError> {
        let m = self.model;
        let g = &m.graph;
        let mut ins = Vec::with_capacity(node.inputs.len());
        for &v in &node.inputs {
            let x = match (&slots[v.0], g.const_data(v)) {
                (Some(t), _) => {
                    let p = m.params(v).ok_or_else(|| {
                        SimError::node(
                            node,
                            format!("input `{}` has no parameters", g.value(v).name),
                        )
                    })?;
                    ArrayD::from_shape_vec(
                        IxDyn(&t.shape),
                        t.data.iter().map(|&q| p.dequantize(q)).collect(),
                    )
                    .map_err(|e| SimError::node(node, e.to_string()))?
                }
                (None, Some(c)) => c.clone(),
                (None, None) => {
                    return Err(SimError::node(
                        node,
                        format!("input `{}` is not available", g.value(v).name),
                    ));
                }
            };
            ins.push(x);
        }
        let shapes: Vec<Vec<usize>> = node.outputs.iter().map(|&o| g.shape(o).to_vec()).collect();
        let outs = crate::reference::cpu::eval(g, node, &ins, &shapes)
            .map_err(|e| SimError::node(node, e))?;
        node.outputs
            .iter()
            .zip(outs)
            .map(|(&o, a)| {
                let p = m
                    .params(o)
                    .ok_or_else(|| SimError::node(node, "output has no parameters"))?;
                let quantize = p.quantizer();
                Ok(QTensor {
                    shape: a.shape().to_vec(),
                    data: a.iter().map(|&x| quantize(x)).collect(),
                })
            })
            .collect()
    }
}

/// `q[i] = quantize(x[i])`, compiled for AVX-512 where the CPU has it (the float rounding then
/// becomes vector instructions instead of a libm call per element; same results).
fn quantize_slice<F: Fn(f32) -> i32>(quantize: &F, x: &[f32], q: &mut [i32]) {
    #[inline(always)]
    fn body<F: Fn(f32) -> i32>(quantize: &F, x: &[f32], q: &mut [i32]) {
        for (q, &x) in q.iter_mut().zip(x) {
            *q = quantize(x);
        }
    }
    #[cfg(target_arch = "x86_64")]
    {
        #[target_feature(enable = "avx512f,avx512dq,avx512vl,avx2,sse4.1")]
        fn v4<F: Fn(f32) -> i32>(quantize: &F, x: &[f32], q: &mut [i32]) {
            body(quantize, x, q)
        }
        if std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx512dq")
            && std::arch::is_x86_feature_detected!("avx512vl")
        {
            // SAFETY: the CPU has every feature `v4` is compiled for.
            return unsafe { v4(quantize, x, q) };
        }
    }
    body(quantize, x, q)
}

/// An integer operand: a computed tensor or a quantized constant.
pub(crate) struct Operand<'a> {
    pub shape: &'a [usize],
    pub data: &'a [i32],
}

impl crate::Engine for FixedEngine<'_> {
    fn kind(&self) -> crate::EngineKind {
        crate::EngineKind::Fixed
    }

    fn graph(&self) -> &radix_ir::Graph {
        &self.model.graph
    }

    fn run_observing(
        &self,
        inputs: &[ArrayD<f32>],
        observer: &mut dyn FnMut(ValueId, crate::Observed<'_>),
    ) -> Result<Vec<ArrayD<f32>>, SimError> {
        self.run_observed(
            inputs,
            Some(&mut |id, t: &QTensor| observer(id, crate::Observed::Fixed(t))),
        )
    }
}
