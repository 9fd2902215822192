//! Float semantics of the "light" ops: layout, elementwise and small reductions.
//!
//! These are the definitions the float engine uses as they are, and what constant folding
//! evaluates. Heavy ops (Conv, Gemm, MatMul, pooling, Resize) live in the engine, which owns GEMM
//! and threading; [`eval_light`] returns `None` for them.
//!
//! This file holds the elementwise ops and the dispatch; the other families are in
//! submodules: normalisations and softmax (`norm`), reductions (`reduce`), layout ops
//! (`layout`), general N-D Resize (`resize`) and N-D pooling (`pool`).

mod layout;
mod norm;
mod pool;
mod reduce;
mod resize;

use ndarray::{ArrayD, Axis, IxDyn, Slice, Zip};

use crate::Op;
use layout::{depth_to_space, pad, space_to_depth, tile};
use norm::{batch_norm, batch_norm_train, instance_norm, layer_norm, lrn, softmax};
use pool::pool_nd;
use reduce::{argmax, reduce, reduce_f64};
use resize::resize_nd;

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

/// The logistic function `1 / (1 + e^-x)`, without overflow for large `|x|`.
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
