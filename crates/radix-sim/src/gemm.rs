//! f32 matrix products for the engines.
//!
//! [`sgemm`] is one single-threaded product on strided matrices (the `gemm` crate underneath, which
//! picks AVX-512 / AVX2+FMA / SSE kernels at run time). [`par_sgemm`] tiles a row-major output into
//! blocks, runs the blocks in parallel in the current rayon pool and applies an epilogue (bias,
//! activation) to each block while it is still in cache.

use rayon::prelude::*;

/// A read-only strided matrix: element `(i, j)` is `data[i * rs + j * cs]`.
#[derive(Clone, Copy, Debug)]
pub struct MatRef<'a> {
    /// The elements, starting at `(0, 0)`.
    pub data: &'a [f32],
    /// Number of rows.
    pub rows: usize,
    /// Number of columns.
    pub cols: usize,
    /// Row stride, in elements.
    pub rs: usize,
    /// Column stride, in elements.
    pub cs: usize,
}

impl<'a> MatRef<'a> {
    /// A contiguous row-major matrix.
    pub fn row_major(data: &'a [f32], rows: usize, cols: usize) -> Self {
        MatRef {
            data,
            rows,
            cols,
            rs: cols,
            cs: 1,
        }
    }

    /// True when every element lies inside `data`.
    fn in_bounds(&self) -> bool {
        self.rows == 0
            || self.cols == 0
            || (self.rows - 1) * self.rs + (self.cols - 1) * self.cs < self.data.len()
    }

    /// The sub-matrix of columns `c0..c0 + cols`.
    pub fn cols_range(self, c0: usize, cols: usize) -> Self {
        debug_assert!(c0 + cols <= self.cols);
        let off = (c0 * self.cs).min(self.data.len());
        MatRef {
            data: &self.data[off..],
            cols,
            ..self
        }
    }

    /// The sub-matrix of rows `r0..r0 + rows`.
    pub fn rows_range(self, r0: usize, rows: usize) -> Self {
        debug_assert!(r0 + rows <= self.rows);
        let off = (r0 * self.rs).min(self.data.len());
        MatRef {
            data: &self.data[off..],
            rows,
            ..self
        }
    }
}

/// `c[m×n] (row stride ldc, column stride 1) (+)= a[m×k] · b[k×n]`, single-threaded.
///
/// Panics when the shapes disagree or a matrix does not fit its slice: these are internal
/// invariants of the engines, never user data.
pub fn sgemm(a: MatRef<'_>, b: MatRef<'_>, c: &mut [f32], ldc: usize, accumulate: bool) {
    let (m, k, n) = (a.rows, a.cols, b.cols);
    assert_eq!(b.rows, k, "sgemm: inner dimensions differ");
    assert!(
        a.in_bounds() && b.in_bounds(),
        "sgemm: operand out of bounds"
    );
    if m == 0 || n == 0 {
        return;
    }
    assert!(
        ldc >= n && (m - 1) * ldc + n <= c.len(),
        "sgemm: output out of bounds"
    );
    // SAFETY: all three matrices were checked to lie inside their slices; `c` is exclusively
    // borrowed and its rows (stride ldc >= n) do not overlap.
    unsafe { sgemm_raw(m, n, k, a, b, c.as_mut_ptr(), ldc, accumulate) }
}

/// # Safety
/// `a` and `b` must be in bounds; `c` must point to an `m×n` block with row stride `ldc` that
/// nothing else reads or writes during the call.
#[allow(clippy::too_many_arguments)]
unsafe fn sgemm_raw(
    m: usize,
    n: usize,
    k: usize,
    a: MatRef<'_>,
    b: MatRef<'_>,
    c: *mut f32,
    ldc: usize,
    accumulate: bool,
) {
    if k == 0 {
        if !accumulate {
            for i in 0..m {
                // SAFETY: row i of the block is inside the caller's region.
                unsafe { std::slice::from_raw_parts_mut(c.add(i * ldc), n) }.fill(0.0);
            }
        }
        return;
    }
    // SAFETY: forwarded from the caller; strides are element strides of in-bounds matrices.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            c,
            1,
            ldc as isize,
            accumulate,
            a.data.as_ptr(),
            a.cs as isize,
            a.rs as isize,
            b.data.as_ptr(),
            b.cs as isize,
            b.rs as isize,
            1.0,
            1.0,
            false,
            false,
            false,
            gemm::Parallelism::None,
        )
    }
}

/// A raw output pointer shared by tasks that write disjoint blocks.
#[derive(Clone, Copy)]
pub(crate) struct SharedMut(pub(crate) *mut f32);

impl SharedMut {
    /// The pointer (a method, so closures capture the whole `Sync` wrapper, not the raw field).
    #[inline]
    pub(crate) fn ptr(self) -> *mut f32 {
        self.0
    }
}
// SAFETY: only used to hand disjoint regions of one exclusively borrowed buffer to rayon tasks.
unsafe impl Send for SharedMut {}
// SAFETY: as above.
unsafe impl Sync for SharedMut {}

/// How to cut an `m×n` output (inner size `k`) into blocks for `threads` threads:
/// returns `(rows per block, columns per block)`.
pub fn plan_tiles(m: usize, n: usize, k: usize, threads: usize) -> (usize, usize) {
    let threads = threads.max(1);
    if m.saturating_mul(n).saturating_mul(k.max(1)) < 1 << 16 {
        return (m.max(1), n.max(1));
    }
    let want = threads * 2;
    let nb = n
        .div_ceil(want)
        .next_multiple_of(16)
        .clamp(64, 1024)
        .min(n.max(1));
    let n_tiles = n.div_ceil(nb);
    let mut mb = m.max(1);
    if n_tiles < want && m >= 32 {
        let splits = want.div_ceil(n_tiles);
        mb = m.div_ceil(splits).next_multiple_of(16).min(m);
    }
    (mb, nb)
}

/// Epilogue applied to each computed block row: `(row, first column, values)`.
pub type Epilogue<'e> = &'e (dyn Fn(usize, usize, &mut [f32]) + Sync);

/// `c[m×n] (row-major, row stride ldc) = a · b`, cut into blocks computed in parallel in the
/// current rayon pool; `epilogue` (if any) runs on each block right after its product.
pub fn par_sgemm(
    a: MatRef<'_>,
    b: MatRef<'_>,
    c: &mut [f32],
    ldc: usize,
    epilogue: Option<Epilogue<'_>>,
) {
    let (m, k, n) = (a.rows, a.cols, b.cols);
    assert_eq!(b.rows, k, "par_sgemm: inner dimensions differ");
    assert!(
        a.in_bounds() && b.in_bounds(),
        "par_sgemm: operand out of bounds"
    );
    if m == 0 || n == 0 {
        return;
    }
    assert!(
        ldc >= n && (m - 1) * ldc + n <= c.len(),
        "par_sgemm: output out of bounds"
    );
    let (mb, nb) = plan_tiles(m, n, k, rayon::current_num_threads());
    let (mt, nt) = (m.div_ceil(mb), n.div_ceil(nb));
    let out = SharedMut(c.as_mut_ptr());
    let task = |t: usize| {
        let (ti, tj) = (t / nt, t % nt);
        let (r0, c0) = (ti * mb, tj * nb);
        let (rows, cols) = (mb.min(m - r0), nb.min(n - c0));
        // SAFETY: blocks of distinct tasks are disjoint and inside `c` (checked above).
        unsafe {
            let base = out.ptr().add(r0 * ldc + c0);
            sgemm_raw(
                rows,
                cols,
                k,
                a.rows_range(r0, rows),
                b.cols_range(c0, cols),
                base,
                ldc,
                false,
            );
            if let Some(epi) = epilogue {
                for r in 0..rows {
                    epi(
                        r0 + r,
                        c0,
                        std::slice::from_raw_parts_mut(base.add(r * ldc), cols),
                    );
                }
            }
        }
    };
    if mt * nt == 1 {
        task(0);
    } else {
        (0..mt * nt).into_par_iter().for_each(task);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(m: usize, n: usize, k: usize, a: &[f32], b: &[f32]) -> Vec<f32> {
        let mut c = vec![0.0; m * n];
        for i in 0..m {
            for j in 0..n {
                let mut s = 0.0f64;
                for p in 0..k {
                    s += a[i * k + p] as f64 * b[p * n + j] as f64;
                }
                c[i * n + j] = s as f32;
            }
        }
        c
    }

    #[test]
    fn par_sgemm_matches_naive_on_odd_shapes() {
        for &(m, n, k) in &[
            (1, 1, 1),
            (3, 5, 7),
            (17, 200, 33),
            (70, 49, 300),
            (5, 1500, 3),
            (40, 3, 0),
        ] {
            let a: Vec<f32> = (0..m * k)
                .map(|i| ((i * 37 % 101) as f32 - 50.0) / 50.0)
                .collect();
            let b: Vec<f32> = (0..k * n)
                .map(|i| ((i * 53 % 97) as f32 - 48.0) / 48.0)
                .collect();
            let want = naive(m, n, k, &a, &b);
            let mut c = vec![f32::NAN; m * n];
            par_sgemm(
                MatRef::row_major(&a, m, k),
                MatRef::row_major(&b, k, n),
                &mut c,
                n,
                None,
            );
            for (x, y) in c.iter().zip(&want) {
                assert!(
                    (x - y).abs() <= 1e-4 * (1.0 + y.abs()),
                    "{m}x{n}x{k}: {x} vs {y}"
                );
            }
        }
    }
}
