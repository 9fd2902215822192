//! The requantization epilogue over a row of i32 accumulators, vectorised.
//!
//! `out[i] = clamp(round_half_away((acc[i] + bias) · mult / 2^shift), lo, hi)`, computed in i64
//! exactly as [`radix_ir::qmodel::Requant::apply`] followed by saturation and the activation clamp
//! (docs/FIXED_POINT.md). The caller guarantees `|acc + bias| < 2^31` and `|mult| < 2^31`, so the
//! product never leaves i64, and `1 <= shift <= 62`.

/// The plain reading of the formula (also the tail of the vector loop).
#[inline(always)]
fn one(v: i32, bias: i64, mult: i64, shift: u32, lo: i64, hi: i64) -> i32 {
    let p = (v as i64 + bias) * mult;
    let sign = p >> 63; // 0 or -1
    let mag = ((p ^ sign) - sign + (1i64 << (shift - 1))) >> shift;
    ((mag ^ sign) - sign).clamp(lo, hi) as i32
}

/// See the module doc.
#[allow(clippy::too_many_arguments)]
pub(crate) fn requant_row(
    acc: &[i32],
    bias: i64,
    mult: i64,
    shift: u32,
    lo: i64,
    hi: i64,
    out: &mut [i32],
) {
    debug_assert!((1..=62).contains(&shift) && acc.len() == out.len());
    let mut done = 0;
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx512f")
        && std::arch::is_x86_feature_detected!("avx512dq")
    {
        // SAFETY: the CPU has AVX-512F/DQ.
        done = unsafe { x86::requant_row(acc, bias, mult, shift, lo, hi, out) };
    }
    for (o, &v) in out[done..].iter_mut().zip(&acc[done..]) {
        *o = one(v, bias, mult, shift, lo, hi);
    }
}

/// Elementwise `out = clamp(round_half_away((a·ma + b·mb) / 2^shift), -q, q)`: the integer Add
/// of [`radix_ir::qmodel::AddRequant::apply`] plus saturation. Operands are tensor values (|v| <
/// 2^31) and `|ma|, |mb| < 2^31`, so the sum stays inside i64; `1 <= shift <= 62`.
pub(crate) fn add_rows(
    a: &[i32],
    b: &[i32],
    ma: i64,
    mb: i64,
    shift: u32,
    q: i64,
    out: &mut [i32],
) {
    #[inline(always)]
    fn body(a: &[i32], b: &[i32], ma: i64, mb: i64, shift: u32, q: i64, out: &mut [i32]) {
        let half = 1i64 << (shift - 1);
        for ((o, &x), &y) in out.iter_mut().zip(a).zip(b) {
            let p = x as i64 * ma + y as i64 * mb;
            let sign = p >> 63;
            let mag = ((p ^ sign) - sign + half) >> shift;
            *o = ((mag ^ sign) - sign).clamp(-q, q) as i32;
        }
    }
    debug_assert!((1..=62).contains(&shift));
    #[cfg(target_arch = "x86_64")]
    {
        #[target_feature(enable = "avx512f,avx512dq,avx512vl,avx2")]
        fn v4(a: &[i32], b: &[i32], ma: i64, mb: i64, shift: u32, q: i64, out: &mut [i32]) {
            body(a, b, ma, mb, shift, q, out)
        }
        if std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx512dq")
            && std::arch::is_x86_feature_detected!("avx512vl")
        {
            // SAFETY: the CPU has every feature `v4` is compiled for.
            return unsafe { v4(a, b, ma, mb, shift, q, out) };
        }
    }
    body(a, b, ma, mb, shift, q, out)
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    /// Whole groups of 8; returns how many elements it wrote.
    ///
    /// # Safety
    /// AVX-512F/DQ present.
    #[target_feature(enable = "avx512f,avx512dq")]
    #[allow(clippy::too_many_arguments)]
    pub(super) unsafe fn requant_row(
        acc: &[i32],
        bias: i64,
        mult: i64,
        shift: u32,
        lo: i64,
        hi: i64,
        out: &mut [i32],
    ) -> usize {
        let n = acc.len().min(out.len()) / 8 * 8;
        let (b, m) = (_mm512_set1_epi64(bias), _mm512_set1_epi64(mult));
        let half = _mm512_set1_epi64(1i64 << (shift - 1));
        let (lo, hi) = (_mm512_set1_epi64(lo), _mm512_set1_epi64(hi));
        let cnt = _mm_set_epi64x(0, shift as i64);
        let zero = _mm512_setzero_si512();
        let mut i = 0;
        while i < n {
            // SAFETY: i + 8 <= n <= acc.len(), out.len().
            unsafe {
                let v = _mm512_cvtepi32_epi64(_mm256_loadu_si256(acc.as_ptr().add(i) as *const _));
                let p = _mm512_mullo_epi64(_mm512_add_epi64(v, b), m);
                let neg = _mm512_cmplt_epi64_mask(p, zero);
                let mag = _mm512_srl_epi64(_mm512_add_epi64(_mm512_abs_epi64(p), half), cnt);
                let r = _mm512_mask_sub_epi64(mag, neg, zero, mag);
                let r = _mm512_max_epi64(_mm512_min_epi64(r, hi), lo);
                _mm256_storeu_si256(out.as_mut_ptr().add(i) as *mut _, _mm512_cvtepi64_epi32(r));
            }
            i += 8;
        }
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use radix_ir::qmodel::{AddRequant, Requant, saturate};

    #[test]
    fn vector_adds_match_add_requant_apply() {
        let mut seed = 0x1234_5678_9abc_def1u64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for _ in 0..200 {
            let len = (next() % 70) as usize;
            let rq = AddRequant {
                ma: (next() % (1 << 20)) as i32 - (1 << 19),
                mb: (next() % (1 << 20)) as i32 - (1 << 19),
                shift: (next() % 40) as i32 + 1,
            };
            let bits = if next() % 2 == 0 { 8 } else { 16 };
            let q = radix_ir::qmodel::qmax(bits);
            let a: Vec<i32> = (0..len)
                .map(|_| (next() % (2 * q as u64 + 1)) as i32 - q)
                .collect();
            let b: Vec<i32> = (0..len)
                .map(|_| (next() % (2 * q as u64 + 1)) as i32 - q)
                .collect();
            let mut out = vec![0; len];
            add_rows(
                &a,
                &b,
                rq.ma as i64,
                rq.mb as i64,
                rq.shift as u32,
                q as i64,
                &mut out,
            );
            for i in 0..len {
                let want = saturate(rq.apply(a[i] as i64, b[i] as i64), bits);
                assert_eq!(out[i], want, "{} {} {rq:?}", a[i], b[i]);
            }
        }
    }

    #[test]
    fn vector_rows_match_requant_apply() {
        let mut seed = 0x2545f4914f6cdd1du64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for _ in 0..200 {
            let len = (next() % 70) as usize;
            let mult = (next() % (1 << 15)) as i32 + 1;
            let shift = (next() % 40) as i32 + 1;
            let bias = (next() % 2_000_001) as i64 - 1_000_000;
            let bits = if next() % 2 == 0 { 8 } else { 16 };
            let (lo, hi) = (-((next() % 200) as i64), (next() % 40_000) as i64);
            let acc: Vec<i32> = (0..len)
                .map(|_| (next() % 2_000_000_001) as i64 as i32 - 1_000_000_000)
                .map(|v| v / 2)
                .collect();
            let q = radix_ir::qmodel::qmax(bits) as i64;
            let mut out = vec![0; len];
            requant_row(
                &acc,
                bias,
                mult as i64,
                shift as u32,
                lo.max(-q),
                hi.min(q),
                &mut out,
            );
            let rq = Requant { mult, shift };
            for (&a, &o) in acc.iter().zip(&out) {
                let want = saturate(rq.apply(a as i64 + bias), bits).clamp(lo as i32, hi as i32);
                assert_eq!(o, want, "acc {a} bias {bias} {rq:?}");
            }
        }
    }
}
