//! The random graph generator: valid graphs over the IR's op set, with random ranks, shapes,
//! axes and attributes, branching (one tensor read by several nodes) and merging (Add, Mul,
//! Concat of tensors from different branches and of very different ranges).
//!
//! This module holds the driver ([`generate`]: inputs, the node loop, outputs, items) and the
//! builder's primitives; the op generators live in submodules by family (`elementwise`, `nn`,
//! `layout`), the random numbers in `rng`. Every random draw is in a fixed order per seed, so
//! moving code must never reorder them.

mod elementwise;
mod layout;
mod nn;
mod rng;

pub use rng::Rng;

use ndarray::ArrayD;
use radix_ir::{Graph, Node, Op, ValueId, shape};

/// Limits of the generated graphs.
#[derive(Clone, Debug)]
pub struct GenConfig {
    /// Nodes added (before the generator stops); each graph draws a count in `1..=max_nodes`.
    pub max_nodes: usize,
    /// No tensor grows beyond this many elements.
    pub max_numel: usize,
    /// Calibration/check items generated per case.
    pub items: usize,
}

impl Default for GenConfig {
    fn default() -> Self {
        GenConfig {
            max_nodes: 14,
            max_numel: 6144,
            items: 3,
        }
    }
}

/// One generated case: a graph and input items (graph input order, batch axis included).
#[derive(Clone, Debug)]
pub struct Case {
    pub seed: u64,
    pub graph: Graph,
    pub items: Vec<Vec<ArrayD<f32>>>,
}

struct Builder {
    g: Graph,
    rng: Rng,
    /// Computed tensors available as operands.
    pool: Vec<ValueId>,
    /// Per value: how many nodes read it.
    reads: Vec<usize>,
    cfg: GenConfig,
}

/// Generates the case of `seed` (the same seed always gives the same case).
pub fn generate(seed: u64, cfg: &GenConfig) -> Case {
    let mut b = Builder {
        g: Graph::new(format!("random_{seed}")),
        rng: Rng::new(seed),
        pool: Vec::new(),
        reads: Vec::new(),
        cfg: cfg.clone(),
    };
    let n_inputs = if b.rng.chance(0.25) { 2 } else { 1 };
    let mut scales = Vec::new();
    for i in 0..n_inputs {
        let shape = b.random_input_shape();
        let v = b.g.add_value(format!("input{i}"), shape);
        b.reads.push(0);
        b.g.inputs.push(v);
        b.pool.push(v);
        // Inputs of very different magnitudes: ranges are what the quantizer gets wrong.
        scales.push(*b.rng.pick(&[0.05f32, 0.5, 1.0, 1.0, 4.0, 30.0]));
    }
    let target = b.rng.range(1, cfg.max_nodes);
    let mut attempts = 0;
    while b.g.nodes.len() < target && attempts < target * 20 {
        attempts += 1;
        b.step();
    }
    // Outputs: every computed tensor nobody reads, plus sometimes an intermediate one.
    let mut outs: Vec<ValueId> = b
        .pool
        .iter()
        .copied()
        .filter(|v| b.reads[v.0] == 0 && !b.g.inputs.contains(v))
        .collect();
    if outs.is_empty() || b.rng.chance(0.2) {
        let candidates: Vec<ValueId> = b
            .pool
            .iter()
            .copied()
            .filter(|v| !b.g.inputs.contains(v) && !outs.contains(v))
            .collect();
        if !candidates.is_empty() {
            outs.push(*b.rng.pick(&candidates));
        }
    }
    if outs.is_empty() {
        // No node could be added (tiny input): one Relu makes the graph non-empty.
        let x = b.g.inputs[0];
        outs.push(b.add(Op::Relu, vec![x]).expect("Relu keeps the shape")[0]);
    }
    b.g.outputs = outs;
    // Its own stream, so that the graphs of earlier seeds (kept as regression seeds) stay the same.
    kill_channels(&mut b.g, &mut Rng::new(seed ^ 0xDEAD_C4A7));
    let items = (0..cfg.items)
        .map(|_| {
            b.g.inputs
                .clone()
                .iter()
                .zip(&scales)
                .map(|(&v, &s)| {
                    let shape = b.g.shape(v).to_vec();
                    let offset = if b.rng.chance(0.2) { s * 0.5 } else { 0.0 };
                    b.rng.array(&shape, s).mapv(|x| x + offset)
                })
                .collect()
        })
        .collect();
    Case {
        seed,
        graph: b.g,
        items,
    }
}

/// Makes one output channel of some Conv / ConvTranspose / Gemm nodes "dead", as BatchNorm
/// folding does with a gamma near zero: weights scaled by 1e-8..1e-22, and a bias either as
/// tiny (the whole channel is ~0) or kept (the channel is a constant). Weight scales derived
/// from such channels alone once gave integer biases beyond any accumulator.
fn kill_channels(g: &mut Graph, rng: &mut Rng) {
    for n in 0..g.nodes.len() {
        let node = &g.nodes[n];
        let transpose = match &node.op {
            Op::Conv(_) | Op::Gemm { .. } => false,
            Op::ConvTranspose(a) if a.group == 1 => true,
            _ => continue,
        };
        if !rng.chance(0.12) {
            continue;
        }
        let (w, bias) = (node.inputs[1], node.inputs.get(2).copied());
        let Some(mut wd) = g.const_data(w).cloned() else {
            continue;
        };
        let axis = if transpose { 1 } else { 0 };
        let oc = wd.shape()[axis];
        let c = rng.range(0, oc - 1);
        let factor = 10f32.powi(-(rng.range(8, 22) as i32));
        wd.index_axis_mut(ndarray::Axis(axis), c)
            .mapv_inplace(|v| v * factor);
        g.values[w.0].data = Some(std::sync::Arc::new(wd));
        if let Some(b) = bias
            && rng.chance(0.5)
            && let Some(mut bd) = g.const_data(b).cloned()
        {
            if let Some(v) = bd.get_mut(c) {
                *v = 1.5e-14;
            }
            g.values[b.0].data = Some(std::sync::Arc::new(bd));
        }
    }
}

impl Builder {
    fn random_input_shape(&mut self) -> Vec<usize> {
        if self.rng.chance(0.6) {
            vec![
                1,
                self.rng.range(1, 8),
                self.rng.range(1, 14),
                self.rng.range(1, 14),
            ]
        } else {
            let rank = self.rng.range(1, 3);
            (0..rank).map(|_| self.rng.range(1, 16)).collect()
        }
    }

    fn shape(&self, v: ValueId) -> Vec<usize> {
        self.g.shape(v).to_vec()
    }

    fn constant(&mut self, data: ArrayD<f32>) -> ValueId {
        let n = self.g.values.len();
        let v = self.g.add_const(format!("c{n}"), data);
        self.reads.push(0);
        v
    }

    /// Adds a node if its shapes infer and stay within limits; returns its outputs.
    fn add(&mut self, op: Op, inputs: Vec<ValueId>) -> Option<Vec<ValueId>> {
        let shapes: Vec<&[usize]> = inputs.iter().map(|&v| self.g.shape(v)).collect();
        let outs = shape::infer(&op, &shapes).ok()?;
        if outs.iter().any(|s| {
            let n: usize = s.iter().product();
            n == 0 || n > self.cfg.max_numel || s.len() > 4
        }) {
            return None;
        }
        let k = self.g.nodes.len();
        let ids: Vec<ValueId> = outs
            .into_iter()
            .enumerate()
            .map(|(j, s)| {
                self.reads.push(0);
                self.g.add_value(format!("t{k}_{j}"), s)
            })
            .collect();
        for &v in &inputs {
            self.reads[v.0] += 1;
        }
        self.g.nodes.push(Node {
            name: format!("n{k}_{}", op.type_name()),
            op,
            inputs,
            outputs: ids.clone(),
            origin: vec![format!("n{k}")],
        });
        self.pool.extend(&ids);
        Some(ids)
    }

    /// Picks an operand, preferring recent tensors (deeper graphs) and matching `want`.
    fn operand(&mut self, want: impl Fn(&[usize]) -> bool) -> Option<ValueId> {
        let ok: Vec<ValueId> = self
            .pool
            .iter()
            .copied()
            // Scalars (rank 0, from a full reduction or a scalar Gather) end branches.
            .filter(|&v| !self.g.shape(v).is_empty() && want(self.g.shape(v)))
            .collect();
        if ok.is_empty() {
            return None;
        }
        // Half the time the newest candidate, else any.
        Some(if self.rng.chance(0.5) {
            ok[ok.len() - 1]
        } else {
            *self.rng.pick(&ok)
        })
    }

    fn step(&mut self) {
        let kind = self.rng.range(0, 25);
        let _ = match kind {
            0 | 1 => self.unary(),
            2 | 3 => self.binary(),
            4..=6 => self.conv(),
            7 => self.conv_transpose(),
            8 => self.gemm_or_matmul(),
            9 => self.pool_op(),
            10..=12 => self.concat(),
            13 => self.split(),
            14 => self.slice(),
            15 => self.reshape(),
            16 => self.transpose(),
            17 => self.squeeze_unsqueeze(),
            18 => self.resize(),
            19 => self.pad(),
            20 => self.softmax_or_reduce(),
            21 => self.gather(),
            22 => self.prelu_or_bn(),
            23 => self.flatten(),
            _ => self.detector_head(),
        };
    }
}
