//! Normalisations: LRN, InstanceNormalization, LayerNormalization, BatchNormalization
//! (inference and training mode) and Softmax.

use ndarray::{ArrayD, Axis, IxDyn};

pub(super) fn lrn(
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

pub(super) fn instance_norm(
    x: &ArrayD<f32>,
    ins: &[&ArrayD<f32>],
    eps: f32,
) -> Result<ArrayD<f32>, String> {
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

pub(super) fn layer_norm(
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

pub(super) fn batch_norm(
    x: &ArrayD<f32>,
    ins: &[&ArrayD<f32>],
    eps: f32,
) -> Result<ArrayD<f32>, String> {
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

pub(super) fn softmax(x: &ArrayD<f32>, axis: usize, legacy: bool) -> ArrayD<f32> {
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

/// BatchNormalization in training mode: batch statistics over every axis but 1 (population
/// variance), in f64.
pub(super) fn batch_norm_train(
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
