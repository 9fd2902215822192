//! Static shape inference for every [`Op`].

use crate::Op;
use crate::op::{ConvAttrs, PoolAttrs};

/// numpy broadcasting of two shapes; None when incompatible.
pub fn broadcast(a: &[usize], b: &[usize]) -> Option<Vec<usize>> {
    let n = a.len().max(b.len());
    let mut out = vec![0; n];
    for i in 0..n {
        let da = if i + a.len() >= n {
            a[i + a.len() - n]
        } else {
            1
        };
        let db = if i + b.len() >= n {
            b[i + b.len() - n]
        } else {
            1
        };
        out[i] = if da == db {
            da
        } else if da == 1 {
            db
        } else if db == 1 {
            da
        } else {
            return None;
        };
    }
    Some(out)
}

/// Output length of a convolution / pooling window along one axis (defined in
/// [`semantics::pool::output_len`](crate::semantics::pool::output_len)).
pub use crate::semantics::pool::output_len as window_out;

/// Output shape of a 2-D Conv: input `x` (NCHW), weight `w` (`[Cout, Cin/group, kh, kw]`).
pub fn conv_out(x: &[usize], w: &[usize], a: &ConvAttrs) -> Result<Vec<usize>, String> {
    if x.len() != 4 || w.len() != 4 {
        return Err(format!(
            "only 2-D convolution (NCHW) is supported, got input rank {} and weight rank {}",
            x.len(),
            w.len()
        ));
    }
    if a.group == 0 || !x[1].is_multiple_of(a.group) || !w[0].is_multiple_of(a.group) {
        return Err(format!(
            "group {} does not divide channels (input {}, output {})",
            a.group, x[1], w[0]
        ));
    }
    if w[1] * a.group != x[1] {
        return Err(format!(
            "weight expects {} input channels, input has {}",
            w[1] * a.group,
            x[1]
        ));
    }
    let h = window_out(
        x[2],
        a.kernel[0],
        a.strides[0],
        a.pads[0],
        a.pads[2],
        a.dilations[0],
        false,
    );
    let wd = window_out(
        x[3],
        a.kernel[1],
        a.strides[1],
        a.pads[1],
        a.pads[3],
        a.dilations[1],
        false,
    );
    match (h, wd) {
        (Some(h), Some(wd)) => Ok(vec![x[0], w[0], h, wd]),
        _ => Err(format!(
            "kernel {:?} larger than padded input {:?}",
            a.kernel,
            &x[2..]
        )),
    }
}

/// Output shape of a 2-D ConvTranspose: input `x` (NCHW), weight `w`
/// (`[Cin, Cout/group, kh, kw]`); per spatial axis
/// `stride * (in - 1) + output_padding + dilation * (k - 1) + 1 - pad_begin - pad_end`.
pub fn conv_transpose_out(x: &[usize], w: &[usize], a: &ConvAttrs) -> Result<Vec<usize>, String> {
    if x.len() != 4 || w.len() != 4 {
        return Err("only 2-D ConvTranspose (NCHW) is supported".into());
    }
    if a.group == 0 || w[0] != x[1] || !x[1].is_multiple_of(a.group) {
        return Err(format!(
            "weight expects {} input channels, input has {}",
            w[0], x[1]
        ));
    }
    let mut out = vec![x[0], w[1] * a.group, 0, 0];
    for i in 0..2 {
        let full = a.strides[i] * (x[2 + i] - 1)
            + a.output_padding[i]
            + (a.kernel[i] - 1) * a.dilations[i]
            + 1;
        let pads = a.pads[i] + a.pads[i + 2];
        if full <= pads {
            return Err("padding removes the whole output".into());
        }
        out[2 + i] = full - pads;
    }
    Ok(out)
}

/// Output shape of a 2-D MaxPool / AveragePool (NCHW), lengths from
/// [`window_out`] with `ceil_mode`.
pub fn pool_out(x: &[usize], a: &PoolAttrs) -> Result<Vec<usize>, String> {
    if x.len() != 4 {
        return Err(format!(
            "only 2-D pooling (NCHW) is supported, got rank {}",
            x.len()
        ));
    }
    if a.kernel.contains(&0) || a.strides.contains(&0) || a.dilations.contains(&0) {
        return Err("kernel, strides and dilations must be positive".into());
    }
    let h = window_out(
        x[2],
        a.kernel[0],
        a.strides[0],
        a.pads[0],
        a.pads[2],
        a.dilations[0],
        a.ceil_mode,
    );
    let w = window_out(
        x[3],
        a.kernel[1],
        a.strides[1],
        a.pads[1],
        a.pads[3],
        a.dilations[1],
        a.ceil_mode,
    );
    match (h, w) {
        (Some(h), Some(w)) => Ok(vec![x[0], x[1], h, w]),
        _ => Err(format!(
            "kernel {:?} larger than padded input {:?}",
            a.kernel,
            &x[2..]
        )),
    }
}

/// Output shapes of `op` for the given input shapes. `Shape` needs nothing but its input shape.
pub fn infer(op: &Op, ins: &[&[usize]]) -> Result<Vec<Vec<usize>>, String> {
    let need = |n: usize| -> Result<(), String> {
        if ins.len() < n {
            Err(format!("expects at least {n} inputs, got {}", ins.len()))
        } else {
            Ok(())
        }
    };
    need(1)?;
    let x = ins[0];
    let one = |s: Vec<usize>| Ok(vec![s]);
    match op {
        Op::Conv(a) => {
            need(2)?;
            one(conv_out(x, ins[1], a)?)
        }
        Op::ConvTranspose(a) => {
            need(2)?;
            one(conv_transpose_out(x, ins[1], a)?)
        }
        Op::Gemm { .. } => {
            need(2)?;
            let w = ins[1];
            if x.len() != 2 || w.len() != 2 || x[1] != w[1] {
                return Err(format!("Gemm shapes {x:?} x {w:?}ᵀ do not match"));
            }
            one(vec![x[0], w[0]])
        }
        Op::MatMul => {
            need(2)?;
            let (a, b) = (x, ins[1]);
            if a.is_empty() || b.is_empty() {
                return Err("MatMul of a scalar".into());
            }
            let a2 = if a.len() == 1 {
                vec![1, a[0]]
            } else {
                a.to_vec()
            };
            let b2 = if b.len() == 1 {
                vec![b[0], 1]
            } else {
                b.to_vec()
            };
            let (m, k) = (a2[a2.len() - 2], a2[a2.len() - 1]);
            let (k2, n) = (b2[b2.len() - 2], b2[b2.len() - 1]);
            if k != k2 {
                return Err(format!("MatMul inner dims differ: {a:?} x {b:?}"));
            }
            let batch = broadcast(&a2[..a2.len() - 2], &b2[..b2.len() - 2])
                .ok_or_else(|| format!("MatMul batch dims {a:?} x {b:?} do not broadcast"))?;
            let mut out = batch;
            if a.len() > 1 {
                out.push(m);
            }
            if b.len() > 1 {
                out.push(n);
            }
            one(out)
        }
        Op::BatchNorm { .. }
        | Op::Relu
        | Op::Clip { .. }
        | Op::LeakyRelu { .. }
        | Op::Sigmoid
        | Op::HardSigmoid { .. }
        | Op::HardSwish
        | Op::Tanh
        | Op::Exp
        | Op::Softmax { .. }
        | Op::Identity
        | Op::Dropout
        | Op::Cast
        | Op::Elu { .. }
        | Op::Selu { .. }
        | Op::Softplus
        | Op::Gelu { .. }
        | Op::Erf
        | Op::Sqrt
        | Op::Reciprocal
        | Op::Abs
        | Op::Neg
        | Op::Log
        | Op::Floor
        | Op::Ceil => one(x.to_vec()),
        Op::Lrn { size, .. } => {
            if x.len() < 2 || *size == 0 {
                return Err(format!("LRN needs rank >= 2 and size >= 1, got {x:?}"));
            }
            one(x.to_vec())
        }
        Op::InstanceNorm { .. } => {
            need(3)?;
            if x.len() < 3 {
                return Err(format!("InstanceNormalization needs rank >= 3, got {x:?}"));
            }
            for s in &ins[1..3] {
                if s.iter().product::<usize>() != x[1] {
                    return Err(format!(
                        "scale / bias of shape {s:?} do not match {} channels",
                        x[1]
                    ));
                }
            }
            one(x.to_vec())
        }
        Op::LayerNorm { axis, .. } => {
            need(2)?;
            if *axis >= x.len() {
                return Err(format!("axis {axis} out of range for rank {}", x.len()));
            }
            let norm = &x[*axis..];
            for s in &ins[1..] {
                if broadcast(s, norm).as_deref() != Some(norm) {
                    return Err(format!(
                        "scale / bias of shape {s:?} do not broadcast to {norm:?}"
                    ));
                }
            }
            one(x.to_vec())
        }
        Op::LayerNormStats { axis, .. } => {
            let y = infer(
                &Op::LayerNorm {
                    axis: *axis,
                    epsilon: 0.0,
                },
                ins,
            )?;
            let mut stats = x[..*axis].to_vec();
            stats.resize(x.len(), 1);
            Ok(vec![y[0].clone(), stats.clone(), stats])
        }
        Op::ResizeNd(a) => {
            if a.out_shape.len() != x.len() || a.scales.len() != x.len() || a.roi.len() != x.len() {
                return Err(format!(
                    "Resize of rank {} needs one scale, size and region per axis",
                    x.len()
                ));
            }
            if x.contains(&0) || a.out_shape.contains(&0) {
                return Err(format!(
                    "Resize from {x:?} to {:?}: empty tensors",
                    a.out_shape
                ));
            }
            one(a.out_shape.clone())
        }
        Op::PoolNd(a) => {
            let d = a.kernel.len();
            if x.len() != d + 2
                || a.strides.len() != d
                || a.pads.len() != d
                || a.dilations.len() != d
            {
                return Err(format!(
                    "pooling with a {d}-D window needs rank {} and one stride, pad pair and dilation per axis, got {x:?}",
                    d + 2
                ));
            }
            let mut out = x[..2].to_vec();
            for i in 0..d {
                if a.kernel[i] == 0 || a.dilations[i] == 0 {
                    return Err("kernel and dilations must be positive".into());
                }
                let o = window_out(
                    x[2 + i],
                    a.kernel[i],
                    a.strides[i],
                    a.pads[i].0,
                    a.pads[i].1,
                    a.dilations[i],
                    a.ceil_mode,
                )
                .ok_or_else(|| {
                    format!(
                        "kernel {:?} larger than padded input {:?}",
                        a.kernel,
                        &x[2..]
                    )
                })?;
                out.push(o);
            }
            if a.indices.is_some() {
                Ok(vec![out.clone(), out])
            } else {
                one(out)
            }
        }
        Op::BatchNormTrain { .. } => {
            need(5)?;
            if x.len() < 2 {
                return Err(format!("BatchNormalization needs rank >= 2, got {x:?}"));
            }
            for s in &ins[1..5] {
                if s.iter().product::<usize>() != x[1] {
                    return Err(format!(
                        "BatchNormalization parameter of shape {s:?} does not match {} channels",
                        x[1]
                    ));
                }
            }
            Ok(vec![x.to_vec(), vec![x[1]], vec![x[1]]])
        }
        Op::Sum | Op::Mean | Op::Max | Op::Min => {
            let mut out = x.to_vec();
            for s in &ins[1..] {
                out = broadcast(&out, s)
                    .ok_or_else(|| format!("shapes {out:?} and {s:?} do not broadcast"))?;
            }
            one(out)
        }
        Op::PRelu | Op::Add | Op::Sub | Op::Mul | Op::Div | Op::Pow => {
            need(2)?;
            let out = broadcast(x, ins[1])
                .ok_or_else(|| format!("shapes {x:?} and {:?} do not broadcast", ins[1]))?;
            if matches!(op, Op::PRelu) && out != x {
                return Err(format!(
                    "PRelu slope {:?} does not broadcast to input {x:?}",
                    ins[1]
                ));
            }
            one(out)
        }
        Op::MaxPool(a) | Op::AveragePool(a) => one(pool_out(x, a)?),
        Op::GlobalAveragePool | Op::GlobalMaxPool => {
            if x.len() < 3 {
                return Err(format!("global pooling needs rank >= 3, got {x:?}"));
            }
            let mut s = x.to_vec();
            s[2..].iter_mut().for_each(|d| *d = 1);
            one(s)
        }
        Op::Concat { axis } => {
            let mut out = x.to_vec();
            if *axis >= out.len() {
                return Err(format!("axis {axis} out of range for rank {}", out.len()));
            }
            for s in &ins[1..] {
                if s.len() != x.len()
                    || s.iter()
                        .zip(x)
                        .enumerate()
                        .any(|(i, (a, b))| i != *axis && a != b)
                {
                    return Err(format!("cannot concatenate {x:?} and {s:?} on axis {axis}"));
                }
                out[*axis] += s[*axis];
            }
            one(out)
        }
        Op::Split { axis, splits } => {
            if *axis >= x.len() || splits.iter().sum::<usize>() != x[*axis] {
                return Err(format!(
                    "split sizes {splits:?} do not add up to dim {axis} of {x:?}"
                ));
            }
            Ok(splits
                .iter()
                .map(|&s| {
                    let mut o = x.to_vec();
                    o[*axis] = s;
                    o
                })
                .collect())
        }
        Op::Slice {
            starts,
            ends,
            steps,
        } => {
            if starts.len() != x.len() || ends.len() != x.len() || steps.len() != x.len() {
                return Err("slice parameters must cover every axis".into());
            }
            let mut out = Vec::with_capacity(x.len());
            for i in 0..x.len() {
                let (s, e, st) = (starts[i], ends[i], steps[i]);
                if st == 0 {
                    return Err("slice step 0".into());
                }
                let n = if st > 0 {
                    if e > s { (e - s + st - 1) / st } else { 0 }
                } else if s > e {
                    (s - e + (-st) - 1) / (-st)
                } else {
                    0
                };
                out.push(n as usize);
            }
            one(out)
        }
        Op::Reshape { shape } => {
            if shape.iter().product::<usize>() != x.iter().product::<usize>() {
                return Err(format!("cannot reshape {x:?} into {shape:?}"));
            }
            one(shape.clone())
        }
        Op::Flatten { axis } => {
            if *axis > x.len() {
                return Err(format!(
                    "flatten axis {axis} out of range for rank {}",
                    x.len()
                ));
            }
            one(vec![
                x[..*axis].iter().product(),
                x[*axis..].iter().product(),
            ])
        }
        Op::Transpose { perm } => {
            let mut sorted = perm.clone();
            sorted.sort_unstable();
            if sorted != (0..x.len()).collect::<Vec<_>>() {
                return Err(format!(
                    "perm {perm:?} is not a permutation of rank {}",
                    x.len()
                ));
            }
            one(perm.iter().map(|&p| x[p]).collect())
        }
        Op::Squeeze { axes } => {
            let mut out = Vec::new();
            for (i, &d) in x.iter().enumerate() {
                if axes.contains(&i) {
                    if d != 1 {
                        return Err(format!("cannot squeeze axis {i} of size {d}"));
                    }
                } else {
                    out.push(d);
                }
            }
            one(out)
        }
        Op::Unsqueeze { axes } => {
            let rank = x.len() + axes.len();
            let mut out = Vec::with_capacity(rank);
            let mut it = x.iter();
            for i in 0..rank {
                if axes.contains(&i) {
                    out.push(1);
                } else {
                    out.push(*it.next().ok_or("unsqueeze axes out of range")?);
                }
            }
            one(out)
        }
        Op::Resize(a) => {
            if x.len() != 4 {
                return Err(format!("Resize supports NCHW only, got {x:?}"));
            }
            one(vec![x[0], x[1], a.out_hw[0], a.out_hw[1]])
        }
        Op::Pad { pads, .. } => {
            if pads.len() != x.len() {
                return Err("pads must cover every axis".into());
            }
            one(x.iter().zip(pads).map(|(d, (a, b))| d + a + b).collect())
        }
        Op::ReduceMean { axes, keepdims }
        | Op::ReduceMax { axes, keepdims }
        | Op::ReduceMin { axes, keepdims }
        | Op::ReduceSum { axes, keepdims }
        | Op::Reduce { axes, keepdims, .. } => {
            if axes.windows(2).any(|w| w[0] >= w[1]) || axes.iter().any(|&a| a >= x.len()) {
                return Err(format!(
                    "reduce axes {axes:?} must be increasing and below rank {}",
                    x.len()
                ));
            }
            let mut out = Vec::new();
            for (i, &d) in x.iter().enumerate() {
                if axes.contains(&i) {
                    if *keepdims {
                        out.push(1);
                    }
                } else {
                    out.push(d);
                }
            }
            one(out)
        }
        Op::Gather { axis } => {
            need(2)?;
            if *axis >= x.len() {
                return Err(format!("gather axis {axis} out of range for {x:?}"));
            }
            let mut out = x[..*axis].to_vec();
            out.extend_from_slice(ins[1]);
            out.extend_from_slice(&x[axis + 1..]);
            one(out)
        }
        Op::Shape => one(vec![x.len()]),
        Op::ArgMax { axis, keepdims, .. } => {
            if *axis >= x.len() || x[*axis] == 0 {
                return Err(format!("ArgMax axis {axis} invalid for {x:?}"));
            }
            let mut out = x.to_vec();
            if *keepdims {
                out[*axis] = 1;
            } else {
                out.remove(*axis);
            }
            one(out)
        }
        Op::DepthToSpace { blocksize: b, .. } => match *x {
            [n, c, h, w] if *b > 0 && c.is_multiple_of(b * b) => {
                one(vec![n, c / (b * b), h * b, w * b])
            }
            _ => Err(format!(
                "DepthToSpace needs NCHW with channels a multiple of {b}², got {x:?}"
            )),
        },
        Op::SpaceToDepth { blocksize: b } => match *x {
            [n, c, h, w] if *b > 0 && h.is_multiple_of(*b) && w.is_multiple_of(*b) => {
                one(vec![n, c * b * b, h / b, w / b])
            }
            _ => Err(format!(
                "SpaceToDepth needs NCHW with H and W multiples of {b}, got {x:?}"
            )),
        },
        Op::Tile { repeats } => {
            if repeats.len() != x.len() || repeats.contains(&0) {
                return Err(format!(
                    "Tile needs one positive repeat per axis of {x:?}, got {repeats:?}"
                ));
            }
            one(x.iter().zip(repeats).map(|(d, r)| d * r).collect())
        }
        Op::Expand { shape } => {
            if broadcast(x, shape).as_ref() != Some(shape) {
                return Err(format!("cannot expand {x:?} to {shape:?}"));
            }
            one(shape.clone())
        }
    }
}
