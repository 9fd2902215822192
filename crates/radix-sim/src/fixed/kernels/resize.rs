//! Resize: two taps per axis with integer weights from the quantizer's plan.

use radix_ir::qmodel::{AxisPlan, Requant, saturate};
use rayon::prelude::*;

use crate::fixed::Operand;

pub(super) fn resize(
    x: Operand<'_>,
    rows: &AxisPlan,
    cols: &AxisPlan,
    rq: &Requant,
    out: &[usize],
    bits: u8,
) -> Result<Vec<i32>, String> {
    let (h, w) = (x.shape[2], x.shape[3]);
    let (oh, ow) = (out[2], out[3]);
    if rows.i0.len() != oh || cols.i0.len() != ow {
        return Err("resize plan does not match the output size".into());
    }
    if rows.i0.iter().chain(&rows.i1).any(|&i| i as usize >= h)
        || cols.i0.iter().chain(&cols.i1).any(|&i| i as usize >= w)
    {
        return Err("resize plan indexes outside the input".into());
    }
    let planes = x.shape[0] * x.shape[1];
    let mut outv = vec![0i32; planes * oh * ow];
    outv.par_chunks_mut(oh * ow).enumerate().for_each(|(p, o)| {
        let plane = &x.data[p * h * w..(p + 1) * h * w];
        for oy in 0..oh {
            let (r0, r1) = (rows.i0[oy] as usize * w, rows.i1[oy] as usize * w);
            let (wy0, wy1) = (rows.w0[oy] as i64, rows.w1[oy] as i64);
            for ox in 0..ow {
                let (c0, c1) = (cols.i0[ox] as usize, cols.i1[ox] as usize);
                let (wx0, wx1) = (cols.w0[ox] as i64, cols.w1[ox] as i64);
                let acc = wy0 * (wx0 * plane[r0 + c0] as i64 + wx1 * plane[r0 + c1] as i64)
                    + wy1 * (wx0 * plane[r1 + c0] as i64 + wx1 * plane[r1 + c1] as i64);
                o[oy * ow + ox] = saturate(rq.apply(acc), bits);
            }
        }
    });
    Ok(outv)
}
