//! Bias adjust (`optimize` 1–4, docs/USER_GUIDE.md "Bitwidths and optimize"): per output channel of every Conv / ConvTranspose /
//! Gemm, move the integer bias so that the fixed-point output matches the float one on average
//! over the calibration inputs.
//!
//! Quantization error is not zero-mean per channel: rounding a channel's weights to a coarse
//! (for the 520: power-of-two) step shifts its output by `Σ (w_q - w) E[x]`, and clipped or
//! coarsely stepped inputs shift it further. The bias absorbs such an offset exactly, but only
//! where the output is in its linear region: where the fused activation or the saturation clamps
//! (ReLU at 0, ReLU6 at 6, int8 at ±127 steps) a bias change moves nothing, and errors there
//! (typically large inputs clipped by the range method) say nothing about the offset elsewhere.
//! So the offset of channel `c` is measured as
//!
//! ```text
//! δ_c = mean over positions where both outputs are strictly inside the bounds of (y_float - y_fixed)
//! bias_c += round_half_away(δ_c · S_x · S_w[c])          (S = scale · 2^radix)
//! ```
//!
//! Matching the mean of the pre-activation instead (`Σ q_w E[q_x] + bias`, cheaper) was
//! measured and rejected: on MobileNetV2 it moved ReLU6 channels by offsets that came from
//! clipped outliers and cost 0.5–5 dB.
//!
//! * [`BiasAdjust::Parallel`] (levels 1, 2): every layer is run alone, on its float input
//!   quantized with its input parameters, so it is corrected for its own error only and the
//!   corrections of different layers do not compound. One float pass and one run of each
//!   layer per input.
//! * [`BiasAdjust::Sequential`] (levels 3, 4): layers are corrected in order of MAC depth (the
//!   longest chain of MAC nodes above them) on the whole fixed-point model, so every layer sees
//!   its corrected upstream layers and also absorbs the offset they pass on. One float and one
//!   fixed pass over the inputs per depth.
//!
//! Only the bias changes; weights, ranges and every other constant stay as quantized, so the
//! result is still an ordinary [`QuantModel`] and the bit-true-match check applies unchanged.
//! Totals are summed in input order, so the result does not depend on the number of threads.

use std::collections::HashMap;

use ndarray::ArrayD;
use radix_ir::ValueId;
use radix_ir::qmodel::{Placement, QKernel, QParams, QTensor, QuantModel};
use rayon::prelude::*;

use crate::QuantError;

/// How layers are measured (`optimize`, docs/USER_GUIDE.md).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BiasAdjust {
    /// Every layer alone on exact (float, quantized) inputs: levels 1 and 2.
    Parallel,
    /// Layers in MAC-depth order on the whole fixed-point model: levels 3 and 4.
    Sequential,
}

impl BiasAdjust {
    /// The bias-adjust part of an `optimize` level (0–4); `None` for 0.
    pub fn from_optimize(level: u8) -> Option<Self> {
        match level {
            1 | 2 => Some(BiasAdjust::Parallel),
            3 | 4 => Some(BiasAdjust::Sequential),
            _ => None,
        }
    }
}

/// What [`adjust_bias`] did.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct BiasAdjustSummary {
    /// MAC nodes whose bias was adjusted.
    pub nodes: usize,
    /// Passes over the calibration inputs.
    pub passes: usize,
    /// Largest |change| of one channel's bias, in the units of the layer's output.
    pub max_shift: f64,
}

/// A MAC node the adjustment applies to.
struct Target {
    node: usize,
    /// The activation input (the one non-constant input).
    input: ValueId,
    output: ValueId,
    channels: usize,
    /// Elements per channel and batch item of the output (`H·W`; 1 for Gemm).
    plane: usize,
    act_min: i32,
    act_max: i32,
    px: QParams,
    py: QParams,
}

fn targets(model: &QuantModel) -> Vec<Target> {
    let g = &model.graph;
    let mut out = Vec::new();
    for (i, (node, q)) in g.nodes.iter().zip(&model.nodes).enumerate() {
        let QKernel::Mac {
            bias,
            act_min,
            act_max,
            ..
        } = &q.kernel
        else {
            continue;
        };
        let (Some(&x), Some(&y)) = (node.inputs.first(), node.outputs.first()) else {
            continue;
        };
        let (Some(px), Some(py)) = (model.params(x), model.params(y)) else {
            continue;
        };
        if q.placement != Placement::Npu || g.value(x).is_const() {
            continue;
        }
        out.push(Target {
            node: i,
            input: x,
            output: y,
            channels: bias.len(),
            plane: g.shape(y).get(2..).map_or(1, |s| s.iter().product()),
            act_min: *act_min,
            act_max: *act_max,
            px,
            py,
        });
    }
    out
}

/// Runs `per_item` over every item in parallel and sums the results in item order, so the
/// totals do not depend on the number of threads.
fn over_items(
    items: &[Vec<ArrayD<f32>>],
    empty: &LinearDelta,
    per_item: impl Fn(&[ArrayD<f32>], &mut LinearDelta) -> Result<(), QuantError> + Sync,
) -> Result<LinearDelta, QuantError> {
    let parts: Vec<LinearDelta> = items
        .par_iter()
        .map(|it| {
            let mut acc = empty.clone();
            per_item(it, &mut acc)?;
            Ok(acc)
        })
        .collect::<Result<_, QuantError>>()?;
    Ok(parts.iter().fold(empty.clone(), |a, b| a.merge(b)))
}

/// Per target of `stage`, per output channel: the sum of (float - fixed) output over the
/// positions where both are strictly inside the output's activation / saturation bounds (where
/// a bias change moves the output one for one), and the number of such positions.
#[derive(Clone)]
struct LinearDelta {
    sums: Vec<Vec<f64>>,
    counts: Vec<Vec<f64>>,
}

impl LinearDelta {
    /// Zeroed sums for the targets in `which`.
    fn new(targets: &[Target], which: &[usize]) -> Self {
        let mut d = LinearDelta {
            sums: vec![Vec::new(); targets.len()],
            counts: vec![Vec::new(); targets.len()],
        };
        for &t in which {
            d.sums[t] = vec![0.0; targets[t].channels];
            d.counts[t] = vec![0.0; targets[t].channels];
        }
        d
    }

    /// `self + other`, target by target and channel by channel.
    fn merge(mut self, other: &Self) -> Self {
        for (a, b) in self.sums.iter_mut().zip(&other.sums) {
            a.iter_mut().zip(b).for_each(|(x, y)| *x += y);
        }
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            a.iter_mut().zip(b).for_each(|(x, y)| *x += y);
        }
        self
    }

    /// Adds the linear-region differences of one output of `target` (index `t`): fixed `q`,
    /// float `f`, both in the output's layout.
    fn add(&mut self, target: &Target, t: usize, q: &[i32], f: &[f32]) {
        let (lo, hi, py) = (target.act_min, target.act_max, target.py);
        let (flo, fhi) = (py.dequantize(lo), py.dequantize(hi));
        let (plane, oc) = (target.plane.max(1), target.channels.max(1));
        let (sums, counts) = (&mut self.sums[t], &mut self.counts[t]);
        for (i, (&qv, &fv)) in q.iter().zip(f).enumerate() {
            if qv > lo && qv < hi && fv > flo && fv < fhi {
                let c = (i / plane) % oc;
                sums[c] += fv as f64 - py.dequantize(qv) as f64;
                counts[c] += 1.0;
            }
        }
    }
}

fn linear_deltas(
    model: &QuantModel,
    targets: &[Target],
    stage: &[usize],
    items: &[Vec<ArrayD<f32>>],
) -> Result<LinearDelta, QuantError> {
    let float = radix_sim::FloatEngine::new(&model.graph)?;
    let fixed = radix_sim::FixedEngine::new(model)?;
    let outputs: HashMap<ValueId, usize> = stage.iter().map(|&t| (targets[t].output, t)).collect();
    let empty = LinearDelta::new(targets, stage);
    over_items(items, &empty, |it, acc| {
        let mut seen: HashMap<ValueId, Vec<f32>> = HashMap::new();
        float.run_observed(it, &mut |v, t| {
            if outputs.contains_key(&v) {
                seen.insert(v, t.iter().copied().collect());
            }
        })?;
        let mut obs = |v: ValueId, q: &QTensor| {
            if let (Some(&t), Some(f)) = (outputs.get(&v), seen.get(&v)) {
                acc.add(&targets[t], t, &q.data, f);
            }
        };
        let mut obs: Option<radix_sim::fixed::QObserver<'_>> = Some(&mut obs);
        fixed.run_item_quantized(it, &mut obs)?;
        Ok(())
    })
}

/// Like [`linear_deltas`] for every target at once, each layer run alone on its float input
/// quantized with its input parameters: the layer's own error, independent of the others'.
fn isolated_deltas(
    model: &QuantModel,
    targets: &[Target],
    items: &[Vec<ArrayD<f32>>],
) -> Result<LinearDelta, QuantError> {
    let g = &model.graph;
    let float = radix_sim::FloatEngine::new(g)?;
    let fixed = radix_sim::FixedEngine::new(model)?;
    let all: Vec<usize> = (0..targets.len()).collect();
    let empty = LinearDelta::new(targets, &all);
    let by_output: HashMap<ValueId, usize> = targets
        .iter()
        .enumerate()
        .map(|(t, x)| (x.output, t))
        .collect();
    let mut readers: HashMap<ValueId, usize> = HashMap::new();
    for target in targets {
        *readers.entry(target.input).or_default() += 1;
    }
    over_items(items, &empty, |it, acc| {
        // Float inputs of targets, kept until their last reading target has run.
        let mut pending: HashMap<ValueId, (Vec<f32>, usize)> = HashMap::new();
        let mut failure = None;
        let mut seen =
            |v: ValueId, f: &[f32], pending: &mut HashMap<ValueId, (Vec<f32>, usize)>| {
                if let Some(&t) = by_output.get(&v) {
                    let x = targets[t].input;
                    if let Some((xf, left)) = pending.get_mut(&x) {
                        let quantize = targets[t].px.quantizer();
                        let qx = QTensor {
                            shape: g.shape(x).to_vec(),
                            data: xf.iter().map(|&a| quantize(a)).collect(),
                        };
                        *left -= 1;
                        if *left == 0 {
                            pending.remove(&x);
                        }
                        match fixed.run_node(targets[t].node, vec![qx]) {
                            Ok(out) => {
                                if let Some(q) = out.first() {
                                    acc.add(&targets[t], t, &q.data, f);
                                }
                            }
                            Err(e) => failure = Some(e),
                        }
                    }
                }
                if let Some(&n) = readers.get(&v) {
                    pending.insert(v, (f.to_vec(), n));
                }
            };
        for (x, &id) in it.iter().zip(&g.inputs) {
            let data: Vec<f32> = x.iter().copied().collect();
            seen(id, &data, &mut pending);
        }
        float.run_observed(it, &mut |v, t| match t.as_slice() {
            Some(d) => seen(v, d, &mut pending),
            None => {
                let d: Vec<f32> = t.iter().copied().collect();
                seen(v, &d, &mut pending)
            }
        })?;
        match failure {
            Some(e) => Err(e.into()),
            None => Ok(()),
        }
    })
}

/// Moves each channel's bias of `target` by its mean linear-region error; returns the largest
/// move in output units.
fn correct(model: &mut QuantModel, target: &Target, d: &LinearDelta, t: usize) -> f64 {
    let QKernel::Mac {
        weight_params,
        bias,
        ..
    } = &mut model.nodes[target.node].kernel
    else {
        return 0.0;
    };
    let mut max_shift = 0f64;
    for (c, b) in bias.iter_mut().enumerate() {
        let (sum, n) = (d.sums[t][c], d.counts[t][c]);
        if n == 0.0 {
            continue;
        }
        let acc_scale = target.px.multiplier() * weight_params[c].multiplier();
        let step = (sum / n * acc_scale).round();
        if step.is_finite() {
            *b = b.saturating_add(step as i64);
            max_shift = max_shift.max((step / acc_scale).abs());
        }
    }
    max_shift
}

/// Longest chain of MAC targets ending at each target (1 for one with none above it).
fn mac_depths(model: &QuantModel, targets: &[Target]) -> Vec<usize> {
    let g = &model.graph;
    let mut value_depth = vec![0usize; g.values.len()];
    let target_of: HashMap<usize, usize> = targets
        .iter()
        .enumerate()
        .map(|(t, x)| (x.node, t))
        .collect();
    let mut depth = vec![0usize; targets.len()];
    for (i, node) in g.nodes.iter().enumerate() {
        let above = node
            .inputs
            .iter()
            .map(|v| value_depth[v.0])
            .max()
            .unwrap_or(0);
        let d = match target_of.get(&i) {
            Some(&t) => {
                depth[t] = above + 1;
                above + 1
            }
            None => above,
        };
        for &o in &node.outputs {
            value_depth[o.0] = d;
        }
    }
    depth
}

/// Adjusts the bias of every Conv / ConvTranspose / Gemm of `model` from the calibration
/// `items` (one `Vec` of model inputs per item, as for calibration). Call inside the caller's
/// rayon pool. `on_pass(done, total)` is called after each pass over the inputs.
pub fn adjust_bias(
    model: &mut QuantModel,
    items: &[Vec<ArrayD<f32>>],
    how: BiasAdjust,
    on_pass: &mut dyn FnMut(usize, usize),
) -> Result<BiasAdjustSummary, QuantError> {
    let targets = targets(model);
    let mut summary = BiasAdjustSummary::default();
    if targets.is_empty() || items.is_empty() {
        return Ok(summary);
    }
    match how {
        BiasAdjust::Parallel => {
            let d = isolated_deltas(model, &targets, items)?;
            for (t, target) in targets.iter().enumerate() {
                summary.max_shift = summary.max_shift.max(correct(model, target, &d, t));
            }
            summary.nodes = targets.len();
            summary.passes = 1;
            on_pass(1, 1);
        }
        BiasAdjust::Sequential => {
            let depth = mac_depths(model, &targets);
            let top = depth.iter().copied().max().unwrap_or(0);
            let stages: Vec<Vec<usize>> = (1..=top)
                .map(|d| (0..targets.len()).filter(|&t| depth[t] == d).collect())
                .filter(|s: &Vec<usize>| !s.is_empty())
                .collect();
            for (k, stage) in stages.iter().enumerate() {
                let d = linear_deltas(model, &targets, stage, items)?;
                for &t in stage {
                    summary.max_shift = summary.max_shift.max(correct(model, &targets[t], &d, t));
                }
                summary.nodes += stage.len();
                summary.passes += 1;
                on_pass(k + 1, stages.len());
            }
        }
    }
    Ok(summary)
}
