//! numpy-broadcast binary elementwise kernels (Add, Mul).

use rayon::prelude::*;

use crate::fixed::Operand;

/// numpy-broadcast binary op on integers.
///
/// The output is cut into runs over the innermost axes along which each operand is either
/// constant (broadcast) or contiguous, so the inner loop is a plain slice loop (a scalar times a
/// tensor, a per-channel constant, or two tensors of the same shape) and runs in parallel.
pub(super) fn broadcast2(
    a: &Operand<'_>,
    b: &Operand<'_>,
    out: &[usize],
    f: impl Fn(i32, i32) -> i32 + Sync,
) -> Result<Vec<i32>, String> {
    let nd = out.len();
    // Strides of an operand seen with the output's shape (0 along broadcast axes).
    let strides = |shape: &[usize], len: usize| -> Result<Vec<usize>, String> {
        if shape.len() > nd || shape.iter().product::<usize>() != len {
            return Err(format!("shape {shape:?} does not broadcast to {out:?}"));
        }
        let lead = nd - shape.len();
        let mut st = vec![0usize; nd];
        let mut acc = 1;
        for d in (0..shape.len()).rev() {
            let (s, o) = (shape[d], out[lead + d]);
            if s != o && s != 1 {
                return Err(format!("shape {shape:?} does not broadcast to {out:?}"));
            }
            st[lead + d] = if s == 1 { 0 } else { acc };
            acc *= s;
        }
        Ok(st)
    };
    let (sa, sb) = (
        strides(a.shape, a.data.len())?,
        strides(b.shape, b.data.len())?,
    );
    let total: usize = out.iter().product();
    // Innermost run: axes k.. along which each operand is constant or contiguous.
    let run_kind = |st: &[usize], k: usize| -> Option<bool> {
        let (mut constant, mut contiguous, mut acc) = (true, true, 1);
        for d in (k..nd).rev() {
            if out[d] != 1 {
                constant &= st[d] == 0;
                contiguous &= st[d] == acc;
            }
            acc *= out[d];
        }
        if constant {
            Some(true)
        } else if contiguous {
            Some(false)
        } else {
            None
        }
    };
    let mut k = nd;
    while k > 0 && run_kind(&sa, k - 1).is_some() && run_kind(&sb, k - 1).is_some() {
        k -= 1;
    }
    let inner: usize = out[k..].iter().product();
    let (a_const, b_const) = (
        run_kind(&sa, k).unwrap_or(true),
        run_kind(&sb, k).unwrap_or(true),
    );
    let mut res = vec![0i32; total];
    if inner == 0 {
        return Ok(res);
    }
    // Offsets of both operands at the start of run `r`.
    let offsets = |mut r: usize| -> (usize, usize) {
        let (mut oa, mut ob) = (0, 0);
        for d in (0..k).rev() {
            let i = r % out[d];
            r /= out[d];
            oa += i * sa[d];
            ob += i * sb[d];
        }
        (oa, ob)
    };
    // Runs in parallel; a long run is cut into `per_run` equal chunks of about 16K values.
    let mut per_run = inner.div_ceil(1 << 14);
    while !inner.is_multiple_of(per_run) {
        per_run += 1;
    }
    let chunk = inner / per_run;
    res.par_chunks_mut(chunk).enumerate().for_each(|(c, o)| {
        let (r, within) = (c / per_run, (c % per_run) * chunk);
        let (oa, ob) = offsets(r);
        let n = o.len();
        match (a_const, b_const) {
            (false, false) => {
                let (x, y) = (&a.data[oa + within..][..n], &b.data[ob + within..][..n]);
                for ((o, &x), &y) in o.iter_mut().zip(x).zip(y) {
                    *o = f(x, y);
                }
            }
            (true, false) => {
                let (x, y) = (a.data[oa], &b.data[ob + within..][..n]);
                for (o, &y) in o.iter_mut().zip(y) {
                    *o = f(x, y);
                }
            }
            (false, true) => {
                let (x, y) = (&a.data[oa + within..][..n], b.data[ob]);
                for (o, &x) in o.iter_mut().zip(x) {
                    *o = f(x, y);
                }
            }
            (true, true) => o.fill(f(a.data[oa], b.data[ob])),
        }
    });
    Ok(res)
}
