//! Helpers shared by the float-engine tests: a tiny deterministic RNG, one-node graphs and a
//! closeness check.
#![allow(dead_code)]

use ndarray::{ArrayD, IxDyn};
use radix_ir::{Graph, Node, Op, ValueId, shape};

/// xorshift64*: deterministic, dependency-free.
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
    /// Uniform in [lo, hi].
    pub fn range(&mut self, lo: usize, hi: usize) -> usize {
        lo + (self.next_u64() % (hi - lo + 1) as u64) as usize
    }
    /// Uniform in [-1, 1).
    pub fn f32(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 23) as f32 - 1.0
    }
    pub fn array(&mut self, shape: &[usize]) -> ArrayD<f32> {
        let n = shape.iter().product();
        ArrayD::from_shape_vec(IxDyn(shape), (0..n).map(|_| self.f32()).collect()).unwrap()
    }
    pub fn bool(&mut self) -> bool {
        self.next_u64() & 1 == 1
    }
}

/// A graph with one node: dynamic input `x` (shape `x_shape`) then the constants, one output.
pub fn one_node(op: Op, x_shape: &[usize], consts: Vec<ArrayD<f32>>) -> Graph {
    let mut g = Graph::new("test");
    let x = g.add_value("x", x_shape.to_vec());
    let mut inputs = vec![x];
    for (i, c) in consts.into_iter().enumerate() {
        inputs.push(g.add_const(format!("c{i}"), c));
    }
    finish(g, op, inputs, vec![x])
}

/// A graph with one node whose inputs are all dynamic.
pub fn one_node_dynamic(op: Op, shapes: &[&[usize]]) -> Graph {
    let mut g = Graph::new("test");
    let ids: Vec<ValueId> = shapes
        .iter()
        .enumerate()
        .map(|(i, s)| g.add_value(format!("in{i}"), s.to_vec()))
        .collect();
    finish(g, op, ids.clone(), ids)
}

fn finish(mut g: Graph, op: Op, inputs: Vec<ValueId>, graph_inputs: Vec<ValueId>) -> Graph {
    let shapes: Vec<&[usize]> = inputs.iter().map(|&v| g.shape(v)).collect();
    let outs = shape::infer(&op, &shapes).unwrap();
    let y = g.add_value("y", outs[0].clone());
    g.nodes.push(Node {
        name: "n0".into(),
        op,
        inputs,
        outputs: vec![y],
        origin: vec!["n0".into()],
    });
    g.inputs = graph_inputs;
    g.outputs = vec![y];
    g
}

/// Asserts `|got - want| <= tol * max(1, max|want|)` element-wise, with shapes equal.
pub fn assert_close(got: &ArrayD<f32>, want: &ArrayD<f32>, tol: f32, what: &str) {
    assert_eq!(got.shape(), want.shape(), "{what}: shape");
    let scale = want.iter().fold(1.0f32, |m, v| m.max(v.abs()));
    for (i, (a, b)) in got.iter().zip(want.iter()).enumerate() {
        assert!(
            (a - b).abs() <= tol * scale,
            "{what}: element {i}: got {a}, want {b} (scale {scale})"
        );
    }
}

/// Runs a graph on inputs inside a rayon pool of `threads` threads.
pub fn run_with_threads(g: &Graph, inputs: &[ArrayD<f32>], threads: usize) -> Vec<ArrayD<f32>> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap();
    let engine = radix_sim::FloatEngine::new(g).unwrap();
    pool.install(|| engine.run(inputs)).unwrap()
}

/// Same with the portable kernels only (no AVX-512 convolution path).
pub fn run_portable(g: &Graph, inputs: &[ArrayD<f32>], threads: usize) -> Vec<ArrayD<f32>> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap();
    let engine = radix_sim::FloatEngine::new_portable(g).unwrap();
    pool.install(|| engine.run(inputs)).unwrap()
}
