//! The bit-true comparison of the fast and reference fixed-point engines: one definition, used
//! by `analysis` (modes 2-3), `cargo xtask btm` / `regress` and the differential tests.
//!
//! Rule: every tensor both engines produced must be identical, integer for integer; a tensor
//! only one engine produced is a mismatch too, except a graph input (the caller quantizes those
//! for the reference engine, which therefore never reports them).

use std::fmt;
use std::time::Instant;

use ndarray::ArrayD;
use radix_ir::ValueId;
use radix_ir::qmodel::{QTensor, QuantModel};

use crate::{Engine, FixedEngine, Observed, ReferenceEngine, SimError};

/// One tensor that differs between the engines on one input item.
#[derive(Clone, Debug, PartialEq)]
pub struct TensorDiff {
    /// Index of the input item.
    pub item: usize,
    /// The tensor's value id in the model's graph.
    pub value: ValueId,
    /// The tensor's name.
    pub name: String,
    /// Values that differ, of `total` (0 of 0 when only one engine produced the tensor).
    pub differing: usize,
    /// Number of values compared (the tensor's element count).
    pub total: usize,
    /// The first differing position with the fast and the reference value.
    pub first: Option<(usize, i32, i32)>,
    /// Only one engine produced the tensor.
    pub one_engine_only: bool,
}

impl fmt::Display for TensorDiff {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.one_engine_only {
            return write!(
                f,
                "input {}, tensor `{}`: computed by one engine only",
                self.item, self.name
            );
        }
        write!(
            f,
            "input {}, tensor `{}`: {} of {} values differ",
            self.item, self.name, self.differing, self.total
        )?;
        if let Some((i, a, b)) = self.first {
            write!(f, " (first at {i}: fast {a}, reference {b})")?;
        }
        Ok(())
    }
}

impl TensorDiff {
    /// The difference with the node that produced the tensor: its name, op, kernel and input
    /// shapes (cut to 400 characters), for a reader hunting the bug.
    pub fn describe(&self, model: &QuantModel) -> String {
        let g = &model.graph;
        let node = g
            .nodes
            .iter()
            .position(|nd| nd.outputs.contains(&self.value))
            .map(|j| {
                let nd = &g.nodes[j];
                let shapes: Vec<&[usize]> = nd.inputs.iter().map(|&v| g.shape(v)).collect();
                let kernel = model.nodes.get(j).map(|q| &q.kernel);
                format!("{} {:?} {kernel:?} inputs {shapes:?}", nd.name, nd.op)
            })
            .unwrap_or_else(|| "a graph input".into());
        format!(
            "{self}; node {}",
            node.chars().take(400).collect::<String>()
        )
    }
}

/// Compares the tensors the two engines produced on input item `item` (indexed by value id).
/// Returns how many tensors both produced, and every difference.
pub fn diff_tensors(
    model: &QuantModel,
    item: usize,
    fast: &[Option<QTensor>],
    reference: &[Option<QTensor>],
) -> (usize, Vec<TensorDiff>) {
    let g = &model.graph;
    let (mut compared, mut diffs) = (0, Vec::new());
    for (i, (a, b)) in fast.iter().zip(reference).enumerate() {
        let value = ValueId(i);
        let diff = |differing, total, first, one_engine_only| TensorDiff {
            item,
            value,
            name: g.value(value).name.clone(),
            differing,
            total,
            first,
            one_engine_only,
        };
        match (a, b) {
            (Some(a), Some(b)) => {
                compared += 1;
                if a != b {
                    let differing = a.data.iter().zip(&b.data).filter(|(x, y)| x != y).count();
                    let first = a
                        .data
                        .iter()
                        .zip(&b.data)
                        .position(|(x, y)| x != y)
                        .map(|p| (p, a.data[p], b.data[p]));
                    let total = a.data.len().max(b.data.len());
                    // Different shapes with equal leading data still differ.
                    diffs.push(diff(
                        differing.max(usize::from(a.shape != b.shape)),
                        total,
                        first,
                        false,
                    ));
                }
            }
            (Some(_), None) if g.inputs.contains(&value) => {}
            (None, None) => {}
            _ => diffs.push(diff(0, 0, None, true)),
        }
    }
    (compared, diffs)
}

/// One engine's run of one item with every integer tensor it computed.
#[derive(Clone, Debug, Default)]
pub struct RecordedRun {
    /// The run's outputs (graph-output order).
    pub outputs: Vec<ArrayD<f32>>,
    /// Per value id: the integer tensor the engine computed, if it computed one.
    pub tensors: Vec<Option<QTensor>>,
    /// Wall time of the run.
    pub seconds: f64,
}

/// Runs `engine` on one item and records every integer tensor it reports.
pub fn record(engine: &dyn Engine, item: &[ArrayD<f32>]) -> Result<RecordedRun, SimError> {
    let mut tensors: Vec<Option<QTensor>> = vec![None; engine.graph().values.len()];
    let start = Instant::now();
    let outputs = engine.run_observing(item, &mut |id, t| {
        if let Observed::Fixed(t) = t {
            tensors[id.0] = Some(t.clone());
        }
    })?;
    Ok(RecordedRun {
        outputs,
        tensors,
        seconds: start.elapsed().as_secs_f64(),
    })
}

/// Two engines on one item, compared on every tensor.
#[derive(Clone, Debug)]
pub struct ItemComparison {
    /// The fast engine's run.
    pub fast: RecordedRun,
    /// Wall time of the reference engine's run.
    pub reference_seconds: f64,
    /// Tensors both engines produced.
    pub compared: usize,
    /// Every tensor that differs ([`diff_tensors`]).
    pub diffs: Vec<TensorDiff>,
}

/// Runs `fast` and `reference` (two fixed-point engines of `model`) on input item number `k`
/// and compares every tensor ([`diff_tensors`]).
pub fn compare_item(
    model: &QuantModel,
    fast: &dyn Engine,
    reference: &dyn Engine,
    k: usize,
    item: &[ArrayD<f32>],
) -> Result<ItemComparison, SimError> {
    let a = record(fast, item)?;
    let b = record(reference, item)?;
    let (compared, diffs) = diff_tensors(model, k, &a.tensors, &b.tensors);
    Ok(ItemComparison {
        fast: a,
        reference_seconds: b.seconds,
        compared,
        diffs,
    })
}

/// The result of [`compare_engines`].
#[derive(Clone, Debug, Default)]
pub struct BitTrue {
    /// Tensors compared, over all items.
    pub compared: usize,
    /// Every differing tensor, over all items.
    pub diffs: Vec<TensorDiff>,
}

impl BitTrue {
    /// No tensor differs.
    pub fn identical(&self) -> bool {
        self.diffs.is_empty()
    }
}

/// Runs the fast engine (built for `model`) and the reference engine on every item and compares
/// every tensor ([`compare_item`]).
pub fn compare_engines(
    model: &QuantModel,
    fast: &FixedEngine,
    items: &[Vec<ArrayD<f32>>],
) -> Result<BitTrue, SimError> {
    let reference = ReferenceEngine::new(model)?;
    let mut out = BitTrue::default();
    for (k, item) in items.iter().enumerate() {
        let c = compare_item(model, fast, &reference, k, item)?;
        out.compared += c.compared;
        out.diffs.extend(c.diffs);
    }
    Ok(out)
}
