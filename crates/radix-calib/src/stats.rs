//! Streaming per-tensor statistics: exact count/min/max and a log-linear histogram of `|x|`.
//!
//! See the crate documentation for the histogram design and its error bound.

use ndarray::{ArrayBase, Data, Dimension};
use serde::{Deserialize, Serialize};

use crate::error::{CalibError, Result};

/// Number of mantissa bits kept in a histogram key: each octave `[2^e, 2^(e+1))` is split into
/// `2^SUB_BIN_BITS` equal sub-bins, so a bin is at most `2^-SUB_BIN_BITS` (0.78%) of its lower edge
/// wide.
pub const SUB_BIN_BITS: u32 = 7;
/// Sub-bins per octave (`2^SUB_BIN_BITS`).
pub const SUB_BINS: u32 = 1 << SUB_BIN_BITS;
/// Octaves of full resolution kept below the largest `|x|` seen. Values more than this many
/// octaves below the maximum (`|x| < max|x| * 2^-40`, i.e. below about 1e-12 of the range) are
/// only counted, in the underflow bin, together with zeros and subnormals.
pub const WINDOW_OCTAVES: u32 = 40;

/// Shift that turns `|x|` bits into a histogram key (exponent and top mantissa bits).
const SHIFT: u32 = 23 - SUB_BIN_BITS;
/// Number of keys in the full-resolution window.
const WINDOW_KEYS: u32 = WINDOW_OCTAVES * SUB_BINS;
/// Key of the smallest normal number (exponent field 1). Smaller keys are subnormals/zero.
const MIN_KEY: u32 = 1 << SUB_BIN_BITS;
/// Key of `f32::MAX`.
const MAX_KEY: u32 = 0x7F7F_FFFF >> SHIFT;
/// Clears the sign bit.
const ABS_MASK: u32 = 0x7FFF_FFFF;
/// Bits of the smallest positive normal f32.
const MIN_NORMAL_BITS: u32 = 0x0080_0000;

/// Sub-histograms of the bulk increment loop.
const ACC_LANES: usize = 4;
/// Inputs shorter than this many values per histogram slot use the plain loop (the
/// sub-histograms would cost more to clear and fold than they save).
const ACC_MIN_PER_SLOT: usize = 4;
/// Values per fold of the u32 sub-histograms: each lane counts at most 2^29 < u32::MAX.
const ACC_MAX_PART: usize = 1 << 31;

/// Maps f32 bits to an `i32` whose signed order is the total order of the floats
/// (`-NaN < -inf < ... < -0.0 < +0.0 < ... < +inf < +NaN`). It is an involution.
#[inline(always)]
pub(crate) fn ord(bits: u32) -> i32 {
    let i = bits as i32;
    i ^ ((((i >> 31) as u32) >> 1) as i32)
}

/// Inverse of [`ord`].
#[inline]
pub(crate) fn unord(o: i32) -> f32 {
    f32::from_bits(ord(o as u32) as u32)
}

/// Lowest key kept at full resolution when the highest key is `hi`.
#[inline]
fn floor_key(hi: u32) -> u32 {
    hi.saturating_sub(WINDOW_KEYS - 1).max(MIN_KEY)
}

/// Lower edge of the bin of `key`.
#[inline]
fn key_lo(key: u32) -> f64 {
    f64::from(f32::from_bits(key << SHIFT))
}

/// Upper edge of the bin of `key` (`+inf` for the bin of `f32::MAX`; callers clamp to max|x|).
#[inline]
fn key_hi(key: u32) -> f64 {
    f64::from(f32::from_bits((key + 1) << SHIFT))
}

/// One histogram bin `[lo, hi)` of `|x|` with its count.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct HistBin {
    /// Inclusive lower edge.
    pub lo: f32,
    /// Exclusive upper edge (the top bin is reported up to `max|x|`, inclusive).
    pub hi: f32,
    /// Number of observed values with `lo <= |x| < hi`.
    pub count: u64,
}

/// Result of the vectorisable first pass over a slice.
struct Scan {
    /// `ord` of the smallest value, `-0.0` normalised to `+0.0`.
    min_ord: i32,
    /// `ord` of the largest value, `-0.0` normalised to `+0.0`.
    max_ord: i32,
    /// Bits of the smallest non-zero `|x|` (`u32::MAX` when all values are ±0).
    min_nz_bits: u32,
    /// Whether a NaN or an infinity is present (then the other fields are meaningless).
    non_finite: bool,
}

/// `ord(-f32::MAX)`: anything below is `-inf` or a negative NaN.
const ORD_NEG_MAX: i32 = 0xFF7F_FFFFu32 as i32 ^ 0x7FFF_FFFF;
/// `ord(f32::MAX)`: anything above is `+inf` or a positive NaN.
const ORD_POS_MAX: i32 = 0x7F7F_FFFF;
/// `ord(-0.0)`.
const ORD_NEG_ZERO: i32 = -1;

#[inline(always)]
fn scan(data: &[f32]) -> Scan {
    // Integer min/max under the total order: these reductions reassociate freely, so the loop
    // vectorises (float min/max reductions would not, without fast-math).
    let mut min_ord = i32::MAX;
    let mut max_ord = i32::MIN;
    let mut min_nz_m1 = u32::MAX;
    for &x in data {
        let b = x.to_bits();
        let o = ord(b);
        min_ord = min_ord.min(o);
        max_ord = max_ord.max(o);
        // |x| - 1 wraps for ±0, so zeros never win the minimum.
        min_nz_m1 = min_nz_m1.min((b & ABS_MASK).wrapping_sub(1));
    }
    let norm = |o: i32| if o == ORD_NEG_ZERO { 0 } else { o };
    Scan {
        min_ord: norm(min_ord),
        max_ord: norm(max_ord),
        min_nz_bits: if min_nz_m1 == u32::MAX {
            u32::MAX
        } else {
            min_nz_m1 + 1
        },
        non_finite: min_ord < ORD_NEG_MAX || max_ord > ORD_POS_MAX,
    }
}

/// Rank (1-based) of the `p`-quantile among `n` sorted values: `ceil(p * n)` clamped to
/// `1..=n`, with a relative tolerance of 1e-12 so that e.g. `0.999 * 1e6` is 999000, not 999001.
pub(crate) fn rank(p: f64, n: u64) -> u64 {
    let x = p * n as f64;
    let k = (x - x.abs() * 1e-12).ceil();
    if k.is_nan() || k < 1.0 {
        1
    } else if k >= n as f64 {
        n
    } else {
        k as u64
    }
}

/// Streaming statistics of one tensor over any number of observations.
///
/// Holds the exact value count, exact signed minimum and maximum (zeros reported as `+0.0`), and a histogram of `|x|` with
/// `2^SUB_BIN_BITS` log-linear sub-bins per octave over at most [`WINDOW_OCTAVES`] octaves below
/// the largest `|x|` (plus one underflow bin for zeros, subnormals and values below the window).
/// Memory is bounded by `(WINDOW_OCTAVES * SUB_BINS + 1) * 8` bytes (about 40 KiB) whatever the
/// number of observations, and is usually much smaller: only the key range actually seen is
/// allocated.
///
/// [`merge`](Self::merge) is exactly associative and commutative (integer counts, exact min/max
/// under the IEEE total order with zeros normalised to `+0.0`, a canonical layout that depends only on the multiset of observed
/// values), so any split of the data over threads or images, merged in any order or tree shape,
/// gives a bit-identical value and identical serialized bytes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "StatsRepr", into = "StatsRepr")]
pub struct TensorStats {
    count: u64,
    /// `ord` of the smallest value (`i32::MAX` when empty).
    min_ord: i32,
    /// `ord` of the largest value (`i32::MIN` when empty).
    max_ord: i32,
    /// Key of `counts[1]`; 0 when no normal non-zero value was seen (then `counts.len() == 1`).
    lo_key: u32,
    /// `counts[0]`: underflow (|x| below the window, subnormal or zero); `counts[1 + j]`: key
    /// `lo_key + j`. The last entry is the bin of max|x| and is non-zero.
    counts: Vec<u64>,
}

impl Default for TensorStats {
    fn default() -> Self {
        Self::new()
    }
}

impl TensorStats {
    /// Empty statistics (the identity of [`merge`](Self::merge)).
    pub fn new() -> Self {
        TensorStats {
            count: 0,
            min_ord: i32::MAX,
            max_ord: i32::MIN,
            lo_key: 0,
            counts: vec![0],
        }
    }

    /// Statistics of one slice.
    pub fn from_slice(data: &[f32]) -> Result<Self> {
        let mut s = Self::new();
        s.observe(data)?;
        Ok(s)
    }

    /// Adds every value of `data`.
    ///
    /// Fails with [`CalibError::NonFinite`] (naming the index of the first NaN/inf in `data`)
    /// and then leaves the statistics unchanged. Two passes over `data` (a vectorised min/max
    /// scan, then the increments); allocation only when the key range grows (which stops once
    /// the data's range has been seen) and, for inputs much larger than the histogram, one
    /// short-lived scratch histogram per call, never per value.
    pub fn observe(&mut self, data: &[f32]) -> Result<()> {
        // The same code compiled for AVX-512 when the CPU has it (the scan is a vector reduction).
        #[cfg(target_arch = "x86_64")]
        {
            #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx2")]
            fn v4(s: &mut TensorStats, data: &[f32]) -> Result<()> {
                s.observe_body(data)
            }
            if std::arch::is_x86_feature_detected!("avx512f")
                && std::arch::is_x86_feature_detected!("avx512bw")
                && std::arch::is_x86_feature_detected!("avx512vl")
            {
                // SAFETY: the CPU has every feature `v4` is compiled for.
                return unsafe { v4(self, data) };
            }
        }
        self.observe_body(data)
    }

    #[inline(always)]
    fn observe_body(&mut self, data: &[f32]) -> Result<()> {
        if data.is_empty() {
            return Ok(());
        }
        let s = scan(data);
        if s.non_finite {
            return Err(first_non_finite(data));
        }
        self.count = self.count.saturating_add(data.len() as u64);
        self.min_ord = self.min_ord.min(s.min_ord);
        self.max_ord = self.max_ord.max(s.max_ord);
        let max_abs_bits =
            (unord(s.min_ord).to_bits() & ABS_MASK).max(unord(s.max_ord).to_bits() & ABS_MASK);
        if max_abs_bits < MIN_NORMAL_BITS {
            // Only zeros and subnormals.
            self.counts[0] = self.counts[0].saturating_add(data.len() as u64);
            return Ok(());
        }
        let batch_hi = max_abs_bits >> SHIFT;
        // Subnormals never set the fine range's low end (a batch of only zeros and subnormals
        // does not either): the smallest *normal* magnitude does. Otherwise a subnormal would
        // widen the window when observed beside normal values but not when observed in a batch
        // of its own, and merged statistics would depend on how the inputs were split.
        let min_normal_bits = if s.min_nz_bits >= MIN_NORMAL_BITS {
            s.min_nz_bits
        } else {
            data.iter()
                .map(|v| v.to_bits() & ABS_MASK)
                .filter(|&b| b >= MIN_NORMAL_BITS)
                .min()
                .unwrap_or(max_abs_bits)
        };
        let batch_lo = (min_normal_bits >> SHIFT).max(MIN_KEY);
        self.extend(batch_lo, batch_hi);
        self.accumulate(data);
        Ok(())
    }

    /// Adds every value of an array of any layout. For arrays in standard (row-major) layout this
    /// is [`observe`](Self::observe) on their slice; the index in a
    /// [`CalibError::NonFinite`] is always the logical row-major index.
    pub fn observe_array<S, D>(&mut self, a: &ArrayBase<S, D>) -> Result<()>
    where
        S: Data<Elem = f32>,
        D: Dimension,
    {
        if let Some(s) = a.as_slice() {
            return self.observe(s);
        }
        if let Some((index, &value)) = a.iter().enumerate().find(|(_, v)| !v.is_finite()) {
            return Err(CalibError::NonFinite { index, value });
        }
        if let Some(s) = a.as_slice_memory_order() {
            return self.observe(s);
        }
        let mut buf = [0f32; 4096];
        let mut n = 0;
        for &v in a.iter() {
            buf[n] = v;
            n += 1;
            if n == buf.len() {
                self.observe(&buf)?;
                n = 0;
            }
        }
        self.observe(&buf[..n])
    }

    /// Adds all observations of `other`. Exactly associative and commutative.
    pub fn merge(&mut self, other: &TensorStats) {
        if other.count == 0 {
            return;
        }
        self.count = self.count.saturating_add(other.count);
        self.min_ord = self.min_ord.min(other.min_ord);
        self.max_ord = self.max_ord.max(other.max_ord);
        self.counts[0] = self.counts[0].saturating_add(other.counts[0]);
        if other.lo_key == 0 {
            return;
        }
        self.extend(other.lo_key, other.hi_key());
        let lo = self.lo_key;
        for (j, &c) in other.counts[1..].iter().enumerate() {
            let key = other.lo_key + j as u32;
            let i = if key < lo { 0 } else { (key - lo + 1) as usize };
            self.counts[i] = self.counts[i].saturating_add(c);
        }
    }

    /// Key of the last bin. Only meaningful when `lo_key != 0`.
    fn hi_key(&self) -> u32 {
        self.lo_key + (self.counts.len() as u32 - 2)
    }

    /// Makes the fine range cover keys `lo..=hi` (both >= MIN_KEY, lo <= hi), keeping the
    /// canonical layout `lo_key = max(floor_key(hi_key), smallest key seen)`.
    fn extend(&mut self, lo: u32, hi: u32) {
        let (new_lo, new_hi) = if self.lo_key == 0 {
            (lo.max(floor_key(hi)), hi)
        } else {
            let nh = self.hi_key().max(hi);
            (self.lo_key.min(lo).max(floor_key(nh)), nh)
        };
        if self.lo_key != 0 && new_lo == self.lo_key && new_hi == self.hi_key() {
            return;
        }
        let mut counts = vec![0u64; (new_hi - new_lo + 2) as usize];
        counts[0] = self.counts[0];
        if self.lo_key != 0 {
            for (j, &c) in self.counts[1..].iter().enumerate() {
                let key = self.lo_key + j as u32;
                let i = if key < new_lo {
                    0
                } else {
                    (key - new_lo + 1) as usize
                };
                counts[i] = counts[i].saturating_add(c);
            }
        }
        self.lo_key = new_lo;
        self.counts = counts;
    }

    /// Histogram increments; the key range already covers every value of `data`.
    #[inline(always)]
    fn accumulate(&mut self, data: &[f32]) {
        // keys < lo_key (zero, subnormal, below the window) saturate to slot 0.
        let base = self.lo_key - 1;
        let last = self.counts.len() - 1;
        let slot = move |x: f32| {
            (((x.to_bits() & ABS_MASK) >> SHIFT).saturating_sub(base) as usize).min(last)
        };
        if data.len() < ACC_MIN_PER_SLOT * self.counts.len() {
            for &x in data {
                self.counts[slot(x)] += 1;
            }
            return;
        }
        // Large input: ACC_LANES interleaved u32 sub-histograms, so runs of equal keys (zeros of
        // a ReLU, constant regions) do not serialise on one counter; folded back afterwards.
        let mut sub = vec![0u32; self.counts.len() * ACC_LANES];
        for part in data.chunks(ACC_MAX_PART) {
            let chunks = part.chunks_exact(ACC_LANES);
            let rem = chunks.remainder();
            for c in chunks {
                for l in 0..ACC_LANES {
                    sub[slot(c[l]) * ACC_LANES + l] += 1;
                }
            }
            for &x in rem {
                self.counts[slot(x)] += 1;
            }
            for (c, s) in self.counts.iter_mut().zip(sub.chunks_exact_mut(ACC_LANES)) {
                *c += s.iter().map(|&v| u64::from(v)).sum::<u64>();
                s.fill(0);
            }
        }
    }

    /// Number of values observed.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Whether no value has been observed.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Exact smallest value (`None` when empty). A zero is reported as `+0.0`, whatever its sign.
    pub fn min(&self) -> Option<f32> {
        (self.count > 0).then(|| unord(self.min_ord))
    }

    /// Exact largest value (`None` when empty).
    pub fn max(&self) -> Option<f32> {
        (self.count > 0).then(|| unord(self.max_ord))
    }

    /// Exact `max|x|` (`None` when empty).
    pub fn max_abs(&self) -> Option<f32> {
        (self.count > 0).then(|| unord(self.min_ord).abs().max(unord(self.max_ord).abs()))
    }

    /// Number of values in the underflow bin: zeros, subnormals, and values more than
    /// [`WINDOW_OCTAVES`] octaves below `max|x|`.
    pub fn underflow_count(&self) -> u64 {
        self.counts[0]
    }

    /// Upper edge of the underflow bin: every value counted there has `|x|` below it.
    pub fn underflow_edge(&self) -> f32 {
        if self.lo_key == 0 {
            f32::MIN_POSITIVE
        } else {
            f32::from_bits(self.lo_key << SHIFT)
        }
    }

    /// Number of histogram slots currently allocated (a measure of memory use; at most
    /// `WINDOW_OCTAVES * SUB_BINS + 1`).
    pub fn histogram_len(&self) -> usize {
        self.counts.len()
    }

    /// The non-empty bins of the `|x|` histogram in increasing order, starting with the underflow
    /// bin `[0, underflow_edge)` if it is non-empty. The top bin's `hi` is `max|x|`.
    pub fn bins(&self) -> impl Iterator<Item = HistBin> + '_ {
        let under = (self.counts[0] > 0).then(|| HistBin {
            lo: 0.0,
            hi: self.underflow_edge(),
            count: self.counts[0],
        });
        under
            .into_iter()
            .chain(
                self.fine_bins()
                    .filter(|b| b.2 > 0)
                    .map(|(lo, hi, count)| HistBin {
                        lo: lo as f32,
                        hi: hi as f32,
                        count,
                    }),
            )
    }

    /// Fine bins as `(lo, hi, count)` in f64, including empty ones, the top `hi` clamped to
    /// max|x|.
    pub(crate) fn fine_bins(&self) -> impl Iterator<Item = (f64, f64, u64)> + '_ {
        let max_abs = f64::from(self.max_abs().unwrap_or(0.0));
        let lo_key = self.lo_key;
        self.counts
            .get(1..)
            .unwrap_or(&[])
            .iter()
            .enumerate()
            .map(move |(j, &c)| {
                let key = lo_key + j as u32;
                (key_lo(key), key_hi(key).min(max_abs), c)
            })
    }

    /// The `p`-quantile of `|x|`: the value of rank `ceil(p * count)` in increasing order,
    /// estimated by linear interpolation inside its histogram bin (relative error below
    /// `2^-SUB_BIN_BITS`), never above `max|x|` and exactly `max|x|` when the rank is the
    /// last one (e.g. `p = 1.0`). Values in the underflow bin count as 0.
    ///
    /// Errors: [`CalibError::Empty`], or [`CalibError::InvalidParameter`] unless `0 <= p <= 1`.
    pub fn quantile(&self, p: f64) -> Result<f32> {
        check_unit("p", p)?;
        self.quantile_impl(p, false)
            .map(|v| v as f32)
            .ok_or(CalibError::Empty)
    }

    /// Quantile in f64; with `exclude_underflow`, over the values outside the underflow bin only.
    /// `None` when there is no value to take the quantile of.
    pub(crate) fn quantile_impl(&self, p: f64, exclude_underflow: bool) -> Option<f64> {
        let under = if exclude_underflow { 0 } else { self.counts[0] };
        let n = if exclude_underflow {
            self.count - self.counts[0]
        } else {
            self.count
        };
        if n == 0 {
            return None;
        }
        let max_abs = f64::from(self.max_abs()?);
        let k = rank(p, n);
        if k == n {
            return Some(max_abs);
        }
        if k <= under {
            return Some(0.0);
        }
        let mut cum = under;
        for (a, b, c) in self.fine_bins() {
            if c == 0 {
                continue;
            }
            if cum + c >= k {
                let frac = ((k - cum) as f64 - 0.5) / c as f64;
                return Some((a + (b - a) * frac).clamp(a, max_abs));
            }
            cum += c;
        }
        Some(max_abs)
    }
}

/// Exact `(min, max)` of `data` as `ord` values, `-0.0` normalised to `+0.0`
/// (`(i32::MAX, i32::MIN)` when empty), or the [`CalibError::NonFinite`] of its first NaN/inf.
#[inline]
pub(crate) fn minmax_ord(data: &[f32]) -> Result<(i32, i32)> {
    if data.is_empty() {
        return Ok((i32::MAX, i32::MIN));
    }
    let s = scan(data);
    if s.non_finite {
        return Err(first_non_finite(data));
    }
    Ok((s.min_ord, s.max_ord))
}

fn first_non_finite(data: &[f32]) -> CalibError {
    let (index, value) = data
        .iter()
        .enumerate()
        .find(|(_, v)| !v.is_finite())
        .map(|(i, &v)| (i, v))
        .unwrap_or((0, f32::NAN));
    CalibError::NonFinite { index, value }
}

/// Checks `0 <= v <= 1`.
pub(crate) fn check_unit(name: &'static str, v: f64) -> Result<()> {
    if (0.0..=1.0).contains(&v) {
        Ok(())
    } else {
        Err(CalibError::InvalidParameter {
            name,
            value: v,
            reason: "must be in [0, 1]",
        })
    }
}

/// Serialized form: readable min/max, validated on the way in.
#[derive(Clone, Serialize, Deserialize)]
struct StatsRepr {
    count: u64,
    min: Option<f32>,
    max: Option<f32>,
    lo_key: u32,
    counts: Vec<u64>,
}

impl From<TensorStats> for StatsRepr {
    fn from(s: TensorStats) -> Self {
        StatsRepr {
            count: s.count,
            min: s.min(),
            max: s.max(),
            lo_key: s.lo_key,
            counts: s.counts,
        }
    }
}

impl TryFrom<StatsRepr> for TensorStats {
    type Error = CalibError;

    fn try_from(r: StatsRepr) -> Result<Self> {
        let bad = CalibError::InvalidStats;
        if r.counts.is_empty() {
            return Err(bad("empty histogram"));
        }
        let total = r
            .counts
            .iter()
            .try_fold(0u64, |a, &c| a.checked_add(c))
            .ok_or(bad("count overflow"))?;
        if total != r.count {
            return Err(bad("histogram total differs from count"));
        }
        if r.count == 0 {
            return if r.min.is_none() && r.max.is_none() && r.lo_key == 0 {
                Ok(TensorStats::new())
            } else {
                Err(bad("empty statistics with a range"))
            };
        }
        let (Some(min), Some(max)) = (r.min, r.max) else {
            return Err(bad("missing min/max"));
        };
        let (min, max) = (min + 0.0, max + 0.0);
        if !min.is_finite() || !max.is_finite() || ord(min.to_bits()) > ord(max.to_bits()) {
            return Err(bad("invalid min/max"));
        }
        let s = TensorStats {
            count: r.count,
            min_ord: ord(min.to_bits()),
            max_ord: ord(max.to_bits()),
            lo_key: r.lo_key,
            counts: r.counts,
        };
        let max_abs_bits = s.max_abs().map_or(0, |m| m.to_bits());
        if s.lo_key == 0 {
            if s.counts.len() != 1 || max_abs_bits >= MIN_NORMAL_BITS {
                return Err(bad("missing histogram range"));
            }
            return Ok(s);
        }
        if s.counts.len() < 2
            || s.lo_key < MIN_KEY
            || s.lo_key > MAX_KEY
            || s.counts.len() - 1 > (MAX_KEY - s.lo_key + 1) as usize
        {
            return Err(bad("histogram range out of bounds"));
        }
        let hi = s.hi_key();
        if max_abs_bits >> SHIFT != hi
            || s.counts.last() == Some(&0)
            || s.lo_key < floor_key(hi)
            || (s.lo_key > floor_key(hi) && s.counts[1] == 0)
        {
            return Err(bad("histogram range inconsistent with max|x|"));
        }
        Ok(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ord_is_monotone_and_involutive() {
        let vals = [
            f32::NEG_INFINITY,
            -f32::MAX,
            -1.0,
            -f32::MIN_POSITIVE,
            -1e-45,
            -0.0,
            0.0,
            1e-45,
            1.0,
            f32::MAX,
            f32::INFINITY,
        ];
        for w in vals.windows(2) {
            assert!(ord(w[0].to_bits()) < ord(w[1].to_bits()), "{w:?}");
        }
        for v in vals {
            assert_eq!(unord(ord(v.to_bits())).to_bits(), v.to_bits());
        }
        assert_eq!(ORD_NEG_MAX, ord((-f32::MAX).to_bits()));
        assert_eq!(ORD_POS_MAX, ord(f32::MAX.to_bits()));
        assert_eq!(ORD_NEG_ZERO, ord((-0.0f32).to_bits()));
    }

    #[test]
    fn scan_normalises_zero_and_finds_smallest_nonzero() {
        let s = scan(&[-0.0, 0.0, -0.0]);
        assert_eq!((s.min_ord, s.max_ord, s.min_nz_bits), (0, 0, u32::MAX));
        let s = scan(&[-0.0, 3.0, -1e-45, 0.5]);
        assert_eq!(unord(s.min_ord), -1e-45);
        assert_eq!(s.min_nz_bits, 1);
        assert!(!s.non_finite);
        assert!(scan(&[1.0, f32::NAN]).non_finite);
        assert!(scan(&[f32::NEG_INFINITY]).non_finite);
    }

    #[test]
    fn rank_tolerates_decimal_probabilities() {
        assert_eq!(rank(0.999, 1_000_000), 999_000);
        assert_eq!(rank(0.999999, 2_000_000), 1_999_998);
        assert_eq!(rank(1.0, 7), 7);
        assert_eq!(rank(0.0, 7), 1);
        assert_eq!(rank(0.5, 3), 2);
    }

    #[test]
    fn keys_and_edges() {
        assert_eq!(key_lo(1.0f32.to_bits() >> SHIFT), 1.0);
        assert_eq!(
            key_hi(1.0f32.to_bits() >> SHIFT),
            1.0 + 1.0 / f64::from(SUB_BINS)
        );
        assert_eq!(key_hi(MAX_KEY), f64::INFINITY);
        assert_eq!(floor_key(MIN_KEY), MIN_KEY);
        assert_eq!(floor_key(MAX_KEY), MAX_KEY + 1 - WINDOW_KEYS);
    }
}
