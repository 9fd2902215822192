//! The bit-true comparison of the fast and reference fixed-point engines: one definition, used
//! by `analysis` (modes 2-3), `cargo xtask btm` / `regress` and the differential tests.
//!
//! Rule: every tensor both engines produced must be identical, integer for integer; a tensor
//! only one engine produced is a mismatch too, except a graph input (the caller quantizes those
//! for the reference engine, which therefore never reports them).

use std::fmt;

use ndarray::ArrayD;
use radix_ir::ValueId;
use radix_ir::qmodel::{QTensor, QuantModel};

use crate::{FixedEngine, SimError, run_reference};

/// One tensor that differs between the engines on one input item.
#[derive(Clone, Debug, PartialEq)]
pub struct TensorDiff {
    /// Index of the input item.
    pub item: usize,
    pub value: ValueId,
    /// The tensor's name.
    pub name: String,
    /// Values that differ, of `total` (0 of 0 when only one engine produced the tensor).
    pub differing: usize,
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

/// The result of [`compare_engines`].
#[derive(Clone, Debug, Default)]
pub struct BitTrue {
    /// Tensors compared, over all items.
    pub compared: usize,
    pub diffs: Vec<TensorDiff>,
}

impl BitTrue {
    pub fn identical(&self) -> bool {
        self.diffs.is_empty()
    }
}

/// Runs the fast engine (`fast`, built for `model`) and the reference engine on every item
/// and compares every tensor ([`diff_tensors`]).
pub fn compare_engines(
    model: &QuantModel,
    fast: &FixedEngine,
    items: &[Vec<ArrayD<f32>>],
) -> Result<BitTrue, SimError> {
    let nv = model.graph.values.len();
    let mut out = BitTrue::default();
    for (k, item) in items.iter().enumerate() {
        let mut a: Vec<Option<QTensor>> = vec![None; nv];
        fast.run_observed(
            item,
            Some(&mut |id: ValueId, t: &QTensor| a[id.0] = Some(t.clone())),
        )?;
        let mut b: Vec<Option<QTensor>> = vec![None; nv];
        run_reference(model, item, &mut |id: ValueId, t: &QTensor| {
            b[id.0] = Some(t.clone())
        })?;
        let (n, d) = diff_tensors(model, k, &a, &b);
        out.compared += n;
        out.diffs.extend(d);
    }
    Ok(out)
}
