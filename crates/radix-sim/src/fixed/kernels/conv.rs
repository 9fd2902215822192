//! Convolution: grouped Conv (the VNNI GEMM, or im2col + the blocked GEMM, or the depthwise
//! kernel) and ConvTranspose.

use radix_ir::op::ConvAttrs;
use rayon::prelude::*;

use super::acc::Epilogue;
use super::bounds::{MacPrep, fits_i32, input_bound};
use super::depthwise::depthwise;
use super::gemm::gemm_blocked;
use crate::fixed::{Operand, vnni};

pub(super) fn conv(
    x: Operand<'_>,
    w: &[i32],
    prep: Option<&MacPrep>,
    a: &ConvAttrs,
    out: &[usize],
    ep: &Epilogue<'_>,
) -> Result<Vec<i32>, String> {
    let (n, cin, h, wd) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3]);
    let (cout, oh, ow) = (out[1], out[2], out[3]);
    let g = a.group;
    let (cin_g, cout_g) = (cin / g, cout / g);
    let (kh, kw) = (a.kernel[0], a.kernel[1]);
    let k = cin_g * kh * kw;
    if w.len() != cout * k || n != 1 {
        return Err(format!(
            "weights have {} values, expected {}",
            w.len(),
            cout * k
        ));
    }
    let hw = oh * ow;
    let xmax = input_bound(prep, x.data);
    let small = fits_i32(prep, w, k, xmax, ep.bias);
    // Exact in i32 and every operand fits i16: the VNNI GEMM (same results, see vnni.rs).
    let packed = prep
        .and_then(|p| p.packed.as_deref())
        .filter(|p| small && xmax <= i16::MAX as i64 && p.len() == g);
    if let Some(packed) = packed {
        // The output is written in full by the GEMMs (one per group): no zero fill.
        let mut outv: Vec<i32> = Vec::with_capacity(cout * hw);
        let spare = &mut outv.spare_capacity_mut()[..cout * hw];
        for (grp, og) in spare.chunks_mut(cout_g * hw).enumerate() {
            let xg = &x.data[grp * cin_g * h * wd..(grp + 1) * cin_g * h * wd];
            let col_owned;
            let col: &[i32] = if kh == 1 && kw == 1 && a.strides == [1, 1] && a.pads == [0; 4] {
                xg
            } else {
                col_owned = im2col(xg, cin_g, h, wd, a, oh, ow);
                &col_owned
            };
            let base = grp * cout_g;
            vnni::gemm(
                &packed[grp],
                col,
                hw,
                og,
                &|r, acc: &[i32], o: &mut [i32]| ep.finish_row(base + r, acc, o, true),
                &|r| ep.simple(base + r, true),
            );
        }
        // SAFETY: `vnni::gemm` writes every element of its `cout_g × hw` block, and the groups'
        // blocks cover all `cout × hw` elements.
        unsafe { outv.set_len(cout * hw) };
        return Ok(outv);
    }
    let mut outv = vec![0i32; cout * hw];
    // Depthwise: direct loops per channel.
    if cin_g == 1 && cout_g == 1 {
        if small {
            depthwise::<i32>(x.data, w, a, [h, wd, oh, ow], &mut outv, ep, true);
        } else {
            depthwise::<i64>(x.data, w, a, [h, wd, oh, ow], &mut outv, ep, false);
        }
        return Ok(outv);
    }
    for grp in 0..g {
        let xg = &x.data[grp * cin_g * h * wd..(grp + 1) * cin_g * h * wd];
        // im2col: [k, hw]; a 1x1 stride-1 unpadded conv reads the input directly.
        let direct = kh == 1 && kw == 1 && a.strides == [1, 1] && a.pads == [0; 4];
        let col_owned;
        let col: &[i32] = if direct {
            xg
        } else {
            col_owned = im2col(xg, cin_g, h, wd, a, oh, ow);
            &col_owned
        };
        let wg = &w[grp * cout_g * k..(grp + 1) * cout_g * k];
        let og = &mut outv[grp * cout_g * hw..(grp + 1) * cout_g * hw];
        let base = grp * cout_g;
        if small {
            gemm_blocked::<i32>(wg, col, k, hw, og, base, ep, true);
        } else {
            gemm_blocked::<i64>(wg, col, k, hw, og, base, ep, false);
        }
    }
    Ok(outv)
}

fn im2col(
    x: &[i32],
    cin: usize,
    h: usize,
    w: usize,
    a: &ConvAttrs,
    oh: usize,
    ow: usize,
) -> Vec<i32> {
    let (kh, kw) = (a.kernel[0], a.kernel[1]);
    let hw = oh * ow;
    let mut col = vec![0i32; cin * kh * kw * hw];
    col.par_chunks_mut(kh * kw * hw)
        .enumerate()
        .for_each(|(c, cc)| {
            let plane = &x[c * h * w..(c + 1) * h * w];
            for ky in 0..kh {
                for kx in 0..kw {
                    let dst = &mut cc[(ky * kw + kx) * hw..(ky * kw + kx + 1) * hw];
                    // Output columns whose input column ix = ox*sx + kx*dx - pl is inside.
                    let (sx, off) = (
                        a.strides[1],
                        (kx * a.dilations[1]) as isize - a.pads[1] as isize,
                    );
                    let first = if off >= 0 {
                        0
                    } else {
                        ((-off) as usize).div_ceil(sx)
                    };
                    let last = if (w as isize) <= off {
                        0
                    } else {
                        ((w as isize - off) as usize).div_ceil(sx).min(ow)
                    };
                    for oy in 0..oh {
                        let iy =
                            (oy * a.strides[0] + ky * a.dilations[0]) as isize - a.pads[0] as isize;
                        if iy < 0 || iy >= h as isize || first >= last {
                            continue;
                        }
                        let row = &plane[iy as usize * w..(iy as usize + 1) * w];
                        let d = &mut dst[oy * ow + first..oy * ow + last];
                        let x0 = (first as isize * sx as isize + off) as usize;
                        if sx == 1 {
                            d.copy_from_slice(&row[x0..x0 + d.len()]);
                        } else {
                            for (j, v) in d.iter_mut().enumerate() {
                                *v = row[x0 + j * sx];
                            }
                        }
                    }
                }
            }
        });
    col
}

pub(super) fn conv_transpose(
    x: Operand<'_>,
    w: &[i32],
    a: &ConvAttrs,
    out: &[usize],
    ep: &Epilogue<'_>,
) -> Result<Vec<i32>, String> {
    let (n, cin, h, wd) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3]);
    let (cout, oh, ow) = (out[1], out[2], out[3]);
    let g = a.group;
    let (cin_g, cout_g) = (cin / g, cout / g);
    let (kh, kw) = (a.kernel[0], a.kernel[1]);
    if w.len() != cin * cout_g * kh * kw || n != 1 {
        return Err("ConvTranspose weight size mismatch".into());
    }
    let mut outv = vec![0i32; cout * oh * ow];
    outv.par_chunks_mut(oh * ow).enumerate().for_each(|(c, o)| {
        let grp = c / cout_g;
        let j = c % cout_g;
        let mut acc = vec![0i64; oh * ow];
        for ci in grp * cin_g..(grp + 1) * cin_g {
            let plane = &x.data[ci * h * wd..(ci + 1) * h * wd];
            let wk = &w[(ci * cout_g + j) * kh * kw..(ci * cout_g + j + 1) * kh * kw];
            for iy in 0..h {
                for ix in 0..wd {
                    let v = plane[iy * wd + ix] as i64;
                    if v == 0 {
                        continue;
                    }
                    for ky in 0..kh {
                        let oy =
                            (iy * a.strides[0] + ky * a.dilations[0]) as isize - a.pads[0] as isize;
                        if oy < 0 || oy >= oh as isize {
                            continue;
                        }
                        for kx in 0..kw {
                            let ox = (ix * a.strides[1] + kx * a.dilations[1]) as isize
                                - a.pads[1] as isize;
                            if ox >= 0 && (ox as usize) < ow {
                                acc[oy as usize * ow + ox as usize] += v * wk[ky * kw + kx] as i64;
                            }
                        }
                    }
                }
            }
        }
        for (o, &a) in o.iter_mut().zip(&acc) {
            *o = ep.finish(c, a);
        }
    });
    Ok(outv)
}
