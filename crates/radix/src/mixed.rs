//! Mixed precision in the pipeline: runs the chosen `radix_bitwidth` policy on the calibrated
//! graph, measuring sensitivities (mixbw) with the quantizer and the fast engine, spends an FPS
//! budget through the IP evaluator, and measures the trade-off points the report charts.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use ndarray::ArrayD;
use radix_bitwidth::{
    Allocation, BitAssignment, BitwidthPolicy, Budget, MixBalance, MixBw, MixBwMeasurement,
    MixLight, Sensitivity, Uniform,
};
use radix_quant::{Calibrated, Progress, QuantConfig};
use radix_report::TradeoffPoint;
use radix_target::{CompilerTiling, EvalReport};
use rayon::prelude::*;

use crate::options::{Bitwidths, MixbwBudget};
use crate::{Error, Result};

/// Calibration items mixbw measures each layer's sensitivity on (and the trade-off points are
/// measured on): the relative order of the layers is what matters, and a few inputs give it.
pub const SENSITIVITY_ITEMS: usize = 3;

/// mixbw's `flops_ratio` values charted beside the run's own choice.
const CHART_RATIOS: [f64; 4] = [0.05, 0.1, 0.2, 0.4];

/// Quantizer + fast engine against float on a few calibration items.
struct Measured<'a> {
    calibrated: &'a Calibrated,
    cfg: &'a QuantConfig,
    items: &'a [Vec<ArrayD<f32>>],
    float: Vec<Vec<ArrayD<f32>>>,
    progress: &'a dyn Progress,
    done: AtomicUsize,
}

impl Measured<'_> {
    fn quantize(&self, a: &BitAssignment) -> std::result::Result<radix_quant::Quantized, String> {
        let mut cfg = self.cfg.clone();
        cfg.assignment = Some(Arc::new(a.clone()));
        self.calibrated.quantize(&cfg).map_err(|e| e.to_string())
    }

    fn snr(&self, model: &radix_ir::qmodel::QuantModel) -> std::result::Result<f64, String> {
        let fast = radix_sim::FixedEngine::new(model).map_err(|e| e.to_string())?;
        let fixed: Vec<Vec<ArrayD<f32>>> = self
            .items
            .iter()
            .map(|it| fast.run(it).map_err(|e| e.to_string()))
            .collect::<std::result::Result<_, _>>()?;
        Ok((0..self.calibrated.graph.outputs.len())
            .map(|k| radix_calib::output_sqnr_db(&self.float, &fixed, k))
            .fold(f64::INFINITY, f64::min))
    }

    fn estimate(
        &self,
        model: &radix_ir::qmodel::QuantModel,
        tiling: CompilerTiling,
    ) -> Result<EvalReport> {
        crate::estimate(model, self.cfg.platform, tiling)
    }
}

impl Sensitivity for Measured<'_> {
    fn output_snr_db(
        &self,
        assignments: &[BitAssignment],
    ) -> Vec<std::result::Result<f64, String>> {
        let total = assignments.len();
        self.done.store(0, Ordering::Relaxed);
        self.progress.update("mixbw sensitivity", 0, total);
        assignments
            .par_iter()
            .map(|a| {
                let r = self.quantize(a).and_then(|q| self.snr(&q.model));
                let k = self.done.fetch_add(1, Ordering::Relaxed) + 1;
                self.progress.update("mixbw sensitivity", k, total);
                r
            })
            .collect()
    }
}

/// What a mixed-precision run asks for (from the options).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MixRequest {
    /// The policy.
    pub bitwidths: Bitwidths,
    /// mixbw's 16-bit MAC budget.
    pub flops_ratio: f64,
    /// mixbw's estimated-FPS budget, replacing `flops_ratio` when set.
    pub budget: Option<MixbwBudget>,
    /// The evaluator's tiling (for FPS estimates).
    pub tiling: CompilerTiling,
}

/// A mixed-precision decision and the trade-off it was chosen from.
#[derive(Clone, Debug)]
pub struct Mixed {
    /// What was asked for.
    pub request: MixRequest,
    /// The decision: put `allocation.assignment` into `QuantConfig::assignment`.
    pub allocation: Allocation,
    /// int8, mix light, mix balance, int16 and (mixbw) mixbw at several budgets: output SNR on
    /// the first [`SENSITIVITY_ITEMS`] calibration inputs and estimated FPS; this run's choice
    /// marked.
    pub tradeoff: Vec<TradeoffPoint>,
}

/// Runs the mixed-precision policy `bitwidths` on a calibrated graph: mix light and mix balance
/// by rule; mixbw by measuring every MAC layer's sensitivity (quantizer + fast engine against
/// float on the first [`SENSITIVITY_ITEMS`] of `items`, layers in parallel, `progress` told of
/// each) and an exact knapsack within `flops_ratio` or, with `budget`, within an estimated-FPS
/// budget (checked against the IP evaluator's estimate of the result). Also measures the
/// trade-off points the report charts.
pub fn allocate_bits(
    calibrated: &Calibrated,
    cfg: &QuantConfig,
    items: &[Vec<ArrayD<f32>>],
    request: &MixRequest,
    progress: &dyn Progress,
) -> Result<Mixed> {
    let MixRequest {
        bitwidths,
        flops_ratio,
        budget,
        tiling,
    } = *request;
    let items = &items[..items.len().min(SENSITIVITY_ITEMS)];
    let float_engine = radix_sim::FloatEngine::new(&calibrated.graph)?;
    let float = items
        .iter()
        .map(|it| float_engine.run(it))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    let measured = Measured {
        calibrated,
        cfg,
        items,
        float,
        progress,
        done: AtomicUsize::new(0),
    };
    let graph = &calibrated.graph;
    let value_err = |e: radix_bitwidth::BitwidthError| Error::Value(e.to_string());
    let mut mixbw: Option<MixBwMeasurement> = None;
    let allocation = match bitwidths {
        Bitwidths::MixLight => MixLight.assign(graph, None).map_err(value_err)?,
        Bitwidths::MixBalance => MixBalance.assign(graph, None).map_err(value_err)?,
        Bitwidths::MixBw => {
            let policy = MixBw {
                budget: Budget::FlopsRatio(flops_ratio),
            };
            // Validates the budget before measuring.
            let m = MixBw::measure(graph, &measured).map_err(value_err)?;
            let a = match budget {
                None => policy.choose(graph, &m).map_err(value_err)?,
                Some(MixbwBudget::Fps(fps)) => within_fps(&measured, graph, &m, fps, tiling)?,
            };
            mixbw = Some(m);
            a
        }
    };
    let tradeoff = tradeoff_points(&measured, graph, mixbw.as_ref(), &allocation, tiling)?;
    Ok(Mixed {
        request: *request,
        allocation,
        tradeoff,
    })
}

/// Estimated latency (ms) of the graph quantized with `a`, and its per-node runtimes.
fn latency(m: &Measured, a: &BitAssignment, tiling: CompilerTiling) -> Result<(f64, Vec<f64>)> {
    let q = m.quantize(a).map_err(Error::Value)?;
    let e = m.estimate(&q.model, tiling)?;
    Ok((
        1000.0 / e.total.fps,
        e.nodes.iter().map(|n| n.runtime_ms).collect(),
    ))
}

/// mixbw within an estimated-FPS budget: each layer's extra latency at 16 bits (from the IP
/// evaluator, every layer 8-bit vs every layer 16-bit) is its cost; the knapsack's capacity is
/// what the budget leaves over the all-8-bit mix, tightened until the estimate of the chosen
/// mix meets the budget.
fn within_fps(
    m: &Measured,
    graph: &radix_ir::Graph,
    mm: &MixBwMeasurement,
    fps: f64,
    tiling: CompilerTiling,
) -> Result<Allocation> {
    let n = mm.units.len();
    let all = |bits: u8| BitAssignment::from_units(graph, &mm.units, &vec![bits; n], 16);
    let (t8, nodes8) = latency(m, &all(8), tiling)?;
    let (_, nodes16) = latency(m, &all(16), tiling)?;
    let target_ms = 1000.0 / fps;
    if t8 > target_ms {
        return Err(Error::Value(format!(
            "mixbw_budget: fps={fps} is beyond reach: with every layer at 8 bits the estimate is {:.1} fps",
            1000.0 / t8
        )));
    }
    let per_unit: Vec<f64> = mm
        .units
        .iter()
        .map(|u| (nodes16[u.node] - nodes8[u.node]).max(0.0))
        .collect();
    let mut capacity = target_ms - t8;
    for _ in 0..12 {
        let policy = MixBw {
            budget: Budget::Cost {
                option: "mixbw_budget".into(),
                per_unit: per_unit.clone(),
                capacity,
            },
        };
        let a = policy
            .choose(graph, mm)
            .map_err(|e| Error::Value(e.to_string()))?;
        let (t, _) = latency(m, &a.assignment, tiling)?;
        if t <= target_ms {
            return Ok(a);
        }
        // The per-layer costs missed interactions (a 16-bit layer also widens its consumer's
        // input): spend less.
        capacity -= (t - target_ms).max(capacity * 0.05);
        if capacity <= 0.0 {
            break;
        }
    }
    // Every layer at 8 bits meets the budget (checked above).
    let a = MixBw {
        budget: Budget::Cost {
            option: "mixbw_budget".into(),
            per_unit,
            capacity: 0.0,
        },
    }
    .choose(graph, mm)
    .map_err(|e| Error::Value(e.to_string()))?;
    Ok(a)
}

/// Output SNR and estimated FPS of the uniform and mixed modes next to this run's choice.
fn tradeoff_points(
    m: &Measured,
    graph: &radix_ir::Graph,
    mixbw: Option<&MixBwMeasurement>,
    chosen: &Allocation,
    tiling: CompilerTiling,
) -> Result<Vec<TradeoffPoint>> {
    let err = |e: radix_bitwidth::BitwidthError| Error::Value(e.to_string());
    let mut candidates: Vec<(String, BitAssignment)> = vec![
        (
            "int8".into(),
            Uniform {
                activation_bits: 8,
                weight_bits: 8,
            }
            .assign(graph, None)
            .map_err(err)?
            .assignment,
        ),
        (
            "mix light".into(),
            MixLight.assign(graph, None).map_err(err)?.assignment,
        ),
    ];
    if let Some(mm) = mixbw {
        for r in CHART_RATIOS {
            let a = MixBw {
                budget: Budget::FlopsRatio(r),
            }
            .choose(graph, mm)
            .map_err(err)?;
            candidates.push((format!("mixbw {r}"), a.assignment));
        }
    }
    candidates.push((
        "mix balance".into(),
        MixBalance.assign(graph, None).map_err(err)?.assignment,
    ));
    candidates.push((
        "int16".into(),
        Uniform {
            activation_bits: 16,
            weight_bits: 16,
        }
        .assign(graph, None)
        .map_err(err)?
        .assignment,
    ));
    candidates.push(("this run".into(), chosen.assignment.clone()));
    candidates
        .par_iter()
        .map(|(label, a)| {
            let q = m.quantize(a).map_err(Error::Value)?;
            let snr_db = m.snr(&q.model).map_err(Error::Value)?;
            let fps = m.estimate(&q.model, tiling)?.total.fps;
            Ok(TradeoffPoint {
                label: label.clone(),
                fps,
                snr_db,
                chosen: label == "this run",
            })
        })
        .collect()
}
