//! Graph passes that keep the outputs unchanged (up to float rounding).
//!
//! Each pass takes `&mut Graph`, returns how many rewrites it made, and leaves the graph valid and
//! in topological order. [`optimize`] runs them all in the order the quantizer expects.

use std::sync::Arc;

use ndarray::{ArrayD, Axis, IxDyn};

use crate::eval::eval_light;
use crate::{Activation, Graph, IrError, Op, Result, ValueId, shape};

/// What [`optimize`] did, for logs and tests.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PassStats {
    /// Nodes evaluated at build time because all their inputs were constant.
    pub folded_constants: usize,
    /// Identity / Dropout / Cast nodes removed.
    pub dropped_identities: usize,
    /// BatchNormalization nodes folded into the convolution before them.
    pub folded_batchnorms: usize,
    /// Activations fused into the node producing their input.
    pub fused_activations: usize,
}

/// Runs every pass: constants, identities, BN folding, activation fusion, pruning, shape check.
pub fn optimize(g: &mut Graph) -> Result<PassStats> {
    let stats = PassStats {
        folded_constants: fold_constants(g)?,
        dropped_identities: drop_identities(g),
        folded_batchnorms: fold_batchnorm(g)?,
        fused_activations: fuse_activations(g),
    };
    g.prune();
    infer_shapes(g)?;
    g.validate()?;
    Ok(stats)
}

/// Evaluates every node whose inputs are all constant (shape subgraphs included) and turns its
/// outputs into constants.
pub fn fold_constants(g: &mut Graph) -> Result<usize> {
    let mut folded = 0;
    let mut keep = Vec::with_capacity(g.nodes.len());
    for node in std::mem::take(&mut g.nodes) {
        let all_const = node.inputs.iter().all(|&v| g.values[v.0].is_const());
        // Shape only needs its input's static shape.
        let shape_only = matches!(node.op, Op::Shape);
        if !(all_const || shape_only) || node.outputs.iter().any(|o| g.outputs.contains(o)) {
            keep.push(node);
            continue;
        }
        let ins: Vec<ArrayD<f32>> = node
            .inputs
            .iter()
            .map(|&v| match &g.values[v.0].data {
                Some(d) => (**d).clone(),
                None => ArrayD::zeros(IxDyn(&g.values[v.0].shape)),
            })
            .collect();
        let refs: Vec<&ArrayD<f32>> = ins.iter().collect();
        let out_shapes: Vec<Vec<usize>> = node
            .outputs
            .iter()
            .map(|&o| g.values[o.0].shape.clone())
            .collect();
        match eval_light(&node.op, &refs, &out_shapes) {
            Some(Ok(outs)) if outs.len() == node.outputs.len() => {
                for (&o, data) in node.outputs.iter().zip(outs) {
                    g.values[o.0].shape = data.shape().to_vec();
                    g.values[o.0].data = Some(Arc::new(data));
                }
                folded += 1;
            }
            Some(Err(e)) => return Err(IrError::node(&node, e)),
            _ => keep.push(node),
        }
    }
    g.nodes = keep;
    Ok(folded)
}

/// Removes Identity, Dropout and Cast (all tensors are f32 here). When the removed node's output
/// is a graph output, the producer's output takes over its name so output names never change.
pub fn drop_identities(g: &mut Graph) -> usize {
    let mut dropped = 0;
    let mut i = 0;
    while i < g.nodes.len() {
        let n = &g.nodes[i];
        if !matches!(n.op, Op::Identity | Op::Dropout | Op::Cast) {
            i += 1;
            continue;
        }
        let (src, dst) = (n.inputs[0], n.outputs[0]);
        if g.outputs.contains(&dst) {
            let src_is_node_output = g.nodes.iter().any(|m| m.outputs.contains(&src));
            if !src_is_node_output || g.outputs.contains(&src) || g.inputs.contains(&src) {
                i += 1;
                continue;
            }
            // The producer now writes straight into the graph output's value.
            let src_name = std::mem::take(&mut g.values[src.0].name);
            g.values[src.0].name = std::mem::replace(&mut g.values[dst.0].name, src_name);
            for o in g.outputs.iter_mut() {
                if *o == dst {
                    *o = src;
                }
            }
        }
        g.nodes.remove(i);
        g.replace_uses(dst, src);
        dropped += 1;
    }
    dropped
}

/// Folds BatchNormalization into the Conv / Gemm that feeds it (when the conv output has no
/// other reader): `w' = w * a`, `b' = (b - mean) * a + beta` with `a = gamma / sqrt(var + eps)`.
pub fn fold_batchnorm(g: &mut Graph) -> Result<usize> {
    let mut folded = 0;
    loop {
        let consumers = g.consumers();
        let producers = g.producers();
        let mut found = None;
        for (bi, bn) in g.nodes.iter().enumerate() {
            let Op::BatchNorm { epsilon } = bn.op else {
                continue;
            };
            let x = bn.inputs[0];
            let Some(pi) = producers[x.0] else { continue };
            let p = &g.nodes[pi.0];
            let ok = matches!(p.op, Op::Conv(ref a) if a.activation.is_none())
                || matches!(p.op, Op::ConvTranspose(ref a) if a.activation.is_none() && a.group == 1)
                || matches!(
                    p.op,
                    Op::Gemm {
                        activation: Activation::None
                    }
                );
            if !ok || consumers[x.0].len() != 1 || g.outputs.contains(&x) {
                continue;
            }
            if !bn.inputs[1..].iter().all(|v| g.values[v.0].is_const())
                || !g.values[p.inputs[1].0].is_const()
            {
                continue;
            }
            found = Some((pi.0, bi, epsilon));
            break;
        }
        let Some((pi, bi, eps)) = found else { break };
        let bn = g.nodes[bi].clone();
        let get = |k: usize| -> Vec<f32> {
            g.values[bn.inputs[k].0]
                .data
                .as_ref()
                .map(|d| d.iter().copied().collect())
                .unwrap_or_default()
        };
        let (gamma, beta, mean, var) = (get(1), get(2), get(3), get(4));
        let p = g.nodes[pi].clone();
        let w = g.values[p.inputs[1].0]
            .data
            .clone()
            .ok_or_else(|| IrError::node(&p, "weight is not constant"))?;
        // Output-channel axis of the weight.
        let (oc_axis, oc) = match p.op {
            Op::ConvTranspose(_) => (1, w.shape()[1]),
            _ => (0, w.shape()[0]),
        };
        if [gamma.len(), beta.len(), mean.len(), var.len()]
            .iter()
            .any(|&l| l != oc)
        {
            return Err(IrError::node(
                &bn,
                format!(
                    "has parameters for a different channel count than `{}` ({oc})",
                    p.name
                ),
            ));
        }
        let a: Vec<f32> = (0..oc).map(|c| gamma[c] / (var[c] + eps).sqrt()).collect();
        let mut w2 = (*w).clone();
        for (c, mut sub) in w2.axis_iter_mut(Axis(oc_axis)).enumerate() {
            sub.mapv_inplace(|v| v * a[c]);
        }
        let old_b: Vec<f32> = match p.inputs.get(2) {
            Some(b) => g.values[b.0]
                .data
                .as_ref()
                .map(|d| d.iter().copied().collect())
                .unwrap_or_else(|| vec![0.0; oc]),
            None => vec![0.0; oc],
        };
        let b2: Vec<f32> = (0..oc)
            .map(|c| (old_b[c] - mean[c]) * a[c] + beta[c])
            .collect();
        let wname = format!("{}_bnfolded_w", p.name);
        let bname = format!("{}_bnfolded_b", p.name);
        let wid = g.add_const(wname, w2);
        let bid = g.add_const(
            bname,
            ArrayD::from_shape_vec(IxDyn(&[oc]), b2)
                .map_err(|e| IrError::node(&p, e.to_string()))?,
        );
        let node = &mut g.nodes[pi];
        node.inputs.truncate(2);
        node.inputs[1] = wid;
        node.inputs.push(bid);
        node.outputs = bn.outputs.clone();
        node.origin.extend(bn.origin.iter().cloned());
        g.nodes.remove(bi);
        folded += 1;
    }
    Ok(folded)
}

/// Fuses Relu / Clip / LeakyRelu into the Conv, ConvTranspose or Gemm that feeds it when that
/// node's output has no other reader. The fused node takes over the activation's output value.
pub fn fuse_activations(g: &mut Graph) -> usize {
    let mut fused = 0;
    loop {
        let consumers = g.consumers();
        let producers = g.producers();
        let mut found = None;
        for (ai, an) in g.nodes.iter().enumerate() {
            let act = match an.op {
                Op::Relu => Activation::Relu,
                Op::Clip { min, max } => Activation::Clip { min, max },
                Op::LeakyRelu { alpha } => Activation::LeakyRelu { alpha },
                _ => continue,
            };
            let x = an.inputs[0];
            let Some(pi) = producers[x.0] else { continue };
            if consumers[x.0].len() != 1 || g.outputs.contains(&x) {
                continue;
            }
            if g.nodes[pi.0].op.fused_activation() == Some(Activation::None) {
                found = Some((pi.0, ai, act));
                break;
            }
        }
        let Some((pi, ai, act)) = found else { break };
        let an = g.nodes.remove(ai);
        let p = &mut g.nodes[pi];
        match &mut p.op {
            Op::Conv(a) | Op::ConvTranspose(a) => a.activation = act,
            Op::Gemm { activation } => *activation = act,
            _ => {}
        }
        p.outputs = an.outputs;
        p.origin.extend(an.origin);
        fused += 1;
    }
    fused
}

/// Recomputes every node's output shapes from its inputs and checks them against the stored ones.
pub fn infer_shapes(g: &mut Graph) -> Result<()> {
    for i in 0..g.nodes.len() {
        let n = &g.nodes[i];
        let ins: Vec<&[usize]> = n
            .inputs
            .iter()
            .map(|&v| g.values[v.0].shape.as_slice())
            .collect();
        let outs = shape::infer(&n.op, &ins).map_err(|e| IrError::node(n, e))?;
        if outs.len() != n.outputs.len() {
            return Err(IrError::node(
                n,
                format!(
                    "produces {} outputs, graph has {}",
                    outs.len(),
                    n.outputs.len()
                ),
            ));
        }
        let outs_ids: Vec<ValueId> = n.outputs.clone();
        for (o, s) in outs_ids.into_iter().zip(outs) {
            g.values[o.0].shape = s;
        }
    }
    Ok(())
}
