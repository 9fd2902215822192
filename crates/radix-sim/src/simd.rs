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
        $vis fn $name $(<$lt>)? ($($arg: $ty),*) {
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx512f,avx512vl,avx2,fma")]
                fn v4 $(<$lt>)? ($($arg: $ty),*) {
                    $body::<$crate::simd::Fma>($($arg),*)
                }
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
