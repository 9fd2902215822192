//! Compiler tiling: where each tensor lives (SRAM or DDR), how feature maps are split into row
//! bands, and which consecutive layers are fused so that their intermediate tensors never reach
//! DDR. Produces a [`Plan`]; [`node_timing`] turns one node's work and plan into times.
//!
//! * [`CompilerTiling::Default`] — a fixed rule, node by node. A node whose inputs, outputs and
//!   weights fit in SRAM (next to the tensors already resident) runs whole and keeps its output
//!   resident; otherwise resident tensors are evicted to DDR (oldest first), and if it still does
//!   not fit it is split into row bands sized to half the free SRAM (double buffering), reading
//!   its inputs (with halo rows re-read at every band) from DDR and writing its output to DDR.
//!   Weights larger than half the free SRAM are streamed in chunks, re-reading the input per
//!   chunk.
//! * [`CompilerTiling::DeepSearch`] — a dynamic program over the node sequence that chooses
//!   fusion groups (runs of consecutive NPU nodes) and a band count per group. Inside a group,
//!   every band flows through all the group's layers; intermediate tensors stay in SRAM as line
//!   buffers (band rows plus the consumer's halo), only tensors that cross the group boundary
//!   touch DDR, and the group's weights stay resident. The search minimises estimated latency
//!   (DDR bytes break ties); the default plan is always a candidate, so deep search never
//!   estimates a higher latency than default. Deterministic: no randomness, ordered iteration.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;

use radix_ir::{Graph, Op, ValueId};
use serde::{Deserialize, Serialize};

use crate::TargetError;
use crate::cost::NodeWork;
use crate::hw::HwProfile;
use crate::ops::Placement;

/// The `compiler_tiling` analysis option.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CompilerTiling {
    /// `default`: the fixed node-by-node rule (see the module docs).
    #[default]
    Default,
    /// `deep_search`: a search over fusion groups and band counts; never estimates a higher
    /// latency than `Default`.
    DeepSearch,
}

impl CompilerTiling {
    /// The option spelling: "default" or "deep_search".
    pub fn as_str(self) -> &'static str {
        match self {
            CompilerTiling::Default => "default",
            CompilerTiling::DeepSearch => "deep_search",
        }
    }
}

impl fmt::Display for CompilerTiling {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for CompilerTiling {
    type Err = TargetError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().replace('-', "_").as_str() {
            "default" => Ok(CompilerTiling::Default),
            "deep_search" | "deepsearch" => Ok(CompilerTiling::DeepSearch),
            _ => Err(TargetError::InvalidOptionValue {
                option: "compiler_tiling".into(),
                value: s.into(),
                allowed: "\"default\", \"deep_search\"".into(),
            }),
        }
    }
}

/// How one NPU node runs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodePlan {
    /// Feature-map row bands (1: the node runs whole).
    pub bands: u32,
    /// Feature-map bytes read from DDR (model inputs, spilled tensors, halo re-reads).
    pub rdma_bytes: u64,
    /// Feature-map bytes written to DDR (spills, evictions, model outputs, CPU-node inputs).
    pub wdma_bytes: u64,
    /// Weight bytes loaded from DDR (more than the weights when they are streamed in chunks).
    pub weight_load_bytes: u64,
    /// Fusion group (index of the group's first node); a node alone is its own group.
    pub group: usize,
}

/// A whole-graph plan: one entry per node, `None` for CPU nodes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    /// The strategy that produced the plan.
    pub tiling: CompilerTiling,
    /// One entry per graph node, in graph order.
    pub nodes: Vec<Option<NodePlan>>,
}

/// Times of one NPU node, in milliseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct NodeTiming {
    /// MAC-array time.
    pub mac_ms: f64,
    /// Elementwise / activation unit (CFUNC) time.
    pub cfunc_ms: f64,
    /// Pooling / layout unit (PFUNC) time.
    pub pfunc_ms: f64,
    /// Feature-map reads from DDR.
    pub rdma_ms: f64,
    /// Feature-map writes to DDR.
    pub wdma_ms: f64,
    /// Weight loads from DDR.
    pub getw_ms: f64,
    /// Issue cost: per node plus per extra band (0 for a folded node).
    pub overhead_ms: f64,
    /// Everything added up, no overlap.
    pub runtime_ms: f64,
    /// With overlap: read, compute and write are pipelined over bands / stripes (the first
    /// stripe's read and the last stripe's write do not overlap); weight loading overlaps all.
    pub sync_ms: f64,
}

/// Times of `work` executed as `plan` on `hw`.
pub fn node_timing(hw: &HwProfile, work: &NodeWork, plan: &NodePlan) -> NodeTiming {
    let mac_ms = hw.cycles_to_ms(work.mac_cycles);
    let cfunc_ms = hw.cycles_to_ms(work.cfunc_cycles);
    let pfunc_ms = hw.cycles_to_ms(work.pfunc_cycles);
    let rdma_ms = HwProfile::dma_ms(plan.rdma_bytes, hw.rdma_gbps);
    let wdma_ms = HwProfile::dma_ms(plan.wdma_bytes, hw.wdma_gbps);
    let getw_ms = HwProfile::dma_ms(plan.weight_load_bytes, hw.getw_gbps);
    let overhead_ms = if work.folded {
        0.0
    } else {
        hw.cycles_to_ms(
            hw.node_overhead_cycles + hw.band_overhead_cycles * plan.bands.saturating_sub(1) as f64,
        )
    };
    let compute = mac_ms + cfunc_ms + pfunc_ms;
    let stripes = (work.out_rows as u64).div_ceil(hw.stripe_rows.max(1) as u64);
    let n = stripes.max(plan.bands as u64).max(1) as f64;
    // Three-stage pipeline (read, compute, write) over n steps: the first step's read and the
    // last step's write stick out; weights were prefetched during the previous node.
    let pipe =
        (rdma_ms + compute + wdma_ms) / n + (n - 1.0) / n * compute.max(rdma_ms).max(wdma_ms);
    // Weights that fit the weight buffer were prefetched during the previous node; larger ones
    // stream in while the node runs and their load cannot be hidden.
    let sync_ms = if streams_weights(hw, work) {
        pipe + getw_ms + overhead_ms
    } else {
        pipe.max(getw_ms) + overhead_ms
    };
    NodeTiming {
        mac_ms,
        cfunc_ms,
        pfunc_ms,
        rdma_ms,
        wdma_ms,
        getw_ms,
        overhead_ms,
        runtime_ms: compute + rdma_ms + wdma_ms + getw_ms + overhead_ms,
        sync_ms,
    }
}

/// True when `work`'s weights do not fit in half the weight buffer: they cannot be prefetched
/// (double-buffered) and are fetched again for every feature-map band.
pub fn streams_weights(hw: &HwProfile, work: &NodeWork) -> bool {
    work.weight_bytes > hw.weight_buffer_bytes / 2
}

/// Weight chunks, feature-map budget and weight bytes loaded for a banded node: streamed weights
/// are re-fetched once per band; otherwise weights that take more than half the free SRAM are
/// split into chunks and the input is re-read once per chunk.
fn banded_weights(hw: &HwProfile, work: &NodeWork, avail: u64) -> (u64, u64) {
    if streams_weights(hw, work) {
        // Streamed through the weight buffer: the SRAM holds feature-map bands only.
        (1, avail)
    } else if work.weight_bytes <= avail / 2 {
        (1, avail - work.weight_bytes)
    } else {
        (
            work.weight_bytes.div_ceil((avail / 4).max(1)),
            avail - avail / 4,
        )
    }
}

fn weight_loads(hw: &HwProfile, work: &NodeWork, bands: u32) -> u64 {
    if streams_weights(hw, work) {
        work.weight_bytes * bands.max(1) as u64
    } else {
        work.weight_bytes
    }
}

/// What the planners need to know about the graph.
pub(crate) struct PlanInput<'a> {
    pub hw: &'a HwProfile,
    pub graph: &'a Graph,
    pub placements: &'a [Placement],
    /// NPU work per node (`None` for CPU nodes).
    pub works: &'a [Option<NodeWork>],
}

impl PlanInput<'_> {
    /// Tensors that must be in DDR once produced: graph outputs, inputs of CPU nodes, unread.
    fn must_spill(&self, consumers: &[Vec<usize>]) -> Vec<bool> {
        let g = self.graph;
        let mut spill = vec![false; g.values.len()];
        for (v, s) in spill.iter_mut().enumerate() {
            let cons = &consumers[v];
            *s = g.outputs.contains(&ValueId(v))
                || cons.is_empty()
                || cons.iter().any(|&c| self.placements[c] != Placement::Npu);
        }
        spill
    }

    fn consumers(&self) -> Vec<Vec<usize>> {
        let mut c = vec![Vec::new(); self.graph.values.len()];
        for (i, n) in self.graph.nodes.iter().enumerate() {
            for &v in &n.inputs {
                if !c[v.0].contains(&i) {
                    c[v.0].push(i);
                }
            }
        }
        c
    }

    /// Total latency (sum of sync times) and DDR bytes of a plan.
    pub fn score(&self, plan: &Plan) -> (f64, u64) {
        let mut t = 0.0;
        let mut bytes = 0;
        for (w, p) in self.works.iter().zip(&plan.nodes) {
            if let (Some(w), Some(p)) = (w, p) {
                t += node_timing(self.hw, w, p).sync_ms;
                bytes += p.rdma_bytes + p.wdma_bytes + p.weight_load_bytes;
            }
        }
        (t, bytes)
    }
}

/// Plans the graph with `tiling`.
pub(crate) fn plan(input: &PlanInput<'_>, tiling: CompilerTiling) -> Plan {
    let default = plan_default(input);
    match tiling {
        CompilerTiling::Default => default,
        CompilerTiling::DeepSearch => {
            let deep = plan_deep(input);
            let (td, bd) = input.score(&default);
            let (ts, bs) = input.score(&deep);
            // Never worse than default; on equal latency, fewer DDR bytes wins.
            if ts < td || (ts == td && bs < bd) {
                deep
            } else {
                Plan {
                    tiling: CompilerTiling::DeepSearch,
                    ..default
                }
            }
        }
    }
}

/// Rows of output per band and band count for a node streaming `stream_in` bytes of input per
/// whole input and `out` bytes of output into a band budget (default rule).
fn default_bands(work: &NodeWork, stream_in: u64, out: u64, band_budget: u64) -> (u32, u64) {
    let rows = work.out_rows.max(1) as u64;
    let out_row = out.div_ceil(rows);
    // Input rows per output row is the stride; the halo is what a window needs beyond it.
    let in_row = stream_in.div_ceil(work.in_rows.max(1) as u64);
    let halo_rows = work.kernel_h.saturating_sub(work.stride_h) as u64;
    let per_row = out_row + work.stride_h as u64 * in_row;
    let avail = band_budget.saturating_sub(halo_rows * in_row);
    let h = avail
        .checked_div(per_row)
        .map_or(rows, |h| h.clamp(1, rows));
    let bands = rows.div_ceil(h);
    (bands as u32, halo_rows * in_row)
}

/// The fixed default rule (module docs).
pub(crate) fn plan_default(input: &PlanInput<'_>) -> Plan {
    let g = input.graph;
    let budget = input.hw.sram_bytes;
    let consumers = input.consumers();
    let spill = input.must_spill(&consumers);
    let mut remaining: Vec<usize> = consumers.iter().map(|c| c.len()).collect();
    // Resident tensors in insertion order.
    let mut live: Vec<(ValueId, u64)> = Vec::new();
    let mut nodes: Vec<Option<NodePlan>> = vec![None; g.nodes.len()];
    // Tensors with a copy in DDR (evicting them is free).
    let mut in_ddr = vec![false; g.values.len()];
    for &v in &g.inputs {
        in_ddr[v.0] = true;
    }

    for (i, node) in g.nodes.iter().enumerate() {
        let Some(work) = &input.works[i] else {
            // CPU node: inputs were spilled by their producers, outputs go to DDR.
            release(&mut live, &mut remaining, node.inputs.iter().copied());
            for &o in &node.outputs {
                in_ddr[o.0] = true;
            }
            continue;
        };
        let is_input = |v: ValueId| work.in_bytes.iter().any(|x| x.0 == v);
        let mut wdma = 0u64;
        let ws = work.total_in() + work.total_out() + work.weight_bytes;
        let live_other = |live: &[(ValueId, u64)]| -> u64 {
            live.iter().filter(|x| !is_input(x.0)).map(|x| x.1).sum()
        };
        // Evict other resident tensors, oldest first, until the node fits.
        while live_other(&live) + ws > budget {
            let Some(pos) = live.iter().position(|x| !is_input(x.0)) else {
                break;
            };
            let (v, b) = live.remove(pos);
            if !in_ddr[v.0] {
                wdma += b;
                in_ddr[v.0] = true;
            }
        }
        let resident_in: u64 = work
            .in_bytes
            .iter()
            .filter(|x| live.iter().any(|l| l.0 == x.0))
            .map(|x| x.1)
            .sum();
        let ddr_in = work.total_in() - resident_in;
        let out = work.total_out();
        let plan = if live_other(&live) + ws <= budget {
            // Runs whole; outputs stay resident unless they must reach DDR.
            let mut p = NodePlan {
                bands: 1,
                rdma_bytes: ddr_in,
                wdma_bytes: wdma,
                weight_load_bytes: work.weight_bytes,
                group: i,
            };
            for &(o, b) in &work.out_bytes {
                if spill[o.0] {
                    p.wdma_bytes += b;
                    in_ddr[o.0] = true;
                } else {
                    live.push((o, b));
                }
            }
            p
        } else {
            let avail = budget
                .saturating_sub(live_other(&live) + resident_in)
                .max(budget / 4);
            let (wchunks, fm_avail) = banded_weights(input.hw, work, avail);
            let (bands, halo_bytes) = default_bands(work, ddr_in, out, fm_avail / 2);
            for &(o, _) in &work.out_bytes {
                in_ddr[o.0] = true;
            }
            let reread = if ddr_in > 0 {
                (bands as u64 - 1) * halo_bytes
            } else {
                0
            };
            NodePlan {
                bands,
                rdma_bytes: (ddr_in + reread) * wchunks,
                wdma_bytes: wdma + out,
                weight_load_bytes: weight_loads(input.hw, work, bands),
                group: i,
            }
        };
        let whole = plan.bands == 1;
        nodes[i] = Some(plan);
        release(&mut live, &mut remaining, node.inputs.iter().copied());
        if whole {
            // Inputs this node loaded whole stay in SRAM for their later readers.
            for &(v, b) in &work.in_bytes {
                if remaining[v.0] > 0 && !spill[v.0] && !live.iter().any(|l| l.0 == v) {
                    live.push((v, b));
                }
            }
        }
    }
    Plan {
        tiling: CompilerTiling::Default,
        nodes,
    }
}

fn release(
    live: &mut Vec<(ValueId, u64)>,
    remaining: &mut [usize],
    inputs: impl Iterator<Item = ValueId>,
) {
    let mut seen: Vec<ValueId> = Vec::new();
    for v in inputs {
        if seen.contains(&v) {
            continue;
        }
        seen.push(v);
        remaining[v.0] = remaining[v.0].saturating_sub(1);
        if remaining[v.0] == 0 {
            live.retain(|x| x.0 != v);
        }
    }
}

/// Longest fusion group deep search considers.
pub const MAX_GROUP: usize = 16;

/// Band counts deep search tries for a group.
pub const BAND_CANDIDATES: [u32; 16] = [1, 2, 3, 4, 5, 6, 8, 10, 12, 16, 20, 24, 32, 48, 64, 112];

/// Ops whose output rows depend on the whole input (cannot run in row bands with their
/// producer): layout changes across rows and full-vector ops.
fn streamable(op: &Op) -> bool {
    !matches!(
        op,
        Op::Reshape { .. }
            | Op::Flatten { .. }
            | Op::Transpose { .. }
            | Op::Softmax { .. }
            | Op::Gemm { .. }
            | Op::MatMul
            | Op::Resize(_)
            | Op::Squeeze { .. }
            | Op::Unsqueeze { .. }
            | Op::Gather { .. }
    )
}

/// Deep search (module docs).
pub(crate) fn plan_deep(input: &PlanInput<'_>) -> Plan {
    let g = input.graph;
    let n = g.nodes.len();
    let consumers = input.consumers();
    let spill = input.must_spill(&consumers);
    // Single-node fallback plans: the default rule applied to that node in isolation.
    let singles = plan_default_isolated(input, &spill);

    // dp[k]: best (cost, plans) for the first k nodes.
    let mut best: Vec<f64> = vec![f64::INFINITY; n + 1];
    let mut choice: Vec<(usize, Option<u32>)> = vec![(0, None); n + 1];
    best[0] = 0.0;
    for j in 1..=n {
        if input.works[j - 1].is_none() {
            // CPU node: a boundary.
            best[j] = best[j - 1];
            choice[j] = (j - 1, None);
            continue;
        }
        // Single node, default rule.
        let single = &singles[j - 1];
        let c = best[j - 1] + node_cost(input, j - 1, single);
        if c < best[j] {
            best[j] = c;
            choice[j] = (j - 1, None);
        }
        for i in (j.saturating_sub(MAX_GROUP)..j).rev() {
            if input.works[i].is_none() || !best[i].is_finite() {
                break;
            }
            for &b in &BAND_CANDIDATES {
                if let Some(plans) = group_plans(input, &consumers, &spill, i, j, b) {
                    let gc: f64 = plans
                        .iter()
                        .enumerate()
                        .map(|(k, p)| node_cost(input, i + k, p))
                        .sum();
                    let c = best[i] + gc;
                    if c < best[j] {
                        best[j] = c;
                        choice[j] = (i, Some(b));
                    }
                }
            }
        }
    }
    // Rebuild.
    let mut nodes: Vec<Option<NodePlan>> = vec![None; n];
    let mut j = n;
    while j > 0 {
        let (i, b) = choice[j];
        match b {
            None => {
                if input.works[j - 1].is_some() {
                    nodes[j - 1] = Some(singles[j - 1].clone());
                }
            }
            Some(b) => {
                if let Some(plans) = group_plans(input, &consumers, &spill, i, j, b) {
                    for (k, p) in plans.into_iter().enumerate() {
                        nodes[i + k] = Some(p);
                    }
                }
            }
        }
        j = i.min(j - 1);
    }
    Plan {
        tiling: CompilerTiling::DeepSearch,
        nodes,
    }
}

/// Latency of node `i` under `p`, plus a tiny charge per DDR byte to break ties.
fn node_cost(input: &PlanInput<'_>, i: usize, p: &NodePlan) -> f64 {
    match &input.works[i] {
        Some(w) => {
            node_timing(input.hw, w, p).sync_ms
                + 1e-12 * (p.rdma_bytes + p.wdma_bytes + p.weight_load_bytes) as f64
        }
        None => 0.0,
    }
}

/// The default rule for each NPU node alone: inputs from DDR, outputs to DDR.
fn plan_default_isolated(input: &PlanInput<'_>, _spill: &[bool]) -> Vec<NodePlan> {
    let budget = input.hw.sram_bytes;
    input
        .works
        .iter()
        .enumerate()
        .map(|(i, w)| {
            let Some(work) = w else {
                return NodePlan {
                    bands: 1,
                    rdma_bytes: 0,
                    wdma_bytes: 0,
                    weight_load_bytes: 0,
                    group: i,
                };
            };
            let ddr_in = work.total_in();
            let out = work.total_out();
            let ws = ddr_in + out + work.weight_bytes;
            if ws <= budget {
                NodePlan {
                    bands: 1,
                    rdma_bytes: ddr_in,
                    wdma_bytes: out,
                    weight_load_bytes: work.weight_bytes,
                    group: i,
                }
            } else {
                let (wchunks, fm_avail) = banded_weights(input.hw, work, budget);
                let (bands, halo_bytes) = default_bands(work, ddr_in, out, fm_avail / 2);
                NodePlan {
                    bands,
                    rdma_bytes: (ddr_in + (bands as u64 - 1) * halo_bytes) * wchunks,
                    wdma_bytes: out,
                    weight_load_bytes: weight_loads(input.hw, work, bands),
                    group: i,
                }
            }
        })
        .collect()
}

/// Plans for nodes `i..j` fused into one group processed in `bands` row bands, or `None` when
/// the group is not fusable or does not fit in SRAM.
fn group_plans(
    input: &PlanInput<'_>,
    consumers: &[Vec<usize>],
    spill: &[bool],
    i: usize,
    j: usize,
    bands: u32,
) -> Option<Vec<NodePlan>> {
    let hw = input.hw;
    let works: Vec<&NodeWork> = (i..j)
        .map(|k| input.works[k].as_ref())
        .collect::<Option<Vec<_>>>()?;
    if bands > 1 && (i..j).any(|k| !streamable(&input.graph.nodes[k].op)) {
        return None;
    }
    let max_rows = works.iter().map(|w| w.out_rows).max().unwrap_or(1) as u32;
    if bands > max_rows.max(1) {
        return None;
    }
    let in_group = |k: usize| (i..j).contains(&k);
    // Every tensor the group touches, with its bytes and rows.
    let mut tensors: HashMap<ValueId, (u64, usize)> = HashMap::new();
    let mut order: Vec<ValueId> = Vec::new();
    let mut produced: Vec<ValueId> = Vec::new();
    for w in &works {
        for &(v, b) in w.in_bytes.iter().chain(&w.out_bytes) {
            if let std::collections::hash_map::Entry::Vacant(e) = tensors.entry(v) {
                let rows = super_rows(input.graph.shape(v));
                e.insert((b, rows));
                order.push(v);
            }
        }
        for &(v, _) in &w.out_bytes {
            produced.push(v);
        }
    }
    // Halo rows each tensor needs kept for its consumers inside the group.
    let halo = |v: ValueId| -> usize {
        consumers[v.0]
            .iter()
            .filter(|&&c| in_group(c))
            .filter_map(|&c| input.works[c].as_ref())
            .map(|w| w.kernel_h.saturating_sub(w.stride_h))
            .max()
            .unwrap_or(0)
    };
    let weights: u64 = works.iter().map(|w| w.weight_bytes).sum();
    let mut sram = weights;
    let mut rdma: HashMap<usize, u64> = HashMap::new();
    let mut wdma: HashMap<usize, u64> = HashMap::new();
    for &v in &order {
        let (bytes, rows) = tensors[&v];
        let rows = rows.max(1) as u64;
        let row_b = bytes.div_ceil(rows);
        let band_rows = rows.div_ceil(bands as u64);
        let h = halo(v) as u64;
        let is_produced = produced.contains(&v);
        let leaves = spill[v.0] || consumers[v.0].iter().any(|&c| !in_group(c));
        let buf_rows = if bands == 1 {
            rows
        } else if !is_produced || leaves {
            // Streamed from / to DDR: double-buffered band plus halo.
            (2 * band_rows + h).min(rows)
        } else {
            (band_rows + h).min(rows)
        };
        sram += buf_rows * row_b;
        if !is_produced {
            // Read once by the first group node that reads it.
            let first = (i..j).find(|&k| input.graph.nodes[k].inputs.contains(&v))?;
            *rdma.entry(first).or_default() += bytes;
        } else if leaves {
            let p = (i..j).find(|&k| input.graph.nodes[k].outputs.contains(&v))?;
            *wdma.entry(p).or_default() += bytes;
        }
    }
    if sram > hw.sram_bytes {
        return None;
    }
    Some(
        (i..j)
            .zip(&works)
            .map(|(k, w)| NodePlan {
                bands: bands.min(w.out_rows.max(1) as u32),
                rdma_bytes: rdma.get(&k).copied().unwrap_or(0),
                wdma_bytes: wdma.get(&k).copied().unwrap_or(0),
                weight_load_bytes: w.weight_bytes,
                group: i,
            })
            .collect(),
    )
}

/// Rows (H) of a tensor seen as NCHW.
fn super_rows(shape: &[usize]) -> usize {
    crate::cost::as_nchw(shape)[2]
}
