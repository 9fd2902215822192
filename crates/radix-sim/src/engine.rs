//! The engine seam: one trait every engine implements (float, fast fixed-point, reference),
//! and the one definition of which inputs a run accepts.
//!
//! An engine is prepared once (`new`: weights packed, plans made) and then run any number of
//! times, from any thread: a caller holds it as `&dyn Engine` and never needs to know which one
//! it has. Every run takes float inputs in graph-input order and returns float outputs in
//! graph-output order; the observer sees every tensor the engine computes, in its own number
//! format ([`Observed`]).
//!
//! Batches: an input whose graph shape has a leading axis `b > 0` may be given with axis 0 any
//! positive multiple `k * b`; the run is then `k` items, each the graph's own shape, outputs
//! joined on axis 0 and the observer called once per item. Inputs of rank 0, or whose graph
//! batch axis is 0, are passed whole to every item. Every batched input must hold the same `k`.

use ndarray::{ArrayD, ArrayViewD, Axis, Slice};
use radix_ir::qmodel::QTensor;
use radix_ir::{Graph, ValueId};

/// A tensor an engine computed, as its observer sees it.
#[derive(Clone, Copy, Debug)]
pub enum Observed<'a> {
    /// A float tensor (the float engine; CPU nodes of the fixed engines are observed as codes).
    Float(&'a ArrayD<f32>),
    /// Integer codes with the tensor's fixed-point parameters (the fixed-point engines).
    Fixed(&'a QTensor),
}

/// Which number format an engine computes in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EngineKind {
    /// [`crate::FloatEngine`].
    Float,
    /// [`crate::FixedEngine`], the fast fixed-point engine.
    Fixed,
    /// [`crate::ReferenceEngine`], the plain-loop fixed-point engine the fast one is checked
    /// against.
    Reference,
}

/// A prepared engine. Build it once, run it as often as needed; runs do not mutate it.
pub trait Engine: Sync {
    /// Which engine this is (for messages and for what its observer sees).
    fn kind(&self) -> EngineKind;

    /// The graph the engine runs: its inputs and outputs give the order of a run's arrays.
    fn graph(&self) -> &Graph;

    /// Runs on `inputs` (graph-input order; see the module docs for batches) and returns the
    /// outputs in graph-output order, calling `observer` with every node output as soon as it
    /// is computed (the fast fixed-point engine also reports the quantized graph inputs).
    fn run_observing(
        &self,
        inputs: &[ArrayD<f32>],
        observer: &mut dyn FnMut(ValueId, Observed<'_>),
    ) -> Result<Vec<ArrayD<f32>>, crate::SimError>;

    /// Runs on `inputs` and returns the outputs ([`run_observing`](Self::run_observing) without
    /// an observer).
    fn run(&self, inputs: &[ArrayD<f32>]) -> Result<Vec<ArrayD<f32>>, crate::SimError> {
        self.run_observing(inputs, &mut |_, _| {})
    }
}

/// Inputs an engine refused. Every engine validates inputs with [`batch_items`], so all of them
/// accept and refuse the same arrays with the same message.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum InputError {
    /// Not one array per graph input.
    #[error("expected {expected} model inputs, got {got}")]
    Count {
        /// Graph inputs.
        expected: usize,
        /// Arrays given.
        got: usize,
    },
    /// An array whose shape is neither the input's nor a batch of it.
    #[error(
        "input `{input}`: expected shape {expected:?} (axis 0 may be any positive multiple of the batch), got {got:?}"
    )]
    Shape {
        /// The graph input's name.
        input: String,
        /// Its shape in the graph.
        expected: Vec<usize>,
        /// The array's shape.
        got: Vec<usize>,
    },
    /// Batched inputs holding different numbers of items.
    #[error("input `{input}`: batch of {got} items, but the first input has {expected}")]
    Batch {
        /// The graph input's name.
        input: String,
        /// Items in the first batched input.
        expected: usize,
        /// Items in this one.
        got: usize,
    },
}

/// Whether graph input `id` takes part in batching (rank >= 1 with a non-zero batch axis).
fn is_batched(graph: &Graph, id: ValueId) -> bool {
    graph.shape(id).first().is_some_and(|&b| b > 0)
}

/// Checks `inputs` against the graph's inputs and returns how many items they hold.
pub fn batch_items(graph: &Graph, inputs: &[ArrayD<f32>]) -> Result<usize, InputError> {
    if inputs.len() != graph.inputs.len() {
        return Err(InputError::Count {
            expected: graph.inputs.len(),
            got: inputs.len(),
        });
    }
    let mut items: Option<usize> = None;
    for (x, &id) in inputs.iter().zip(&graph.inputs) {
        let v = graph.value(id);
        let (want, got) = (v.shape.as_slice(), x.shape());
        let bad = || InputError::Shape {
            input: v.name.clone(),
            expected: want.to_vec(),
            got: got.to_vec(),
        };
        if !is_batched(graph, id) {
            if want != got {
                return Err(bad());
            }
            continue;
        }
        if want.len() != got.len() || want[1..] != got[1..] {
            return Err(bad());
        }
        let (b, n) = (want[0], got[0]);
        if n == 0 || !n.is_multiple_of(b) {
            return Err(bad());
        }
        let k = n / b;
        match items {
            None => items = Some(k),
            Some(first) if first != k => {
                return Err(InputError::Batch {
                    input: v.name.clone(),
                    expected: first,
                    got: k,
                });
            }
            Some(_) => {}
        }
    }
    Ok(items.unwrap_or(1))
}

/// Item `k` of input `x` (graph input `id`), a view without copying: the `k`-th block of axis 0
/// for a batched input, the whole array otherwise. `x` must have passed [`batch_items`].
pub fn item_view<'a>(
    graph: &Graph,
    id: ValueId,
    x: &'a ArrayD<f32>,
    k: usize,
) -> ArrayViewD<'a, f32> {
    if !is_batched(graph, id) {
        return x.view();
    }
    let b = graph.shape(id)[0];
    let len: usize = graph.shape(id).iter().product();
    // From the row-major slice when there is one: the view then has the default strides.
    // (`slice_axis` gives an axis of length 1 the stride 0, and ndarray's reductions sum in a
    // different order on such an array: an item's float results would depend on whether it
    // came alone or in a batch.)
    let block = x.as_slice().and_then(|all| all.get(k * len..(k + 1) * len));
    if let Some(v) = block.and_then(|b| ArrayViewD::from_shape(graph.shape(id), b).ok()) {
        return v;
    }
    x.slice_axis(Axis(0), Slice::from(k * b..(k + 1) * b))
}

/// Joins the outputs of a batch's items (`per_item[k]`: item `k`'s outputs in graph-output order)
/// on axis 0; a rank-0 output becomes a vector of one value per item. Every engine joins with
/// this, so a batch reads the same from each. Results are row-major. `Err` names the output.
pub fn join_items(
    graph: &Graph,
    mut per_item: Vec<Vec<ArrayD<f32>>>,
) -> Result<Vec<ArrayD<f32>>, String> {
    if per_item.len() == 1 {
        return Ok(per_item.remove(0));
    }
    (0..graph.outputs.len())
        .map(|o| {
            let parts: Vec<_> = per_item.iter().map(|outs| outs[o].view()).collect();
            let joined = if parts.first().is_some_and(|p| p.ndim() > 0) {
                ndarray::concatenate(Axis(0), &parts)
            } else {
                ndarray::stack(Axis(0), &parts)
            };
            joined
                .map(|a| a.as_standard_layout().into_owned())
                .map_err(|e| {
                    format!(
                        "joining output `{}` over the batch: {e}",
                        graph.value(graph.outputs[o]).name
                    )
                })
        })
        .collect()
}
