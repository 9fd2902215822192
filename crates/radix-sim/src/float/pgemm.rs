//! GEMM with pre-packed weights for convolutions (AVX-512).
//!
//! `C[M×N] = act(A[M×K] · B[K×N] + bias)` where `A` (the weights, `M` = output channels) is packed
//! once into blocks of [`MR`] rows (`[M/MR][K][MR]`), and `B` (activations, `N` = output pixels) is
//! packed per block of [`NR`] columns by a [`PanelSource`] straight from the input tensor (plain
//! rows for a 1x1 conv, im2col gathering for the others), so im2col never materialises.
//! The micro-kernel keeps an `MR × NR` tile in 24 zmm registers and fuses bias and activation
//! into its stores. Blocks of columns (and, for small images, of rows) run in parallel in the
//! current rayon pool.
//!
//! Only used when the CPU has AVX-512F; [`available`] tells, and the engine falls back to the
//! `gemm` crate otherwise.

use std::cell::RefCell;

use radix_ir::Activation;
use rayon::prelude::*;

use crate::gemm::SharedMut;

/// Rows (output channels) per micro-tile.
pub(crate) const MR: usize = 8;
/// Columns (output pixels) per micro-tile: three 16-lane vectors.
pub(crate) const NR: usize = 48;

/// True when the CPU can run the packed AVX-512 kernels.
pub(crate) fn available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx512f")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Weights packed as `[ceil(M/MR)][K][MR]` (rows past `M` are zero).
#[derive(Debug, Clone)]
pub(crate) struct PackedA {
    pub m: usize,
    pub k: usize,
    data: Vec<f32>,
}

impl PackedA {
    /// Packs a row-major `m × k` matrix.
    pub fn new(a: &[f32], m: usize, k: usize) -> Self {
        let blocks = m.div_ceil(MR);
        let mut data = vec![0.0; blocks * k * MR];
        for (r, row) in a.chunks_exact(k.max(1)).take(m).enumerate() {
            let blk = &mut data[(r / MR) * k * MR..][..k * MR];
            for (p, &v) in row.iter().enumerate() {
                blk[p * MR + r % MR] = v;
            }
        }
        PackedA { m, k, data }
    }

    fn block(&self, b: usize) -> &[f32] {
        &self.data[b * self.k * MR..][..self.k * MR]
    }
}

/// Writes columns `j0 .. j0 + cols` (`cols <= NR`) of `B` into `dst` as `[K][NR]`.
/// Columns past `cols` may be left with any value: they only reach masked-out outputs.
pub(crate) trait PanelSource: Sync {
    fn pack(&self, j0: usize, cols: usize, dst: &mut [f32]);
    /// `B` itself and its row stride, when the kernel can read it in place (no packing).
    fn direct(&self) -> Option<(&[f32], usize)> {
        None
    }
}

thread_local! {
    /// Per-task panels (column-split mode).
    static PANEL: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
    /// All panels of a call in row-split mode (taken out while in use).
    static SHARED_PANELS: std::cell::Cell<Vec<f32>> = const { std::cell::Cell::new(Vec::new()) };
}

/// `c[M×N]` (row stride `ldc`) `= act(A · B + bias)`.
pub(crate) fn gemm_packed(
    a: &PackedA,
    n: usize,
    src: &dyn PanelSource,
    c: &mut [f32],
    ldc: usize,
    bias: Option<&[f32]>,
    act: Activation,
) {
    let (m, k) = (a.m, a.k);
    if m == 0 || n == 0 {
        return;
    }
    assert!(
        ldc >= n && (m - 1) * ldc + n <= c.len(),
        "gemm_packed: output out of bounds"
    );
    assert!(
        bias.is_none_or(|b| b.len() >= m),
        "gemm_packed: bias too short"
    );
    let (nb, mb) = (n.div_ceil(NR), m.div_ceil(MR));
    let threads = rayon::current_num_threads().max(1);
    let want = threads * 3;
    // Cut into ~3 tasks per thread (near-equal parts, so two threads get equal shares): along
    // columns when there are many, else along rows.
    let (jt, mt) = if threads == 1 || nb * mb * k < 1 << 12 {
        (1, 1)
    } else if nb >= want {
        (want, 1)
    } else {
        (1, mb.min(want))
    };
    // Part `i` of `parts` near-equal parts of `0..total`.
    let part = |total: usize, parts: usize, i: usize| (i * total / parts, (i + 1) * total / parts);
    let per = k * NR;
    let out = SharedMut(c.as_mut_ptr());
    // Rows ib_lo..ib_hi times the packed panels of column blocks jb_lo.. (panel i at i*per).
    let sweep = |ib_lo: usize, ib_hi: usize, jb_lo: usize, panels: &[f32]| {
        let blocks = panels.len() / per.max(1);
        for ib in ib_lo..ib_hi {
            let r0 = ib * MR;
            let rows = MR.min(m - r0);
            let mut bv = [0.0f32; MR];
            if let Some(b) = bias {
                bv[..rows].copy_from_slice(&b[r0..r0 + rows]);
            }
            let ablk = a.block(ib);
            for (i, panel) in panels.chunks_exact(per.max(1)).take(blocks).enumerate() {
                let j0 = (jb_lo + i) * NR;
                let cols = NR.min(n - j0);
                // SAFETY: the tile [r0, r0+rows) × [j0, j0+cols) is inside `c` (checked above)
                // and belongs to this task only; the panel and the A block hold k*NR and k*MR
                // values.
                unsafe {
                    micro(
                        k,
                        ablk,
                        panel,
                        NR,
                        out.ptr().add(r0 * ldc + j0),
                        ldc,
                        rows,
                        cols,
                        &bv,
                        act,
                    )
                };
            }
        }
    };
    if let Some((bm, ldb)) = src.direct() {
        assert!(
            k == 0 || (k - 1) * ldb + n <= bm.len(),
            "gemm_packed: B out of bounds"
        );
        let task = |t: usize| {
            let (tj, tm) = (t / mt, t % mt);
            let (jb_lo, jb_hi) = part(nb, jt, tj);
            let (ib_lo, ib_hi) = part(mb, mt, tm);
            for ib in ib_lo..ib_hi {
                let r0 = ib * MR;
                let rows = MR.min(m - r0);
                let mut bv = [0.0f32; MR];
                if let Some(b) = bias {
                    bv[..rows].copy_from_slice(&b[r0..r0 + rows]);
                }
                let ablk = a.block(ib);
                for jb in jb_lo..jb_hi {
                    let j0 = jb * NR;
                    let cols = NR.min(n - j0);
                    // SAFETY: as above; B rows p < k hold columns j0 .. j0 + cols at
                    // p * ldb + j0 (checked above), and only those are loaded.
                    unsafe {
                        micro(
                            k,
                            ablk,
                            &bm[j0..],
                            ldb,
                            out.ptr().add(r0 * ldc + j0),
                            ldc,
                            rows,
                            cols,
                            &bv,
                            act,
                        )
                    };
                }
            }
        };
        if jt * mt == 1 {
            task(0);
        } else {
            (0..jt * mt).into_par_iter().for_each(task);
        }
        return;
    }
    if jt == 1 && mt > 1 {
        // Few columns: pack them all once, then split the rows (output channels) over tasks.
        // The buffer is moved out of its cell while tasks run, so a nested call (work stealing)
        // simply allocates its own.
        let mut shared = SHARED_PANELS.with(|s| s.take());
        if shared.len() < per * nb {
            shared.resize(per * nb, 0.0);
        }
        for (jb, panel) in shared.chunks_exact_mut(per.max(1)).take(nb).enumerate() {
            src.pack(jb * NR, NR.min(n - jb * NR), panel);
        }
        let panels = &shared[..per * nb];
        (0..mt).into_par_iter().for_each(|tm| {
            let (ib_lo, ib_hi) = part(mb, mt, tm);
            sweep(ib_lo, ib_hi, 0, panels)
        });
        SHARED_PANELS.with(|s| s.replace(shared));
        return;
    }
    // Panels packed at once: as many column blocks as fit ~1 MiB (L2), so one block of A rows
    // sweeps them with its output rows written sequentially.
    let chunk = ((1 << 18) / per.max(1)).max(1);
    let task = |t: usize| {
        let (tj, tm) = (t / mt, t % mt);
        let (jb_lo, jb_hi) = part(nb, jt, tj);
        let (ib_lo, ib_hi) = part(mb, mt, tm);
        PANEL.with_borrow_mut(|panels| {
            let need = per * chunk.min(jb_hi - jb_lo);
            if panels.len() < need {
                panels.resize(need, 0.0);
            }
            let mut c0 = jb_lo;
            while c0 < jb_hi {
                let c1 = (c0 + chunk).min(jb_hi);
                for jb in c0..c1 {
                    let j0 = jb * NR;
                    src.pack(j0, NR.min(n - j0), &mut panels[(jb - c0) * per..][..per]);
                }
                sweep(ib_lo, ib_hi, c0, &panels[..(c1 - c0) * per]);
                c0 = c1;
            }
        });
    };
    if jt * mt == 1 {
        task(0);
    } else {
        (0..jt * mt).into_par_iter().for_each(task);
    }
}

/// # Safety
/// `c` must address a `rows × cols` tile (row stride `ldc`) owned by the caller; `a` holds
/// `k*MR` values and `b` rows `p < k` of `cols` values at `p * ldb`; the CPU must have
/// AVX-512F (checked by [`available`]).
#[allow(clippy::too_many_arguments)]
unsafe fn micro(
    k: usize,
    a: &[f32],
    b: &[f32],
    ldb: usize,
    c: *mut f32,
    ldc: usize,
    rows: usize,
    cols: usize,
    bias: &[f32; MR],
    act: Activation,
) {
    debug_assert!(a.len() >= k * MR && rows <= MR && cols <= NR);
    debug_assert!(k == 0 || b.len() >= (k - 1) * ldb + cols);
    #[cfg(target_arch = "x86_64")]
    // SAFETY: forwarded from the caller.
    unsafe {
        match cols.div_ceil(16) {
            1 => avx512::kernel::<1>(
                k,
                a.as_ptr(),
                b.as_ptr(),
                ldb,
                c,
                ldc,
                rows,
                cols,
                bias,
                act,
            ),
            2 => avx512::kernel::<2>(
                k,
                a.as_ptr(),
                b.as_ptr(),
                ldb,
                c,
                ldc,
                rows,
                cols,
                bias,
                act,
            ),
            _ => avx512::kernel::<3>(
                k,
                a.as_ptr(),
                b.as_ptr(),
                ldb,
                c,
                ldc,
                rows,
                cols,
                bias,
                act,
            ),
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = (k, a, b, ldb, c, ldc, rows, cols, bias, act);
        unreachable!("packed kernels are only selected on x86_64");
    }
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use std::arch::x86_64::*;

    use radix_ir::Activation;

    use super::MR;

    /// `MR × (16·NV)` tile: `c = act(a · b + bias)`, columns past `cols` not stored.
    ///
    /// # Safety
    /// AVX-512F present; `a`: `k*MR` values, `b`: `k*NR` values, `c`: a `rows × cols` tile with
    /// row stride `ldc`.
    #[target_feature(enable = "avx512f")]
    #[allow(clippy::too_many_arguments)]
    pub(super) unsafe fn kernel<const NV: usize>(
        k: usize,
        a: *const f32,
        b: *const f32,
        ldb: usize,
        c: *mut f32,
        ldc: usize,
        rows: usize,
        cols: usize,
        bias: &[f32; MR],
        act: Activation,
    ) {
        let mut acc = [[_mm512_setzero_ps(); NV]; MR];
        // Lanes of the last vector that hold real columns (all 16 for a full tile).
        let left = cols - 16 * (NV - 1);
        let last = if left >= 16 {
            u16::MAX
        } else {
            ((1u32 << left) - 1) as u16
        };
        for p in 0..k {
            // SAFETY: p < k: the `cols` values of row p of `b` (the last vector masked to them)
            // and the MR values of `a` are in bounds.
            unsafe {
                let bp = b.add(p * ldb);
                let mut bv = [_mm512_setzero_ps(); NV];
                for (v, x) in bv.iter_mut().enumerate() {
                    *x = if v + 1 < NV {
                        _mm512_loadu_ps(bp.add(16 * v))
                    } else {
                        _mm512_maskz_loadu_ps(last, bp.add(16 * v))
                    };
                }
                let ap = a.add(p * MR);
                for (r, row) in acc.iter_mut().enumerate() {
                    let av = _mm512_set1_ps(*ap.add(r));
                    for v in 0..NV {
                        row[v] = _mm512_fmadd_ps(av, bv[v], row[v]);
                    }
                }
            }
        }
        let zero = _mm512_setzero_ps();
        for (r, row) in acc.iter().enumerate() {
            if r >= rows {
                break;
            }
            let bb = _mm512_set1_ps(bias[r]);
            for (v, &x) in row.iter().enumerate() {
                let c0 = 16 * v;
                if c0 >= cols {
                    break;
                }
                let mut x = _mm512_add_ps(x, bb);
                x = match act {
                    Activation::None => x,
                    // maxps/minps return the second operand for NaN: NaN -> 0 / lower bound,
                    // as Activation::apply does.
                    Activation::Relu => _mm512_max_ps(x, zero),
                    Activation::Clip { min, max } => {
                        _mm512_min_ps(_mm512_max_ps(x, _mm512_set1_ps(min)), _mm512_set1_ps(max))
                    }
                    Activation::LeakyRelu { alpha } => {
                        let neg = _mm512_cmp_ps_mask::<_CMP_LT_OQ>(x, zero);
                        _mm512_mask_mul_ps(x, neg, x, _mm512_set1_ps(alpha))
                    }
                };
                let left = cols - c0;
                // SAFETY: row r < rows and columns c0 .. c0 + min(16, left) are inside the tile.
                unsafe {
                    let dst = c.add(r * ldc + c0);
                    if left >= 16 {
                        _mm512_storeu_ps(dst, x);
                    } else {
                        _mm512_mask_storeu_ps(dst, ((1u32 << left) - 1) as u16, x);
                    }
                }
            }
        }
    }
}
