//! The float engine: runs a [`Graph`] in f32, node by node in topological order.
//!
//! Heavy ops (Conv, ConvTranspose, Gemm, MatMul, MaxPool, AveragePool, Resize) have their own
//! kernels here, prepared once in [`FloatEngine::new`] (weights packed, windows and coordinate
//! maps precomputed); every other op runs through [`radix_ir::eval::eval_light`], the same
//! definition constant folding uses.
//!
//! Batching: the graph has static shapes with a batch `B` on axis 0 of its inputs (usually 1).
//! [`FloatEngine::run`] accepts inputs whose axis 0 is any positive multiple `k·B` and runs the
//! `k` items one after the other, concatenating the outputs on axis 0; results are identical to
//! separate runs. The observer of [`FloatEngine::run_observed`] sees each item's tensors.
//!
//! Memory: a tensor is released as soon as its last reader has run (graph outputs are kept);
//! released storage is recycled for later outputs of heavy kernels (which overwrite every
//! element), and a bounded set of buffers is kept in the engine for the next run.
//!
//! Threads: kernels parallelise in the current rayon pool (`ThreadPool::install` picks the
//! count); results do not depend on the thread count beyond float summation order in GEMMs.

mod conv;
mod linear;
mod pgemm;
mod pool;
mod resize;

use std::borrow::Cow;
use std::sync::Mutex;

use ndarray::{ArrayD, IxDyn};
use radix_ir::{Graph, Node, Op, ValueId, eval::eval_light, shape};

use crate::SimError;
use conv::{ConvPlan, ConvTransposePlan};
use linear::{GemmBias, GemmPlan};
use pool::PoolPlan;
use resize::ResizePlan;

/// How one node runs.
#[derive(Debug)]
enum Plan<'g> {
    Conv(ConvPlan<'g>),
    ConvTranspose(ConvTransposePlan<'g>),
    Gemm(GemmPlan<'g>),
    MatMul,
    Pool(PoolPlan),
    Resize(ResizePlan),
    /// Through `eval_light`.
    Light,
}

/// A value during a run: computed (owned) or one of the caller's inputs (borrowed).
enum Slot<'a> {
    Owned(ArrayD<f32>),
    Ref(&'a ArrayD<f32>),
}

impl Slot<'_> {
    fn get(&self) -> &ArrayD<f32> {
        match self {
            Slot::Owned(a) => a,
            Slot::Ref(a) => a,
        }
    }
}

/// Whether `a` has the strides `ArrayD::from_shape_vec` gives its shape. ndarray also calls an
/// array with any stride on a length-1 axis standard layout, but its reductions sum such an
/// array in another order: kernels must only see default strides, so that results depend on the
/// values alone.
fn has_default_strides(a: &ArrayD<f32>) -> bool {
    let mut want = 1isize;
    for (&len, &stride) in a.shape().iter().zip(a.strides()).rev() {
        if stride != want {
            return false;
        }
        want *= len as isize;
    }
    true
}

/// A row-major copy of `v` with default strides.
fn row_major(v: ndarray::ArrayViewD<'_, f32>) -> ArrayD<f32> {
    let data: Vec<f32> = v.iter().copied().collect();
    ArrayD::from_shape_vec(v.raw_dim(), data).unwrap_or_else(|_| v.to_owned())
}

/// Float inference over a borrowed graph, with weights packed once.
#[derive(Debug)]
pub struct FloatEngine<'g> {
    graph: &'g Graph,
    plans: Vec<Plan<'g>>,
    /// Values that can be dropped after node `i` ran.
    release: Vec<Vec<ValueId>>,
    /// Buffers kept from the previous run (a run takes them all and puts its own back).
    spare: Mutex<BufferPool>,
}

/// Borrows constant data as a contiguous slice (copying only when it is not in standard layout).
fn const_slice(a: &ArrayD<f32>) -> Cow<'_, [f32]> {
    match a.as_slice() {
        Some(s) => Cow::Borrowed(s),
        None => Cow::Owned(a.iter().copied().collect()),
    }
}

impl<'g> FloatEngine<'g> {
    /// Checks the graph (structure, static shapes, parameter sizes) and prepares every node.
    pub fn new(graph: &'g Graph) -> Result<Self, SimError> {
        Self::build(graph, false)
    }

    /// Like [`new`](Self::new) but never uses the CPU-specific (AVX-512) convolution kernels, so
    /// tests can check the portable ones on any machine.
    #[doc(hidden)]
    pub fn new_portable(graph: &'g Graph) -> Result<Self, SimError> {
        Self::build(graph, true)
    }

    fn build(graph: &'g Graph, portable: bool) -> Result<Self, SimError> {
        graph
            .validate()
            .map_err(|e| SimError::Graph(e.to_string()))?;
        for v in &graph.values {
            if let Some(d) = &v.data
                && d.shape() != v.shape.as_slice()
            {
                return Err(SimError::Graph(format!(
                    "constant `{}` has data of shape {:?} but declares {:?}",
                    v.name,
                    d.shape(),
                    v.shape
                )));
            }
        }
        let mut plans = Vec::with_capacity(graph.nodes.len());
        for node in &graph.nodes {
            let ins: Vec<&[usize]> = node.inputs.iter().map(|&v| graph.shape(v)).collect();
            let outs = shape::infer(&node.op, &ins).map_err(|e| SimError::node(node, e))?;
            if outs.len() != node.outputs.len() {
                return Err(SimError::node(
                    node,
                    format!(
                        "computes {} outputs but the graph lists {}",
                        outs.len(),
                        node.outputs.len()
                    ),
                ));
            }
            for (o, s) in node.outputs.iter().zip(&outs) {
                if graph.shape(*o) != s.as_slice() {
                    return Err(SimError::node(
                        node,
                        format!(
                            "output `{}` is declared {:?} but computes to {:?}",
                            graph.value(*o).name,
                            graph.shape(*o),
                            s
                        ),
                    ));
                }
            }
            plans.push(Self::plan(graph, node, &ins, &outs[0], portable)?);
        }
        // Last reader of every value; values nobody reads go right after they are produced.
        let mut last = vec![None::<usize>; graph.values.len()];
        for (i, n) in graph.nodes.iter().enumerate() {
            for &v in n.inputs.iter().chain(&n.outputs) {
                last[v.0] = Some(i);
            }
        }
        let mut release = vec![Vec::new(); graph.nodes.len()];
        for (v, l) in last.iter().enumerate() {
            if let Some(i) = l
                && !graph.outputs.contains(&ValueId(v))
                && !graph.values[v].is_const()
            {
                release[*i].push(ValueId(v));
            }
        }
        Ok(FloatEngine {
            graph,
            plans,
            release,
            spare: Mutex::new(BufferPool::default()),
        })
    }

    fn plan(
        graph: &'g Graph,
        node: &Node,
        ins: &[&[usize]],
        out: &[usize],
        portable: bool,
    ) -> Result<Plan<'g>, SimError> {
        let err = |m: String| SimError::node(node, m);
        let data = |i: usize| node.inputs.get(i).and_then(|&v| graph.const_data(v));
        Ok(match &node.op {
            Op::Conv(a) | Op::ConvTranspose(a) => {
                let (x, w) = (ins[0], ins[1]);
                if w[2..] != a.kernel {
                    return Err(err(format!(
                        "weight shape {w:?} does not match kernel {:?}",
                        a.kernel
                    )));
                }
                let cout = out[1];
                let bias = match node.inputs.get(2) {
                    None => None,
                    Some(&b) => {
                        let d = graph.const_data(b).ok_or_else(|| {
                            err(format!("bias `{}` must be a constant", graph.value(b).name))
                        })?;
                        if d.len() != cout {
                            return Err(err(format!(
                                "bias has {} values for {cout} output channels",
                                d.len()
                            )));
                        }
                        Some(const_slice(d))
                    }
                };
                if matches!(node.op, Op::Conv(_)) {
                    Plan::Conv(ConvPlan::new(
                        a,
                        x,
                        out,
                        data(1).map(const_slice),
                        bias,
                        portable,
                    ))
                } else {
                    let w = data(1).map(const_slice);
                    Plan::ConvTranspose(ConvTransposePlan::new(a, x, out, w.as_deref(), bias))
                }
            }
            Op::Gemm { activation } => {
                let (m, k, n) = (ins[0][0], ins[0][1], ins[1][0]);
                let bias = match node.inputs.get(2) {
                    None => GemmBias::None,
                    Some(&b) => {
                        let d = graph.const_data(b).ok_or_else(|| {
                            err(format!("bias `{}` must be a constant", graph.value(b).name))
                        })?;
                        if d.len() == n && d.shape().last().copied().unwrap_or(1) == n {
                            GemmBias::Col(const_slice(d))
                        } else {
                            let full = d.broadcast(IxDyn(&[m, n])).ok_or_else(|| {
                                err(format!(
                                    "bias of shape {:?} does not broadcast to [{m}, {n}]",
                                    d.shape()
                                ))
                            })?;
                            GemmBias::Full(full.iter().copied().collect())
                        }
                    }
                };
                Plan::Gemm(GemmPlan::new(
                    m,
                    k,
                    n,
                    *activation,
                    data(1).map(const_slice).as_deref(),
                    bias,
                ))
            }
            Op::MatMul => Plan::MatMul,
            Op::MaxPool(a) => Plan::Pool(PoolPlan::new(a, true, ins[0], out)),
            Op::AveragePool(a) => Plan::Pool(PoolPlan::new(a, false, ins[0], out)),
            Op::Resize(a) => Plan::Resize(ResizePlan::new(a, ins[0], out)),
            _ => Plan::Light,
        })
    }

    /// The graph this engine runs.
    pub fn graph(&self) -> &'g Graph {
        self.graph
    }

    /// Runs the graph; inputs in `graph.inputs` order, outputs in `graph.outputs` order.
    pub fn run(&self, inputs: &[ArrayD<f32>]) -> Result<Vec<ArrayD<f32>>, SimError> {
        self.run_observed(inputs, &mut |_, _| {})
    }

    /// Like [`run`](Self::run), calling `observer(value, tensor)` for every node output as soon
    /// as it is computed (once per batch item, each tensor with the graph's static shape).
    pub fn run_observed(
        &self,
        inputs: &[ArrayD<f32>],
        observer: &mut dyn FnMut(ValueId, &ArrayD<f32>),
    ) -> Result<Vec<ArrayD<f32>>, SimError> {
        let items = crate::engine::batch_items(self.graph, inputs)?;
        let mut per_item: Vec<Vec<ArrayD<f32>>> = Vec::with_capacity(items);
        for i in 0..items {
            let slots = inputs
                .iter()
                .zip(&self.graph.inputs)
                .map(|(x, &id)| {
                    let view = crate::engine::item_view(self.graph, id, x, i);
                    if view.shape() == x.shape() && has_default_strides(x) {
                        Slot::Ref(x)
                    } else {
                        Slot::Owned(row_major(view))
                    }
                })
                .collect();
            if items == 1 {
                return self.run_item(slots, observer);
            }
            per_item.push(self.run_item(slots, observer)?);
        }
        crate::engine::join_items(self.graph, per_item).map_err(SimError::Graph)
    }

    fn run_item(
        &self,
        input_slots: Vec<Slot<'_>>,
        observer: &mut dyn FnMut(ValueId, &ArrayD<f32>),
    ) -> Result<Vec<ArrayD<f32>>, SimError> {
        let g = self.graph;
        let mut buffers = self
            .spare
            .lock()
            .map(|mut p| std::mem::take(&mut *p))
            .unwrap_or_default();
        let mut env: Vec<Option<Slot<'_>>> = Vec::with_capacity(g.values.len());
        env.resize_with(g.values.len(), || None);
        for (&id, s) in g.inputs.iter().zip(input_slots) {
            env[id.0] = Some(s);
        }
        for (i, node) in g.nodes.iter().enumerate() {
            let outs = {
                let mut ins: Vec<&ArrayD<f32>> = Vec::with_capacity(node.inputs.len());
                for &v in &node.inputs {
                    let a = match g.const_data(v) {
                        Some(d) => d,
                        None => env[v.0].as_ref().map(Slot::get).ok_or_else(|| {
                            SimError::node(
                                node,
                                format!("input `{}` has not been computed", g.value(v).name),
                            )
                        })?,
                    };
                    ins.push(a);
                }
                self.exec(node, &self.plans[i], &ins, &mut buffers)?
            };
            if outs.len() != node.outputs.len() {
                return Err(SimError::node(
                    node,
                    format!(
                        "produced {} outputs, expected {}",
                        outs.len(),
                        node.outputs.len()
                    ),
                ));
            }
            for (&o, t) in node.outputs.iter().zip(outs) {
                if t.shape() != g.shape(o) {
                    return Err(SimError::node(
                        node,
                        format!(
                            "output `{}` has shape {:?}, expected {:?}",
                            g.value(o).name,
                            t.shape(),
                            g.shape(o)
                        ),
                    ));
                }
                observer(o, &t);
                env[o.0] = Some(Slot::Owned(t));
            }
            for &v in &self.release[i] {
                if let Some(Slot::Owned(a)) = env[v.0].take() {
                    buffers.give(a);
                }
            }
        }
        let mut outs = Vec::with_capacity(g.outputs.len());
        for (k, &o) in g.outputs.iter().enumerate() {
            let t = match g.const_data(o) {
                Some(d) => d.clone(),
                None => {
                    let reused_later = g.outputs[k + 1..].contains(&o);
                    match (env[o.0].take(), reused_later) {
                        (Some(Slot::Owned(a)), false) => a,
                        (Some(s), _) => {
                            let a = s.get().clone();
                            env[o.0] = Some(s);
                            a
                        }
                        (None, _) => {
                            return Err(SimError::Graph(format!(
                                "output `{}` was never computed",
                                g.value(o).name
                            )));
                        }
                    }
                }
            };
            outs.push(t);
        }
        for slot in env.iter_mut() {
            if let Some(Slot::Owned(a)) = slot.take() {
                buffers.give(a);
            }
        }
        if let Ok(mut p) = self.spare.lock() {
            *p = buffers;
        }
        Ok(outs)
    }

    fn exec(
        &self,
        node: &Node,
        plan: &Plan<'g>,
        ins: &[&ArrayD<f32>],
        buffers: &mut BufferPool,
    ) -> Result<Vec<ArrayD<f32>>, SimError> {
        let g = self.graph;
        let out_shape = || g.shape(node.outputs[0]);
        // Heavy kernels write every output element, so recycled buffers need no clearing.
        let mut new_out = || buffers.take(out_shape().iter().product());
        let wrap = |v: Vec<f32>| -> Result<Vec<ArrayD<f32>>, SimError> {
            ArrayD::from_shape_vec(IxDyn(out_shape()), v)
                .map(|a| vec![a])
                .map_err(|e| SimError::node(node, e.to_string()))
        };
        let input = |i: usize| -> Result<ndarray::CowArray<'_, f32, IxDyn>, SimError> {
            ins.get(i)
                .map(|a| a.as_standard_layout())
                .ok_or_else(|| SimError::node(node, format!("missing input {i}")))
        };
        let slice =
            |a: &ndarray::CowArray<'_, f32, IxDyn>| -> Vec<f32> { a.iter().copied().collect() };
        match plan {
            Plan::Conv(p) => {
                let x = input(0)?;
                let mut y = new_out();
                let w_rt;
                let w: &[f32] = match &p.weights {
                    Some(w) => w,
                    None => {
                        w_rt = slice(&input(1)?);
                        &w_rt
                    }
                };
                p.run(as_slice(node, &x)?, w, &mut y);
                wrap(y)
            }
            Plan::ConvTranspose(p) => {
                let x = input(0)?;
                let mut y = new_out();
                let w_rt;
                let w: &[f32] = match &p.weights {
                    Some(w) => w,
                    None => {
                        w_rt = p.pack(&slice(&input(1)?));
                        &w_rt
                    }
                };
                p.run(as_slice(node, &x)?, w, &mut y);
                wrap(y)
            }
            Plan::Gemm(p) => {
                let x = input(0)?;
                let mut y = new_out();
                let w_rt;
                let w: &[f32] = match &p.weights_t {
                    Some(w) => w,
                    None => {
                        w_rt = p.pack(&slice(&input(1)?));
                        &w_rt
                    }
                };
                p.run(as_slice(node, &x)?, w, &mut y);
                wrap(y)
            }
            Plan::MatMul => {
                let (a, b) = (input(0)?, input(1)?);
                let mut y = new_out();
                linear::matmul(
                    as_slice(node, &a)?,
                    a.shape(),
                    as_slice(node, &b)?,
                    b.shape(),
                    &mut y,
                )
                .map_err(|e| SimError::node(node, e))?;
                wrap(y)
            }
            Plan::Pool(p) => {
                let x = input(0)?;
                let mut y = new_out();
                p.run(as_slice(node, &x)?, &mut y);
                wrap(y)
            }
            Plan::Resize(p) => {
                let x = input(0)?;
                let mut y = new_out();
                p.run(as_slice(node, &x)?, &mut y);
                wrap(y)
            }
            Plan::Light => {
                let shapes: Vec<Vec<usize>> =
                    node.outputs.iter().map(|&o| g.shape(o).to_vec()).collect();
                match eval_light(&node.op, ins, &shapes) {
                    Some(r) => r.map_err(|e| SimError::node(node, e)),
                    None => Err(SimError::node(
                        node,
                        "operator is not supported by the float engine",
                    )),
                }
            }
        }
    }
}

fn as_slice<'a>(
    node: &Node,
    a: &'a ndarray::CowArray<'_, f32, IxDyn>,
) -> Result<&'a [f32], SimError> {
    a.as_slice()
        .ok_or_else(|| SimError::node(node, "input is not contiguous"))
}

/// Storage of released tensors, reused for the outputs of heavy kernels (saves zeroing and page
/// faults); kept in the engine between runs. Handed-out buffers hold stale values: only kernels that overwrite
/// every element may take them.
#[derive(Debug, Default)]
struct BufferPool {
    free: Vec<Vec<f32>>,
    /// Values held in `free`.
    held: usize,
}

impl BufferPool {
    /// At most this many buffers ...
    const MAX: usize = 64;
    /// ... holding at most this many values (256 MiB).
    const MAX_VALUES: usize = 64 << 20;

    fn give(&mut self, a: ArrayD<f32>) {
        if !a.is_standard_layout() || self.free.len() >= Self::MAX {
            return;
        }
        if let (v, Some(0) | None) = a.into_raw_vec_and_offset()
            && self.held + v.len() <= Self::MAX_VALUES
        {
            self.held += v.len();
            self.free.push(v);
        }
    }

    /// A buffer of exactly `n` values (stale contents): the smallest free one that fits, unless
    /// it is much larger than needed.
    fn take(&mut self, n: usize) -> Vec<f32> {
        let best = self
            .free
            .iter()
            .enumerate()
            .filter(|(_, v)| v.len() >= n)
            .min_by_key(|(_, v)| v.len())
            .map(|(i, _)| i);
        match best {
            Some(i) if self.free[i].len() <= 2 * n + 1024 => {
                let mut v = self.free.swap_remove(i);
                self.held -= v.len();
                v.truncate(n);
                v
            }
            _ => vec![0.0; n],
        }
    }
}

impl crate::Engine for FloatEngine<'_> {
    fn kind(&self) -> crate::EngineKind {
        crate::EngineKind::Float
    }

    fn graph(&self) -> &Graph {
        self.graph
    }

    fn run_observing(
        &self,
        inputs: &[ArrayD<f32>],
        observer: &mut dyn FnMut(ValueId, crate::Observed<'_>),
    ) -> Result<Vec<ArrayD<f32>>, SimError> {
        self.run_observed(inputs, &mut |id, t| observer(id, crate::Observed::Float(t)))
    }
}
