//! Ops whose integers move unchanged (layout, slicing, gather, pad, max pooling) and
//! Concat's block copy.

use ndarray::{ArrayViewD, Axis, IxDyn, Slice};
use radix_ir::op::PadMode;
use radix_ir::qmodel::QTensor;
use radix_ir::{Graph, Node, Op};

use super::pool::max_pool;
use super::{Input, one};
use crate::SimError;

/// Concatenation in row-major order: for every index of the axes before `axis`, each input's
/// contiguous block (its length on `axis` times the size of the axes after it), in input order.
pub(super) fn concat_blocks<D: AsRef<[i32]>>(
    parts: &[(usize, D)],
    axis: usize,
    out_shape: &[usize],
) -> Result<Vec<i32>, String> {
    let outer: usize = out_shape[..axis].iter().product();
    let inner: usize = out_shape[axis + 1..].iter().product();
    let total: usize = parts.iter().map(|(len, _)| len).sum();
    if total != out_shape[axis] {
        return Err(format!(
            "inputs add up to {total} on axis {axis}, the output has {}",
            out_shape[axis]
        ));
    }
    for (len, d) in parts {
        if d.as_ref().len() != outer * len * inner {
            return Err("a Concat input's length does not match its shape".into());
        }
    }
    let mut out = Vec::with_capacity(outer * total * inner);
    for o in 0..outer {
        for (len, d) in parts {
            let block = len * inner;
            out.extend_from_slice(&d.as_ref()[o * block..(o + 1) * block]);
        }
    }
    Ok(out)
}

/// Ops whose integers move unchanged: pooling max, layout, pad.
pub(super) fn passthrough<'a>(
    node: &Node,
    op: &Op,
    input: &Input<'a>,
    out: &[usize],
    pad_value: i32,
    g: &Graph,
) -> Result<Vec<QTensor>, SimError> {
    let bad = |m: String| SimError::node(node, m);
    let x = input(0)?;
    let xv = ArrayViewD::from_shape(IxDyn(x.shape), x.data).map_err(|e| bad(e.to_string()))?;
    let data: Vec<i32> = match op {
        Op::Reshape { .. }
        | Op::Flatten { .. }
        | Op::Squeeze { .. }
        | Op::Unsqueeze { .. }
        | Op::Identity
        | Op::Dropout
        | Op::Cast => x.data.to_vec(),
        Op::Transpose { perm } => xv.permuted_axes(IxDyn(perm)).iter().copied().collect(),
        Op::MaxPool(a) => max_pool(x, a, out),
        Op::GlobalMaxPool => {
            let hw: usize = x.shape[2..].iter().product();
            x.data
                .chunks(hw.max(1))
                .map(|p| p.iter().copied().max().unwrap_or(0))
                .collect()
        }
        Op::Slice {
            starts,
            ends,
            steps,
        } => {
            let mut v = xv.view();
            for ax in 0..v.ndim() {
                let (s, e, st) = (starts[ax], ends[ax], steps[ax]);
                let sl = if st > 0 {
                    Slice::new(s as isize, Some(e.max(s) as isize), st as isize)
                } else {
                    let lo = (e + 1).max(0);
                    let hi = s + 1;
                    if hi <= lo {
                        Slice::new(0, Some(0), 1)
                    } else {
                        Slice::new(lo as isize, Some(hi as isize), st as isize)
                    }
                };
                v.slice_axis_inplace(Axis(ax), sl);
            }
            v.iter().copied().collect()
        }
        Op::Split { axis, splits } => {
            let mut outs = Vec::with_capacity(splits.len());
            let mut start = 0;
            for (k, &s) in splits.iter().enumerate() {
                let part = xv.slice_axis(Axis(*axis), Slice::from(start..start + s));
                let shape = g.shape(node.outputs[k]).to_vec();
                outs.push(QTensor {
                    shape,
                    data: part.iter().copied().collect(),
                });
                start += s;
            }
            return Ok(outs);
        }
        Op::Gather { axis } => {
            let idx = g
                .const_data(node.inputs[1])
                .ok_or_else(|| bad("Gather indices are not constant".into()))?;
            let dim = x.shape[*axis] as i64;
            let mut parts = Vec::with_capacity(idx.len());
            for &i in idx.iter() {
                let mut i = i as i64;
                if i < 0 {
                    i += dim;
                }
                if i < 0 || i >= dim {
                    return Err(bad(format!("gather index {i} out of range")));
                }
                parts.push(
                    xv.index_axis(Axis(*axis), i as usize)
                        .insert_axis(Axis(*axis)),
                );
            }
            ndarray::concatenate(Axis(*axis), &parts)
                .map_err(|e| bad(e.to_string()))?
                .iter()
                .copied()
                .collect()
        }
        Op::Pad { pads, mode, .. } => {
            let rank = x.shape.len();
            let mut outv = Vec::with_capacity(out.iter().product());
            let mut src = vec![0usize; rank];
            for (flat, _) in (0..out.iter().product::<usize>()).zip(0..) {
                let mut rem = flat;
                let mut inside = true;
                for ax in (0..rank).rev() {
                    let i = rem % out[ax];
                    rem /= out[ax];
                    let p = i as i64 - pads[ax].0 as i64;
                    let d = x.shape[ax] as i64;
                    let s = match mode {
                        PadMode::Constant => {
                            if p < 0 || p >= d {
                                inside = false;
                            }
                            p.clamp(0, d - 1)
                        }
                        PadMode::Edge => p.clamp(0, d - 1),
                        PadMode::Reflect => {
                            if d == 1 {
                                0
                            } else {
                                let period = 2 * (d - 1);
                                let m = p.rem_euclid(period);
                                if m >= d { period - m } else { m }
                            }
                        }
                    };
                    src[ax] = s as usize;
                }
                outv.push(if inside { xv[IxDyn(&src)] } else { pad_value });
            }
            outv
        }
        Op::Resize(_) | Op::Concat { .. } => {
            return Err(bad("pass-through kernel on a rescaling op".into()));
        }
        other => {
            return Err(bad(format!(
                "no pass-through form for {}",
                other.type_name()
            )));
        }
    };
    one(out, data)
}
