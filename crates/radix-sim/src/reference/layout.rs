//! Data movement, generic over the element type: the integer PassThrough kernel (codes move
//! unchanged) and the float CPU ops share these definitions. Every function walks the output
//! row-major and computes, for each output element, the multi-index of the element it copies.

use ndarray::ArrayD;
use radix_ir::Op;
use radix_ir::op::PadMode;
use radix_ir::shape;

use super::index::{PoolGeom, check_len, numel, ravel, strides, unravel};

/// A borrowed tensor: shape and row-major data.
#[derive(Clone, Copy, Debug)]
pub struct View<'a, T> {
    pub shape: &'a [usize],
    pub data: &'a [T],
}

/// Reshape, Flatten, Squeeze, Unsqueeze, Identity, Dropout, Cast: the same data, a new shape.
/// The output shape must be the one `op` gives.
pub fn reshape<T: Copy>(op: &Op, x: View<'_, T>, out: &[usize]) -> Result<Vec<T>, String> {
    let want = shape::infer(op, &[x.shape])?;
    if want.first().map(Vec::as_slice) != Some(out) {
        return Err(format!(
            "output shape {out:?} differs from the {want:?} the op gives for input {:?}",
            x.shape
        ));
    }
    check_len("input", x.shape, x.data.len())?;
    Ok(x.data.to_vec())
}

/// Transpose: `out[i_0, .., i_r] = x[j]` with `j[perm[a]] = i_a`.
pub fn transpose<T: Copy>(x: View<'_, T>, perm: &[usize], out: &[usize]) -> Result<Vec<T>, String> {
    check_len("input", x.shape, x.data.len())?;
    let mut sorted = perm.to_vec();
    sorted.sort_unstable();
    if sorted != (0..x.shape.len()).collect::<Vec<_>>() {
        return Err(format!(
            "perm {perm:?} is not a permutation of the axes of {:?}",
            x.shape
        ));
    }
    let want: Vec<usize> = perm.iter().map(|&p| x.shape[p]).collect();
    if want != out {
        return Err(format!(
            "output shape {out:?} differs from the transposed shape {want:?}"
        ));
    }
    let xs = strides(x.shape);
    let mut oi = vec![0; out.len()];
    let mut xi = vec![0; out.len()];
    let mut y = Vec::with_capacity(numel(out));
    for flat in 0..numel(out) {
        unravel(flat, out, &mut oi);
        for (a, &p) in perm.iter().enumerate() {
            xi[p] = oi[a];
        }
        y.push(x.data[ravel(&xi, &xs)]);
    }
    Ok(y)
}

/// Slice: along each axis, output index `i` reads input index `start + i * step`.
pub fn slice<T: Copy>(
    x: View<'_, T>,
    starts: &[i64],
    ends: &[i64],
    steps: &[i64],
    out: &[usize],
) -> Result<Vec<T>, String> {
    check_len("input", x.shape, x.data.len())?;
    let r = x.shape.len();
    if starts.len() != r || ends.len() != r || steps.len() != r || out.len() != r {
        return Err(format!(
            "slice parameters must cover the {r} axes of {:?}",
            x.shape
        ));
    }
    for ax in 0..r {
        let (s, e, st) = (starts[ax] as i128, ends[ax] as i128, steps[ax] as i128);
        let len = match st {
            0 => return Err("slice step 0".into()),
            st if st > 0 => ((e - s).max(0) + st - 1) / st,
            st => ((s - e).max(0) - st - 1) / -st,
        };
        if len != out[ax] as i128 {
            return Err(format!(
                "axis {ax}: slice {s}..{e} step {st} has {len} elements, the output {}",
                out[ax]
            ));
        }
        // First and last index read must lie inside the input.
        if len > 0 {
            let last = s + (len - 1) * st;
            let d = x.shape[ax] as i128;
            if s < 0 || s >= d || last < 0 || last >= d {
                return Err(format!(
                    "axis {ax}: slice {s}..{e} step {st} reads outside dimension {d}"
                ));
            }
        }
    }
    let xs = strides(x.shape);
    let mut oi = vec![0; r];
    let mut xi = vec![0; r];
    let mut y = Vec::with_capacity(numel(out));
    for flat in 0..numel(out) {
        unravel(flat, out, &mut oi);
        for ax in 0..r {
            xi[ax] = (starts[ax] as i128 + oi[ax] as i128 * steps[ax] as i128) as usize;
        }
        y.push(x.data[ravel(&xi, &xs)]);
    }
    Ok(y)
}

/// Split along `axis` into consecutive pieces of `splits[k]` elements.
pub fn split<T: Copy>(
    x: View<'_, T>,
    axis: usize,
    splits: &[usize],
    outs: &[Vec<usize>],
) -> Result<Vec<Vec<T>>, String> {
    check_len("input", x.shape, x.data.len())?;
    if axis >= x.shape.len() {
        return Err(format!("split axis {axis} out of range for {:?}", x.shape));
    }
    if splits.len() != outs.len() {
        return Err(format!(
            "{} split sizes for {} outputs",
            splits.len(),
            outs.len()
        ));
    }
    let total = splits.iter().try_fold(0usize, |a, &s| a.checked_add(s));
    if total != Some(x.shape[axis]) {
        return Err(format!(
            "split sizes {splits:?} do not add up to axis {axis} of {:?}",
            x.shape
        ));
    }
    let xs = strides(x.shape);
    let mut res = Vec::with_capacity(outs.len());
    let mut offset = 0;
    for (k, out) in outs.iter().enumerate() {
        let mut want = x.shape.to_vec();
        want[axis] = splits[k];
        if &want != out {
            return Err(format!(
                "output {k} has shape {out:?}, the split gives {want:?}"
            ));
        }
        let mut oi = vec![0; out.len()];
        let mut y = Vec::with_capacity(numel(out));
        for flat in 0..numel(out) {
            unravel(flat, out, &mut oi);
            oi[axis] += offset;
            y.push(x.data[ravel(&oi, &xs)]);
        }
        res.push(y);
        offset += splits[k];
    }
    Ok(res)
}

/// Gather along `axis` with constant indices (float-stored integers; negative ones count from
/// the end): `out[a.., i.., b..] = x[a.., indices[i..], b..]`.
pub fn gather<T: Copy>(
    x: View<'_, T>,
    axis: usize,
    indices: &ArrayD<f32>,
    out: &[usize],
) -> Result<Vec<T>, String> {
    check_len("input", x.shape, x.data.len())?;
    if axis >= x.shape.len() {
        return Err(format!("gather axis {axis} out of range for {:?}", x.shape));
    }
    let dim = x.shape[axis] as i64;
    let mut idx = Vec::with_capacity(indices.len());
    for &f in indices.iter() {
        if !f.is_finite() || f.fract() != 0.0 {
            return Err(format!("gather index {f} is not an integer"));
        }
        let mut i = f as i64;
        if i < 0 {
            i += dim;
        }
        if i < 0 || i >= dim {
            return Err(format!("gather index {f} out of range for dimension {dim}"));
        }
        idx.push(i as usize);
    }
    let ir = indices.ndim();
    let mut want = x.shape[..axis].to_vec();
    want.extend_from_slice(indices.shape());
    want.extend_from_slice(&x.shape[axis + 1..]);
    if want != out {
        return Err(format!(
            "output shape {out:?} differs from the gathered shape {want:?}"
        ));
    }
    let is = strides(indices.shape());
    let xs = strides(x.shape);
    let mut oi = vec![0; out.len()];
    let mut xi = vec![0; x.shape.len()];
    let mut y = Vec::with_capacity(numel(out));
    for flat in 0..numel(out) {
        unravel(flat, out, &mut oi);
        xi[..axis].copy_from_slice(&oi[..axis]);
        xi[axis] = idx[ravel(&oi[axis..axis + ir], &is)];
        xi[axis + 1..].copy_from_slice(&oi[axis + ir..]);
        y.push(x.data[ravel(&xi, &xs)]);
    }
    Ok(y)
}

/// Pad with `(before, after)` per axis. Constant: cells outside the input take `value`; Edge:
/// the nearest input cell; Reflect: mirrored without repeating the border (period `2(d-1)`).
pub fn pad<T: Copy>(
    x: View<'_, T>,
    pads: &[(usize, usize)],
    mode: PadMode,
    value: T,
    out: &[usize],
) -> Result<Vec<T>, String> {
    check_len("input", x.shape, x.data.len())?;
    let r = x.shape.len();
    if pads.len() != r {
        return Err(format!("{} pads for rank {r}", pads.len()));
    }
    for ax in 0..r {
        let want = x.shape[ax]
            .checked_add(pads[ax].0)
            .and_then(|v| v.checked_add(pads[ax].1));
        if out.len() != r || want != Some(out[ax]) {
            return Err(format!(
                "output shape {out:?} differs from input {:?} padded by {pads:?}",
                x.shape
            ));
        }
        if mode != PadMode::Constant && x.shape[ax] == 0 && out[ax] > 0 {
            return Err(format!("cannot {mode:?}-pad an empty axis {ax}"));
        }
    }
    let xs = strides(x.shape);
    let mut oi = vec![0; r];
    let mut xi = vec![0; r];
    let mut y = Vec::with_capacity(numel(out));
    for flat in 0..numel(out) {
        unravel(flat, out, &mut oi);
        let mut inside = true;
        for ax in 0..r {
            let p = oi[ax] as i64 - pads[ax].0 as i64;
            let d = x.shape[ax] as i64;
            let s = match mode {
                PadMode::Constant => {
                    if p < 0 || p >= d {
                        inside = false;
                    }
                    p
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
            xi[ax] = s.max(0) as usize;
        }
        y.push(if inside {
            x.data[ravel(&xi, &xs)]
        } else {
            value
        });
    }
    Ok(y)
}

/// Concat along `axis`.
pub fn concat<T: Copy>(ins: &[View<'_, T>], axis: usize, out: &[usize]) -> Result<Vec<T>, String> {
    if axis >= out.len() {
        return Err(format!(
            "concat axis {axis} out of range for output {out:?}"
        ));
    }
    let mut starts = Vec::with_capacity(ins.len());
    let mut total = 0usize;
    for (k, x) in ins.iter().enumerate() {
        let same =
            x.shape.len() == out.len() && (0..out.len()).all(|a| a == axis || x.shape[a] == out[a]);
        if !same {
            return Err(format!(
                "input {k} of shape {:?} cannot be concatenated into {out:?} on axis {axis}",
                x.shape
            ));
        }
        check_len(&format!("input {k}"), x.shape, x.data.len())?;
        starts.push(total);
        total += x.shape[axis];
    }
    if total != out[axis] {
        return Err(format!(
            "inputs add up to {total} on axis {axis}, the output has {}",
            out[axis]
        ));
    }
    let in_strides: Vec<Vec<usize>> = ins.iter().map(|x| strides(x.shape)).collect();
    let mut oi = vec![0; out.len()];
    let mut y = Vec::with_capacity(numel(out));
    for flat in 0..numel(out) {
        unravel(flat, out, &mut oi);
        let a = oi[axis];
        // The input whose range on the axis holds `a`.
        let mut k = 0;
        for (j, &s) in starts.iter().enumerate() {
            if s <= a && a < s + ins[j].shape[axis] {
                k = j;
            }
        }
        oi[axis] = a - starts[k];
        y.push(ins[k].data[ravel(&oi, &in_strides[k])]);
    }
    Ok(y)
}

/// MaxPool: the largest in-input cell of each window (padding never wins).
pub fn max_pool<T: Copy + PartialOrd>(g: &PoolGeom, x: &[T]) -> Result<Vec<T>, String> {
    check_len("input", &g.x, x.len())?;
    let mut cells = Vec::new();
    let mut y = Vec::with_capacity(g.out_len());
    for flat in 0..g.out_len() {
        g.cells(flat, &mut cells);
        let mut best: Option<T> = None;
        for &c in &cells {
            let v = x[c];
            if best.is_none_or(|b| v > b) {
                best = Some(v);
            }
        }
        y.push(best.ok_or_else(|| {
            format!("pooling window of output element {flat} holds no input cell")
        })?);
    }
    Ok(y)
}

/// GlobalMaxPool: the largest value of each `[n, c]` plane.
pub fn global_max<T: Copy + PartialOrd>(x: View<'_, T>, out: &[usize]) -> Result<Vec<T>, String> {
    check_len("input", x.shape, x.data.len())?;
    let planes = global_planes(x.shape, out)?;
    let hw = numel(&x.shape[2..]);
    if hw == 0 {
        return Err("global pooling of an empty plane".into());
    }
    let mut y = Vec::with_capacity(planes);
    for p in 0..planes {
        let mut best = x.data[p * hw];
        for i in 1..hw {
            let v = x.data[p * hw + i];
            if v > best {
                best = v;
            }
        }
        y.push(best);
    }
    Ok(y)
}

/// Checks the shapes of a global pooling (`[N, C, ...]` to `[N, C, 1, ...]`); returns `N * C`.
pub fn global_planes(x: &[usize], out: &[usize]) -> Result<usize, String> {
    if x.len() < 3 {
        return Err(format!("global pooling needs rank >= 3, got {x:?}"));
    }
    let mut want = x.to_vec();
    want[2..].iter_mut().for_each(|d| *d = 1);
    if want != out {
        return Err(format!(
            "output shape {out:?} differs from the pooled shape {want:?}"
        ));
    }
    Ok(x[0] * x[1])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v<'a>(shape: &'a [usize], data: &'a [i32]) -> View<'a, i32> {
        View { shape, data }
    }

    #[test]
    fn slice_negative_step() {
        // x = [0..6), slice 4..0 step -2 reads 4, 2.
        let d: Vec<i32> = (0..6).collect();
        let y = slice(v(&[6], &d), &[4], &[0], &[-2], &[2]);
        assert_eq!(y, Ok(vec![4, 2]));
        assert!(slice(v(&[6], &d), &[4], &[0], &[-2], &[3]).is_err());
    }

    #[test]
    fn pad_modes() {
        let d = [1, 2, 3];
        assert_eq!(
            pad(v(&[3], &d), &[(2, 1)], PadMode::Constant, 9, &[6]),
            Ok(vec![9, 9, 1, 2, 3, 9])
        );
        assert_eq!(
            pad(v(&[3], &d), &[(2, 1)], PadMode::Edge, 9, &[6]),
            Ok(vec![1, 1, 1, 2, 3, 3])
        );
        assert_eq!(
            pad(v(&[3], &d), &[(2, 2)], PadMode::Reflect, 9, &[7]),
            Ok(vec![3, 2, 1, 2, 3, 2, 1])
        );
    }

    #[test]
    fn concat_and_split_are_inverse() {
        let a = [1, 2, 3, 4]; // [2, 2]
        let b = [5, 6]; // [2, 1]
        let y = concat(&[v(&[2, 2], &a), v(&[2, 1], &b)], 1, &[2, 3]);
        assert_eq!(y, Ok(vec![1, 2, 5, 3, 4, 6]));
        let y = y.unwrap_or_default();
        let parts = split(v(&[2, 3], &y), 1, &[2, 1], &[vec![2, 2], vec![2, 1]]);
        assert_eq!(parts, Ok(vec![a.to_vec(), b.to_vec()]));
    }

    #[test]
    fn gather_negative_index() {
        let d: Vec<i32> = (0..6).collect(); // [2, 3]
        let idx =
            ArrayD::from_shape_vec(vec![2], vec![-1.0f32, 0.0]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            gather(v(&[2, 3], &d), 1, &idx, &[2, 2]),
            Ok(vec![2, 0, 5, 3])
        );
        let bad = ArrayD::from_shape_vec(vec![1], vec![3.0f32]).unwrap_or_else(|e| panic!("{e}"));
        assert!(gather(v(&[2, 3], &d), 1, &bad, &[2, 1]).is_err());
    }
}
