//! Float semantics of the "light" ops: layout, elementwise and small reductions.
//!
//! These are the definitions the float engine uses as they are, and what constant folding
//! evaluates. Heavy ops (Conv, Gemm, MatMul, pooling, Resize) live in the engine, which owns GEMM
//! and threading; [`eval_light`] returns `None` for them.

use ndarray::{ArrayD, Axis, IxDyn, Slice, Zip};

use crate::Op;
use crate::op::PadMode;

/// Applies a unary elementwise op to one value.
#[inline]
pub fn unary(op: &Op, x: f32) -> f32 {
    match *op {
        Op::Relu => x.max(0.0),
        Op::Clip { min, max } => x.max(min).min(max),
        Op::LeakyRelu { alpha } => {
            if x < 0.0 {
                alpha * x
            } else {
                x
            }
        }
        Op::Sigmoid => sigmoid(x),
        Op::HardSigmoid { alpha, beta } => (alpha * x + beta).clamp(0.0, 1.0),
        Op::HardSwish => x * (x / 6.0 + 0.5).clamp(0.0, 1.0),
        Op::Tanh => x.tanh(),
        Op::Exp => x.exp(),
        _ => x,
    }
}

#[inline]
pub fn sigmoid(x: f32) -> f32 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
}

/// numpy-broadcast binary op.
pub fn binary(
    a: &ArrayD<f32>,
    b: &ArrayD<f32>,
    f: impl Fn(f32, f32) -> f32 + Sync + Send,
) -> Result<ArrayD<f32>, String> {
    let shape = crate::shape::broadcast(a.shape(), b.shape()).ok_or_else(|| {
        format!(
            "shapes {:?} and {:?} do not broadcast",
            a.shape(),
            b.shape()
        )
    })?;
    let av = a.broadcast(IxDyn(&shape)).ok_or("broadcast failed")?;
    let bv = b.broadcast(IxDyn(&shape)).ok_or("broadcast failed")?;
    let mut out = ArrayD::<f32>::zeros(IxDyn(&shape));
    Zip::from(&mut out)
        .and(&av)
        .and(&bv)
        .for_each(|o, &x, &y| *o = f(x, y));
    Ok(out)
}

/// Evaluates a light op; `None` means the op is not light (the engine must run it).
pub fn eval_light(
    op: &Op,
    ins: &[&ArrayD<f32>],
    out_shapes: &[Vec<usize>],
) -> Option<Result<Vec<ArrayD<f32>>, String>> {
    let x = ins.first()?;
    let r = match op {
        Op::Relu
        | Op::Clip { .. }
        | Op::LeakyRelu { .. }
        | Op::Sigmoid
        | Op::HardSigmoid { .. }
        | Op::HardSwish
        | Op::Tanh
        | Op::Exp => Ok(vec![x.mapv(|v| unary(op, v))]),
        Op::Identity | Op::Dropout | Op::Cast => Ok(vec![(*x).clone()]),
        Op::Add => binary(x, ins.get(1)?, |a, b| a + b).map(|o| vec![o]),
        Op::Sub => binary(x, ins.get(1)?, |a, b| a - b).map(|o| vec![o]),
        Op::Mul => binary(x, ins.get(1)?, |a, b| a * b).map(|o| vec![o]),
        Op::Div => binary(x, ins.get(1)?, |a, b| a / b).map(|o| vec![o]),
        Op::PRelu => {
            binary(x, ins.get(1)?, |a, s| if a < 0.0 { a * s } else { a }).map(|o| vec![o])
        }
        Op::BatchNorm { epsilon } => batch_norm(x, ins, *epsilon).map(|o| vec![o]),
        Op::Reshape { .. } | Op::Flatten { .. } | Op::Squeeze { .. } | Op::Unsqueeze { .. } => {
            let shape = out_shapes.first()?;
            x.as_standard_layout()
                .into_owned()
                .into_shape_with_order(IxDyn(shape))
                .map(|o| vec![o])
                .map_err(|e| e.to_string())
        }
        Op::Transpose { perm } => Ok(vec![
            x.view()
                .permuted_axes(IxDyn(perm))
                .as_standard_layout()
                .into_owned(),
        ]),
        Op::Concat { axis } => {
            let views: Vec<_> = ins.iter().map(|a| a.view()).collect();
            // ndarray's concatenate returns the concatenation axis outermost in memory; every
            // consumer gets row-major tensors.
            ndarray::concatenate(Axis(*axis), &views)
                .map(|o| vec![o.as_standard_layout().into_owned()])
                .map_err(|e| e.to_string())
        }
        Op::Split { axis, splits } => {
            let mut outs = Vec::with_capacity(splits.len());
            let mut start = 0;
            for &s in splits {
                outs.push(
                    x.slice_axis(Axis(*axis), Slice::from(start..start + s))
                        .to_owned(),
                );
                start += s;
            }
            Ok(outs)
        }
        Op::Slice {
            starts,
            ends,
            steps,
        } => {
            let mut v = x.view();
            for ax in 0..x.ndim() {
                let (s, e, st) = (starts[ax], ends[ax], steps[ax]);
                let slice = if st > 0 {
                    Slice::new(s as isize, Some(e.max(s) as isize), st as isize)
                } else {
                    // Negative steps: ndarray takes the range first, then steps from its end.
                    let lo = (e + 1).max(0);
                    let hi = s + 1;
                    if hi <= lo {
                        Slice::new(0, Some(0), 1)
                    } else {
                        Slice::new(lo as isize, Some(hi as isize), st as isize)
                    }
                };
                v.slice_axis_inplace(Axis(ax), slice);
            }
            Ok(vec![v.to_owned()])
        }
        Op::Gather { axis } => {
            let idx = ins.get(1)?;
            let dim = x.shape()[*axis] as i64;
            let mut parts = Vec::with_capacity(idx.len());
            for &i in idx.iter() {
                let mut i = i as i64;
                if i < 0 {
                    i += dim;
                }
                if i < 0 || i >= dim {
                    return Some(Err(format!("gather index {i} out of range for dim {dim}")));
                }
                parts.push(
                    x.index_axis(Axis(*axis), i as usize)
                        .insert_axis(Axis(*axis)),
                );
            }
            let cat = match ndarray::concatenate(Axis(*axis), &parts) {
                Ok(c) => c,
                Err(e) => return Some(Err(e.to_string())),
            };
            let shape = out_shapes.first()?;
            cat.as_standard_layout()
                .into_owned()
                .into_shape_with_order(IxDyn(shape))
                .map(|o| vec![o])
                .map_err(|e| e.to_string())
        }
        Op::Shape => Ok(vec![
            ArrayD::from_shape_vec(
                IxDyn(&[x.ndim()]),
                x.shape().iter().map(|&d| d as f32).collect(),
            )
            .ok()?,
        ]),
        Op::Pad { pads, mode, value } => pad(x, pads, *mode, *value).map(|o| vec![o]),
        Op::Softmax { axis, legacy } => Ok(vec![softmax(x, *axis, *legacy)]),
        Op::ReduceMean { axes, .. } => {
            let mut cur = (*x).clone();
            for &ax in axes.iter().rev() {
                cur = cur.mean_axis(Axis(ax))?;
            }
            let shape = out_shapes.first()?;
            cur.into_shape_with_order(IxDyn(shape))
                .map(|o| vec![o])
                .map_err(|e| e.to_string())
        }
        Op::GlobalAveragePool | Op::GlobalMaxPool => {
            let s = x.shape();
            let (n, c) = (s[0], s[1]);
            let hw: usize = s[2..].iter().product();
            let xs = x.as_standard_layout();
            let flat = xs.as_slice()?;
            let mut out = Vec::with_capacity(n * c);
            for plane in flat.chunks_exact(hw.max(1)).take(n * c) {
                out.push(if matches!(op, Op::GlobalMaxPool) {
                    plane.iter().copied().fold(f32::NEG_INFINITY, f32::max)
                } else {
                    (plane.iter().map(|&v| v as f64).sum::<f64>() / hw as f64) as f32
                });
            }
            ArrayD::from_shape_vec(IxDyn(out_shapes.first()?), out)
                .map(|o| vec![o])
                .map_err(|e| e.to_string())
        }
        _ => return None,
    };
    Some(r)
}

fn batch_norm(x: &ArrayD<f32>, ins: &[&ArrayD<f32>], eps: f32) -> Result<ArrayD<f32>, String> {
    if ins.len() < 5 || x.ndim() < 2 {
        return Err("BatchNormalization needs x, scale, bias, mean, var".into());
    }
    let c = x.shape()[1];
    let get = |i: usize| -> Result<Vec<f32>, String> {
        let v: Vec<f32> = ins[i].iter().copied().collect();
        if v.len() != c {
            Err(format!(
                "BatchNormalization parameter {i} has {} values for {c} channels",
                v.len()
            ))
        } else {
            Ok(v)
        }
    };
    let (scale, bias, mean, var) = (get(1)?, get(2)?, get(3)?, get(4)?);
    let mut out = x.as_standard_layout().into_owned();
    let inner: usize = x.shape()[2..].iter().product();
    if let Some(s) = out.as_slice_mut() {
        for (i, chunk) in s.chunks_mut(inner.max(1)).enumerate() {
            let ch = i % c;
            let a = scale[ch] / (var[ch] + eps).sqrt();
            let b = bias[ch] - mean[ch] * a;
            chunk.iter_mut().for_each(|v| *v = *v * a + b);
        }
    }
    Ok(out)
}

fn softmax(x: &ArrayD<f32>, axis: usize, legacy: bool) -> ArrayD<f32> {
    let shape = x.shape().to_vec();
    let mut out = x.as_standard_layout().into_owned();
    if legacy {
        // Flatten to [outer, inner] at `axis` and normalise each row.
        let inner: usize = shape[axis..].iter().product();
        if let Some(s) = out.as_slice_mut() {
            for row in s.chunks_mut(inner.max(1)) {
                softmax_row(row);
            }
        }
    } else {
        for mut lane in out.lanes_mut(Axis(axis)) {
            let mut v: Vec<f32> = lane.iter().copied().collect();
            softmax_row(&mut v);
            lane.iter_mut().zip(v).for_each(|(o, n)| *o = n);
        }
    }
    out
}

fn softmax_row(row: &mut [f32]) {
    let m = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut sum = 0.0f32;
    for v in row.iter_mut() {
        *v = (*v - m).exp();
        sum += *v;
    }
    row.iter_mut().for_each(|v| *v /= sum);
}

fn pad(
    x: &ArrayD<f32>,
    pads: &[(usize, usize)],
    mode: PadMode,
    value: f32,
) -> Result<ArrayD<f32>, String> {
    let out_shape: Vec<usize> = x
        .shape()
        .iter()
        .zip(pads)
        .map(|(d, (a, b))| d + a + b)
        .collect();
    let mut out = ArrayD::from_elem(IxDyn(&out_shape), value);
    let rank = x.ndim();
    let mut src = vec![0usize; rank];
    for (idx, o) in out.indexed_iter_mut() {
        let mut inside = true;
        for ax in 0..rank {
            let p = idx[ax] as i64 - pads[ax].0 as i64;
            let d = x.shape()[ax] as i64;
            let s = match mode {
                PadMode::Constant => {
                    if p < 0 || p >= d {
                        inside = false;
                        break;
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
            src[ax] = s as usize;
        }
        if inside {
            *o = x[IxDyn(&src)];
        }
    }
    Ok(out)
}
