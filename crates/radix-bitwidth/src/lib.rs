#![deny(missing_docs)]
//! radix-bitwidth: which tensors and weights of a graph are 8-bit and which 16-bit.
//!
//! The quantizer and, through the quantized model, the IP evaluator take their bitwidths from
//! the [`BitAssignment`] a [`BitwidthPolicy`] returns; nothing else decides bits. The policies:
//!
//! * [`Uniform`]: one width for every datapath tensor and weight (the `int8` / `int16` modes).
//! * [`MixLight`]: int8, except small-channel convolutions (at most [`MixLight::SMALL_CHANNELS`]
//!   input channels per group: the first layer, depthwise convolutions, a standalone
//!   BatchNormalization, which `prepare` turns into a depthwise 1x1 convolution) in 16-bit.
//! * [`MixBalance`]: int16, except the most expensive convolutions, holding half of the MACs,
//!   in 8-bit.
//! * [`MixBw`]: measures each MAC layer's sensitivity (model-output SNR with only that layer at 8
//!   bits, the rest at 16) through the [`Sensitivity`] seam a higher crate implements with the
//!   quantizer and the engines, then chooses the 16-bit layers that maximise the predicted
//!   output SNR within a compute budget, by an exact 0/1 knapsack ([`knapsack`]).
//!
//! Units of choice are the MAC nodes (Conv, ConvTranspose, Gemm, MatMul): a unit at 16 bits has
//! 16-bit weights and writes a 16-bit output. Every other computed tensor takes the widest of its
//! computed inputs ([`BitAssignment::from_units`]), so no precision is dropped between layers;
//! model inputs, model outputs and CPU-node tensors follow their own options in the quantizer.

mod knapsack;
mod policy;

pub use knapsack::{Choice, knapsack};
pub use policy::{
    Allocation, BitwidthPolicy, Budget, MixBalance, MixBw, MixBwMeasurement, MixLight, Sensitivity,
    Uniform, UnitSensitivity,
};

use radix_ir::{Graph, Op};
use serde::{Deserialize, Serialize};

/// Errors of the bitwidth allocation.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum BitwidthError {
    /// A budget outside what the search can honour.
    #[error("{option}: {msg}")]
    Budget {
        /// The option that set it (`flops_ratio`, `mixbw_budget`).
        option: String,
        /// What is wrong with it.
        msg: String,
    },
    /// The sensitivity measurement failed (the message of the layer that measured it).
    #[error("mixbw sensitivity of `{unit}`: {msg}")]
    Sensitivity {
        /// The MAC node being measured ("all 16-bit" for the baseline).
        unit: String,
        /// What went wrong.
        msg: String,
    },
}

/// One unit of choice: a MAC node and its compute.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Unit {
    /// Index of the node in `graph.nodes`.
    pub node: usize,
    /// The node's name.
    pub name: String,
    /// Multiply-accumulates of one inference.
    pub macs: u64,
    /// Input channels per group (1 for a depthwise convolution).
    pub channels_per_group: usize,
}

/// The MAC nodes of `graph` (Conv, ConvTranspose, Gemm, MatMul with a constant operand), in
/// graph order.
pub fn units(graph: &Graph) -> Vec<Unit> {
    graph
        .nodes
        .iter()
        .enumerate()
        .filter(|(_, n)| {
            matches!(n.op, Op::Conv(_) | Op::ConvTranspose(_) | Op::Gemm { .. })
                || matches!(n.op, Op::MatMul) && n.inputs.iter().any(|&v| graph.value(v).is_const())
        })
        .map(|(i, n)| {
            let shapes: Vec<&[usize]> = n.inputs.iter().map(|&v| graph.shape(v)).collect();
            let cin = shapes.first().and_then(|s| s.get(1)).copied().unwrap_or(1);
            let group = match &n.op {
                Op::Conv(a) | Op::ConvTranspose(a) => a.group.max(1),
                _ => 1,
            };
            Unit {
                node: i,
                name: n.name.clone(),
                macs: n.op.macs(&shapes, graph.shape(n.outputs[0])),
                channels_per_group: cin / group,
            }
        })
        .collect()
}

/// Bits per tensor and per node's weights; `None` leaves the quantizer's option for that kind
/// (model inputs and outputs, CPU nodes, constants keep theirs in any case).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct BitAssignment {
    /// Per value id: bits of the computed tensor.
    pub activation: Vec<Option<u8>>,
    /// Per node: bits of its weights (MAC nodes).
    pub weight: Vec<Option<u8>>,
}

impl BitAssignment {
    /// Every computed tensor and every weight at `bits`.
    pub fn uniform(graph: &Graph, activation_bits: u8, weight_bits: u8) -> Self {
        BitAssignment {
            activation: graph
                .values
                .iter()
                .map(|v| (!v.is_const()).then_some(activation_bits))
                .collect(),
            weight: vec![Some(weight_bits); graph.nodes.len()],
        }
    }

    /// Unit `k` (of `units`) at `unit_bits[k]`: its weights and output tensor. Every other
    /// computed tensor takes the widest bits among its node's computed inputs (graph inputs
    /// count as `input_bits`), in topological order.
    pub fn from_units(graph: &Graph, units: &[Unit], unit_bits: &[u8], input_bits: u8) -> Self {
        let mut activation: Vec<Option<u8>> = vec![None; graph.values.len()];
        let mut weight: Vec<Option<u8>> = vec![None; graph.nodes.len()];
        for &i in &graph.inputs {
            activation[i.0] = Some(input_bits);
        }
        let mut unit_of = vec![None; graph.nodes.len()];
        for (k, u) in units.iter().enumerate() {
            unit_of[u.node] = Some(unit_bits[k]);
        }
        for (i, n) in graph.nodes.iter().enumerate() {
            let bits = match unit_of[i] {
                Some(b) => {
                    weight[i] = Some(b);
                    b
                }
                None => n
                    .inputs
                    .iter()
                    .filter_map(|&v| activation[v.0])
                    .max()
                    .unwrap_or(8),
            };
            for &o in &n.outputs {
                activation[o.0] = Some(bits);
            }
        }
        BitAssignment { activation, weight }
    }

    /// Share of `units`' MACs whose weights are 16-bit (0 to 1).
    pub fn sixteen_bit_mac_share(&self, units: &[Unit]) -> f64 {
        let total: u64 = units.iter().map(|u| u.macs).sum();
        if total == 0 {
            return 0.0;
        }
        let wide: u64 = units
            .iter()
            .filter(|u| self.weight.get(u.node).copied().flatten() == Some(16))
            .map(|u| u.macs)
            .sum();
        wide as f64 / total as f64
    }
}
