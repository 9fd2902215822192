//! Run-time CPU dispatch for the hand-written loops.
//!
//! Builds target plain x86-64 (SSE2), so loops that should use AVX2/AVX-512 and FMA are written
//! once as `#[inline(always)]` generic bodies over [`Madd`] and instantiated inside
//! `#[target_feature]` wrappers by [`multiversion!`], picked at run time.

/// Multiply-add policy: fused (`mul_add`, only inside FMA-enabled code) or plain.
pub(crate) trait Madd {
    fn madd(a: f32, b: f32, c: f32) -> f32;
}

/// Fused multiply-add; only instantiated inside functions compiled with the `fma` feature.
#[allow(dead_code)]
pub(crate) struct Fma;
impl Madd for Fma {
    #[inline(always)]
    fn madd(a: f32, b: f32, c: f32) -> f32 {
        a.mul_add(b, c)
    }
}

/// `a * b + c` with two roundings (no FMA instruction on the baseline target).
pub(crate) struct Plain;
impl Madd for Plain {
    #[inline(always)]
    fn madd(a: f32, b: f32, c: f32) -> f32 {
        a * b + c
    }
}

/// Defines `fn $name(args)` that runs `$body::<Fma>` compiled for AVX-512 or AVX2+FMA when the
/// CPU has them, else `$body::<Plain>`.
macro_rules! multiversion {
    ($vis:vis fn $name:ident $(<$lt:lifetime>)? ($($arg:ident : $ty:ty),* $(,)?) => $body:ident) => {
        #[allow(clippy::too_many_arguments)]
        $vis fn $name $(<$lt>)? ($($arg: $ty),*) {
            #[cfg(target_arch = "x86_64")]
            {
                #[allow(clippy::too_many_arguments)]
                #[target_feature(enable = "avx512f,avx512vl,avx2,fma")]
                fn v4 $(<$lt>)? ($($arg: $ty),*) {
                    $body::<$crate::simd::Fma>($($arg),*)
                }
                #[allow(clippy::too_many_arguments)]
                #[target_feature(enable = "avx2,fma")]
                fn v3 $(<$lt>)? ($($arg: $ty),*) {
                    $body::<$crate::simd::Fma>($($arg),*)
                }
                if std::arch::is_x86_feature_detected!("avx512f")
                    && std::arch::is_x86_feature_detected!("avx512vl")
                    && std::arch::is_x86_feature_detected!("avx2")
                    && std::arch::is_x86_feature_detected!("fma")
                {
                    // SAFETY: the CPU supports every feature `v4` is compiled for.
                    return unsafe { v4($($arg),*) };
                }
                if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
                    // SAFETY: the CPU supports every feature `v3` is compiled for.
                    return unsafe { v3($($arg),*) };
                }
            }
            $body::<$crate::simd::Plain>($($arg),*)
        }
    };
}
pub(crate) use multiversion;

/// `even[i] = src[2i]`, `odd[i] = src[2i + 1]` (AVX-512 permutes when available).
/// Requires `2 * even.len() <= src.len() + 1` and `2 * odd.len() <= src.len()`.
pub(crate) fn deinterleave2(src: &[f32], even: &mut [f32], odd: &mut [f32]) {
    assert!(2 * even.len() <= src.len() + 1 && 2 * odd.len() <= src.len());
    let mut done = 0;
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx512f") {
        // SAFETY: the CPU has AVX-512F; bounds are checked inside.
        done = unsafe { x86::deinterleave2(src, even, odd) };
    }
    for i in done..even.len() {
        even[i] = src[2 * i];
    }
    for i in done..odd.len() {
        odd[i] = src[2 * i + 1];
    }
}

/// `dst[i] = src[2i]` (AVX-512 permutes when available). Requires `2 * dst.len() <= src.len() + 1`.
pub(crate) fn gather2(src: &[f32], dst: &mut [f32]) {
    assert!(2 * dst.len() <= src.len() + 1);
    let mut done = 0;
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx512f") {
        // SAFETY: the CPU has AVX-512F; bounds are checked inside.
        done = unsafe { x86::gather2(src, dst) };
    }
    for i in done..dst.len() {
        dst[i] = src[2 * i];
    }
}

/// [`gather2`] for integers (the fixed-point engine's stride-2 depthwise planes).
pub(crate) fn gather2_i32(src: &[i32], dst: &mut [i32]) {
    assert!(2 * dst.len() <= src.len() + 1);
    let mut done = 0;
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx512f") {
        // SAFETY: the CPU has AVX-512F; bounds are checked inside.
        done = unsafe { x86::gather2_i32(src, dst) };
    }
    for i in done..dst.len() {
        dst[i] = src[2 * i];
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    const EVEN: [i32; 16] = [0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30];
    const ODD: [i32; 16] = [1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31];

    /// Full 16-wide steps only; returns how many outputs were written.
    #[target_feature(enable = "avx512f")]
    pub(super) fn deinterleave2(src: &[f32], even: &mut [f32], odd: &mut [f32]) -> usize {
        let n = even.len().min(odd.len());
        // SAFETY: EVEN and ODD hold 16 i32 each.
        let (ie, io) = unsafe {
            (
                _mm512_loadu_epi32(EVEN.as_ptr()),
                _mm512_loadu_epi32(ODD.as_ptr()),
            )
        };
        let mut i = 0;
        while i + 16 <= n && 2 * i + 32 <= src.len() {
            // SAFETY: src[2i .. 2i+32], even[i .. i+16] and odd[i .. i+16] are in bounds.
            unsafe {
                let v0 = _mm512_loadu_ps(src.as_ptr().add(2 * i));
                let v1 = _mm512_loadu_ps(src.as_ptr().add(2 * i + 16));
                _mm512_storeu_ps(even.as_mut_ptr().add(i), _mm512_permutex2var_ps(v0, ie, v1));
                _mm512_storeu_ps(odd.as_mut_ptr().add(i), _mm512_permutex2var_ps(v0, io, v1));
            }
            i += 16;
        }
        i
    }

    #[target_feature(enable = "avx512f")]
    pub(super) fn gather2(src: &[f32], dst: &mut [f32]) -> usize {
        // SAFETY: EVEN holds 16 i32.
        let ie = unsafe { _mm512_loadu_epi32(EVEN.as_ptr()) };
        let mut i = 0;
        while i + 16 <= dst.len() && 2 * i + 32 <= src.len() {
            // SAFETY: src[2i .. 2i+32] and dst[i .. i+16] are in bounds.
            unsafe {
                let v0 = _mm512_loadu_ps(src.as_ptr().add(2 * i));
                let v1 = _mm512_loadu_ps(src.as_ptr().add(2 * i + 16));
                _mm512_storeu_ps(dst.as_mut_ptr().add(i), _mm512_permutex2var_ps(v0, ie, v1));
            }
            i += 16;
        }
        i
    }

    #[target_feature(enable = "avx512f")]
    pub(super) fn gather2_i32(src: &[i32], dst: &mut [i32]) -> usize {
        // SAFETY: EVEN holds 16 i32.
        let ie = unsafe { _mm512_loadu_epi32(EVEN.as_ptr()) };
        let mut i = 0;
        while i + 16 <= dst.len() && 2 * i + 32 <= src.len() {
            // SAFETY: src[2i .. 2i+32] and dst[i .. i+16] are in bounds.
            unsafe {
                let v0 = _mm512_loadu_epi32(src.as_ptr().add(2 * i));
                let v1 = _mm512_loadu_epi32(src.as_ptr().add(2 * i + 16));
                let v = _mm512_permutex2var_epi32(v0, ie, v1);
                _mm512_storeu_epi32(dst.as_mut_ptr().add(i), v);
            }
            i += 16;
        }
        i
    }
}
