//! N-D MaxPool / AveragePool (`PoolNd`, and MaxPool's Indices output).

use ndarray::{ArrayD, IxDyn};

use crate::Op;
use crate::op::PoolNdAttrs;
use crate::semantics::pool::{AxisGeom, AxisWindow, divisor};

/// N-D MaxPool / AveragePool (and MaxPool's Indices), windows as the 2-D pools define them.
pub(super) fn pool_nd(
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
    // Per spatial axis, the window of every output index (semantics::pool).
    let windows: Vec<Vec<AxisWindow>> = (0..d)
        .map(|i| {
            AxisGeom {
                input: sp_in[i],
                kernel: a.kernel[i],
                stride: a.strides[i],
                pad_lo: a.pads[i].0,
                pad_hi: a.pads[i].1,
                dilation: a.dilations[i],
            }
            .windows(sp_out[i])
        })
        .collect();
    let mut y = Vec::with_capacity(planes * plane_out);
    let mut idx_out = Vec::new();
    let mut o = vec![0usize; d];
    let mut k = vec![0usize; d];
    let mut win: Vec<AxisWindow> = Vec::with_capacity(d);
    for p in 0..planes {
        let base = &src[p * plane_in..(p + 1) * plane_in];
        o.iter_mut().for_each(|v| *v = 0);
        for _ in 0..plane_out {
            let (mut best, mut best_at) = (f32::NEG_INFINITY, None::<usize>);
            let mut sum = 0f64;
            win.clear();
            win.extend((0..d).map(|i| windows[i][o[i]]));
            let count = divisor(a.count_include_pad, &win);
            // The inside taps in row-major order of the kernel index.
            let inside: usize = win.iter().map(|w| w.inside).product();
            k.iter_mut().for_each(|v| *v = 0);
            for _ in 0..inside {
                let (mut r_off, mut c_off) = (0usize, 0usize);
                for i in 0..d {
                    let pos = win[i].first + k[i] * a.dilations[i];
                    r_off += pos * row[i];
                    c_off += pos * col[i];
                }
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
                for i in (0..d).rev() {
                    k[i] += 1;
                    if k[i] < win[i].inside {
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
