//! General Resize (`ResizeNd`: N-D, cubic, antialias, tf_crop_and_resize) as the ONNX
//! reference computes it, in f64.

use ndarray::{ArrayD, IxDyn};

use crate::op::{ResizeNdAttrs, ResizeNdCoord, ResizeNdMode, ResizeNearest};

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
    let mut taps = Vec::with_capacity(len_out);
    for o in 0..len_out {
        let Some(x) = a
            .coord
            .original_coord(o, scale, len_in, len_out, a.roi[axis])
        else {
            taps.push(None);
            continue;
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
pub(super) fn resize_nd(x: &ArrayD<f32>, a: &ResizeNdAttrs) -> Result<ArrayD<f32>, String> {
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
