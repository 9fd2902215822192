//! Pooling: AveragePool (integer sum, requantized by the divisor's factor) and MaxPool, over
//! the windows of `radix_ir::semantics::pool`.

use radix_ir::op::PoolAttrs;
use radix_ir::qmodel::{Requant, saturate};
use radix_ir::semantics::pool::divisor;
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
    let (wh, ww) = (a.axis_geom(0, h).windows(oh), a.axis_geom(1, w).windows(ow));
    let (dy, dx) = (a.dilations[0].max(1), a.dilations[1].max(1));
    let planes = x.shape[0] * x.shape[1];
    let mut outv = vec![0i32; planes * oh * ow];
    outv.par_chunks_mut(oh * ow).enumerate().for_each(|(p, o)| {
        let plane = &x.data[p * h * w..(p + 1) * h * w];
        for (oy, wy) in wh.iter().enumerate() {
            for (ox, wx) in ww.iter().enumerate() {
                let mut sum = 0i64;
                for ky in 0..wy.inside {
                    let row = &plane[(wy.first + ky * dy) * w..];
                    for kx in 0..wx.inside {
                        sum += row[wx.first + kx * dx] as i64;
                    }
                }
                let nd = divisor(a.count_include_pad, [wy, wx]);
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
    let (wh, ww) = (a.axis_geom(0, h).windows(oh), a.axis_geom(1, w).windows(ow));
    let (dy, dx) = (a.dilations[0].max(1), a.dilations[1].max(1));
    let planes = x.shape[0] * x.shape[1];
    let mut outv = vec![0i32; planes * oh * ow];
    outv.par_chunks_mut(oh * ow).enumerate().for_each(|(p, o)| {
        let plane = &x.data[p * h * w..(p + 1) * h * w];
        for (oy, wy) in wh.iter().enumerate() {
            for (ox, wx) in ww.iter().enumerate() {
                let mut m = i32::MIN;
                for ky in 0..wy.inside {
                    let row = &plane[(wy.first + ky * dy) * w..];
                    for kx in 0..wx.inside {
                        m = m.max(row[wx.first + kx * dx]);
                    }
                }
                o[oy * ow + ox] = if m == i32::MIN { 0 } else { m };
            }
        }
    });
    outv
}
