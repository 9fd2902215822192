//! The calibration driver: validates the input mapping, runs the float engine over every
//! calibration input (in parallel over inputs, in a pool of `threads`), and streams every
//! intermediate tensor into mergeable [`TensorStats`]. Memory is independent of the number of
//! inputs; the result is identical for any thread count and any input order.

use ndarray::{ArrayD, Axis, IxDyn};
use radix_calib::TensorStats;
use radix_ir::{Graph, ValueId};
use radix_sim::FloatEngine;
use rayon::prelude::*;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::QuantError;
use crate::progress::{Progress, Silent};

/// Calibration data: for each model input name, a list of arrays (ONNX layout, e.g. NCHW).
#[derive(Clone, Debug, Default)]
pub struct InputMapping {
    /// `(input name, arrays)` pairs, in insertion order; names are unique through [`insert`](Self::insert).
    pub inputs: Vec<(String, Vec<ArrayD<f32>>)>,
}

impl InputMapping {
    /// An empty mapping.
    pub fn new() -> Self {
        Self::default()
    }
    /// Sets the arrays of input `name`, replacing any earlier entry of that name.
    pub fn insert(&mut self, name: impl Into<String>, arrays: Vec<ArrayD<f32>>) {
        let name = name.into();
        self.inputs.retain(|(n, _)| *n != name);
        self.inputs.push((name, arrays));
    }
    /// The arrays of input `name`, if any.
    pub fn get(&self, name: &str) -> Option<&[ArrayD<f32>]> {
        self.inputs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_slice())
    }
}

/// Per-value statistics gathered over the calibration inputs, indexed by `ValueId`.
#[derive(Clone, Debug)]
pub struct Calibration {
    /// Statistics of value `id` at index `id.0`; `None` for values never observed (constants).
    pub stats: Vec<Option<TensorStats>>,
    /// Number of calibration input items observed.
    pub num_inputs: usize,
}

/// Checks the mapping against the graph and returns, per input item, the arrays in graph input
/// order with a batch axis (shape equal to the graph input shape).
pub fn validate_inputs(
    graph: &Graph,
    mapping: &InputMapping,
) -> Result<Vec<Vec<ArrayD<f32>>>, QuantError> {
    let mut per_input: Vec<&[ArrayD<f32>]> = Vec::with_capacity(graph.inputs.len());
    for &id in &graph.inputs {
        let name = &graph.value(id).name;
        let arrays = mapping.get(name).ok_or_else(|| QuantError::MissingInput {
            input: name.clone(),
        })?;
        if arrays.is_empty() {
            return Err(QuantError::EmptyInput {
                input: name.clone(),
            });
        }
        per_input.push(arrays);
    }
    for (name, _) in &mapping.inputs {
        if !graph.inputs.iter().any(|&i| graph.value(i).name == *name) {
            let known: Vec<&str> = graph
                .inputs
                .iter()
                .map(|&i| graph.value(i).name.as_str())
                .collect();
            return Err(QuantError::UnknownInput {
                input: name.clone(),
                known: known.join(", "),
            });
        }
    }
    let n = per_input[0].len();
    for (k, arrays) in per_input.iter().enumerate() {
        if arrays.len() != n {
            return Err(QuantError::InputCountMismatch {
                input: graph.value(graph.inputs[k]).name.clone(),
                got: arrays.len(),
                first: graph.value(graph.inputs[0]).name.clone(),
                expected: n,
            });
        }
    }
    let mut items: Vec<Vec<ArrayD<f32>>> = (0..n)
        .map(|_| Vec::with_capacity(per_input.len()))
        .collect();
    for (k, arrays) in per_input.iter().enumerate() {
        let id = graph.inputs[k];
        let name = &graph.value(id).name;
        let want = graph.shape(id);
        for (index, a) in arrays.iter().enumerate() {
            let arr = if a.shape() == want {
                a.clone()
            } else if a.shape() == &want[1..] && want[0] == 1 {
                a.clone().insert_axis(Axis(0))
            } else {
                return Err(QuantError::InputShape {
                    input: name.clone(),
                    index,
                    expected: want.to_vec(),
                    got: a.shape().to_vec(),
                });
            };
            if let Some((pos, v)) = arr.iter().enumerate().find(|(_, v)| !v.is_finite()) {
                return Err(QuantError::NonFiniteInput {
                    input: name.clone(),
                    index,
                    position: pos,
                    value: *v,
                });
            }
            items[index].push(
                arr.into_dimensionality::<IxDyn>()
                    .map_err(|e| QuantError::Internal(e.to_string()))?,
            );
        }
    }
    Ok(items)
}

/// Runs the float model on every input item and gathers statistics of every non-constant value.
/// Must be called inside the caller's rayon pool (its size is the `threads` option).
pub fn calibrate(graph: &Graph, items: &[Vec<ArrayD<f32>>]) -> Result<Calibration, QuantError> {
    calibrate_with(graph, items.len(), &|i| Ok(items[i].clone()), &Silent)
}

/// Like [`calibrate`], but input item `i` (arrays in graph input order, with batch axis) is
/// produced on demand by `get(i)`, so only the items being processed are in memory; `progress`
/// hears of every item done (stage "calibrating").
pub fn calibrate_with(
    graph: &Graph,
    count: usize,
    get: &(dyn Fn(usize) -> Result<Vec<ArrayD<f32>>, QuantError> + Sync),
    progress: &dyn Progress,
) -> Result<Calibration, QuantError> {
    let engine = FloatEngine::new(graph)?;
    let nvalues = graph.values.len();
    let done = AtomicUsize::new(0);
    progress.update("calibrating", 0, count);
    // One accumulator per worker, each pulling the next item index: memory is bounded by the
    // worker count, not the input count. Merging is exact, so who processed what does not matter.
    let workers = rayon::current_num_threads().max(1).min(count.max(1));
    let next = AtomicUsize::new(0);
    let work = |_: usize| -> Result<Vec<Option<TensorStats>>, QuantError> {
        let mut acc: Vec<Option<TensorStats>> = vec![None; nvalues];
        loop {
            let i = next.fetch_add(1, Ordering::Relaxed);
            if i >= count {
                return Ok(acc);
            }
            let item = get(i)?;
            let mut err = None;
            engine.run_observed(&item, &mut |id: ValueId, t: &ArrayD<f32>| {
                let slot = acc[id.0].get_or_insert_with(TensorStats::new);
                let r = match t.as_slice() {
                    Some(s) => slot.observe(s),
                    None => slot.observe_array(t),
                };
                if let (Err(e), None) = (r, &err) {
                    err = Some(QuantError::NonFiniteActivation {
                        tensor: graph.value(id).name.clone(),
                        msg: e.to_string(),
                    });
                }
            })?;
            if let Some(e) = err {
                return Err(e);
            }
            // Graph inputs are not node outputs; observe them here.
            for (k, &id) in graph.inputs.iter().enumerate() {
                let slot = acc[id.0].get_or_insert_with(TensorStats::new);
                if let Some(a) = item.get(k) {
                    slot.observe_array(a)
                        .map_err(|e| QuantError::Internal(e.to_string()))?;
                }
            }
            progress.update(
                "calibrating",
                done.fetch_add(1, Ordering::Relaxed) + 1,
                count,
            );
        }
    };
    let parts: Vec<Result<Vec<Option<TensorStats>>, QuantError>> =
        (0..workers).into_par_iter().map(work).collect();
    let mut stats: Vec<Option<TensorStats>> = vec![None; nvalues];
    for part in parts {
        for (x, y) in stats.iter_mut().zip(part?) {
            match (x.as_mut(), y) {
                (Some(x), Some(y)) => x.merge(&y),
                (None, Some(y)) => *x = Some(y),
                _ => {}
            }
        }
    }
    Ok(Calibration {
        stats,
        num_inputs: count,
    })
}
