//! The differential checks run on every generated case:
//!
//! 1. graph passes (`passes::optimize`, `prepare`) keep the float outputs (>= [`PASSES_SNR_DB`]);
//! 2. fast fixed-point engine vs reference engine, bit for bit on every tensor, for KL520 int8,
//!    KL720 int8 and KL720 int16;
//! 3. KL720 int16 outputs vs float above [`CheckConfig::int16_snr_floor_db`].

use ndarray::ArrayD;
use radix_ir::ValueId;
use radix_ir::qmodel::{QKernel, QuantModel};
use radix_quant::{Calibrated, QuantConfig, QuantError};
use radix_sim::{FixedEngine, FloatEngine};
use radix_target::Platform;

use crate::Case;

/// Float outputs after the graph passes must match the original graph's to this SNR.
pub const PASSES_SNR_DB: f64 = 90.0;

/// What to check.
#[derive(Clone, Debug)]
pub struct CheckConfig {
    /// (platform, bits for datapath, weights, model input and output).
    pub configs: Vec<(Platform, u8)>,
    /// Minimum output SNR of the KL720 int16 model vs float, per output — for outputs whose
    /// values never passed through a format [`RANGE_MIX_LIMIT`] times coarser than they are.
    pub int16_snr_floor_db: f64,
    /// Also quantize for KL720 with random 8/16 bits per computed tensor and per weight (every
    /// kind of 8<->16-bit boundary) and compare the engines bit for bit.
    pub mixed: bool,
}

/// An output whose ancestry holds a tensor with a range this many times its own largest value
/// went through a format whose step is coarser than 2^-10 of it (with 15 bits: fewer than 32
/// codes), e.g. scores concatenated with pixel coordinates: its low SNR is the format's limit,
/// not an error (the analysis reports such outputs as mixed-range). Those outputs are counted,
/// not held to the floor.
pub const RANGE_MIX_LIMIT: f64 = 1024.0;

impl Default for CheckConfig {
    fn default() -> Self {
        CheckConfig {
            configs: vec![
                (Platform::Kl520, 8),
                (Platform::Kl720, 8),
                (Platform::Kl720, 16),
            ],
            int16_snr_floor_db: 30.0,
            mixed: true,
        }
    }
}

/// The result of checking one case.
#[derive(Clone, Debug)]
pub enum Verdict {
    /// Every check held; the lowest int16 output SNR held to the floor (dB), the tensors
    /// compared bit for bit, and the outputs exempt from the floor as range-limited.
    Pass {
        int16_snr_db: f64,
        tensors: usize,
        range_limited: usize,
    },
    /// The case is outside what the pipeline supports (never a wrong value): the reason.
    Skip(String),
    /// A wrong result: what and where.
    Fail(String),
}

fn float_outputs(
    g: &radix_ir::Graph,
    items: &[Vec<ArrayD<f32>>],
) -> Result<Vec<Vec<ArrayD<f32>>>, String> {
    let e = FloatEngine::new(g).map_err(|e| format!("float engine: {e}"))?;
    items
        .iter()
        .map(|it| e.run(it).map_err(|e| format!("float engine: {e}")))
        .collect()
}

/// Whether an error means "not supported" (a clear refusal) rather than a wrong result.
fn unsupported(e: &QuantError) -> bool {
    matches!(e, QuantError::Unsupported { .. } | QuantError::Target(_))
}

/// Runs every check on `case`.
pub fn check(case: &Case, cfg: &CheckConfig) -> Verdict {
    match check_inner(case, cfg) {
        Ok(v) => v,
        Err(msg) => Verdict::Fail(msg),
    }
}

fn check_inner(case: &Case, cfg: &CheckConfig) -> Result<Verdict, String> {
    let g0 = &case.graph;
    g0.validate()
        .map_err(|e| format!("generated graph invalid: {e}"))?;
    let y0 = float_outputs(g0, &case.items)?;
    if y0
        .iter()
        .flatten()
        .flat_map(|a| a.iter())
        .any(|v| !v.is_finite())
    {
        return Ok(Verdict::Skip("float outputs not finite".into()));
    }
    let mut g = g0.clone();
    radix_ir::passes::optimize(&mut g).map_err(|e| format!("graph passes: {e}"))?;
    let calibrated = match Calibrated::new(&g, &case.items, &radix_quant::Silent) {
        Ok(c) => c,
        Err(e) if unsupported(&e) => return Ok(Verdict::Skip(e.to_string())),
        Err(e) => return Err(format!("calibrate: {e}")),
    };
    let g = &calibrated.graph;
    let y1 = float_outputs(g, &case.items)?;
    if y1.first().map(|v| v.len()) != y0.first().map(|v| v.len()) {
        return Err("graph passes changed the number of outputs".into());
    }
    for k in 0..g0.outputs.len() {
        let snr = radix_calib::output_sqnr_db(&y0, &y1, k);
        if snr < PASSES_SNR_DB {
            return Err(format!(
                "graph passes changed float output {k} `{}`: {snr:.1} dB",
                g0.value(g0.outputs[k]).name
            ));
        }
    }
    let mut worst16 = f64::INFINITY;
    let mut tensors = 0;
    let mut range_limited = 0;
    for &(platform, bits) in &cfg.configs {
        let what = format!("KL{} int{bits}", platform.number());
        let q = match calibrated.quantize(&QuantConfig::uniform(platform, bits)) {
            Ok(q) => q.model,
            Err(e) if unsupported(&e) => return Ok(Verdict::Skip(format!("{what}: {e}"))),
            Err(e) => return Err(format!("{what}: quantize: {e}")),
        };
        let fast = FixedEngine::new(&q).map_err(|e| format!("{what}: fast engine: {e}"))?;
        tensors += compare_engines(&q, &fast, &case.items).map_err(|m| format!("{what}: {m}"))?;
        // As a BIE stores and restores it.
        let mut stored = q.clone();
        stored.drop_mac_float_weights();
        stored.restore_mac_float_weights();
        restored_weights_within_a_step(&q, &stored).map_err(|m| format!("{what}: {m}"))?;
        if bits == 16 && platform == Platform::Kl720 {
            let yq: Vec<Vec<ArrayD<f32>>> = case
                .items
                .iter()
                .map(|it| {
                    fast.run(it)
                        .map_err(|e| format!("{what}: fast engine: {e}"))
                })
                .collect::<Result<_, _>>()?;
            for k in 0..g0.outputs.len() {
                let energy: f64 = y0
                    .iter()
                    .flat_map(|v| v[k].iter())
                    .map(|&x| f64::from(x) * f64::from(x))
                    .sum();
                if energy == 0.0 {
                    continue;
                }
                let out_max = y0
                    .iter()
                    .flat_map(|v| v[k].iter())
                    .fold(0f64, |m, &x| m.max(f64::from(x).abs()));
                if ancestry_range(&q, g.outputs[k]) > RANGE_MIX_LIMIT * out_max {
                    range_limited += 1;
                    continue;
                }
                let snr = radix_calib::output_sqnr_db(&y0, &yq, k);
                worst16 = worst16.min(snr);
                if snr < cfg.int16_snr_floor_db {
                    return Err(format!(
                        "{what}: output {k} `{}` at {snr:.1} dB vs float (floor {} dB)",
                        g0.value(g0.outputs[k]).name,
                        cfg.int16_snr_floor_db
                    ));
                }
            }
        }
    }
    if cfg.mixed {
        let what = "KL720 random 8/16 mix";
        let mut qc = QuantConfig::int8(Platform::Kl720);
        qc.assignment = Some(std::sync::Arc::new(random_assignment(g, case.seed)));
        let q = match calibrated.quantize(&qc) {
            Ok(q) => q.model,
            Err(e) if unsupported(&e) => return Ok(Verdict::Skip(format!("{what}: {e}"))),
            Err(e) => return Err(format!("{what}: quantize: {e}")),
        };
        let fast = FixedEngine::new(&q).map_err(|e| format!("{what}: fast engine: {e}"))?;
        tensors += compare_engines(&q, &fast, &case.items).map_err(|m| format!("{what}: {m}"))?;
        // As a BIE stores and restores it (weights of 8 and 16 bits side by side).
        let mut stored = q.clone();
        stored.drop_mac_float_weights();
        stored.restore_mac_float_weights();
        restored_weights_within_a_step(&q, &stored).map_err(|m| format!("{what}: {m}"))?;
    }
    Ok(Verdict::Pass {
        int16_snr_db: worst16,
        tensors,
        range_limited,
    })
}

/// The largest quantization range among `v` and every computed tensor it depends on.
fn ancestry_range(q: &QuantModel, v: ValueId) -> f64 {
    let g = &q.graph;
    let producers = g.producers();
    let mut seen = vec![false; g.values.len()];
    let mut stack = vec![v];
    let mut max = 0f64;
    while let Some(t) = stack.pop() {
        if std::mem::replace(&mut seen[t.0], true) {
            continue;
        }
        if let Some(p) = q.params(t) {
            max = max.max(f64::from(p.range()));
        }
        if let Some(n) = producers[t.0] {
            stack.extend(
                g.nodes[n.0]
                    .inputs
                    .iter()
                    .filter(|&&i| !g.value(i).is_const()),
            );
        }
    }
    max
}

/// Fast vs reference engine on every tensor of every item; returns the tensors compared.
/// A BIE leaves out the float copies of the Mac weights and restores them from the integer
/// kernels on read (`QuantModel::drop_mac_float_weights` / `restore_mac_float_weights`): the
/// restored graph must be valid and every restored weight and bias within one quantization
/// step of the original (the coarsest step of the node's channels: half a step of rounding,
/// or the top code lost to saturation when a power-of-two scale puts the absmax at 128).
pub fn restored_weights_within_a_step(q: &QuantModel, restored: &QuantModel) -> Result<(), String> {
    restored
        .graph
        .validate()
        .map_err(|e| format!("restored graph: {e}"))?;
    for (node, k) in q.graph.nodes.iter().zip(&q.nodes) {
        let QKernel::Mac { weight_params, .. } = &k.kernel else {
            continue;
        };
        let px = q
            .params(node.inputs[0])
            .ok_or_else(|| format!("{}: input without parameters", node.name))?
            .multiplier();
        let coarsest = weight_params
            .iter()
            .map(|p| p.multiplier())
            .fold(f64::INFINITY, f64::min);
        for (i, step) in [(1, 1.0 / coarsest), (2, 1.0 / (px * coarsest))] {
            let Some(&v) = node.inputs.get(i) else {
                continue;
            };
            let (Some(a), Some(b)) = (q.graph.const_data(v), restored.graph.const_data(v)) else {
                return Err(format!(
                    "{} input {i}: no float data after restoring",
                    node.name
                ));
            };
            let worst = a
                .iter()
                .zip(b)
                .map(|(x, y)| f64::from((x - y).abs()))
                .fold(0.0, f64::max);
            // f32 rounding of the restored value on top of the step.
            let tol =
                step * (1.0 + 1e-6) + 1e-6 * a.iter().fold(0f64, |m, x| m.max(f64::from(x.abs())));
            if a.shape() != b.shape() || worst > tol {
                return Err(format!(
                    "{} input {i}: restored float weights off by {worst} (a step: {step})",
                    node.name
                ));
            }
        }
    }
    Ok(())
}

/// Fast vs reference on every tensor of every item ([`radix_sim::compare`]); the first
/// difference is the error, with the node that produced it.
pub fn compare_engines(
    q: &QuantModel,
    fast: &FixedEngine,
    items: &[Vec<ArrayD<f32>>],
) -> Result<usize, String> {
    let r = radix_sim::compare::compare_engines(q, fast, items).map_err(|e| e.to_string())?;
    match r.diffs.first() {
        Some(d) => Err(d.describe(q)),
        None => Ok(r.compared),
    }
}

/// Random bits (8 or 16) for every computed tensor and every weight of `g`, from `seed`.
pub fn random_assignment(g: &radix_ir::Graph, seed: u64) -> radix_bitwidth::BitAssignment {
    let mut rng = crate::Rng::new(seed ^ 0x5eed_b175);
    let mut pick = || if rng.chance(0.5) { 16 } else { 8 };
    radix_bitwidth::BitAssignment {
        activation: g
            .values
            .iter()
            .map(|v| (!v.is_const()).then(&mut pick))
            .collect(),
        weight: g.nodes.iter().map(|_| Some(pick())).collect(),
    }
}
