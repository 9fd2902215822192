//! The per-output-channel epilogue of the MAC kernels (bias, requantization, saturation,
//! activation clamp) and their accumulator types (i32 when a bound proves it exact, else i64).

use radix_ir::qmodel::{Requant, saturate};

use crate::fixed::epilogue;

/// Per-output-channel epilogue: bias, requantization, saturation, activation clamp.
pub(super) struct Epilogue<'a> {
    pub(super) bias: &'a [i64],
    pub(super) requant: &'a [Requant],
    pub(super) requant_neg: Option<&'a [Requant]>,
    pub(super) lo: i32,
    pub(super) hi: i32,
    pub(super) bits: u8,
}

impl Epilogue<'_> {
    /// `finish` over a row of one channel. `small`: every `acc + bias` fits i32 (proved by
    /// [`fits_i32`](super::bounds::fits_i32)), so `acc * mult` cannot overflow i64 and the
    /// branch-free rounding below equals `Requant::apply` exactly.
    #[inline]
    pub(super) fn finish_row<T: Acc>(&self, c: usize, acc: &[T], out: &mut [i32], small: bool) {
        let r = self.requant[c];
        if !small || self.requant_neg.is_some() || !(1..=62).contains(&r.shift) {
            for (o, &v) in out.iter_mut().zip(acc) {
                *o = self.finish(c, v.to_i64());
            }
            return;
        }
        let q = radix_ir::qmodel::qmax(self.bits) as i64;
        let (lo, hi) = ((self.lo as i64).max(-q), (self.hi as i64).min(q));
        let (b, m, s) = (self.bias[c], r.mult as i64, r.shift as u32);
        match T::as_i32(acc) {
            Some(acc) => epilogue::requant_row(acc, b, m, s, lo, hi, out),
            None => {
                let half = 1i64 << (s - 1);
                for (o, &v) in out.iter_mut().zip(acc) {
                    let p = (v.to_i64() + b) * m;
                    let sign = p >> 63; // 0 or -1
                    let mag = ((p ^ sign) - sign + half) >> s; // round half away from zero on |p|
                    *o = ((mag ^ sign) - sign).clamp(lo, hi) as i32;
                }
            }
        }
    }

    /// `(bias, mult, shift, lo, hi)` of channel `c` when its requantization takes the
    /// branch-free form of `epilogue` (every `acc + bias` fits i32, one multiplier, shift in
    /// 1..=62), with `lo, hi` the activation clamp within the bitwidth.
    pub(super) fn simple(&self, c: usize, small: bool) -> Option<(i64, i64, u32, i64, i64)> {
        let r = self.requant[c];
        if !small || self.requant_neg.is_some() || !(1..=62).contains(&r.shift) {
            return None;
        }
        let q = radix_ir::qmodel::qmax(self.bits) as i64;
        let (lo, hi) = ((self.lo as i64).max(-q), (self.hi as i64).min(q));
        Some((self.bias[c], r.mult as i64, r.shift as u32, lo, hi))
    }

    #[inline]
    pub(super) fn finish(&self, c: usize, acc: i64) -> i32 {
        let acc = acc + self.bias[c];
        let y = match self.requant_neg {
            Some(neg) if acc < 0 => neg[c].apply(acc),
            _ => self.requant[c].apply(acc),
        };
        saturate(y, self.bits).clamp(self.lo, self.hi)
    }
}

/// Accumulator types: i32 when a bound proves it exact, else i64.
pub(super) trait Acc:
    Copy + Default + Send + Sync + std::ops::AddAssign + std::ops::Mul<Output = Self>
{
    fn from_i32(v: i32) -> Self;
    fn to_i64(self) -> i64;
    /// The slice itself when the accumulator type is i32 (for the vectorised epilogue).
    fn as_i32(s: &[Self]) -> Option<&[i32]>;
}
impl Acc for i32 {
    #[inline(always)]
    fn from_i32(v: i32) -> Self {
        v
    }
    #[inline(always)]
    fn to_i64(self) -> i64 {
        self as i64
    }
    fn as_i32(s: &[Self]) -> Option<&[i32]> {
        Some(s)
    }
}
impl Acc for i64 {
    #[inline(always)]
    fn from_i32(v: i32) -> Self {
        v as i64
    }
    #[inline(always)]
    fn to_i64(self) -> i64 {
        self
    }
    fn as_i32(_: &[Self]) -> Option<&[i32]> {
        None
    }
}
