//! Mixed precision in the pipeline: runs the chosen `radix_bitwidth` policy on the calibrated
//! graph, measuring sensitivities (mixbw) with the quantizer and the fast engine.

use std::sync::atomic::{AtomicUsize, Ordering};

use ndarray::ArrayD;
use radix_bitwidth::{
    Allocation, BitAssignment, BitwidthPolicy, Budget, MixBalance, MixBw, MixLight, Sensitivity,
};
use radix_quant::{Calibrated, Progress, QuantConfig};
use rayon::prelude::*;

use crate::options::Bitwidths;
use crate::{Error, Result};

/// Calibration items mixbw measures each layer's sensitivity on: the relative order of the
/// layers is what matters, and a few photos give it (the chosen mix is verified on all).
pub const SENSITIVITY_ITEMS: usize = 4;

/// Output SNR of the graph quantized with an assignment: quantizer + fast engine against the
/// float engine, on the first [`SENSITIVITY_ITEMS`] calibration items.
struct Measured<'a> {
    calibrated: &'a Calibrated,
    cfg: &'a QuantConfig,
    items: &'a [Vec<ArrayD<f32>>],
    float: Vec<Vec<ArrayD<f32>>>,
    progress: &'a dyn Progress,
    done: AtomicUsize,
}

impl Measured<'_> {
    fn measure(&self, a: &BitAssignment) -> std::result::Result<f64, String> {
        let mut cfg = self.cfg.clone();
        cfg.assignment = Some(std::sync::Arc::new(a.clone()));
        let q = self.calibrated.quantize(&cfg).map_err(|e| e.to_string())?;
        let fast = radix_sim::FixedEngine::new(&q.model).map_err(|e| e.to_string())?;
        let fixed: Vec<Vec<ArrayD<f32>>> = self
            .items
            .iter()
            .map(|it| fast.run(it).map_err(|e| e.to_string()))
            .collect::<std::result::Result<_, _>>()?;
        let outputs = self.calibrated.graph.outputs.len();
        Ok((0..outputs)
            .map(|k| radix_calib::output_sqnr_db(&self.float, &fixed, k))
            .fold(f64::INFINITY, f64::min))
    }
}

impl Sensitivity for Measured<'_> {
    fn output_snr_db(
        &self,
        assignments: &[BitAssignment],
    ) -> Vec<std::result::Result<f64, String>> {
        let total = assignments.len();
        self.progress.update("mixbw sensitivity", 0, total);
        assignments
            .par_iter()
            .map(|a| {
                let r = self.measure(a);
                let k = self.done.fetch_add(1, Ordering::Relaxed) + 1;
                self.progress.update("mixbw sensitivity", k, total);
                r
            })
            .collect()
    }
}

/// Runs the mixed-precision policy `bitwidths` on a calibrated graph: mix light and mix balance
/// by rule, mixbw by measuring every MAC layer's sensitivity (quantizer + fast engine against
/// float on the first [`SENSITIVITY_ITEMS`] of `items`, layers in parallel, `progress` told of
/// each) and an exact knapsack within `flops_ratio`. Put the result's `assignment` into
/// `cfg.assignment` to quantize with it.
pub fn allocate_bits(
    bitwidths: Bitwidths,
    calibrated: &Calibrated,
    cfg: &QuantConfig,
    items: &[Vec<ArrayD<f32>>],
    flops_ratio: f64,
    progress: &dyn Progress,
) -> Result<Allocation> {
    let policy: Box<dyn BitwidthPolicy> = match bitwidths {
        Bitwidths::MixLight => Box::new(MixLight),
        Bitwidths::MixBalance => Box::new(MixBalance),
        Bitwidths::MixBw => Box::new(MixBw {
            budget: Budget::FlopsRatio(flops_ratio),
        }),
    };
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
    policy
        .assign(&calibrated.graph, Some(&measured))
        .map_err(|e| Error::Value(e.to_string()))
}
