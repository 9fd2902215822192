//! Reductions: ReduceMax / Min / Sum (f32 folds), ArgMax, and ReduceProd / L1 / L2 /
//! SumSquare / LogSum / LogSumExp (accumulated in f64).

use ndarray::{ArrayD, Axis, IxDyn};

use crate::op::ReduceKind;

/// Folds `f` over `axes` (increasing; empty: identity) and gives the result `out_shape`.
pub(super) fn reduce(
    x: &ArrayD<f32>,
    axes: &[usize],
    out_shape: &[usize],
    init: f32,
    f: fn(f32, f32) -> f32,
) -> Result<ArrayD<f32>, String> {
    let mut cur = x.clone();
    for &ax in axes.iter().rev() {
        if ax >= cur.ndim() {
            return Err(format!(
                "reduce axis {ax} out of range for rank {}",
                x.ndim()
            ));
        }
        cur = cur.fold_axis(Axis(ax), init, |&a, &b| f(a, b));
    }
    cur.as_standard_layout()
        .into_owned()
        .into_shape_with_order(IxDyn(out_shape))
        .map_err(|e| e.to_string())
}

pub(super) fn argmax(
    x: &ArrayD<f32>,
    axis: usize,
    last: bool,
    out_shape: &[usize],
) -> Result<ArrayD<f32>, String> {
    if axis >= x.ndim() || x.shape()[axis] == 0 {
        return Err(format!("ArgMax axis {axis} invalid for {:?}", x.shape()));
    }
    let idx = x.map_axis(Axis(axis), |lane| {
        let mut best = 0usize;
        for (i, &v) in lane.iter().enumerate() {
            if v > lane[best] || (last && v == lane[best]) {
                best = i;
            }
        }
        best as f32
    });
    idx.as_standard_layout()
        .into_owned()
        .into_shape_with_order(IxDyn(out_shape))
        .map_err(|e| e.to_string())
}

/// For each element of a row-major tensor of `shape`, in order, the flat index of its group
/// when `axes` are reduced (groups in row-major order of the kept axes).
fn group_index(shape: &[usize], axes: &[usize]) -> Result<(Vec<usize>, usize), String> {
    if let Some(&a) = axes.iter().find(|&&a| a >= shape.len()) {
        return Err(format!(
            "reduce axis {a} out of range for rank {}",
            shape.len()
        ));
    }
    // Stride of each axis in the group index (0 for reduced axes).
    let mut stride = vec![0usize; shape.len()];
    let mut groups = 1usize;
    for ax in (0..shape.len()).rev() {
        if !axes.contains(&ax) {
            stride[ax] = groups;
            groups *= shape[ax];
        }
    }
    let total: usize = shape.iter().product();
    let mut out = Vec::with_capacity(total);
    let mut idx = vec![0usize; shape.len()];
    let mut g = 0usize;
    for _ in 0..total {
        out.push(g);
        for ax in (0..shape.len()).rev() {
            idx[ax] += 1;
            g += stride[ax];
            if idx[ax] < shape[ax] {
                break;
            }
            g -= stride[ax] * idx[ax];
            idx[ax] = 0;
        }
    }
    Ok((out, groups))
}

/// ReduceProd / L1 / L2 / SumSquare / LogSum / LogSumExp over `axes`, accumulated in f64.
pub(super) fn reduce_f64(
    x: &ArrayD<f32>,
    axes: &[usize],
    out_shape: &[usize],
    kind: ReduceKind,
) -> Result<ArrayD<f32>, String> {
    if axes.is_empty() {
        return Ok(x.clone());
    }
    let (group, n) = group_index(x.shape(), axes)?;
    if out_shape.iter().product::<usize>() != n {
        return Err(format!(
            "{} of {:?} over axes {axes:?} cannot give shape {out_shape:?}",
            kind.onnx_name(),
            x.shape()
        ));
    }
    let xs = x.as_standard_layout();
    let vals = || group.iter().copied().zip(xs.iter().map(|&v| v as f64));
    let init = if kind == ReduceKind::Prod { 1.0 } else { 0.0 };
    let mut acc = vec![init; n];
    // LogSumExp: the largest finite value of each group, subtracted before exp.
    let mut shift = vec![f64::NEG_INFINITY; n];
    if kind == ReduceKind::LogSumExp {
        for (g, v) in vals() {
            if v.is_finite() && v > shift[g] {
                shift[g] = v;
            }
        }
        shift.iter_mut().for_each(|m| {
            if !m.is_finite() {
                *m = 0.0;
            }
        });
    }
    for (g, v) in vals() {
        let a = &mut acc[g];
        match kind {
            ReduceKind::Prod => *a *= v,
            ReduceKind::L1 => *a += v.abs(),
            ReduceKind::L2 | ReduceKind::SumSquare => *a += v * v,
            ReduceKind::LogSum => *a += v,
            ReduceKind::LogSumExp => *a += (v - shift[g]).exp(),
        }
    }
    let out: Vec<f32> = acc
        .iter()
        .zip(&shift)
        .map(|(&a, &m)| {
            (match kind {
                ReduceKind::L2 => a.sqrt(),
                ReduceKind::LogSum => a.ln(),
                ReduceKind::LogSumExp => a.ln() + m,
                _ => a,
            }) as f32
        })
        .collect();
    ArrayD::from_shape_vec(IxDyn(out_shape), out).map_err(|e| e.to_string())
}
