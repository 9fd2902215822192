//! Float semantics of the "light" ops: layout, elementwise and small reductions.
//!
//! These are the definitions the float engine uses as they are, and what constant folding
//! evaluates. Heavy ops (Conv, Gemm, MatMul, pooling, Resize) live in the engine, which owns GEMM
//! and threading; [`eval_light`] returns `None` for them.

use ndarray::{ArrayD, Axis, IxDyn, Slice, Zip};

use crate::Op;
use crate::op::{
    PadMode, PoolNdAttrs, ReduceKind, ResizeNdAttrs, ResizeNdCoord, ResizeNdMode, ResizeNearest,
};

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
        Op::Elu { alpha } => {
            if x < 0.0 {
                alpha * x.exp_m1()
            } else {
                x
            }
        }
        Op::Selu { alpha, gamma } => {
            if x > 0.0 {
                gamma * x
            } else {
                gamma * alpha * x.exp_m1()
            }
        }
        Op::Softplus => {
            // ln(1 + e^x) without overflow for large x.
            if x > 0.0 {
                x + (-x).exp().ln_1p()
            } else {
                x.exp().ln_1p()
            }
        }
        Op::Gelu { tanh: false } => 0.5 * x * (1.0 + erf(x * std::f32::consts::FRAC_1_SQRT_2)),
        Op::Gelu { tanh: true } => {
            let k = (2.0 / std::f32::consts::PI).sqrt();
            0.5 * x * (1.0 + (k * (x + 0.044715 * x * x * x)).tanh())
        }
        Op::Erf => erf(x),
        Op::Sqrt => x.sqrt(),
        Op::Reciprocal => 1.0 / x,
        Op::Abs => x.abs(),
        Op::Neg => -x,
        Op::Log => x.ln(),
        Op::Floor => x.floor(),
        Op::Ceil => x.ceil(),
        _ => x,
    }
}

/// The error function, to f32 precision: the Maclaurin series below |x| = 0.5 (relative
/// error < 1e-15), else `1 - erfc` with the Chebyshev fit of *Numerical Recipes* `erfcc`
/// (relative error of erfc < 1.2e-7), in f64.
pub fn erf(x: f32) -> f32 {
    let x = x as f64;
    let z = x.abs();
    if z < 0.5 {
        // 2/√π Σ (-1)^n x^(2n+1) / (n! (2n+1))
        let (mut term, mut sum, x2) = (x, x, x * x);
        for n in 1..16 {
            term *= -x2 / n as f64;
            sum += term / (2 * n + 1) as f64;
        }
        return (sum * std::f64::consts::FRAC_2_SQRT_PI) as f32;
    }
    let t = 1.0 / (1.0 + 0.5 * z);
    let poly = -z * z - 1.265_512_23
        + t * (1.000_023_68
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06
                        + t * (0.278_868_07
                            + t * (-1.135_203_98
                                + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77))))))));
    let erfc = t * poly.exp();
    (if x >= 0.0 { 1.0 - erfc } else { erfc - 1.0 }) as f32
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
        op if op.is_unary_elementwise() => Ok(vec![x.mapv(|v| unary(op, v))]),
        Op::Sum | Op::Mean | Op::Max | Op::Min => variadic(op, ins).map(|o| vec![o]),
        Op::Pow => binary(x, ins.get(1)?, f32::powf).map(|o| vec![o]),
        Op::Lrn {
            size,
            alpha,
            beta,
            bias,
        } => lrn(x, *size, *alpha, *beta, *bias).map(|o| vec![o]),
        Op::ReduceMax { axes, .. } => {
            reduce(x, axes, out_shapes.first()?, f32::NEG_INFINITY, f32::max).map(|o| vec![o])
        }
        Op::ReduceMin { axes, .. } => {
            reduce(x, axes, out_shapes.first()?, f32::INFINITY, f32::min).map(|o| vec![o])
        }
        Op::ReduceSum { axes, .. } => {
            reduce(x, axes, out_shapes.first()?, 0.0, |a, b| a + b).map(|o| vec![o])
        }
        Op::ArgMax {
            axis,
            select_last_index,
            ..
        } => argmax(x, *axis, *select_last_index, out_shapes.first()?).map(|o| vec![o]),
        Op::DepthToSpace { blocksize, crd } => depth_to_space(x, *blocksize, *crd).map(|o| vec![o]),
        Op::SpaceToDepth { blocksize } => space_to_depth(x, *blocksize).map(|o| vec![o]),
        Op::InstanceNorm { epsilon } => instance_norm(x, ins, *epsilon).map(|o| vec![o]),
        Op::LayerNorm { axis, epsilon } => {
            layer_norm(x, ins, *axis, *epsilon).map(|(y, _, _)| vec![y])
        }
        Op::LayerNormStats { axis, epsilon } => {
            layer_norm(x, ins, *axis, *epsilon).and_then(|(y, mean, inv)| {
                let stats = out_shapes
                    .get(1)
                    .ok_or("LayerNormalization: no shape for Mean")?;
                let mean = ArrayD::from_shape_vec(IxDyn(stats), mean).map_err(|e| e.to_string())?;
                let inv = ArrayD::from_shape_vec(IxDyn(stats), inv).map_err(|e| e.to_string())?;
                Ok(vec![y, mean, inv])
            })
        }
        Op::Reduce { kind, axes, .. } => {
            reduce_f64(x, axes, out_shapes.first()?, *kind).map(|o| vec![o])
        }
        Op::ResizeNd(a) => resize_nd(x, a).map(|o| vec![o]),
        Op::PoolNd(a) => pool_nd(x, a, out_shapes),
        Op::BatchNormTrain { epsilon, momentum } => batch_norm_train(x, ins, *epsilon, *momentum),
        Op::Tile { repeats } => tile(x, repeats).map(|o| vec![o]),
        Op::Expand { shape } => x
            .broadcast(IxDyn(shape))
            .map(|v| vec![v.to_owned()])
            .ok_or_else(|| format!("cannot expand {:?} to {shape:?}", x.shape())),
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

/// Sum / Mean / Max / Min of every input, numpy-broadcast.
fn variadic(op: &Op, ins: &[&ArrayD<f32>]) -> Result<ArrayD<f32>, String> {
    let f: fn(f32, f32) -> f32 = match op {
        Op::Max => f32::max,
        Op::Min => f32::min,
        _ => |a, b| a + b,
    };
    let (first, rest) = ins.split_first().ok_or("no inputs")?;
    let mut acc = (*first).clone();
    for b in rest {
        acc = binary(&acc, b, f)?;
    }
    if matches!(op, Op::Mean) {
        let n = ins.len() as f32;
        acc.mapv_inplace(|v| v / n);
    }
    Ok(acc)
}

/// Folds `f` over `axes` (increasing; empty: identity) and gives the result `out_shape`.
fn reduce(
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

fn argmax(
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

/// Reshape + transpose + reshape, the way ONNX defines DepthToSpace / SpaceToDepth.
fn shuffle(
    x: &ArrayD<f32>,
    split: &[usize],
    perm: &[usize],
    out: &[usize],
) -> Result<ArrayD<f32>, String> {
    x.as_standard_layout()
        .into_owned()
        .into_shape_with_order(IxDyn(split))
        .map_err(|e| e.to_string())?
        .permuted_axes(IxDyn(perm))
        .as_standard_layout()
        .into_owned()
        .into_shape_with_order(IxDyn(out))
        .map_err(|e| e.to_string())
}

fn depth_to_space(x: &ArrayD<f32>, b: usize, crd: bool) -> Result<ArrayD<f32>, String> {
    let &[n, c, h, w] = x.shape() else {
        return Err(format!("DepthToSpace needs NCHW, got {:?}", x.shape()));
    };
    if b == 0 || !c.is_multiple_of(b * b) {
        return Err(format!(
            "{c} channels are not a multiple of blocksize² ({b}²)"
        ));
    }
    let oc = c / (b * b);
    let out = [n, oc, h * b, w * b];
    if crd {
        shuffle(x, &[n, oc, b, b, h, w], &[0, 1, 4, 2, 5, 3], &out)
    } else {
        shuffle(x, &[n, b, b, oc, h, w], &[0, 3, 4, 1, 5, 2], &out)
    }
}

fn space_to_depth(x: &ArrayD<f32>, b: usize) -> Result<ArrayD<f32>, String> {
    let &[n, c, h, w] = x.shape() else {
        return Err(format!("SpaceToDepth needs NCHW, got {:?}", x.shape()));
    };
    if b == 0 || !h.is_multiple_of(b) || !w.is_multiple_of(b) {
        return Err(format!("blocksize {b} does not divide {h}x{w}"));
    }
    shuffle(
        x,
        &[n, c, h / b, b, w / b, b],
        &[0, 3, 5, 1, 2, 4],
        &[n, c * b * b, h / b, w / b],
    )
}

fn lrn(
    x: &ArrayD<f32>,
    size: usize,
    alpha: f32,
    beta: f32,
    bias: f32,
) -> Result<ArrayD<f32>, String> {
    if x.ndim() < 2 || size == 0 {
        return Err(format!(
            "LRN needs rank >= 2 and size >= 1, got {:?}",
            x.shape()
        ));
    }
    let c = x.shape()[1];
    let inner: usize = x.shape()[2..].iter().product();
    let xs = x.as_standard_layout();
    let src = xs.as_slice().ok_or("non-contiguous input")?;
    let mut out = vec![0f32; src.len()];
    let (lo, hi) = ((size - 1) / 2, (size - 1).div_ceil(2));
    for (plane, dst) in src
        .chunks(c * inner.max(1))
        .zip(out.chunks_mut(c * inner.max(1)))
    {
        for ch in 0..c {
            let first = ch.saturating_sub(lo);
            let last = (ch + hi).min(c - 1);
            for j in 0..inner {
                let sq: f64 = (first..=last)
                    .map(|i| {
                        let v = plane[i * inner + j] as f64;
                        v * v
                    })
                    .sum();
                let d = (bias as f64 + alpha as f64 / size as f64 * sq).powf(beta as f64);
                dst[ch * inner + j] = (plane[ch * inner + j] as f64 / d) as f32;
            }
        }
    }
    ArrayD::from_shape_vec(IxDyn(x.shape()), out).map_err(|e| e.to_string())
}

/// Normalises each row of `data` (length `inner`) to zero mean and unit variance; returns
/// each row's mean and 1 / √(var + ε).
fn normalize_rows(data: &mut [f32], inner: usize, eps: f32) -> (Vec<f32>, Vec<f32>) {
    let (mut means, mut invs) = (Vec::new(), Vec::new());
    for row in data.chunks_mut(inner.max(1)) {
        let n = row.len() as f64;
        let mean = row.iter().map(|&v| v as f64).sum::<f64>() / n;
        let var = row.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / n;
        let inv = 1.0 / (var + eps as f64).sqrt();
        row.iter_mut()
            .for_each(|v| *v = ((*v as f64 - mean) * inv) as f32);
        means.push(mean as f32);
        invs.push(inv as f32);
    }
    (means, invs)
}

fn instance_norm(x: &ArrayD<f32>, ins: &[&ArrayD<f32>], eps: f32) -> Result<ArrayD<f32>, String> {
    if ins.len() < 3 || x.ndim() < 3 {
        return Err("InstanceNormalization needs x (rank >= 3), scale and bias".into());
    }
    let c = x.shape()[1];
    let (scale, bias) = (ins[1], ins[2]);
    if scale.len() != c || bias.len() != c {
        return Err(format!(
            "scale / bias have {} / {} values for {c} channels",
            scale.len(),
            bias.len()
        ));
    }
    let (scale, bias): (Vec<f32>, Vec<f32>) = (
        scale.iter().copied().collect(),
        bias.iter().copied().collect(),
    );
    let inner: usize = x.shape()[2..].iter().product();
    let mut out = x.as_standard_layout().into_owned();
    let s = out.as_slice_mut().ok_or("non-contiguous input")?;
    normalize_rows(s, inner, eps);
    for (i, row) in s.chunks_mut(inner.max(1)).enumerate() {
        let ch = i % c;
        row.iter_mut().for_each(|v| *v = *v * scale[ch] + bias[ch]);
    }
    Ok(out)
}

/// LayerNormalization: the output, and per normalised group its mean and 1 / √(var + ε).
type LayerNormOut = (ArrayD<f32>, Vec<f32>, Vec<f32>);

fn layer_norm(
    x: &ArrayD<f32>,
    ins: &[&ArrayD<f32>],
    axis: usize,
    eps: f32,
) -> Result<LayerNormOut, String> {
    if ins.len() < 2 || axis >= x.ndim() {
        return Err(format!(
            "LayerNormalization needs x, scale and an axis below rank {}",
            x.ndim()
        ));
    }
    let norm_shape = &x.shape()[axis..];
    let flat = |a: &ArrayD<f32>, what: &str| -> Result<Vec<f32>, String> {
        a.broadcast(IxDyn(norm_shape))
            .map(|v| v.iter().copied().collect())
            .ok_or_else(|| {
                format!(
                    "{what} of shape {:?} does not broadcast to {norm_shape:?}",
                    a.shape()
                )
            })
    };
    let scale = flat(ins[1], "scale")?;
    let bias = match ins.get(2) {
        Some(b) => flat(b, "bias")?,
        None => vec![0.0; scale.len()],
    };
    let inner = scale.len();
    let mut out = x.as_standard_layout().into_owned();
    let s = out.as_slice_mut().ok_or("non-contiguous input")?;
    let (mean, inv) = normalize_rows(s, inner, eps);
    for row in s.chunks_mut(inner.max(1)) {
        for ((v, &g), &b) in row.iter_mut().zip(&scale).zip(&bias) {
            *v = *v * g + b;
        }
    }
    Ok((out, mean, inv))
}

fn tile(x: &ArrayD<f32>, repeats: &[usize]) -> Result<ArrayD<f32>, String> {
    if repeats.len() != x.ndim() {
        return Err(format!("{} repeats for rank {}", repeats.len(), x.ndim()));
    }
    let mut cur = x.clone();
    for (ax, &r) in repeats.iter().enumerate() {
        if r != 1 {
            let views = vec![cur.view(); r];
            cur = ndarray::concatenate(Axis(ax), &views).map_err(|e| e.to_string())?;
        }
    }
    Ok(cur)
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
fn reduce_f64(
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

/// Interpolation taps of one output index along one axis: input indices (already clamped to
/// the input) and their weights; `None` is an extrapolated output (tf_crop_and_resize).
type AxisTaps = Option<(Vec<usize>, Vec<f64>)>;

/// The taps of every output index along one axis, as the ONNX reference's
/// `_interpolate_1d_along_axis` computes them.
fn resize_axis(a: &ResizeNdAttrs, axis: usize, len_in: usize) -> Result<Vec<AxisTaps>, String> {
    let len_out = a.out_shape[axis];
    let scale = a.scales[axis];
    if !(scale > 0.0 && scale.is_finite()) {
        return Err(format!(
            "Resize scale {scale} on axis {axis} must be positive"
        ));
    }
    let (roi0, roi1) = a.roi[axis];
    let width_in = len_in as f64;
    let width_out = scale * width_in;
    let mut taps = Vec::with_capacity(len_out);
    for o in 0..len_out {
        let y = o as f64;
        let x = match a.coord {
            ResizeNdCoord::AlignCorners if width_out == 1.0 => 0.0,
            ResizeNdCoord::AlignCorners => y * (width_in - 1.0) / (width_out - 1.0),
            ResizeNdCoord::Asymmetric => y / scale,
            ResizeNdCoord::TfCropAndResize => {
                // roi arithmetic in f32 as the reference (float32 roi) does it.
                let span = (roi1 - roi0) as f64;
                let base = if width_out == 1.0 {
                    (((roi1 - roi0) * (len_in as f32 - 1.0)) / 2.0) as f64
                } else {
                    y * span * (width_in - 1.0) / (width_out - 1.0)
                };
                let x = base + (roi0 * (len_in as f32 - 1.0)) as f64;
                if x < 0.0 || x > width_in - 1.0 {
                    taps.push(None);
                    continue;
                }
                x
            }
            ResizeNdCoord::PytorchHalfPixel if width_out == 1.0 => -0.5,
            ResizeNdCoord::PytorchHalfPixel | ResizeNdCoord::HalfPixel => (y + 0.5) / scale - 0.5,
            ResizeNdCoord::HalfPixelSymmetric => {
                let adjustment = len_out as f64 / width_out;
                let center = width_in / 2.0;
                center * (1.0 - adjustment) + (y + 0.5) / scale - 0.5
            }
            ResizeNdCoord::TfHalfPixelForNearest => (y + 0.5) / scale,
        };
        let ratio = if x == x.floor() { 1.0 } else { x - x.floor() };
        let mut coeffs = resize_coeffs(a, ratio, scale)?;
        let n = coeffs.len() as i64;
        let pad = (n + 1) / 2;
        let xp = x + pad as f64;
        let p = xp.floor();
        let frac = xp - p;
        let p = p as i64;
        let offset = if n % 2 == 0 {
            if frac == 0.0 { -(n / 2) } else { -(n / 2) + 1 }
        } else {
            let base = -((n - 1) / 2);
            if frac <= 0.5 { base } else { base + 1 }
        };
        let start = p + offset - pad;
        let idx: Vec<i64> = (0..n).map(|k| start + k).collect();
        if a.exclude_outside {
            for (c, &i) in coeffs.iter_mut().zip(&idx) {
                if i < 0 || i >= len_in as i64 {
                    *c = 0.0;
                }
            }
            let sum: f64 = coeffs.iter().sum();
            let sum = if sum == 0.0 { 1.0 } else { sum };
            coeffs.iter_mut().for_each(|c| *c /= sum);
        }
        let idx = idx
            .iter()
            .map(|&i| i.clamp(0, len_in as i64 - 1) as usize)
            .collect();
        taps.push(Some((idx, coeffs)));
    }
    Ok(taps)
}

/// Interpolation weights for a source position `ratio` in (0, 1] past the tap left of it.
fn resize_coeffs(a: &ResizeNdAttrs, ratio: f64, scale: f64) -> Result<Vec<f64>, String> {
    Ok(match a.mode {
        ResizeNdMode::Nearest(_) if a.antialias => {
            return Err("antialias is not defined for nearest resize".into());
        }
        ResizeNdMode::Nearest(_) if ratio == 1.0 => vec![0.0, 1.0],
        ResizeNdMode::Nearest(m) => {
            let up = match m {
                ResizeNearest::RoundPreferFloor => ratio > 0.5,
                ResizeNearest::RoundPreferCeil => ratio >= 0.5,
                ResizeNearest::Floor => false,
                ResizeNearest::Ceil => true,
            };
            if up { vec![0.0, 1.0] } else { vec![1.0, 0.0] }
        }
        ResizeNdMode::Linear if a.antialias => {
            let s = scale.min(1.0);
            let start = (-1.0 / s).floor() as i64 + 1;
            let footprint = 2 - 2 * start;
            let c: Vec<f64> = (start..start + footprint)
                .map(|i| (1.0 - ((i as f64 - ratio) * s).abs()).clamp(0.0, 1.0))
                .collect();
            normalized(c)
        }
        ResizeNdMode::Linear => vec![1.0 - ratio, ratio],
        ResizeNdMode::Cubic { a: coef } if a.antialias => {
            let aa = coef as f64;
            let s = scale.min(1.0);
            let cubic = |x: f64| {
                let x = x.abs();
                let (x2, x3) = (x * x, x * x * x);
                if x <= 1.0 {
                    (aa + 2.0) * x3 - (aa + 3.0) * x2 + 1.0
                } else if x < 2.0 {
                    aa * x3 - 5.0 * aa * x2 + 8.0 * aa * x - 4.0 * aa
                } else {
                    0.0
                }
            };
            let i_start = (-2.0 / s).floor() as i64 + 1;
            let i_end = 2 - i_start;
            normalized(
                (i_start..i_end)
                    .map(|i| cubic(s * (i as f64 - ratio)))
                    .collect(),
            )
        }
        ResizeNdMode::Cubic { a: coef } => {
            let aa = coef as f64;
            let r = ratio;
            let q = 1.0 - ratio;
            vec![
                ((aa * (r + 1.0) - 5.0 * aa) * (r + 1.0) + 8.0 * aa) * (r + 1.0) - 4.0 * aa,
                ((aa + 2.0) * r - (aa + 3.0)) * r * r + 1.0,
                ((aa + 2.0) * q - (aa + 3.0)) * q * q + 1.0,
                ((aa * (q + 1.0) - 5.0 * aa) * (q + 1.0) + 8.0 * aa) * (q + 1.0) - 4.0 * aa,
            ]
        }
    })
}

fn normalized(c: Vec<f64>) -> Vec<f64> {
    let sum: f64 = c.iter().sum();
    c.into_iter().map(|v| v / sum).collect()
}

/// General Resize: every axis in increasing order (skipping identity axes as the reference
/// does), in f64; the result rounded to f32 once.
fn resize_nd(x: &ArrayD<f32>, a: &ResizeNdAttrs) -> Result<ArrayD<f32>, String> {
    let rank = x.ndim();
    if a.out_shape.len() != rank || a.scales.len() != rank || a.roi.len() != rank {
        return Err(format!(
            "Resize of rank {rank} needs one scale, size and region per axis"
        ));
    }
    if x.is_empty() || a.out_shape.contains(&0) {
        return Err(format!(
            "Resize from {:?} to {:?}: empty tensors",
            x.shape(),
            a.out_shape
        ));
    }
    let mut shape = x.shape().to_vec();
    let mut cur: Vec<f64> = x.iter().map(|&v| v as f64).collect();
    for axis in 0..rank {
        let (len_in, len_out) = (shape[axis], a.out_shape[axis]);
        let (r0, r1) = a.roi[axis];
        let roi_identity = a.coord != ResizeNdCoord::TfCropAndResize
            || (is_close(r0 as f64, 0.0) && is_close(r1 as f64, 1.0));
        if is_close(a.scales[axis], 1.0) && len_in == len_out && roi_identity {
            continue;
        }
        let taps = resize_axis(a, axis, len_in)?;
        let outer: usize = shape[..axis].iter().product();
        let inner: usize = shape[axis + 1..].iter().product();
        let mut next = vec![0f64; outer * len_out * inner];
        for o in 0..outer {
            let src = &cur[o * len_in * inner..(o + 1) * len_in * inner];
            let dst = &mut next[o * len_out * inner..(o + 1) * len_out * inner];
            for (j, t) in taps.iter().enumerate() {
                let row = &mut dst[j * inner..(j + 1) * inner];
                match t {
                    None => row.iter_mut().for_each(|v| *v = a.extrapolation as f64),
                    Some((idx, w)) => {
                        for (&i, &wk) in idx.iter().zip(w) {
                            let s = &src[i * inner..(i + 1) * inner];
                            row.iter_mut().zip(s).for_each(|(d, &v)| *d += wk * v);
                        }
                    }
                }
            }
        }
        cur = next;
        shape[axis] = len_out;
    }
    ArrayD::from_shape_vec(IxDyn(&shape), cur.iter().map(|&v| v as f32).collect())
        .map_err(|e| e.to_string())
}

/// Python's `math.isclose` with its default relative tolerance (1e-9).
fn is_close(a: f64, b: f64) -> bool {
    a == b || (a - b).abs() <= 1e-9 * a.abs().max(b.abs())
}

/// N-D MaxPool / AveragePool (and MaxPool's Indices), windows as the 2-D pools define them.
fn pool_nd(
    x: &ArrayD<f32>,
    a: &PoolNdAttrs,
    out_shapes: &[Vec<usize>],
) -> Result<Vec<ArrayD<f32>>, String> {
    let d = a.kernel.len();
    let out_shape = out_shapes.first().ok_or("pooling: no output shape")?;
    let want = crate::shape::infer(&Op::PoolNd(a.clone()), &[x.shape()])?;
    if want.first() != Some(out_shape) {
        return Err(format!(
            "pooling {:?} gives {:?}, the node declares {out_shape:?}",
            x.shape(),
            want.first()
        ));
    }
    let xs = x.as_standard_layout();
    let src = xs.as_slice().ok_or("non-contiguous input")?;
    let sp_in = &x.shape()[2..];
    let sp_out = &out_shape[2..];
    let plane_in: usize = sp_in.iter().product();
    let plane_out: usize = sp_out.iter().product();
    let planes = x.shape()[0] * x.shape()[1];
    // Row-major and column-major strides of the input plane.
    let mut row = vec![1usize; d];
    let mut col = vec![1usize; d];
    for i in (0..d.saturating_sub(1)).rev() {
        row[i] = row[i + 1] * sp_in[i + 1];
    }
    for i in 1..d {
        col[i] = col[i - 1] * sp_in[i - 1];
    }
    let taps: usize = a.kernel.iter().product();
    let mut y = Vec::with_capacity(planes * plane_out);
    let mut idx_out = Vec::new();
    let mut o = vec![0usize; d];
    let mut k = vec![0usize; d];
    for p in 0..planes {
        let base = &src[p * plane_in..(p + 1) * plane_in];
        o.iter_mut().for_each(|v| *v = 0);
        for _ in 0..plane_out {
            let (mut best, mut best_at) = (f32::NEG_INFINITY, None::<usize>);
            let (mut sum, mut count) = (0f64, 0usize);
            k.iter_mut().for_each(|v| *v = 0);
            for _ in 0..taps {
                let (mut inside, mut padded) = (true, true);
                let (mut r_off, mut c_off) = (0usize, 0usize);
                for i in 0..d {
                    let pos =
                        (o[i] * a.strides[i] + k[i] * a.dilations[i]) as i64 - a.pads[i].0 as i64;
                    let len = sp_in[i] as i64;
                    inside &= pos >= 0 && pos < len;
                    padded &= pos >= -(a.pads[i].0 as i64) && pos < len + a.pads[i].1 as i64;
                    if pos >= 0 && pos < len {
                        r_off += pos as usize * row[i];
                        c_off += pos as usize * col[i];
                    }
                }
                if inside {
                    let v = base[r_off];
                    if best_at.is_none() || v > best {
                        best = v;
                        best_at = Some(if a.indices == Some(true) {
                            c_off
                        } else {
                            r_off
                        });
                    }
                    sum += v as f64;
                }
                if if a.count_include_pad { padded } else { inside } {
                    count += 1;
                }
                for i in (0..d).rev() {
                    k[i] += 1;
                    if k[i] < a.kernel[i] {
                        break;
                    }
                    k[i] = 0;
                }
            }
            if a.max {
                // A window without any input cell (degenerate) gives 0 and index -1.
                y.push(if best_at.is_some() { best } else { 0.0 });
                idx_out.push(best_at.map_or(-1.0, |i| (p * plane_in + i) as f32));
            } else {
                y.push(if count == 0 {
                    0.0
                } else {
                    (sum / count as f64) as f32
                });
            }
            for i in (0..d).rev() {
                o[i] += 1;
                if o[i] < sp_out[i] {
                    break;
                }
                o[i] = 0;
            }
        }
    }
    let mut outs = vec![ArrayD::from_shape_vec(IxDyn(out_shape), y).map_err(|e| e.to_string())?];
    if a.indices.is_some() {
        outs.push(ArrayD::from_shape_vec(IxDyn(out_shape), idx_out).map_err(|e| e.to_string())?);
    }
    Ok(outs)
}

/// BatchNormalization in training mode: batch statistics over every axis but 1 (population
/// variance), in f64.
fn batch_norm_train(
    x: &ArrayD<f32>,
    ins: &[&ArrayD<f32>],
    eps: f32,
    momentum: f32,
) -> Result<Vec<ArrayD<f32>>, String> {
    if ins.len() < 5 || x.ndim() < 2 {
        return Err("BatchNormalization needs x (rank >= 2), scale, bias, mean, var".into());
    }
    let (n, c) = (x.shape()[0], x.shape()[1]);
    let inner: usize = x.shape()[2..].iter().product();
    let param = |i: usize| -> Result<Vec<f64>, String> {
        let v: Vec<f64> = ins[i].iter().map(|&v| v as f64).collect();
        if v.len() != c {
            Err(format!(
                "BatchNormalization parameter {i} has {} values for {c} channels",
                v.len()
            ))
        } else {
            Ok(v)
        }
    };
    let (scale, bias, mean_in, var_in) = (param(1)?, param(2)?, param(3)?, param(4)?);
    let xs = x.as_standard_layout();
    let src = xs.as_slice().ok_or("non-contiguous input")?;
    let count = (n * inner) as f64;
    let lane = |b: usize, ch: usize| &src[(b * c + ch) * inner..(b * c + ch + 1) * inner];
    let mut mean = vec![0f64; c];
    let mut var = vec![0f64; c];
    for ch in 0..c {
        let s: f64 = (0..n).flat_map(|b| lane(b, ch)).map(|&v| v as f64).sum();
        mean[ch] = s / count;
        let q: f64 = (0..n)
            .flat_map(|b| lane(b, ch))
            .map(|&v| (v as f64 - mean[ch]).powi(2))
            .sum();
        var[ch] = q / count;
    }
    let mut y = Vec::with_capacity(src.len());
    for b in 0..n {
        for ch in 0..c {
            let k = scale[ch] / (var[ch] + eps as f64).sqrt();
            y.extend(
                lane(b, ch)
                    .iter()
                    .map(|&v| ((v as f64 - mean[ch]) * k + bias[ch]) as f32),
            );
        }
    }
    let m = momentum as f64;
    let run = |input: &[f64], batch: &[f64]| -> Vec<f32> {
        input
            .iter()
            .zip(batch)
            .map(|(&i, &b)| (i * m + b * (1.0 - m)) as f32)
            .collect()
    };
    Ok(vec![
        ArrayD::from_shape_vec(IxDyn(x.shape()), y).map_err(|e| e.to_string())?,
        ArrayD::from_shape_vec(IxDyn(&[c]), run(&mean_in, &mean)).map_err(|e| e.to_string())?,
        ArrayD::from_shape_vec(IxDyn(&[c]), run(&var_in, &var)).map_err(|e| e.to_string())?,
    ])
}
