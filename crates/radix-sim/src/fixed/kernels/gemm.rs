//! Integer GEMMs: the blocked `MR x NT` tile GEMM behind convolutions (i32 or i64
//! accumulators, AVX2 chosen at run time) and the Gemm op (i16 dot products when exact).

use rayon::prelude::*;

use super::acc::{Acc, Epilogue};
use super::bounds::{MacPrep, fits_i32, input_bound};
use crate::fixed::Operand;

/// Rows of output channels computed together (each column tile of the input is reused this often).
const MR: usize = 8;
/// Columns per tile: MR accumulator rows of NT values stay in L1.
const NT: usize = 128;

/// One MR x NT tile: `acc[r][j] += Σ_k w[co0 + r, k] * col[k, n0 + j]`.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn tile_body<T: Acc>(
    acc: &mut [[T; NT]; MR],
    rows: usize,
    w: &[i32],
    col: &[i32],
    k: usize,
    hw: usize,
    n0: usize,
    nt: usize,
    co0: usize,
) {
    for kk in 0..k {
        let xr = &col[kk * hw + n0..kk * hw + n0 + nt];
        for (r, arow) in acc.iter_mut().enumerate().take(rows) {
            let wv = T::from_i32(w[(co0 + r) * k + kk]);
            for (a, &v) in arow[..nt].iter_mut().zip(xr) {
                *a += wv * T::from_i32(v);
            }
        }
    }
}

/// The same loop compiled for AVX2 (8 i32 lanes); chosen at run time, never by build flags.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[allow(clippy::too_many_arguments)]
fn tile_avx2<T: Acc>(
    acc: &mut [[T; NT]; MR],
    rows: usize,
    w: &[i32],
    col: &[i32],
    k: usize,
    hw: usize,
    n0: usize,
    nt: usize,
    co0: usize,
) {
    tile_body(acc, rows, w, col, k, hw, n0, nt, co0)
}

#[inline]
#[allow(clippy::too_many_arguments)]
fn tile<T: Acc>(
    acc: &mut [[T; NT]; MR],
    rows: usize,
    w: &[i32],
    col: &[i32],
    k: usize,
    hw: usize,
    n0: usize,
    nt: usize,
    co0: usize,
) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU supports AVX2 (checked just above); tile_avx2 is safe Rust otherwise.
        return unsafe { tile_avx2(acc, rows, w, col, k, hw, n0, nt, co0) };
    }
    tile_body(acc, rows, w, col, k, hw, n0, nt, co0)
}

/// `out[co, n] = ep(Σ_k w[co, k] * col[k, n])`, blocked MR channels x NT columns, parallel over
/// channel blocks.
#[allow(clippy::too_many_arguments)]
pub(super) fn gemm_blocked<T: Acc>(
    w: &[i32],
    col: &[i32],
    k: usize,
    hw: usize,
    out: &mut [i32],
    base: usize,
    ep: &Epilogue<'_>,
    small: bool,
) {
    out.par_chunks_mut(MR * hw)
        .enumerate()
        .for_each(|(blk, oblk)| {
            let rows = oblk.len() / hw;
            let co0 = blk * MR;
            let mut acc = [[T::default(); NT]; MR];
            let mut n0 = 0;
            while n0 < hw {
                let nt = NT.min(hw - n0);
                for row in acc.iter_mut().take(rows) {
                    row.iter_mut().for_each(|v| *v = T::default());
                }
                tile(&mut acc, rows, w, col, k, hw, n0, nt, co0);
                for (r, arow) in acc.iter().enumerate().take(rows) {
                    ep.finish_row(
                        base + co0 + r,
                        &arow[..nt],
                        &mut oblk[r * hw + n0..r * hw + n0 + nt],
                        small,
                    );
                }
                n0 += nt;
            }
        });
}

pub(super) fn gemm(
    x: Operand<'_>,
    w: &[i32],
    prep: Option<&MacPrep>,
    out: &[usize],
    ep: &Epilogue<'_>,
) -> Result<Vec<i32>, String> {
    let (m, k) = (x.shape[0], x.shape[1]);
    let nn = out[1];
    if w.len() != nn * k {
        return Err("Gemm weight size mismatch".into());
    }
    let mut outv = vec![0i32; m * nn];
    let xmax = input_bound(prep, x.data);
    let w16 = prep
        .and_then(|p| p.w16.as_deref())
        .filter(|_| xmax <= i16::MAX as i64 && fits_i32(prep, w, k, xmax, ep.bias));
    if let Some(w16) = w16 {
        // Every sum fits i32 (checked): i16 dot products, exact.
        let x16: Vec<i16> = x.data.iter().map(|&v| v as i16).collect();
        outv.par_chunks_mut(nn).enumerate().for_each(|(r, orow)| {
            let xr = &x16[r * k..(r + 1) * k];
            orow.par_chunks_mut(64).enumerate().for_each(|(blk, o)| {
                for (i, o) in o.iter_mut().enumerate() {
                    let c = blk * 64 + i;
                    *o = ep.finish(c, dot_i16(&w16[c * k..(c + 1) * k], xr) as i64);
                }
            });
        });
        return Ok(outv);
    }
    outv.par_chunks_mut(nn).enumerate().for_each(|(r, orow)| {
        let xr = &x.data[r * k..(r + 1) * k];
        for (c, o) in orow.iter_mut().enumerate() {
            let wr = &w[c * k..(c + 1) * k];
            let acc: i64 = xr.iter().zip(wr).map(|(&a, &b)| a as i64 * b as i64).sum();
            *o = ep.finish(c, acc);
        }
    });
    Ok(outv)
}

#[inline(always)]
fn dot_i16_body(a: &[i16], b: &[i16]) -> i32 {
    // Wrapping: the caller proved the exact sum (and every partial sum) fits i32.
    a.iter()
        .zip(b)
        .fold(0i32, |s, (&x, &y)| s.wrapping_add(x as i32 * y as i32))
}

/// `Σ a[i]·b[i]` in i32 (vectorised to `vpmaddwd` where the CPU has AVX-512BW or AVX2).
fn dot_i16(a: &[i16], b: &[i16]) -> i32 {
    #[cfg(target_arch = "x86_64")]
    {
        #[target_feature(enable = "avx512f,avx512bw,avx2")]
        fn v4(a: &[i16], b: &[i16]) -> i32 {
            dot_i16_body(a, b)
        }
        #[target_feature(enable = "avx2")]
        fn v3(a: &[i16], b: &[i16]) -> i32 {
            dot_i16_body(a, b)
        }
        if std::arch::is_x86_feature_detected!("avx512bw") {
            // SAFETY: the CPU has AVX-512F/BW (and so AVX2).
            return unsafe { v4(a, b) };
        }
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU has AVX2.
            return unsafe { v3(a, b) };
        }
    }
    dot_i16_body(a, b)
}
