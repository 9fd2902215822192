//! The IP evaluator: per-node costs and model totals (issues 7 and 18).

use radix_ir::{Graph, Node};
use serde::{Deserialize, Serialize};

use crate::TargetError;
use crate::cost::{self, NodeBits, NodeWork};
use crate::ops::Placement;
use crate::platform::Platform;
use crate::profile::{PlatformProfile, Target};
use crate::tiling::{self, CompilerTiling, NodePlan, PlanInput};

/// One node's row of the evaluator report.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NodeCost {
    /// Node name after fusion.
    pub name: String,
    /// ONNX op type.
    pub op_type: String,
    /// ONNX nodes this node stands for (the report's "node origin").
    pub origin: Vec<String>,
    /// Where the node runs (NPU or CPU).
    pub placement: Placement,
    /// "NPU", "FUSED" (several ONNX nodes in one NPU node) or "CPU", as in the fx report.
    pub kind: String,
    /// The bitwidths the node was evaluated at.
    pub bits: NodeBits,
    /// Multiply-accumulates of one inference (as ONNX defines them; also set for CPU nodes).
    pub macs: u64,
    /// MAC-array utilisation from channel / pixel padding (1.0 when every lane is busy).
    pub mac_util: f64,
    /// MAC-array cycles, utilisation and sustained efficiency included.
    pub mac_cycles: f64,
    /// `mac_cycles` at the NPU clock, ms.
    pub mac_runtime_ms: f64,
    /// Feature-map bytes read from DDR (model inputs, spilled tensors, halo re-reads).
    pub rdma_bytes: u64,
    /// Feature-map bytes written to DDR (spills, evictions, model outputs, CPU-node inputs).
    pub wdma_bytes: u64,
    /// `rdma_bytes` at the RDMA bandwidth, ms.
    pub rdma_runtime_ms: f64,
    /// `wdma_bytes` at the WDMA bandwidth, ms.
    pub wdma_runtime_ms: f64,
    /// Weight and parameter bytes loaded from DDR for this node.
    pub weight_bytes: u64,
    /// `weight_bytes` at the weight-load (GETW) bandwidth, ms.
    pub weight_runtime_ms: f64,
    /// Elementwise / activation unit (CFUNC) time, ms.
    pub cfunc_runtime_ms: f64,
    /// Pooling / layout unit (PFUNC) time, ms.
    pub pfunc_runtime_ms: f64,
    /// Fixed per-node and per-band issue cost, ms (0 for a node folded into another).
    pub overhead_ms: f64,
    /// Sum of every unit's time (MAC, CFUNC, PFUNC, RDMA, WDMA, weight load, overhead), ms.
    pub runtime_ms: f64,
    /// With overlap of compute and DMA: what the node adds to the inference time, ms
    /// (`<= runtime_ms`; 0 for CPU nodes).
    pub sync_runtime_ms: f64,
    /// Feature-map row bands the node runs in.
    pub bands: u32,
    /// Fusion group (name of its first node).
    pub group: String,
    /// What limits the node: "compute" (MAC + CFUNC + PFUNC), "rdma", "wdma", "weights" (weight
    /// loading) or "overhead" (issue cost), whichever takes longest; "-" for CPU nodes.
    pub bound: String,
    /// CPU nodes only: estimated time on the SoC's CPU (not part of the NPU FPS).
    pub cpu_runtime_ms: f64,
}

/// Model totals.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelCost {
    /// NPU-only frames per second (CPU nodes excluded, as in the original evaluator).
    pub fps: f64,
    /// NPU inference time, ms.
    pub itc_ms: f64,
    /// DDR feature-map reads per inference (weights excluded), MB (1e6 bytes).
    pub rv_mb: f64,
    /// DDR writes per inference, MB.
    pub wv_mb: f64,
    /// Weight loads per inference, MB.
    pub weight_mb: f64,
    /// Configured effective peak feature-map read (RDMA) bandwidth of the platform, GB/s.
    pub rdma_bandwidth_gbps: f64,
    /// Configured effective peak write (WDMA) bandwidth, GB/s.
    pub wdma_bandwidth_gbps: f64,
    /// Configured effective peak weight-load (GETW) bandwidth, GB/s.
    pub getw_bandwidth_gbps: f64,
    /// Average RDMA bandwidth used over the inference (`rv_mb` over `itc_ms`), GB/s; 0 when
    /// `itc_ms` is 0.
    pub rdma_used_gbps: f64,
    /// Average WDMA bandwidth used over the inference, GB/s.
    pub wdma_used_gbps: f64,
    /// Average weight-load bandwidth used over the inference, GB/s.
    pub getw_used_gbps: f64,
    /// Average total DDR bandwidth (reads, writes and weight loads), GB/s.
    pub ddr_used_gbps: f64,
    /// MACs of every node, NPU and CPU.
    pub total_macs: u64,
    /// MAC time at 100% sustained efficiency (utilisation included), ms.
    pub theoretical_mac_ms: f64,
    /// `theoretical_mac_ms / itc_ms`.
    pub mac_efficiency_to_total: f64,
    /// Names of the nodes placed on the NPU, in graph order.
    pub npu_nodes: Vec<String>,
    /// Names of the nodes placed on the CPU, in graph order.
    pub cpu_nodes: Vec<String>,
    /// Estimated CPU time of the CPU nodes, ms (reported, not in `fps`).
    pub cpu_runtime_ms: f64,
}

/// The evaluator's report.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EvalReport {
    /// Display name of the target, e.g. "KL720".
    pub platform: String,
    /// The compiler tiling strategy the plan used.
    pub tiling: CompilerTiling,
    /// One row per graph node, in graph order.
    pub nodes: Vec<NodeCost>,
    /// Model totals.
    pub total: ModelCost,
}

impl EvalReport {
    /// The row of node `name`.
    pub fn node(&self, name: &str) -> Option<&NodeCost> {
        self.nodes.iter().find(|n| n.name == name)
    }

    /// DDR bytes per inference: feature-map reads and writes plus weight loads.
    pub fn ddr_bytes(&self) -> u64 {
        self.nodes
            .iter()
            .map(|n| n.rdma_bytes + n.wdma_bytes + n.weight_bytes)
            .sum()
    }

    /// A plain-text table (for logs and the command line).
    pub fn to_table(&self) -> String {
        use std::fmt::Write;
        let mut s = String::new();
        let t = &self.total;
        let _ = writeln!(
            s,
            "{} tiling={} fps={:.2} itc={:.3} ms RV={:.3} MB WV={:.3} MB weights={:.3} MB \
             MACs={} npu_nodes={} cpu_nodes={:?}",
            self.platform,
            self.tiling,
            t.fps,
            t.itc_ms,
            t.rv_mb,
            t.wv_mb,
            t.weight_mb,
            t.total_macs,
            t.npu_nodes.len(),
            t.cpu_nodes
        );
        let _ = writeln!(
            s,
            "{:<40} {:>5} {:>10} {:>5} {:>10} {:>9} {:>9} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8} {:>4} {:>8}",
            "node",
            "type",
            "MACs",
            "util",
            "mac_cyc",
            "dma_B",
            "weight_B",
            "mac_ms",
            "rdma_ms",
            "wdma_ms",
            "getw_ms",
            "run_ms",
            "sync_ms",
            "band",
            "bound"
        );
        for n in &self.nodes {
            let _ = writeln!(
                s,
                "{:<40} {:>5} {:>10} {:>5.2} {:>10.0} {:>9} {:>9} {:>8.4} {:>8.4} {:>8.4} {:>8.4} {:>8.4} {:>8.4} {:>4} {:>8}",
                truncate(&n.name, 40),
                n.kind,
                n.macs,
                n.mac_util,
                n.mac_cycles,
                n.rdma_bytes + n.wdma_bytes,
                n.weight_bytes,
                n.mac_runtime_ms,
                n.rdma_runtime_ms,
                n.wdma_runtime_ms,
                n.weight_runtime_ms,
                n.runtime_ms,
                n.sync_runtime_ms,
                n.bands,
                n.bound
            );
        }
        s
    }
}

fn truncate(s: &str, n: usize) -> &str {
    match s.char_indices().nth(n) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

/// Evaluates `graph` on a built-in platform. `bits` gives each node's bitwidths (use
/// `&|_| NodeBits::default()` for int8 everywhere).
pub fn evaluate(
    graph: &Graph,
    platform: Platform,
    bits: &dyn Fn(&Node) -> NodeBits,
    tiling: CompilerTiling,
) -> Result<EvalReport, TargetError> {
    evaluate_on(graph, PlatformProfile::get(platform), bits, tiling)
}

/// Evaluates with int8 everywhere.
pub fn evaluate_uniform(
    graph: &Graph,
    platform: Platform,
    tiling: CompilerTiling,
) -> Result<EvalReport, TargetError> {
    evaluate(graph, platform, &|_| NodeBits::default(), tiling)
}

/// Evaluates `graph` on any [`Target`].
pub fn evaluate_on(
    graph: &Graph,
    target: &dyn Target,
    bits: &dyn Fn(&Node) -> NodeBits,
    tiling: CompilerTiling,
) -> Result<EvalReport, TargetError> {
    graph
        .validate()
        .map_err(|e| TargetError::Graph(e.to_string()))?;
    let caps = target.capabilities();
    if graph.inputs.len() > caps.max_model_inputs {
        return Err(TargetError::TooManyInputs {
            platform: target.name(),
            count: graph.inputs.len(),
            max: caps.max_model_inputs,
        });
    }
    let hw = target.hw();
    let mut placements = Vec::with_capacity(graph.nodes.len());
    let mut works: Vec<Option<NodeWork>> = Vec::with_capacity(graph.nodes.len());
    let mut node_bits = Vec::with_capacity(graph.nodes.len());
    for node in &graph.nodes {
        if node.outputs.is_empty() {
            return Err(TargetError::Node {
                node: node.name.clone(),
                op: node.op.type_name().into(),
                msg: "has no output".into(),
            });
        }
        let p = target
            .placement(graph, node)
            .ok_or_else(|| TargetError::UndefinedCpuOp {
                op: node.op.type_name().into(),
                node: node.name.clone(),
            })?;
        let b = bits(node);
        check_bits(target, b)?;
        placements.push(p);
        node_bits.push(b);
        works.push((p == Placement::Npu).then(|| cost::node_work(hw, graph, node, b)));
    }
    cost::fuse_eltwise(graph, &mut works);
    cost::fuse_pool(graph, &mut works);
    let input = PlanInput {
        hw,
        graph,
        placements: &placements,
        works: &works,
    };
    let plan = tiling::plan(&input, tiling);

    let mut nodes = Vec::with_capacity(graph.nodes.len());
    for (i, node) in graph.nodes.iter().enumerate() {
        let kind = match placements[i] {
            Placement::Npu if node.is_fused() => "FUSED",
            Placement::Npu => "NPU",
            Placement::Cpu => "CPU",
        };
        let mut c = NodeCost {
            name: node.name.clone(),
            op_type: node.op.type_name().into(),
            origin: node.origin.clone(),
            placement: placements[i],
            kind: kind.into(),
            bits: node_bits[i],
            macs: 0,
            mac_util: 1.0,
            mac_cycles: 0.0,
            mac_runtime_ms: 0.0,
            rdma_bytes: 0,
            wdma_bytes: 0,
            rdma_runtime_ms: 0.0,
            wdma_runtime_ms: 0.0,
            weight_bytes: 0,
            weight_runtime_ms: 0.0,
            cfunc_runtime_ms: 0.0,
            pfunc_runtime_ms: 0.0,
            overhead_ms: 0.0,
            runtime_ms: 0.0,
            sync_runtime_ms: 0.0,
            bands: 0,
            group: node.name.clone(),
            bound: "-".into(),
            cpu_runtime_ms: 0.0,
        };
        match (&works[i], &plan.nodes[i]) {
            (Some(w), Some(p)) => fill_npu(&mut c, hw, w, p, graph),
            _ => {
                let in_shapes: Vec<&[usize]> =
                    node.inputs.iter().map(|&v| graph.shape(v)).collect();
                c.macs = node.op.macs(&in_shapes, graph.shape(node.outputs[0]));
                c.cpu_runtime_ms = cost::cpu_runtime_ms(hw, graph, node);
            }
        }
        nodes.push(c);
    }
    let total = totals(hw, &nodes, &works);
    Ok(EvalReport {
        platform: target.name(),
        tiling,
        nodes,
        total,
    })
}

/// Rejects bitwidths the target cannot run, naming the option they come from.
fn check_bits(target: &dyn Target, b: NodeBits) -> Result<(), TargetError> {
    let caps = target.capabilities();
    let bad = |option: &str, value: u8| -> Result<(), TargetError> {
        let allowed: &[u8] = if option == "weight_bitwidth_mode" {
            &[4, 8, 16]
        } else {
            &[8, 16]
        };
        if !allowed.contains(&value) {
            return Err(TargetError::InvalidOptionValue {
                option: option.into(),
                value: format!("{value}-bit"),
                allowed: allowed
                    .iter()
                    .map(|b| format!("int{b}"))
                    .collect::<Vec<_>>()
                    .join(", "),
            });
        }
        let ok = match value {
            16 => caps.int16,
            4 => caps.int4_weights,
            _ => true,
        };
        if ok {
            Ok(())
        } else {
            Err(TargetError::UnsupportedBitwidth {
                platform: target.name(),
                option: option.into(),
                value: format!("int{value}"),
            })
        }
    };
    bad("datapath_bitwidth_mode", b.in_bits)?;
    bad("datapath_bitwidth_mode", b.out_bits)?;
    bad("weight_bitwidth_mode", b.weight_bits)
}

fn fill_npu(
    c: &mut NodeCost,
    hw: &crate::hw::HwProfile,
    w: &NodeWork,
    p: &NodePlan,
    graph: &Graph,
) {
    let t = tiling::node_timing(hw, w, p);
    c.macs = w.macs;
    c.mac_util = w.mac_util;
    c.mac_cycles = w.mac_cycles;
    c.mac_runtime_ms = t.mac_ms;
    c.rdma_bytes = p.rdma_bytes;
    c.wdma_bytes = p.wdma_bytes;
    c.rdma_runtime_ms = t.rdma_ms;
    c.wdma_runtime_ms = t.wdma_ms;
    c.weight_bytes = p.weight_load_bytes;
    c.weight_runtime_ms = t.getw_ms;
    c.cfunc_runtime_ms = t.cfunc_ms;
    c.pfunc_runtime_ms = t.pfunc_ms;
    c.overhead_ms = t.overhead_ms;
    c.runtime_ms = t.runtime_ms;
    c.sync_runtime_ms = t.sync_ms;
    c.bands = p.bands;
    let compute = t.mac_ms + t.cfunc_ms + t.pfunc_ms;
    c.bound = [
        ("compute", compute),
        ("rdma", t.rdma_ms),
        ("wdma", t.wdma_ms),
        ("weights", t.getw_ms),
        ("overhead", t.overhead_ms),
    ]
    .into_iter()
    .fold(("compute", f64::NEG_INFINITY), |a, b| {
        if b.1 > a.1 { b } else { a }
    })
    .0
    .into();
    c.group = graph
        .nodes
        .get(p.group)
        .map(|n| n.name.clone())
        .unwrap_or_default();
}

fn totals(hw: &crate::hw::HwProfile, nodes: &[NodeCost], works: &[Option<NodeWork>]) -> ModelCost {
    let itc: f64 = nodes.iter().map(|n| n.sync_runtime_ms).sum();
    let rv: u64 = nodes.iter().map(|n| n.rdma_bytes).sum();
    let wv: u64 = nodes.iter().map(|n| n.wdma_bytes).sum();
    let wt: u64 = nodes.iter().map(|n| n.weight_bytes).sum();
    let per_s = |bytes: u64| {
        if itc > 0.0 {
            bytes as f64 / (itc * 1e6)
        } else {
            0.0
        }
    };
    let theoretical: f64 = works
        .iter()
        .flatten()
        .map(|w| hw.cycles_to_ms(w.ideal_mac_cycles))
        .sum();
    ModelCost {
        fps: if itc > 0.0 { 1000.0 / itc } else { 0.0 },
        itc_ms: itc,
        rv_mb: rv as f64 / 1e6,
        wv_mb: wv as f64 / 1e6,
        weight_mb: wt as f64 / 1e6,
        rdma_bandwidth_gbps: hw.rdma_gbps,
        wdma_bandwidth_gbps: hw.wdma_gbps,
        getw_bandwidth_gbps: hw.getw_gbps,
        rdma_used_gbps: per_s(rv),
        wdma_used_gbps: per_s(wv),
        getw_used_gbps: per_s(wt),
        ddr_used_gbps: per_s(rv + wv + wt),
        total_macs: nodes.iter().map(|n| n.macs).sum(),
        theoretical_mac_ms: theoretical,
        mac_efficiency_to_total: if itc > 0.0 { theoretical / itc } else { 0.0 },
        npu_nodes: nodes
            .iter()
            .filter(|n| n.placement == Placement::Npu)
            .map(|n| n.name.clone())
            .collect(),
        cpu_nodes: nodes
            .iter()
            .filter(|n| n.placement == Placement::Cpu)
            .map(|n| n.name.clone())
            .collect(),
        cpu_runtime_ms: nodes.iter().map(|n| n.cpu_runtime_ms).sum(),
    }
}
