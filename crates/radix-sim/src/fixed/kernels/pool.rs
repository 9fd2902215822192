//! Pooling: AveragePool (integer sum, requantized by the divisor's factor) and MaxPool.

use radix_ir::op::PoolAttrs;
use radix_ir::qmodel::{Requant, saturate};
use rayon::prelude::*;

use crate::fixed::Operand;

pub(super) fn avg_pool(
    x: Operand<'_>,
    a: &PoolAttrs,
    out: &[usize],
    rq: &[Requant],
    bits: u8,
) -> Result<Vec<i32>, String> {
    let (h, w) = (x.shape[2], x.shape[3]);
    let (oh, ow) = (out[2], out[3]);
    let planes = x.shape[0] * x.shape[1];
    let mut outv = vec![0i32; planes * oh * ow];
    outv.par_chunks_mut(oh * ow).enumerate().for_each(|(p, o)| {
        let plane = &x.data[p * h * w..(p + 1) * h * w];
        for oy in 0..oh {
            for ox in 0..ow {
                let (mut sum, mut cnt, mut padded) = (0i64, 0usize, 0usize);
                for ky in 0..a.kernel[0] {
                    let iy =
                        (oy * a.strides[0] + ky * a.dilations[0]) as isize - a.pads[0] as isize;
                    for kx in 0..a.kernel[1] {
                        let ix =
                            (ox * a.strides[1] + kx * a.dilations[1]) as isize - a.pads[1] as isize;
                        let inside_padded =
                            iy < (h + a.pads[2]) as isize && ix < (w + a.pads[3]) as isize;
                        if iy >= 0 && ix >= 0 && (iy as usize) < h && (ix as usize) < w {
                            sum += plane[iy as usize * w + ix as usize] as i64;
                            cnt += 1;
                        }
                        if inside_padded {
                            padded += 1;
                        }
                    }
                }
                let nd = if a.count_include_pad { padded } else { cnt };
                o[oy * ow + ox] = rq
                    .get(nd)
                    .map(|r| saturate(r.apply(sum), bits))
                    .unwrap_or(0);
            }
        }
    });
    Ok(outv)
}

pub(super) fn max_pool(x: Operand<'_>, a: &PoolAttrs, out: &[usize]) -> Vec<i32> {
    let (h, w) = (x.shape[2], x.shape[3]);
    let (oh, ow) = (out[2], out[3]);
    let planes = x.shape[0] * x.shape[1];
    let mut outv = vec![0i32; planes * oh * ow];
    outv.par_chunks_mut(oh * ow).enumerate().for_each(|(p, o)| {
        let plane = &x.data[p * h * w..(p + 1) * h * w];
        for oy in 0..oh {
            for ox in 0..ow {
                let mut m = i32::MIN;
                for ky in 0..a.kernel[0] {
                    let iy =
                        (oy * a.strides[0] + ky * a.dilations[0]) as isize - a.pads[0] as isize;
                    if iy < 0 || iy >= h as isize {
                        continue;
                    }
                    for kx in 0..a.kernel[1] {
                        let ix =
                            (ox * a.strides[1] + kx * a.dilations[1]) as isize - a.pads[1] as isize;
                        if ix >= 0 && (ix as usize) < w {
                            m = m.max(plane[iy as usize * w + ix as usize]);
                        }
                    }
                }
                o[oy * ow + ox] = if m == i32::MIN { 0 } else { m };
            }
        }
    });
    outv
}
