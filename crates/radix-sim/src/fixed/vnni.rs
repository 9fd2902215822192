//! Integer GEMM on AVX-512 VNNI: `C[M×N] = finish(A[M×K] · B[K×N])` for layers whose weights and
//! activations fit i16 and whose sums provably fit i32 (every 8-bit layer, most 16-bit ones).
//!
//! `vpdpwssd` multiplies pairs of i16 and adds both products to an i32 lane, wrapping on overflow.
//! The caller only takes this path when `Σ|w|·max|x| + |bias| < 2^31` for every output row
//! (`fits_i32`), so every partial sum is exact and the wrapped result equals the true one: the
//! outputs are bit-identical to the plain i64 loops.
//!
//! Layout: `A` is packed once per layer (at engine construction) as `[ceil(M/MR)][ceil(K/2)][MR]`
//! words, each word holding the i16 pair `(w[r, 2p], w[r, 2p+1])`; `B` is packed per call as
//! `[ceil(N/NR)][ceil(K/2)][NR]` words holding `(x[2p, j], x[2p+1, j])`. A K that is odd is padded
//! with a zero row. The micro-kernel keeps an `MR × NR` tile of i32 in 24 zmm registers.

use std::mem::MaybeUninit;

use rayon::prelude::*;

/// A row's requantization in the branch-free form: `(bias, mult, shift, lo, hi)`.
pub(crate) type Requant = (i64, i64, u32, i64, i64);

/// Output rows (channels) per micro-tile.
const MR: usize = 8;
/// Output columns (pixels) per micro-tile: three vectors of 16 lanes.
const NR: usize = 48;

/// True when the CPU runs the VNNI kernels (checked once per call site; cheap).
pub(crate) fn available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx512bw")
            && std::arch::is_x86_feature_detected!("avx512vnni")
            && std::arch::is_x86_feature_detected!("avx512dq")
            && std::arch::is_x86_feature_detected!("avx512vl")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Two i16 in one word: `lo` in bits 0..16, `hi` in bits 16..32.
#[inline(always)]
fn pair(lo: i32, hi: i32) -> i32 {
    ((lo as u16 as u32) | ((hi as u16 as u32) << 16)) as i32
}

fn fits_i16(v: i32) -> bool {
    (i16::MIN as i32..=i16::MAX as i32).contains(&v)
}

/// Weights of one GEMM (one conv group) packed for the micro-kernel.
#[derive(Debug, Clone)]
pub(crate) struct PackedW {
    pub m: usize,
    pub k: usize,
    /// `ceil(k / 2)`: pair rows.
    kp: usize,
    data: Vec<i32>,
}

impl PackedW {
    /// Packs a row-major `m × k` matrix; `None` when a weight does not fit i16.
    pub fn new(w: &[i32], m: usize, k: usize) -> Option<Self> {
        if w.len() != m * k || !w.iter().all(|&v| fits_i16(v)) {
            return None;
        }
        let kp = k.div_ceil(2);
        let mut data = vec![0i32; m.div_ceil(MR) * kp * MR];
        for (r, row) in w.chunks_exact(k.max(1)).take(m).enumerate() {
            let blk = &mut data[(r / MR) * kp * MR..][..kp * MR];
            for p in 0..kp {
                let hi = row.get(2 * p + 1).copied().unwrap_or(0);
                blk[p * MR + r % MR] = pair(row[2 * p], hi);
            }
        }
        Some(PackedW { m, k, kp, data })
    }

    fn block(&self, ib: usize) -> &[i32] {
        &self.data[ib * self.kp * MR..][..self.kp * MR]
    }
}

/// A raw output pointer shared by tasks that write disjoint tiles.
#[derive(Clone, Copy)]
struct SharedOut(*mut i32);
impl SharedOut {
    #[inline]
    fn ptr(self) -> *mut i32 {
        self.0
    }
}
// SAFETY: only used to hand disjoint tiles of one exclusively borrowed buffer to rayon tasks.
unsafe impl Send for SharedOut {}
// SAFETY: as above.
unsafe impl Sync for SharedOut {}

/// `out[r, j] = finish(r, acc[r, j])` with `acc = A · B`; `b` is row-major `k × n`, `out` is
/// row-major `m × n`. The caller guarantees `available()`, that every `b` value fits i16 and that
/// every sum fits i32 (see the module doc). `finish(row, accs, outs)` converts one row segment.
///
/// `simple(row)` gives the row's requantization `(bias, mult, shift, lo, hi)` when it has the
/// branch-free form of `epilogue` (then the micro-kernel requantizes its registers and stores
/// the outputs directly), else `None` (then `finish` converts the row).
pub(crate) fn gemm<F, S>(
    a: &PackedW,
    b: &[i32],
    n: usize,
    out: &mut [MaybeUninit<i32>],
    finish: &F,
    simple: &S,
) where
    F: Fn(usize, &[i32], &mut [i32]) + Sync,
    S: Fn(usize) -> Option<Requant> + Sync,
{
    let (m, k, kp) = (a.m, a.k, a.kp);
    assert!(b.len() >= k * n && out.len() >= m * n, "vnni::gemm: sizes");
    if m == 0 || n == 0 {
        return;
    }
    let nb = n.div_ceil(NR);
    // B panels, packed once per call into a buffer kept by the calling thread (taken out while
    // in use, so a nested call simply allocates its own). Stale values past the last column
    // only reach outputs that are never stored.
    let per = kp * NR;
    let mut panels = PANELS.with(|c| c.take());
    if panels.len() < nb * per {
        panels.resize(nb * per, 0);
    }
    let pack = |(jb, panel): (usize, &mut [i32])| pack_panel(b, k, kp, n, jb, panel);
    // Small matrices are packed on this thread: waking the pool costs more than the copy.
    if nb * per < 1 << 16 {
        panels[..nb * per]
            .chunks_mut(per.max(1))
            .enumerate()
            .for_each(pack);
    } else {
        panels[..nb * per]
            .par_chunks_mut(per.max(1))
            .enumerate()
            .for_each(pack);
    }
    run_tiles(a, &panels[..nb * per], n, out, finish, simple);
    PANELS.with(|c| c.replace(panels));
}

thread_local! {
    static PANELS: std::cell::Cell<Vec<i32>> = const { std::cell::Cell::new(Vec::new()) };
}

/// Packs column block `jb` of `b` (`k × n`, row-major) into `panel` as `[kp][NR]` pair words.
fn pack_panel(b: &[i32], k: usize, kp: usize, n: usize, jb: usize, panel: &mut [i32]) {
    #[inline(always)]
    fn body(b: &[i32], k: usize, kp: usize, n: usize, jb: usize, panel: &mut [i32]) {
        let j0 = jb * NR;
        let cols = NR.min(n - j0);
        for p in 0..kp {
            let lo = &b[2 * p * n + j0..][..cols];
            let dst = &mut panel[p * NR..][..cols];
            if 2 * p + 1 < k {
                let hi = &b[(2 * p + 1) * n + j0..][..cols];
                for ((d, &l), &h) in dst.iter_mut().zip(lo).zip(hi) {
                    *d = pair(l, h);
                }
            } else {
                for (d, &l) in dst.iter_mut().zip(lo) {
                    *d = pair(l, 0);
                }
            }
        }
    }
    #[cfg(target_arch = "x86_64")]
    {
        #[target_feature(enable = "avx512f,avx512bw,avx2")]
        fn v4(b: &[i32], k: usize, kp: usize, n: usize, jb: usize, panel: &mut [i32]) {
            body(b, k, kp, n, jb, panel)
        }
        if std::arch::is_x86_feature_detected!("avx512bw") {
            // SAFETY: the CPU has AVX-512F/BW (and AVX2).
            return unsafe { v4(b, k, kp, n, jb, panel) };
        }
    }
    body(b, k, kp, n, jb, panel)
}

/// The tiles of `out = finish(A · B)` over packed panels; writes every element of `out[..m*n]`.
fn run_tiles<F, S>(
    a: &PackedW,
    panels: &[i32],
    n: usize,
    out: &mut [MaybeUninit<i32>],
    finish: &F,
    simple: &S,
) where
    F: Fn(usize, &[i32], &mut [i32]) + Sync,
    S: Fn(usize) -> Option<Requant> + Sync,
{
    let (m, kp) = (a.m, a.kp);
    let (nb, mb) = (n.div_ceil(NR), m.div_ceil(MR));
    let per = kp * NR;
    let threads = rayon::current_num_threads().max(1);
    let want = threads * 3;
    let (jt, mt) = if threads == 1 || nb * mb * kp < 1 << 11 {
        (1, 1)
    } else if nb >= want {
        (want, 1)
    } else {
        (1, mb.min(want))
    };
    let part = |total: usize, parts: usize, i: usize| (i * total / parts, (i + 1) * total / parts);
    let dst = SharedOut(out.as_mut_ptr() as *mut i32);
    let task = |t: usize| {
        let (jlo, jhi) = part(nb, jt, t / mt);
        let (ilo, ihi) = part(mb, mt, t % mt);
        let mut tile = [[0i32; NR]; MR];
        for jb in jlo..jhi {
            let j0 = jb * NR;
            let cols = NR.min(n - j0);
            let panel = &panels[jb * per..][..per];
            for ib in ilo..ihi {
                let r0 = ib * MR;
                let rows = MR.min(m - r0);
                let rq: [Option<Requant>; MR] =
                    std::array::from_fn(|r| if r < rows { simple(r0 + r) } else { None });
                if rq[..rows].iter().all(Option::is_some) {
                    let rq = rq.map(|r| r.unwrap_or((0, 1, 1, 0, 0)));
                    // SAFETY: as below; rows r0 .. r0 + rows and columns j0 .. j0 + cols are
                    // inside `out` (row stride n) and written by this task only.
                    unsafe {
                        micro_requant(
                            kp,
                            a.block(ib),
                            panel,
                            &rq,
                            dst.ptr().add(r0 * n + j0),
                            n,
                            rows,
                            cols,
                        )
                    };
                    continue;
                }
                // SAFETY: `available()` was checked by the caller; the block holds kp*MR words and
                // the panel kp*NR.
                unsafe { micro(kp, a.block(ib), panel, &mut tile) };
                for (r, acc) in tile.iter().enumerate().take(rows) {
                    // SAFETY: row r0 + r < m, columns j0 .. j0 + cols < n: inside `out`; the tile
                    // (rows of this task, columns of this task) is written by this task only,
                    // and zeroed first so the slice is initialised.
                    let o = unsafe {
                        let p = dst.ptr().add((r0 + r) * n + j0);
                        std::ptr::write_bytes(p, 0, cols);
                        std::slice::from_raw_parts_mut(p, cols)
                    };
                    finish(r0 + r, &acc[..cols], o);
                }
            }
        }
    };
    if jt * mt == 1 {
        task(0);
    } else {
        (0..jt * mt).into_par_iter().for_each(task);
    }
}

/// # Safety
/// The CPU has AVX-512F/BW/VNNI; `a` holds `kp * MR` words and `b` `kp * NR`.
unsafe fn micro(kp: usize, a: &[i32], b: &[i32], tile: &mut [[i32; NR]; MR]) {
    debug_assert!(a.len() >= kp * MR && b.len() >= kp * NR);
    #[cfg(target_arch = "x86_64")]
    // SAFETY: forwarded from the caller.
    unsafe {
        x86::micro(kp, a.as_ptr(), b.as_ptr(), tile)
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = (kp, a, b, tile);
        unreachable!("VNNI kernels are only selected on x86_64");
    }
}

/// [`micro`] with the requantization applied to the registers and the outputs stored directly.
///
/// # Safety
/// As [`micro`]; `c` addresses a `rows × cols` tile with row stride `ldc`, `rows <= MR`,
/// `cols <= NR`; every `rq` shift is in 1..=62.
#[allow(clippy::too_many_arguments)]
unsafe fn micro_requant(
    kp: usize,
    a: &[i32],
    b: &[i32],
    rq: &[Requant; MR],
    c: *mut i32,
    ldc: usize,
    rows: usize,
    cols: usize,
) {
    debug_assert!(a.len() >= kp * MR && b.len() >= kp * NR && rows <= MR && cols <= NR);
    #[cfg(target_arch = "x86_64")]
    // SAFETY: forwarded from the caller.
    unsafe {
        x86::micro_requant(kp, a.as_ptr(), b.as_ptr(), rq, c, ldc, rows, cols)
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = (kp, a, b, rq, c, ldc, rows, cols);
        unreachable!("VNNI kernels are only selected on x86_64");
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    use super::super::epilogue::x86::{Params, mask, requant16};
    use super::{MR, NR, Requant};

    /// The `MR x NR` tile of i32 sums over `kp` i16 pairs (one VNNI step per pair).
    ///
    /// # Safety
    /// AVX-512F/BW/VNNI present; `a`: `kp*MR` words, `b`: `kp*NR` words.
    #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
    #[inline]
    unsafe fn accumulate(kp: usize, a: *const i32, b: *const i32) -> [[__m512i; 3]; MR] {
        let z = _mm512_setzero_si512();
        let mut acc = [[z; 3]; MR];
        for p in 0..kp {
            // SAFETY: p < kp, so the 48 words at b + p*NR and the 8 at a + p*MR are in bounds.
            unsafe {
                let bp = b.add(p * NR);
                let b0 = _mm512_loadu_si512(bp as *const _);
                let b1 = _mm512_loadu_si512(bp.add(16) as *const _);
                let b2 = _mm512_loadu_si512(bp.add(32) as *const _);
                let ap = a.add(p * MR);
                for (r, row) in acc.iter_mut().enumerate() {
                    let av = _mm512_set1_epi32(*ap.add(r));
                    row[0] = _mm512_dpwssd_epi32(row[0], av, b0);
                    row[1] = _mm512_dpwssd_epi32(row[1], av, b1);
                    row[2] = _mm512_dpwssd_epi32(row[2], av, b2);
                }
            }
        }
        acc
    }

    /// # Safety
    /// AVX-512F/BW/DQ/VL/VNNI present; pointers as in `super::micro_requant`.
    #[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vl,avx512vnni")]
    #[allow(clippy::too_many_arguments)]
    pub(super) unsafe fn micro_requant(
        kp: usize,
        a: *const i32,
        b: *const i32,
        rq: &[Requant; MR],
        c: *mut i32,
        ldc: usize,
        rows: usize,
        cols: usize,
    ) {
        // SAFETY: forwarded from the caller.
        let acc = unsafe { accumulate(kp, a, b) };
        for (r, row) in acc.iter().enumerate().take(rows) {
            let (bias, mult, shift, lo, hi) = rq[r];
            let prm = Params::new(bias, mult, shift, lo, hi);
            for (v, reg) in row.iter().enumerate() {
                let c0 = 16 * v;
                if c0 >= cols {
                    break;
                }
                // SAFETY: row r < rows, columns c0 .. min(c0 + 16, cols) are inside the tile.
                unsafe {
                    _mm512_mask_storeu_epi32(
                        c.add(r * ldc + c0),
                        mask(cols - c0),
                        requant16(*reg, &prm),
                    )
                };
            }
        }
    }

    /// # Safety
    /// AVX-512F/BW/VNNI present; `a`: `kp*MR` words, `b`: `kp*NR` words.
    #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
    pub(super) unsafe fn micro(
        kp: usize,
        a: *const i32,
        b: *const i32,
        tile: &mut [[i32; NR]; MR],
    ) {
        // SAFETY: forwarded from the caller.
        let acc = unsafe { accumulate(kp, a, b) };
        for (row, out) in acc.iter().zip(tile.iter_mut()) {
            for (v, reg) in row.iter().enumerate() {
                // SAFETY: 16 words at out[16*v..] (v < 3, NR = 48).
                unsafe { _mm512_storeu_si512(out.as_mut_ptr().add(16 * v) as *mut _, *reg) };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_plain_loops_on_odd_shapes() {
        if !available() {
            return;
        }
        let mut seed = 0x9e3779b97f4a7c15u64;
        let mut next = |lim: i32| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % (2 * lim as u64 + 1)) as i32 - lim
        };
        for &(m, k, n) in &[
            (1, 1, 1),
            (8, 2, 48),
            (9, 3, 49),
            (17, 27, 100),
            (20, 960, 49),
        ] {
            let w: Vec<i32> = (0..m * k).map(|_| next(127)).collect();
            let x: Vec<i32> = (0..k * n).map(|_| next(127)).collect();
            let pw = PackedW::new(&w, m, k).expect("fits");
            let mut out = vec![0i32; m * n];
            // SAFETY (of the view): i32 and MaybeUninit<i32> have the same layout.
            let view = unsafe {
                std::slice::from_raw_parts_mut(out.as_mut_ptr() as *mut MaybeUninit<i32>, m * n)
            };
            gemm(
                &pw,
                &x,
                n,
                view,
                &|_, acc: &[i32], o: &mut [i32]| o.copy_from_slice(acc),
                &|_| None,
            );
            for r in 0..m {
                for j in 0..n {
                    let want: i32 = (0..k).map(|p| w[r * k + p] * x[p * n + j]).sum();
                    assert_eq!(out[r * n + j], want, "m={m} k={k} n={n} r={r} j={j}");
                }
            }
        }
    }

    #[test]
    fn weights_outside_i16_are_refused() {
        assert!(PackedW::new(&[40_000, 0], 1, 2).is_none());
        assert!(PackedW::new(&[-32_768, 32_767], 1, 2).is_some());
    }
}
