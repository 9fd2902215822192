//! Depthwise convolution over phase-split, zero-padded planes (AVX-512 chosen at run time; 3x3
//! taps requantized in the same pass when the sums are exact in i32).

use radix_ir::op::ConvAttrs;
use rayon::prelude::*;

use super::acc::{Acc, Epilogue};
use crate::fixed::epilogue;

/// Depthwise conv over a zero-padded, phase-split copy of each plane (no bounds checks and only
/// contiguous reads in the inner loops), parallel over channels.
pub(super) fn depthwise<T: Acc>(
    xd: &[i32],
    w: &[i32],
    a: &ConvAttrs,
    dims: [usize; 4],
    outv: &mut [i32],
    ep: &Epilogue<'_>,
    small: bool,
) {
    let [h, wd, oh, ow] = dims;
    let hw = oh * ow;
    let kk = a.kernel[0] * a.kernel[1];
    if hw == 0 {
        return;
    }
    outv.par_chunks_mut(hw)
        .enumerate()
        .for_each_init(DwBuf::default, |buf, (c, o)| {
            let plane = &xd[c * h * wd..(c + 1) * h * wd];
            let wc = &w[c * kk..(c + 1) * kk];
            dw_plane::<T>(plane, wc, a, dims, c, o, ep, small, buf);
        });
}

/// Per-task buffer of the depthwise kernel: the phase-split padded plane and its geometry.
#[derive(Default)]
struct DwBuf {
    key: [usize; 7],
    q: Vec<i32>,
}

/// One depthwise output plane, compiled for AVX-512 when the CPU has it (the loops are the same).
#[allow(clippy::too_many_arguments)]
fn dw_plane<T: Acc>(
    plane: &[i32],
    wc: &[i32],
    a: &ConvAttrs,
    dims: [usize; 4],
    c: usize,
    o: &mut [i32],
    ep: &Epilogue<'_>,
    small: bool,
    buf: &mut DwBuf,
) {
    #[cfg(target_arch = "x86_64")]
    {
        #[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vl,avx2")]
        #[allow(clippy::too_many_arguments)]
        fn v4<T: Acc>(
            plane: &[i32],
            wc: &[i32],
            a: &ConvAttrs,
            dims: [usize; 4],
            c: usize,
            o: &mut [i32],
            ep: &Epilogue<'_>,
            small: bool,
            buf: &mut DwBuf,
        ) {
            dw_plane_body::<T>(plane, wc, a, dims, c, o, ep, small, buf)
        }
        if std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx512bw")
            && std::arch::is_x86_feature_detected!("avx512dq")
            && std::arch::is_x86_feature_detected!("avx512vl")
        {
            // SAFETY: the CPU has every feature `v4` is compiled for.
            return unsafe { v4::<T>(plane, wc, a, dims, c, o, ep, small, buf) };
        }
    }
    dw_plane_body::<T>(plane, wc, a, dims, c, o, ep, small, buf)
}

/// The padded plane `P` (input at (pt, pl), zeros around) is stored as `sx` phase planes
/// `Q[b][y][j] = P[y][j*sx + b]`, so tap `(ky, kx)` of output row `oy` reads the contiguous run
/// `Q[(kx*dx) % sx][oy*sy + ky*dy][(kx*dx)/sx ..][..ow]`.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn dw_plane_body<T: Acc>(
    plane: &[i32],
    wc: &[i32],
    a: &ConvAttrs,
    [h, wd, oh, ow]: [usize; 4],
    c: usize,
    o: &mut [i32],
    ep: &Epilogue<'_>,
    small: bool,
    buf: &mut DwBuf,
) {
    let (kh, kw) = (a.kernel[0], a.kernel[1]);
    let (sy, sx, dy, dx) = (a.strides[0], a.strides[1], a.dilations[0], a.dilations[1]);
    let (pt, pl) = (a.pads[0], a.pads[1]);
    // Rows and columns the taps can reach (at least the input plus its leading pads).
    let ph = ((oh - 1) * sy + (kh - 1) * dy + 1).max(h + pt);
    let pw = ((ow - 1) * sx + (kw - 1) * dx + 1).max(wd + pl);
    let wq = pw.div_ceil(sx);
    let phase = ph * wq;
    // Every plane of a layer writes the same interior cells: the zero borders laid down for the
    // first plane stay valid for the next ones.
    let key = [h, wd, sx, pt, pl, ph, wq];
    if buf.key != key {
        buf.q.clear();
        buf.q.resize(sx * phase, 0);
        buf.key = key;
    }
    let q = &mut buf.q[..];
    for y in 0..h {
        let row = &plane[y * wd..(y + 1) * wd];
        for b in 0..sx {
            // input columns x with (x + pl) % sx == b land in phase b at column (x + pl) / sx
            let x0 = (b + sx - pl % sx) % sx;
            if x0 >= wd {
                continue;
            }
            let j0 = (x0 + pl) / sx;
            let cnt = (wd - x0).div_ceil(sx);
            let dst = &mut q[b * phase + (y + pt) * wq + j0..][..cnt];
            if sx == 1 {
                dst.copy_from_slice(row);
            } else if sx == 2 {
                crate::simd::gather2_i32(&row[x0..], dst);
            } else {
                for (k, d) in dst.iter_mut().enumerate() {
                    *d = row[x0 + k * sx];
                }
            }
        }
    }
    // The accumulator row lives on the stack for the usual widths (no allocation per plane).
    let mut stack = [T::default(); 256];
    let mut heap = Vec::new();
    let acc: &mut [T] = if ow <= stack.len() {
        &mut stack[..ow]
    } else {
        heap.resize(ow, T::default());
        &mut heap
    };
    let tap = |oy: usize, ky: usize, kx: usize| -> &[i32] {
        let cx = kx * dx;
        &q[(cx % sx) * phase + (oy * sy + ky * dy) * wq + cx / sx..][..ow]
    };
    if kh == 3
        && kw == 3
        && let Some((b, m, sh, lo, hi)) = ep.simple(c, small)
        && T::as_i32(&[]).is_some()
        && epilogue::vector_ok()
    {
        // i32 sums (proved exact), requantized in the same pass.
        let w: [i32; 9] = std::array::from_fn(|t| wc[t]);
        let offs: [usize; 9] = std::array::from_fn(|t| {
            let (ky, cx) = (t / 3, (t % 3) * dx);
            (cx % sx) * phase + ky * dy * wq + cx / sx
        });
        if epilogue::dw3x3_plane(q, &offs, sy * wq, ow, &w, (b, m, sh, lo, hi), o) {
            return;
        }
    }
    if kh == 3 && kw == 3 {
        // The nine taps summed per output with the accumulator in a register.
        let w: [T; 9] = std::array::from_fn(|t| T::from_i32(wc[t]));
        for oy in 0..oh {
            let n = acc.len();
            let (t0, t1, t2) = (
                &tap(oy, 0, 0)[..n],
                &tap(oy, 0, 1)[..n],
                &tap(oy, 0, 2)[..n],
            );
            let (t3, t4, t5) = (
                &tap(oy, 1, 0)[..n],
                &tap(oy, 1, 1)[..n],
                &tap(oy, 1, 2)[..n],
            );
            let (t6, t7, t8) = (
                &tap(oy, 2, 0)[..n],
                &tap(oy, 2, 1)[..n],
                &tap(oy, 2, 2)[..n],
            );
            let f = T::from_i32;
            for i in 0..n {
                let mut s = w[0] * f(t0[i]);
                s += w[1] * f(t1[i]);
                s += w[2] * f(t2[i]);
                s += w[3] * f(t3[i]);
                s += w[4] * f(t4[i]);
                s += w[5] * f(t5[i]);
                s += w[6] * f(t6[i]);
                s += w[7] * f(t7[i]);
                s += w[8] * f(t8[i]);
                acc[i] = s;
            }
            ep.finish_row(c, acc, &mut o[oy * ow..(oy + 1) * ow], small);
        }
        return;
    }
    for oy in 0..oh {
        acc.iter_mut().for_each(|v| *v = T::default());
        for ky in 0..kh {
            let y = oy * sy + ky * dy;
            for kx in 0..kw {
                let wv = T::from_i32(wc[ky * kw + kx]);
                let cx = kx * dx;
                let src = &q[(cx % sx) * phase + y * wq + cx / sx..][..ow];
                for (a, &v) in acc.iter_mut().zip(src) {
                    *a += wv * T::from_i32(v);
                }
            }
        }
        ep.finish_row(c, acc, &mut o[oy * ow..(oy + 1) * ow], small);
    }
}
