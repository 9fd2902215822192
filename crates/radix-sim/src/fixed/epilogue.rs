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
    if vector_ok() {
        // SAFETY: the CPU has AVX-512F/DQ/VL.
        done = unsafe { x86::requant_row(acc, bias, mult, shift, lo, hi, out) };
    }
    for (o, &v) in out[done..].iter_mut().zip(&acc[done..]) {
        *o = one(v, bias, mult, shift, lo, hi);
    }
}

/// One output plane of a 3x3 depthwise conv with the requantization fused:
/// `out[oy*ow + i] = requant(Σ_t w[t] · q[oy*row_step + offs[t] + i] + bias)` (module doc), the
/// sums in i32: the caller proved every sum and product fits i32. Returns false (nothing
/// written) when the CPU lacks AVX-512.
#[allow(clippy::too_many_arguments)]
pub(crate) fn dw3x3_plane(
    q: &[i32],
    offs: &[usize; 9],
    row_step: usize,
    ow: usize,
    w: &[i32; 9],
    rq: (i64, i64, u32, i64, i64),
    out: &mut [i32],
) -> bool {
    let oh = out.len().checked_div(ow).unwrap_or(0);
    if oh == 0 {
        return true;
    }
    let reach = offs.iter().max().copied().unwrap_or(0) + (oh - 1) * row_step + ow;
    assert!(reach <= q.len() && out.len() == oh * ow && (1..=62).contains(&rq.2));
    #[cfg(target_arch = "x86_64")]
    if vector_ok() {
        let (bias, mult, shift, lo, hi) = rq;
        // SAFETY: AVX-512F/DQ/VL checked; every read is below `reach` (checked above).
        unsafe {
            let p = x86::Params::new(bias, mult, shift, lo, hi);
            for (oy, row) in out.chunks_exact_mut(ow).enumerate() {
                x86::dw3x3_row(q.as_ptr().add(oy * row_step), offs, w, &p, row);
            }
        }
        return true;
    }
    let _ = (w, out);
    false
}

/// True when the AVX-512 paths of this module run.
pub(crate) fn vector_ok() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx512dq")
            && std::arch::is_x86_feature_detected!("avx512vl")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
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
pub(crate) mod x86 {
    use std::arch::x86_64::*;

    /// The requantization of 8 i64 lanes (see the module doc).
    #[inline]
    #[target_feature(enable = "avx512f,avx512dq,avx512vl")]
    fn requant8(v: __m512i, p: &Params) -> __m512i {
        // `v + bias` and `mult` fit i32 (module doc), so the signed 32x32->64 multiply of the
        // low halves (one µop) is the exact product.
        let prod = _mm512_mul_epi32(_mm512_add_epi64(v, p.bias), p.mult);
        let neg = _mm512_cmplt_epi64_mask(prod, _mm512_setzero_si512());
        let mag = _mm512_srl_epi64(_mm512_add_epi64(_mm512_abs_epi64(prod), p.half), p.cnt);
        let r = _mm512_mask_sub_epi64(mag, neg, _mm512_setzero_si512(), mag);
        _mm512_max_epi64(_mm512_min_epi64(r, p.hi), p.lo)
    }

    /// The requantization of 16 i32 lanes to 16 i32 outputs.
    #[inline]
    #[target_feature(enable = "avx512f,avx512dq,avx512vl")]
    pub(crate) fn requant16(acc: __m512i, p: &Params) -> __m512i {
        let lo = _mm512_cvtepi32_epi64(_mm512_castsi512_si256(acc));
        let hi = _mm512_cvtepi32_epi64(_mm512_extracti64x4_epi64::<1>(acc));
        let lo = _mm512_cvtepi64_epi32(requant8(lo, p));
        let hi = _mm512_cvtepi64_epi32(requant8(hi, p));
        _mm512_inserti64x4::<1>(_mm512_castsi256_si512(lo), hi)
    }

    /// Broadcast constants of one requantization.
    pub(crate) struct Params {
        bias: __m512i,
        mult: __m512i,
        half: __m512i,
        lo: __m512i,
        hi: __m512i,
        cnt: __m128i,
    }

    impl Params {
        #[target_feature(enable = "avx512f")]
        pub(crate) fn new(bias: i64, mult: i64, shift: u32, lo: i64, hi: i64) -> Params {
            Params {
                bias: _mm512_set1_epi64(bias),
                mult: _mm512_set1_epi64(mult),
                half: _mm512_set1_epi64(1i64 << (shift - 1)),
                lo: _mm512_set1_epi64(lo),
                hi: _mm512_set1_epi64(hi),
                cnt: _mm_set_epi64x(0, shift as i64),
            }
        }
    }

    /// Lanes `0..n` of a 16-lane step.
    #[inline]
    pub(crate) fn mask(n: usize) -> __mmask16 {
        if n >= 16 {
            0xffff
        } else {
            ((1u32 << n) - 1) as __mmask16
        }
    }

    /// The whole row, the tail with masked loads and stores; returns how many it wrote.
    ///
    /// # Safety
    /// AVX-512F/DQ/VL present.
    #[target_feature(enable = "avx512f,avx512dq,avx512vl")]
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
        let n = acc.len().min(out.len());
        let p = Params::new(bias, mult, shift, lo, hi);
        let mut i = 0;
        while i < n {
            let k = mask(n - i);
            // SAFETY: the mask limits loads and stores to lanes i .. n.
            unsafe {
                let v = _mm512_maskz_loadu_epi32(k, acc.as_ptr().add(i));
                _mm512_mask_storeu_epi32(out.as_mut_ptr().add(i), k, requant16(v, &p));
            }
            i += 16;
        }
        n
    }

    /// One output row of a 3x3 depthwise conv: `out[i] = requant(Σ_t w[t] · q[offs[t] + i])`,
    /// the sums in i32 (the caller proved they fit).
    ///
    /// # Safety
    /// AVX-512F/DQ/VL present; `q + offs[t] + out.len()` stays inside one allocation.
    #[target_feature(enable = "avx512f,avx512dq,avx512vl")]
    pub(super) unsafe fn dw3x3_row(
        q: *const i32,
        offs: &[usize; 9],
        w: &[i32; 9],
        p: &Params,
        out: &mut [i32],
    ) {
        let n = out.len();
        let wv: [__m512i; 9] = std::array::from_fn(|t| _mm512_set1_epi32(w[t]));
        let mut i = 0;
        while i < n {
            let k = mask(n - i);
            // SAFETY: the mask limits loads to lanes below n of each tap (in bounds by the
            // caller's contract) and the store to out[i .. n].
            unsafe {
                let mut acc =
                    _mm512_mullo_epi32(wv[0], _mm512_maskz_loadu_epi32(k, q.add(offs[0] + i)));
                for t in 1..9 {
                    let x = _mm512_maskz_loadu_epi32(k, q.add(offs[t] + i));
                    acc = _mm512_add_epi32(acc, _mm512_mullo_epi32(wv[t], x));
                }
                _mm512_mask_storeu_epi32(out.as_mut_ptr().add(i), k, requant16(acc, p));
            }
            i += 16;
        }
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
