//! Calibration of the cost model against Kneron's published simulated FPS, kept as code so that
//! the fitted constants in `profile.rs` can be re-derived (and checked) by a test.
//!
//! * [`PUBLISHED`]: the data — Kneron's "Performance simulation result" tables (toolchain
//!   manual, appendix *Kneron Hardware Performance*, `docs/toolchain/appendix/performance.md` of
//!   the public `kneron/document_center` repository, revision 1f25df2), NPU-only FPS at int8 with
//!   default settings, for the five networks Radix can build shape-faithfully ([`crate::zoo`]).
//! * [`FitSpace`]: what is fitted per platform — the structural choices (the conv array shape
//!   among its candidates, the pointwise mapping, how strides are paid, where depthwise windows
//!   go) and three scalars (sustained MAC efficiency, per-node issue overhead, elementwise-unit
//!   throughput). Everything else in
//!   the profile (clock, bandwidths, SRAM, weight buffer, layouts) is documented or guessed
//!   *before* fitting and is not touched.
//! * [`Calibration::fit`]: an exhaustive, deterministic grid search minimising the worst absolute log error
//!   (ties: the sum of squared log errors, then the first candidate in grid order) over the
//!   chosen networks. [`Calibration`] evaluates every grid point once per network, so the full fit
//!   and every leave-one-out fit read the same table.

use radix_ir::Graph;
use serde::Serialize;

use crate::cost::{self, NodeBits, NodeWork};
use crate::hw::{HwProfile, MacArray};
use crate::ops::Placement;
use crate::platform::Platform;
use crate::profile::PlatformProfile;
use crate::tiling::{self, CompilerTiling, PlanInput};
use crate::zoo;

/// One published network: name, zoo builder input size and the published NPU-only FPS in
/// [`Platform::ALL`] order (KL520, KL530, KL630, KL720, KL730).
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Published {
    /// Network name, as [`network`] knows it (e.g. "mobilenet_v2").
    pub network: &'static str,
    /// Input height and width, pixels.
    pub size: usize,
    /// Published NPU-only FPS per platform, in [`Platform::ALL`] order.
    pub fps: [f64; 5],
}

/// Kneron's published simulated NPU-only FPS (toolchain manual appendix "Kneron Hardware
/// Performance", revision 1f25df2 of `docs/toolchain/appendix/performance.md`).
pub const PUBLISHED: [Published; 5] = [
    Published {
        network: "mobilenet_v2",
        size: 224,
        fps: [54.18, 342.3, 218.9, 683.1, 812.5],
    },
    Published {
        network: "tiny_yolov3",
        size: 416,
        fps: [21.80, 72.59, 100.3, 155.2, 201.9],
    },
    Published {
        network: "mobilenet_v1",
        size: 224,
        fps: [56.80, 284.7, 219.6, 432.6, 610.0],
    },
    Published {
        network: "resnet50",
        size: 224,
        fps: [6.925, 36.79, 22.91, 54.89, 79.03],
    },
    Published {
        network: "yolov3",
        size: 416,
        fps: [1.443, 5.983, 5.143, 10.23, 16.78],
    },
];

/// The shape-faithful graph of a [`PUBLISHED`] network.
///
/// # Panics
/// On a name that is not in [`PUBLISHED`].
pub fn network(p: &Published) -> Graph {
    match p.network {
        "mobilenet_v2" => zoo::mobilenet_v2(p.size),
        "mobilenet_v1" => zoo::mobilenet_v1(p.size),
        "resnet50" => zoo::resnet50(p.size),
        "tiny_yolov3" => zoo::tiny_yolov3(p.size),
        "yolov3" => zoo::yolov3(p.size),
        other => panic!("no zoo graph for {other}"),
    }
}

/// The structural part of a fit: how operator classes map onto the array.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Structure {
    /// Conv array shape ([`HwProfile::mac`]).
    pub mac: MacArray,
    /// Pointwise mapping ([`HwProfile::mac_pointwise`]).
    pub mac_pointwise: MacArray,
    /// How strides are paid ([`HwProfile::stride_waste_axes`]: 0, 1 or 2).
    pub stride_waste_axes: u8,
    /// Where depthwise windows go ([`HwProfile::dw_window_on_ic`]).
    pub dw_window_on_ic: bool,
    /// Weight buffer size, bytes ([`HwProfile::weight_buffer_bytes`]).
    pub weight_buffer_bytes: u64,
}

/// The fitted part of a profile.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Fitted {
    /// The structural choices.
    pub structure: Structure,
    /// Sustained MAC efficiency ([`HwProfile::mac_efficiency`]).
    pub mac_efficiency: f64,
    /// Per-node issue overhead, NPU cycles ([`HwProfile::node_overhead_cycles`]).
    pub node_overhead_cycles: f64,
    /// CFUNC throughput, bytes per cycle ([`HwProfile::cfunc_bytes_per_cycle`]).
    pub cfunc_bytes_per_cycle: f64,
}

impl Fitted {
    /// The fitted values of `hw`.
    pub fn of(hw: &HwProfile) -> Fitted {
        Fitted {
            structure: Structure {
                mac: hw.mac,
                mac_pointwise: hw.mac_pointwise,
                stride_waste_axes: hw.stride_waste_axes,
                dw_window_on_ic: hw.dw_window_on_ic,
                weight_buffer_bytes: hw.weight_buffer_bytes,
            },
            mac_efficiency: hw.mac_efficiency,
            node_overhead_cycles: hw.node_overhead_cycles,
            cfunc_bytes_per_cycle: hw.cfunc_bytes_per_cycle,
        }
    }

    /// `hw` with these values.
    pub fn apply(&self, hw: &HwProfile) -> HwProfile {
        let mut h = hw.clone();
        h.mac = self.structure.mac;
        h.mac_pointwise = self.structure.mac_pointwise;
        h.stride_waste_axes = self.structure.stride_waste_axes;
        h.dw_window_on_ic = self.structure.dw_window_on_ic;
        h.weight_buffer_bytes = self.structure.weight_buffer_bytes;
        h.mac_efficiency = self.mac_efficiency;
        h.node_overhead_cycles = self.node_overhead_cycles;
        h.cfunc_bytes_per_cycle = self.cfunc_bytes_per_cycle;
        h
    }
}

/// The grid searched for one platform.
#[derive(Clone, Debug, Serialize)]
pub struct FitSpace {
    /// Structural candidates (array shape x pointwise mapping x stride rule x depthwise
    /// mapping x weight buffer).
    pub structures: Vec<Structure>,
    /// Sustained MAC efficiencies tried ([`efficiency_grid`]).
    pub efficiencies: Vec<f64>,
    /// Per-node issue overheads tried, NPU cycles ([`OVERHEAD_GRID`]).
    pub overheads: Vec<f64>,
    /// CFUNC throughputs tried, bytes per cycle ([`CFUNC_GRID`]).
    pub cfunc_rates: Vec<f64>,
}

/// Sustained MAC efficiencies tried: 0.200, 0.225, ... 1.000.
pub fn efficiency_grid() -> Vec<f64> {
    (8..=40).map(|k| k as f64 / 40.0).collect()
}

/// Per-node issue overheads tried, in NPU cycles.
pub const OVERHEAD_GRID: [f64; 9] = [
    0.0, 1000.0, 2000.0, 4000.0, 8000.0, 12000.0, 16000.0, 24000.0, 32000.0,
];

/// Weight-buffer sizes tried, bytes.
pub const WEIGHT_BUFFER_GRID: [u64; 4] = [128 << 10, 256 << 10, 512 << 10, 1 << 20];

/// Elementwise-unit (CFUNC) throughputs tried, bytes per NPU cycle: a quarter, half or whole
/// 16-byte SRAM entry per cycle.
pub const CFUNC_GRID: [f64; 3] = [4.0, 8.0, 16.0];

/// Conv-array candidates per platform: the documented or derived shape and one alternative with
/// the same input-channel lanes (see `EVALUATOR.md` for why each).
pub fn array_candidates(p: Platform) -> Vec<MacArray> {
    let a = |ic, oc, px| MacArray { ic, oc, px };
    match p {
        Platform::Kl520 => vec![a(16, 36, 1), a(16, 18, 2)],
        Platform::Kl530 => vec![a(16, 16, 2), a(16, 32, 1)],
        Platform::Kl630 => vec![a(16, 16, 2), a(16, 16, 4)],
        Platform::Kl720 => vec![a(16, 16, 4), a(16, 32, 2)],
        Platform::Kl730 => vec![a(16, 32, 4), a(16, 16, 4)],
    }
}

/// The pointwise mappings of a conv array: the same lanes, or half the pixel lanes (half the
/// output-channel lanes when there is one pixel lane).
pub fn pointwise_candidates(mac: MacArray) -> [MacArray; 2] {
    let half = if mac.px >= 2 {
        MacArray {
            px: mac.px / 2,
            ..mac
        }
    } else {
        MacArray {
            oc: mac.oc / 2,
            ..mac
        }
    };
    [mac, half]
}

impl FitSpace {
    /// The grid for `p`.
    pub fn for_platform(p: Platform) -> FitSpace {
        let mut structures = Vec::new();
        for mac in array_candidates(p) {
            for mac_pointwise in pointwise_candidates(mac) {
                for stride_waste_axes in 0..=2 {
                    for dw_window_on_ic in [false, true] {
                        for weight_buffer_bytes in WEIGHT_BUFFER_GRID {
                            structures.push(Structure {
                                mac,
                                mac_pointwise,
                                stride_waste_axes,
                                dw_window_on_ic,
                                weight_buffer_bytes,
                            });
                        }
                    }
                }
            }
        }
        FitSpace {
            structures,
            efficiencies: efficiency_grid(),
            overheads: OVERHEAD_GRID.to_vec(),
            cfunc_rates: CFUNC_GRID.to_vec(),
        }
    }

    /// Scalar points per structure.
    fn scalars(&self) -> usize {
        self.efficiencies.len() * self.overheads.len() * self.cfunc_rates.len()
    }

    fn len(&self) -> usize {
        self.structures.len() * self.scalars()
    }

    /// Grid point `k`: structure-major, then efficiency, overhead, CFUNC rate.
    fn point(&self, k: usize) -> Fitted {
        let nc = self.cfunc_rates.len();
        let no = self.overheads.len();
        Fitted {
            structure: self.structures[k / self.scalars()],
            mac_efficiency: self.efficiencies[(k / (no * nc)) % self.efficiencies.len()],
            node_overhead_cycles: self.overheads[(k / nc) % no],
            cfunc_bytes_per_cycle: self.cfunc_rates[k % nc],
        }
    }
}

/// NPU-only latency (ms, default tiling, int8) of `graph` on `profile` for every efficiency and
/// overhead of the grid, structure fixed: works and plan are computed once (neither depends on
/// the two scalars), then only the node timings are redone.
fn latency_grid(profile: &PlatformProfile, graph: &Graph, space: &FitSpace) -> Vec<f64> {
    let hw = &profile.hw;
    let placements: Vec<Placement> = graph
        .nodes
        .iter()
        // The zoo graphs place every node; anything else would not be on the NPU.
        .map(|n| crate::ops::placement(&profile.ops, graph, n).unwrap_or(Placement::Cpu))
        .collect();
    let mut works: Vec<Option<NodeWork>> = graph
        .nodes
        .iter()
        .zip(&placements)
        .map(|(n, p)| (*p == Placement::Npu).then(|| cost::node_work(hw, graph, n, NodeBits::INT8)))
        .collect();
    cost::fuse_eltwise(graph, &mut works);
    cost::fuse_pool(graph, &mut works);
    let plan = tiling::plan(
        &PlanInput {
            hw,
            graph,
            placements: &placements,
            works: &works,
        },
        CompilerTiling::Default,
    );
    let mut out = Vec::with_capacity(space.scalars());
    for &e in &space.efficiencies {
        for &o in &space.overheads {
            for &c in &space.cfunc_rates {
                let mut h = hw.clone();
                h.mac_efficiency = e;
                h.node_overhead_cycles = o;
                h.cfunc_bytes_per_cycle = c;
                let mut itc = 0.0;
                for (w, p) in works.iter().zip(&plan.nodes) {
                    if let (Some(w), Some(p)) = (w, p) {
                        let mut w = w.clone();
                        w.mac_cycles = w.ideal_mac_cycles / e;
                        w.cfunc_cycles *= hw.cfunc_bytes_per_cycle / c;
                        itc += tiling::node_timing(&h, &w, p).sync_ms;
                    }
                }
                out.push(itc);
            }
        }
    }
    out
}

/// Predicted latency of every network at every grid point of one platform.
#[derive(Clone, Debug)]
pub struct Calibration {
    /// The platform whose profile is fitted.
    pub platform: Platform,
    /// The grid evaluated.
    pub space: FitSpace,
    /// `latency[n][k]`: network `n` of [`PUBLISHED`] at grid point `k`, ms.
    latency: Vec<Vec<f64>>,
}

/// One fit: the chosen values and the signed relative FPS error (estimate / published - 1) of
/// every [`PUBLISHED`] network under them.
#[derive(Clone, Debug, Serialize)]
pub struct Fit {
    /// The platform fitted.
    pub platform: Platform,
    /// The chosen grid point.
    pub fitted: Fitted,
    /// Networks (indices into [`PUBLISHED`]) the fit saw.
    pub fitted_on: Vec<usize>,
    /// Estimated NPU-only FPS of every [`PUBLISHED`] network under `fitted`, in that order.
    pub fps: Vec<f64>,
    /// Signed relative error `fps / published - 1` of every [`PUBLISHED`] network.
    pub error: Vec<f64>,
}

impl Calibration {
    /// Evaluates the grid of `p` on every published network. `graphs` must be the
    /// [`PUBLISHED`] networks in that order, as [`networks`] returns them.
    pub fn new(p: Platform, graphs: &[Graph]) -> Calibration {
        Calibration::with_space(p, graphs, FitSpace::for_platform(p))
    }

    /// Evaluates any grid of `p` on every published network (`graphs` as for
    /// [`Calibration::new`]).
    pub fn with_space(p: Platform, graphs: &[Graph], space: FitSpace) -> Calibration {
        let base = PlatformProfile::get(p);
        let latency = graphs
            .iter()
            .map(|g| {
                let mut lat = Vec::with_capacity(space.len());
                for s in &space.structures {
                    let mut prof = base.clone();
                    prof.hw = Fitted {
                        structure: *s,
                        mac_efficiency: 1.0,
                        node_overhead_cycles: 0.0,
                        cfunc_bytes_per_cycle: base.hw.cfunc_bytes_per_cycle,
                    }
                    .apply(&base.hw);
                    lat.extend(latency_grid(&prof, g, &space));
                }
                lat
            })
            .collect();
        Calibration {
            platform: p,
            space,
            latency,
        }
    }

    fn column(&self) -> usize {
        Platform::ALL
            .iter()
            .position(|&q| q == self.platform)
            .unwrap_or(0)
    }

    /// The best grid point for the networks `on` (indices into [`PUBLISHED`]).
    pub fn fit(&self, on: &[usize]) -> Fit {
        let col = self.column();
        let mut best: Option<(f64, f64, usize)> = None;
        for k in 0..self.space.len() {
            let mut worst: f64 = 0.0;
            let mut sq = 0.0;
            for &n in on {
                let fps = 1000.0 / self.latency[n][k];
                let e = (fps / PUBLISHED[n].fps[col]).ln();
                worst = worst.max(e.abs());
                sq += e * e;
            }
            let better = match best {
                None => true,
                Some((bw, bs, _)) => worst < bw - 1e-12 || (worst <= bw + 1e-12 && sq < bs - 1e-12),
            };
            if better {
                best = Some((worst, sq, k));
            }
        }
        let k = best.map_or(0, |b| b.2);
        self.fit_at(k, on)
    }

    /// The errors at a given grid point.
    fn fit_at(&self, k: usize, on: &[usize]) -> Fit {
        let col = self.column();
        let fps: Vec<f64> = (0..PUBLISHED.len())
            .map(|n| 1000.0 / self.latency[n][k])
            .collect();
        Fit {
            platform: self.platform,
            fitted: self.space.point(k),
            fitted_on: on.to_vec(),
            error: fps
                .iter()
                .zip(&PUBLISHED)
                .map(|(f, p)| f / p.fps[col] - 1.0)
                .collect(),
            fps,
        }
    }

    /// Leave-one-out: for every network, the error of its prediction by a fit on all the others.
    pub fn leave_one_out(&self) -> Vec<(usize, Fit)> {
        (0..PUBLISHED.len())
            .map(|out| {
                let on: Vec<usize> = (0..PUBLISHED.len()).filter(|&n| n != out).collect();
                (out, self.fit(&on))
            })
            .collect()
    }
}

/// Every published network's graph, in [`PUBLISHED`] order.
pub fn networks() -> Vec<Graph> {
    PUBLISHED.iter().map(network).collect()
}
