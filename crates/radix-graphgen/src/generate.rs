//! The random graph generator: valid graphs over the IR's op set, with random ranks, shapes,
//! axes and attributes, branching (one tensor read by several nodes) and merging (Add, Mul,
//! Concat of tensors from different branches and of very different ranges).

use ndarray::{ArrayD, IxDyn};
use radix_ir::op::ReduceKind;
use radix_ir::{
    Activation, ConvAttrs, Graph, Node, Op, PoolAttrs, ResizeAttrs, ResizeCoord, ResizeMode,
    ResizeNearest, ValueId, op::PadMode, shape,
};

/// SplitMix64: small, fast, and the same sequence on every platform and version.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed ^ 0x5DEE_CE66_D1CE_4E5B)
    }
    pub fn u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in `lo..=hi`.
    pub fn range(&mut self, lo: usize, hi: usize) -> usize {
        lo + (self.u64() % (hi - lo + 1) as u64) as usize
    }
    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f32 {
        (self.u64() >> 40) as f32 / (1u64 << 24) as f32
    }
    /// Uniform in [lo, hi).
    pub fn uniform(&mut self, lo: f32, hi: f32) -> f32 {
        lo + (hi - lo) * self.unit()
    }
    pub fn chance(&mut self, p: f32) -> bool {
        self.unit() < p
    }
    pub fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.range(0, xs.len() - 1)]
    }
    pub fn shuffle<T>(&mut self, xs: &mut [T]) {
        for i in (1..xs.len()).rev() {
            let j = self.range(0, i);
            xs.swap(i, j);
        }
    }
    /// An approximately normal value (sum of uniforms), mean 0, deviation `sd`.
    pub fn normal(&mut self, sd: f32) -> f32 {
        let s: f32 = (0..4).map(|_| self.unit()).sum::<f32>() - 2.0;
        s * sd * 1.732
    }
    pub fn array(&mut self, shape: &[usize], sd: f32) -> ArrayD<f32> {
        let n = shape.iter().product();
        let v = (0..n).map(|_| self.normal(sd)).collect();
        ArrayD::from_shape_vec(IxDyn(shape), v).expect("length matches shape")
    }
}

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

    fn activation(&mut self) -> Activation {
        match self.rng.range(0, 5) {
            0 => Activation::Relu,
            1 => Activation::Clip { min: 0.0, max: 6.0 },
            2 => Activation::LeakyRelu { alpha: 0.1 },
            _ => Activation::None,
        }
    }

    fn unary(&mut self) -> Option<()> {
        let x = self.operand(|_| true)?;
        let op = match self.rng.range(0, 8) {
            0 => Op::Relu,
            1 => {
                let lo = self.rng.uniform(-2.0, 0.5);
                Op::Clip {
                    min: lo,
                    max: lo + self.rng.uniform(0.5, 6.0),
                }
            }
            2 => Op::LeakyRelu {
                alpha: self.rng.uniform(0.01, 0.3),
            },
            3 => Op::Sigmoid,
            4 => Op::HardSigmoid {
                alpha: 0.2,
                beta: 0.5,
            },
            5 => Op::HardSwish,
            6 => Op::Tanh,
            _ => {
                // Exp of a bounded input (Tanh first) so float stays meaningful.
                let t = self.add(Op::Tanh, vec![x])?[0];
                self.add(Op::Exp, vec![t])?;
                return Some(());
            }
        };
        self.add(op, vec![x]).map(|_| ())
    }

    fn binary(&mut self) -> Option<()> {
        let a = self.operand(|_| true)?;
        let sa = self.shape(a);
        let op = match self.rng.range(0, 3) {
            0 => Op::Add,
            1 => Op::Sub,
            _ => Op::Mul,
        };
        let b = match self.rng.range(0, 4) {
            // Another computed tensor of the same shape (a merge of two branches).
            0 | 1 => {
                let sa2 = sa.clone();
                match self.operand(|s| s == sa2.as_slice()) {
                    Some(b) if !(b == a && matches!(op, Op::Sub)) => b,
                    _ => self.scalar_const(),
                }
            }
            // A broadcast constant: per channel (axis 1) or along the last axis.
            2 => {
                let mut s = vec![1; sa.len()];
                if sa.len() >= 2 && self.rng.chance(0.5) {
                    s[1] = sa[1];
                } else if let Some(l) = s.last_mut() {
                    *l = *sa.last().unwrap_or(&1);
                }
                let c = self.rng.array(&s, 1.0);
                self.constant(c)
            }
            _ => self.scalar_const(),
        };
        if self.rng.chance(0.15) && self.g.value(b).is_const() {
            // Division by a constant away from zero.
            let d = self
                .g
                .const_data(b)?
                .mapv(|v| if v.abs() < 0.25 { 0.5 } else { v });
            let d = self.constant(d);
            return self.add(Op::Div, vec![a, d]).map(|_| ());
        }
        let ins = if self.rng.chance(0.3) && !self.g.value(b).is_const() {
            vec![b, a]
        } else {
            vec![a, b]
        };
        self.add(op, ins).map(|_| ())
    }

    fn scalar_const(&mut self) -> ValueId {
        let v = self.rng.normal(1.0);
        let v = if v.abs() < 0.1 { 0.7 } else { v };
        let s = if self.rng.chance(0.5) {
            vec![]
        } else {
            vec![1]
        };
        self.constant(ArrayD::from_shape_vec(IxDyn(&s), vec![v]).expect("scalar"))
    }

    fn conv(&mut self) -> Option<()> {
        let x = self.operand(|s| s.len() == 4 && s[2] >= 1 && s[3] >= 1)?;
        let s = self.shape(x);
        let cin = s[1];
        let depthwise = cin > 1 && self.rng.chance(0.3);
        let (cout, group) = if depthwise {
            (cin, cin)
        } else {
            (self.rng.range(1, 10), 1)
        };
        let kh = self.rng.range(1, 3.min(s[2] + 2));
        let kw = self.rng.range(1, 3.min(s[3] + 2));
        let pads = [
            self.rng.range(0, kh - 1),
            self.rng.range(0, kw - 1),
            self.rng.range(0, kh - 1),
            self.rng.range(0, kw - 1),
        ];
        let a = ConvAttrs {
            kernel: [kh, kw],
            strides: [self.rng.range(1, 2), self.rng.range(1, 2)],
            pads,
            dilations: if self.rng.chance(0.15) {
                [2, 2]
            } else {
                [1, 1]
            },
            group,
            output_padding: [0, 0],
            activation: self.activation(),
        };
        let fan_in = (cin / group * kh * kw) as f32;
        let w = self
            .rng
            .array(&[cout, cin / group, kh, kw], (2.0 / fan_in).sqrt());
        let w = self.constant(w);
        let mut ins = vec![x, w];
        if self.rng.chance(0.8) {
            let b = self.rng.array(&[cout], 0.3);
            ins.push(self.constant(b));
        }
        self.add(Op::Conv(a), ins).map(|_| ())
    }

    fn conv_transpose(&mut self) -> Option<()> {
        let x = self.operand(|s| s.len() == 4)?;
        let s = self.shape(x);
        let cin = s[1];
        let cout = self.rng.range(1, 6);
        let k = self.rng.range(1, 3);
        let stride = self.rng.range(1, 2);
        let a = ConvAttrs {
            kernel: [k, k],
            strides: [stride, stride],
            pads: [0; 4],
            dilations: [1, 1],
            group: 1,
            output_padding: [0, 0],
            activation: self.activation(),
        };
        let w = self
            .rng
            .array(&[cin, cout, k, k], (1.0 / cin as f32).sqrt());
        let w = self.constant(w);
        let b = self.rng.array(&[cout], 0.2);
        let b = self.constant(b);
        self.add(Op::ConvTranspose(a), vec![x, w, b]).map(|_| ())
    }

    fn gemm_or_matmul(&mut self) -> Option<()> {
        if self.rng.chance(0.5) {
            let x = self.operand(|s| s.len() == 2)?;
            let k = self.shape(x)[1];
            let n = self.rng.range(1, 12);
            let w = self.rng.array(&[n, k], (1.0 / k as f32).sqrt());
            let w = self.constant(w);
            let b = self.rng.array(&[n], 0.3);
            let b = self.constant(b);
            let activation = self.activation();
            self.add(Op::Gemm { activation }, vec![x, w, b]).map(|_| ())
        } else {
            let x = self.operand(|s| s.len() >= 2)?;
            let k = *self.shape(x).last()?;
            if self.rng.chance(0.5) {
                // Two computed operands: x · yᵀ-shaped partner of matching inner size.
                let y = self.operand(|s| s.len() == 2 && s[0] == k)?;
                return self.add(Op::MatMul, vec![x, y]).map(|_| ());
            }
            let n = self.rng.range(1, 10);
            let w = self.rng.array(&[k, n], (1.0 / k as f32).sqrt());
            let w = self.constant(w);
            self.add(Op::MatMul, vec![x, w]).map(|_| ())
        }
    }

    fn pool_op(&mut self) -> Option<()> {
        let x = self.operand(|s| s.len() == 4)?;
        let s = self.shape(x);
        let op = match self.rng.range(0, 3) {
            0 => Op::GlobalAveragePool,
            1 => Op::GlobalMaxPool,
            k => {
                let kh = self.rng.range(1, 3.min(s[2]).max(1));
                let kw = self.rng.range(1, 3.min(s[3]).max(1));
                let a = PoolAttrs {
                    kernel: [kh, kw],
                    strides: [self.rng.range(1, 2), self.rng.range(1, 2)],
                    pads: [
                        self.rng.range(0, kh - 1),
                        self.rng.range(0, kw - 1),
                        self.rng.range(0, kh - 1),
                        self.rng.range(0, kw - 1),
                    ],
                    dilations: [1, 1],
                    ceil_mode: self.rng.chance(0.3),
                    count_include_pad: self.rng.chance(0.3),
                };
                if k == 2 && self.rng.chance(0.5) {
                    Op::MaxPool(a)
                } else {
                    Op::AveragePool(a)
                }
            }
        };
        self.add(op, vec![x]).map(|_| ())
    }

    /// Concat on a random axis of inputs with unequal sizes on that axis, from different
    /// branches and of different ranges.
    fn concat(&mut self) -> Option<()> {
        let x = self.operand(|_| true)?;
        let s = self.shape(x);
        let axis = self.rng.range(0, s.len() - 1);
        let mut parts = vec![x];
        // Other pool tensors that fit.
        let fits =
            |t: &[usize]| t.len() == s.len() && (0..s.len()).all(|a| a == axis || t[a] == s[a]);
        let others: Vec<ValueId> = self
            .pool
            .iter()
            .copied()
            .filter(|&v| v != x && fits(self.g.shape(v)))
            .collect();
        for v in others {
            if parts.len() < 4 && self.rng.chance(0.5) {
                parts.push(v);
            }
        }
        if parts.len() == 1 || self.rng.chance(0.3) {
            // A transformed copy with a different range (x * k), or a slice of x on the axis.
            if s[axis] >= 2 && self.rng.chance(0.5) {
                let cut = self.rng.range(1, s[axis] - 1);
                let (mut starts, mut ends) = (vec![0i64; s.len()], Vec::new());
                ends.extend(s.iter().map(|&d| d as i64));
                starts[axis] = cut as i64;
                let steps = vec![1i64; s.len()];
                let sl = self.add(
                    Op::Slice {
                        starts,
                        ends,
                        steps,
                    },
                    vec![x],
                )?[0];
                parts.push(sl);
            } else {
                let k = *self.rng.pick(&[0.01f32, 0.3, 3.0, 50.0]);
                let c = self.constant(ArrayD::from_elem(IxDyn(&[]), k));
                let y = self.add(Op::Mul, vec![x, c])?[0];
                parts.push(y);
            }
        }
        self.rng.shuffle(&mut parts);
        self.add(Op::Concat { axis }, parts).map(|_| ())
    }

    fn split(&mut self) -> Option<()> {
        let x = self.operand(|s| s.iter().any(|&d| d >= 2))?;
        let s = self.shape(x);
        let axes: Vec<usize> = (0..s.len()).filter(|&a| s[a] >= 2).collect();
        let axis = *self.rng.pick(&axes);
        let n = self.rng.range(2, s[axis].min(4));
        // A random composition of s[axis] into n positive parts.
        let mut cuts: Vec<usize> = Vec::new();
        while cuts.len() < n - 1 {
            let c = self.rng.range(1, s[axis] - 1);
            if !cuts.contains(&c) {
                cuts.push(c);
            }
        }
        cuts.sort_unstable();
        let mut splits = Vec::new();
        let mut prev = 0;
        for c in cuts.into_iter().chain([s[axis]]) {
            splits.push(c - prev);
            prev = c;
        }
        self.add(Op::Split { axis, splits }, vec![x]).map(|_| ())
    }

    fn slice(&mut self) -> Option<()> {
        let x = self.operand(|_| true)?;
        let s = self.shape(x);
        let (mut starts, mut ends, mut steps) = (Vec::new(), Vec::new(), Vec::new());
        for &d in &s {
            let d = d as i64;
            if self.rng.chance(0.4) {
                starts.push(0);
                ends.push(d);
                steps.push(1);
                continue;
            }
            let step = *self.rng.pick(&[1i64, 1, 2, 3, -1, -2]);
            let a = self.rng.range(0, (d - 1) as usize) as i64;
            let b = self.rng.range(0, (d - 1) as usize) as i64;
            if step > 0 {
                let (lo, hi) = (a.min(b), a.max(b) + 1);
                starts.push(lo);
                ends.push(hi);
            } else {
                // From the larger index down to just past the smaller one (-1: through index 0).
                let (hi, lo) = (a.max(b), a.min(b) - 1);
                starts.push(hi);
                ends.push(lo);
            }
            steps.push(step);
        }
        self.add(
            Op::Slice {
                starts,
                ends,
                steps,
            },
            vec![x],
        )
        .map(|_| ())
    }

    fn reshape(&mut self) -> Option<()> {
        let x = self.operand(|_| true)?;
        let n: usize = self.shape(x).iter().product();
        let rank = self.rng.range(1, 4);
        let shape = self.factorize(n, rank);
        self.add(Op::Reshape { shape }, vec![x]).map(|_| ())
    }

    /// A random shape of `rank` dimensions with product `n`.
    fn factorize(&mut self, mut n: usize, rank: usize) -> Vec<usize> {
        let mut dims = vec![1; rank];
        let mut f = 2;
        let mut factors = Vec::new();
        while n > 1 {
            while n.is_multiple_of(f) {
                factors.push(f);
                n /= f;
            }
            f += 1;
        }
        for p in factors {
            let i = self.rng.range(0, rank - 1);
            dims[i] *= p;
        }
        dims
    }

    fn transpose(&mut self) -> Option<()> {
        let x = self.operand(|s| s.len() >= 2)?;
        let mut perm: Vec<usize> = (0..self.shape(x).len()).collect();
        self.rng.shuffle(&mut perm);
        self.add(Op::Transpose { perm }, vec![x]).map(|_| ())
    }

    fn squeeze_unsqueeze(&mut self) -> Option<()> {
        let x = self.operand(|_| true)?;
        let s = self.shape(x);
        let ones: Vec<usize> = (0..s.len()).filter(|&a| s[a] == 1).collect();
        if !ones.is_empty() && s.len() > 1 && self.rng.chance(0.5) {
            let a = *self.rng.pick(&ones);
            return self.add(Op::Squeeze { axes: vec![a] }, vec![x]).map(|_| ());
        }
        let a = self.rng.range(0, s.len());
        self.add(Op::Unsqueeze { axes: vec![a] }, vec![x])
            .map(|_| ())
    }

    fn flatten(&mut self) -> Option<()> {
        let x = self.operand(|_| true)?;
        let axis = self.rng.range(0, self.shape(x).len());
        self.add(Op::Flatten { axis }, vec![x]).map(|_| ())
    }

    fn resize(&mut self) -> Option<()> {
        let x = self.operand(|s| s.len() == 4)?;
        let s = self.shape(x);
        let mode = if self.rng.chance(0.5) {
            ResizeMode::Nearest
        } else {
            ResizeMode::Linear
        };
        let coord = *self.rng.pick(&[
            ResizeCoord::HalfPixel,
            ResizeCoord::PytorchHalfPixel,
            ResizeCoord::AlignCorners,
            ResizeCoord::Asymmetric,
            ResizeCoord::TfHalfPixelForNearest,
        ]);
        let nearest = *self.rng.pick(&[
            ResizeNearest::RoundPreferFloor,
            ResizeNearest::RoundPreferCeil,
            ResizeNearest::Floor,
            ResizeNearest::Ceil,
        ]);
        let mut scales = [0f32; 2];
        let mut out_hw = [0usize; 2];
        for i in 0..2 {
            let mut sc = *self.rng.pick(&[0.5f32, 1.0, 1.5, 2.0, 3.0]);
            if s[2 + i] as f32 * sc < 1.0 {
                sc = 1.0;
            }
            out_hw[i] = (s[2 + i] as f32 * sc).floor() as usize;
            scales[i] = sc;
        }
        if mode == ResizeMode::Linear && coord == ResizeCoord::TfHalfPixelForNearest {
            return None;
        }
        let a = ResizeAttrs {
            mode,
            coord,
            nearest,
            scales,
            out_hw,
        };
        self.add(Op::Resize(a), vec![x]).map(|_| ())
    }

    fn pad(&mut self) -> Option<()> {
        let x = self.operand(|_| true)?;
        let s = self.shape(x);
        let mode = *self.rng.pick(&[
            PadMode::Constant,
            PadMode::Constant,
            PadMode::Reflect,
            PadMode::Edge,
        ]);
        let pads: Vec<(usize, usize)> = s
            .iter()
            .map(|&d| {
                let max = if mode == PadMode::Reflect {
                    (d - 1).min(2)
                } else {
                    2
                };
                if self.rng.chance(0.5) {
                    (0, 0)
                } else {
                    (self.rng.range(0, max), self.rng.range(0, max))
                }
            })
            .collect();
        let value = if self.rng.chance(0.5) {
            0.0
        } else {
            self.rng.uniform(-1.0, 1.0)
        };
        self.add(Op::Pad { pads, mode, value }, vec![x]).map(|_| ())
    }

    fn softmax_or_reduce(&mut self) -> Option<()> {
        let x = self.operand(|_| true)?;
        let r = self.shape(x).len();
        if self.rng.chance(0.5) {
            let axis = self.rng.range(0, r - 1);
            let legacy = self.rng.chance(0.2);
            self.add(Op::Softmax { axis, legacy }, vec![x]).map(|_| ())
        } else {
            let mut axes: Vec<usize> = (0..r).filter(|_| self.rng.chance(0.5)).collect();
            if axes.is_empty() {
                axes.push(r - 1);
            }
            let keepdims = self.rng.chance(0.6);
            // The float-only reductions that stay in range on any input (not Prod, LogSum).
            let kind = match self.rng.range(0, 5) {
                2 => Some(ReduceKind::L1),
                3 => Some(ReduceKind::L2),
                4 => Some(ReduceKind::SumSquare),
                5 => Some(ReduceKind::LogSumExp),
                _ => None,
            };
            let op = match kind {
                Some(kind) => Op::Reduce {
                    kind,
                    axes,
                    keepdims,
                },
                None => Op::ReduceMean { axes, keepdims },
            };
            self.add(op, vec![x]).map(|_| ())
        }
    }

    fn gather(&mut self) -> Option<()> {
        let x = self.operand(|_| true)?;
        let s = self.shape(x);
        let axis = self.rng.range(0, s.len() - 1);
        let k = self.rng.range(1, 4);
        let idx: Vec<f32> = (0..k)
            .map(|_| self.rng.range(0, s[axis] - 1) as f32)
            .collect();
        let shape = if k == 1 && self.rng.chance(0.5) {
            vec![]
        } else {
            vec![k]
        };
        let c = self.constant(
            ArrayD::from_shape_vec(
                IxDyn(&shape),
                idx[..shape.iter().product::<usize>().max(1)].to_vec(),
            )
            .ok()?,
        );
        self.add(Op::Gather { axis }, vec![x, c]).map(|_| ())
    }

    fn prelu_or_bn(&mut self) -> Option<()> {
        let x = self.operand(|s| s.len() == 4)?;
        let c = self.shape(x)[1];
        if self.rng.chance(0.5) {
            let slope = self.rng.array(&[c, 1, 1], 0.3);
            let slope = self.constant(slope);
            self.add(Op::PRelu, vec![x, slope]).map(|_| ())
        } else {
            let gamma = self.rng.array(&[c], 1.0);
            let beta = self.rng.array(&[c], 0.5);
            let mean = self.rng.array(&[c], 0.5);
            let var = self.rng.array(&[c], 0.5).mapv(|v| v.abs() + 0.1);
            let ins = vec![
                x,
                self.constant(gamma),
                self.constant(beta),
                self.constant(mean),
                self.constant(var),
            ];
            self.add(Op::BatchNorm { epsilon: 1e-5 }, ins).map(|_| ())
        }
    }

    /// The structure that broke real detectors: per-level heads producing box values (large) and
    /// sigmoid scores (in [0, 1]) concatenated on channels, each reshaped to [1, C, HW] and
    /// concatenated on the last axis.
    fn detector_head(&mut self) -> Option<()> {
        let x = self.operand(|s| s.len() == 4 && s[0] == 1 && s[2] >= 2 && s[3] >= 2)?;
        let s = self.shape(x);
        let levels = self.rng.range(1, 3);
        let (nbox, ncls) = (self.rng.range(1, 4), self.rng.range(1, 3));
        let box_scale = *self.rng.pick(&[1.0f32, 16.0, 300.0]);
        let mut flat = Vec::new();
        let mut feat = x;
        let mut fs = s.clone();
        for level in 0..levels {
            if level > 0 {
                if fs[2] < 2 || fs[3] < 2 {
                    break;
                }
                let w = self.rng.array(&[fs[1], fs[1], 2, 2], 0.5);
                let w = self.constant(w);
                let a = ConvAttrs {
                    kernel: [2, 2],
                    strides: [2, 2],
                    pads: [0; 4],
                    dilations: [1, 1],
                    group: 1,
                    output_padding: [0, 0],
                    activation: Activation::Relu,
                };
                feat = self.add(Op::Conv(a), vec![feat, w])?[0];
                fs = self.shape(feat);
            }
            let one = ConvAttrs {
                kernel: [1, 1],
                strides: [1, 1],
                pads: [0; 4],
                dilations: [1, 1],
                group: 1,
                output_padding: [0, 0],
                activation: Activation::None,
            };
            let wb = self.rng.array(&[nbox, fs[1], 1, 1], box_scale);
            let wb = self.constant(wb);
            let bb = self.rng.array(&[nbox], box_scale);
            let bb = self.constant(bb);
            let boxes = self.add(Op::Conv(one.clone()), vec![feat, wb, bb])?[0];
            let wc = self.rng.array(&[ncls, fs[1], 1, 1], 1.0);
            let wc = self.constant(wc);
            let logits = self.add(Op::Conv(one), vec![feat, wc])?[0];
            let scores = self.add(Op::Sigmoid, vec![logits])?[0];
            let cat = self.add(Op::Concat { axis: 1 }, vec![boxes, scores])?[0];
            let hw = fs[2] * fs[3];
            let r = self.add(
                Op::Reshape {
                    shape: vec![1, nbox + ncls, hw],
                },
                vec![cat],
            )?[0];
            flat.push(r);
        }
        if flat.len() > 1 {
            self.add(Op::Concat { axis: 2 }, flat)?;
        }
        Some(())
    }
}
