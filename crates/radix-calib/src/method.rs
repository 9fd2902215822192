//! Range methods: turn [`TensorStats`] into the symmetric clipping range `absmax` of a tensor.

use serde::{Deserialize, Serialize};

use crate::error::{CalibError, Result};
use crate::stats::{TensorStats, check_unit};

/// The `absmax` returned for a tensor whose `max|x|` is zero or subnormal (an all-zero tensor).
///
/// Every value of such a tensor quantizes to `q = 0` whatever the range, so the choice only
/// matters for the fixed-point parameters: 1.0 gives the ordinary `radix = b - 1` (7 for int8)
/// instead of an extreme shift, and can never produce an infinite or NaN radix.
pub const ZERO_TENSOR_ABSMAX: f32 = 1.0;

/// Number of log-spaced clipping thresholds [`Mmse`] evaluates first (endpoints included).
pub const MMSE_CANDIDATES: usize = 128;
/// The best coarse threshold's neighbourhood is then split into this many linear steps.
pub const MMSE_REFINE: usize = 64;

/// A way of choosing a tensor's symmetric range from its statistics.
///
/// Implementations return `absmax > 0`, finite, for any non-empty statistics and any
/// `bitwidth` in `2..=32`; they fail with [`CalibError::Empty`] on empty statistics and
/// [`CalibError::InvalidBitwidth`] / [`CalibError::InvalidParameter`] on bad inputs. The result
/// is a pure function of the statistics (bit-identical across runs, threads and input order).
pub trait RangeMethod: Send + Sync + std::fmt::Debug {
    /// The method's name as in the analysis options (`percentage`, `mmse`, `minmax`).
    fn name(&self) -> &'static str;
    /// The clipping range `absmax` for a tensor quantized to `bitwidth` bits.
    fn absmax(&self, stats: &TensorStats, bitwidth: u32) -> Result<f32>;
}

fn check_bitwidth(bitwidth: u32) -> Result<()> {
    if (2..=32).contains(&bitwidth) {
        Ok(())
    } else {
        Err(CalibError::InvalidBitwidth(bitwidth))
    }
}

/// `max|x|` if the tensor is not all-zero (`Ok(None)` means: return [`ZERO_TENSOR_ABSMAX`]).
fn nonzero_max_abs(stats: &TensorStats) -> Result<Option<f32>> {
    let m = stats.max_abs().ok_or(CalibError::Empty)?;
    Ok((m >= f32::MIN_POSITIVE).then_some(m))
}

/// The `p`-quantile of `|x|`; when it falls in the underflow bin (more than `p` of the values
/// are zero or negligible), the `p`-quantile of the values outside the underflow bin instead, so
/// the result is never 0 for a tensor that is not all-zero.
fn nonzero_quantile(stats: &TensorStats, p: f64) -> Option<f64> {
    let q = stats.quantile_impl(p, false)?;
    if q > 0.0 {
        Some(q)
    } else {
        stats.quantile_impl(p, true)
    }
}

/// Clamps a computed range into `[f32::MIN_POSITIVE, f32::MAX]`.
fn finish(v: f64) -> f32 {
    (v as f32).clamp(f32::MIN_POSITIVE, f32::MAX)
}

/// Plain `max|x|` (the same as [`Percentage`] with 1.0 for every bitwidth).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MinMax;

impl RangeMethod for MinMax {
    fn name(&self) -> &'static str {
        "minmax"
    }

    fn absmax(&self, stats: &TensorStats, bitwidth: u32) -> Result<f32> {
        check_bitwidth(bitwidth)?;
        Ok(nonzero_max_abs(stats)?.unwrap_or(ZERO_TENSOR_ABSMAX))
    }
}

/// Clip the top `1 - p` fraction of `|x|`: `absmax` is the `p`-quantile of `|x|`
/// (see [`TensorStats::quantile`]), with `p = percentage` for tensors of at most 8 bits and
/// `p = percentage_16b` above. `1.0` gives exactly `max|x|`.
///
/// If more than `p` of the values are zero (or in the underflow bin), the quantile is taken over
/// the remaining values instead, so that a sparse tensor does not get a degenerate range.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Percentage {
    /// Quantile for tensors of at most 8 bits (default 0.999).
    pub percentage: f64,
    /// Quantile for tensors wider than 8 bits (default 0.999999).
    pub percentage_16b: f64,
}

impl Default for Percentage {
    fn default() -> Self {
        Percentage {
            percentage: 0.999,
            percentage_16b: 0.999999,
        }
    }
}

impl Percentage {
    /// Validated constructor (both in `[0, 1]`).
    pub fn new(percentage: f64, percentage_16b: f64) -> Result<Self> {
        check_unit("percentage", percentage)?;
        check_unit("percentage_16b", percentage_16b)?;
        Ok(Percentage {
            percentage,
            percentage_16b,
        })
    }

    /// The quantile used at `bitwidth`.
    pub fn for_bitwidth(&self, bitwidth: u32) -> f64 {
        if bitwidth <= 8 {
            self.percentage
        } else {
            self.percentage_16b
        }
    }
}

impl RangeMethod for Percentage {
    fn name(&self) -> &'static str {
        "percentage"
    }

    fn absmax(&self, stats: &TensorStats, bitwidth: u32) -> Result<f32> {
        check_bitwidth(bitwidth)?;
        let p = self.for_bitwidth(bitwidth);
        let name = if bitwidth <= 8 {
            "percentage"
        } else {
            "percentage_16b"
        };
        check_unit(name, p)?;
        let Some(max_abs) = nonzero_max_abs(stats)? else {
            return Ok(ZERO_TENSOR_ABSMAX);
        };
        let q = nonzero_quantile(stats, p).unwrap_or(f64::from(max_abs));
        Ok(finish(q.min(f64::from(max_abs))))
    }
}

/// Minimum expected quantization error: choose the clipping threshold `t` that minimises the
/// histogram estimate of the mean squared error of symmetric `bitwidth`-bit quantization, then
/// widen it by `outlier_factor`.
///
/// Candidates: [`MMSE_CANDIDATES`] thresholds log-spaced from the `(1 - percentile)`-quantile of
/// `|x|` (so the search covers the top `percentile` of the distribution) up to `max|x|`, both
/// included, then [`MMSE_REFINE`] linear steps between the two neighbours of the best of them. For each, with `qmax = 2^(b-1) - 1` and step `s = t / qmax` (which is
/// `1 / (scale * 2^radix)` of the Radix format), values with `|x| <= t` cost their exact rounding
/// error to the grid `s * Z` and values above `t` cost `(|x| - t)^2` (saturation); each bin's
/// values are taken as uniformly spread over the bin and the errors integrated exactly. Ties go to
/// the smaller `t`. The result is `t * outlier_factor` (at most `max|x| * outlier_factor`).
///
/// With `power_of_two` (KL520: `scale = 1`), the candidates are the powers of two `2^k` with step
/// `2^(k - b + 1)` and clip level `qmax * step`; the result is `min(2^k, max|x|)` (same radix) times
/// `outlier_factor`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Mmse {
    /// Fraction of the `|x|` distribution (from the top) in which to search (default 0.001).
    pub percentile: f64,
    /// Factor applied to the chosen threshold (default 1.0).
    pub outlier_factor: f64,
    /// Power-of-two steps only (platforms without a scale, KL520). Default false.
    #[serde(default)]
    pub power_of_two: bool,
}

impl Default for Mmse {
    fn default() -> Self {
        Mmse {
            percentile: 0.001,
            outlier_factor: 1.0,
            power_of_two: false,
        }
    }
}

impl Mmse {
    /// Validated constructor (`percentile` in `[0, 1]`, `outlier_factor` finite and > 0),
    /// `power_of_two = false`.
    pub fn new(percentile: f64, outlier_factor: f64) -> Result<Self> {
        let m = Mmse {
            percentile,
            outlier_factor,
            power_of_two: false,
        };
        m.validate()?;
        Ok(m)
    }

    fn validate(&self) -> Result<()> {
        check_unit("percentile", self.percentile)?;
        if !(self.outlier_factor.is_finite() && self.outlier_factor > 0.0) {
            return Err(CalibError::InvalidParameter {
                name: "outlier_factor",
                value: self.outlier_factor,
                reason: "must be finite and > 0",
            });
        }
        Ok(())
    }

    /// The threshold chosen before `outlier_factor` (`None` for an all-zero tensor).
    fn search(&self, stats: &TensorStats, bitwidth: u32) -> Result<Option<f64>> {
        check_bitwidth(bitwidth)?;
        self.validate()?;
        let Some(max_abs) = nonzero_max_abs(stats)? else {
            return Ok(None);
        };
        let hi = f64::from(max_abs);
        let lo = nonzero_quantile(stats, 1.0 - self.percentile)
            .unwrap_or(hi)
            .min(hi);
        let model = ErrorModel::new(stats);
        let qmax = qmax(bitwidth);
        let mut best: Option<(f64, f64)> = None;
        let mut consider = |t: f64, step: f64, clip: f64| {
            let e = model.sse(step, clip);
            if best.is_none_or(|(_, be)| e < be) {
                best = Some((t, e));
            }
        };
        if self.power_of_two {
            for k in ceil_log2(lo)..=ceil_log2(hi) {
                let step = pow2(k - (bitwidth as i32 - 1));
                consider(pow2(k).min(hi), step, qmax * step);
            }
        } else if lo < hi {
            // Coarse log-spaced grid, then a linear refinement between the neighbours of the
            // coarse optimum (the coarse grid is loose when the search range spans many octaves).
            let grid = log_grid(lo, hi, MMSE_CANDIDATES);
            let mut best_i = 0;
            let mut best_e = f64::INFINITY;
            for (i, &t) in grid.iter().enumerate() {
                let e = model.sse(t / qmax, t);
                if e < best_e {
                    (best_i, best_e) = (i, e);
                }
            }
            let a = grid[best_i.saturating_sub(1)];
            let b = grid[(best_i + 1).min(grid.len() - 1)];
            let mut ts: Vec<f64> = (1..MMSE_REFINE)
                .map(|j| a + (b - a) * j as f64 / MMSE_REFINE as f64)
                .chain([grid[best_i]])
                .collect();
            ts.sort_by(f64::total_cmp);
            for t in ts {
                consider(t, t / qmax, t);
            }
        } else {
            consider(hi, hi / qmax, hi);
        }
        Ok(best.map(|(t, _)| t))
    }
}

impl RangeMethod for Mmse {
    fn name(&self) -> &'static str {
        "mmse"
    }

    fn absmax(&self, stats: &TensorStats, bitwidth: u32) -> Result<f32> {
        let Some(t) = self.search(stats, bitwidth)? else {
            return Ok(ZERO_TENSOR_ABSMAX);
        };
        let max_abs = f64::from(stats.max_abs().ok_or(CalibError::Empty)?);
        let v = (t * self.outlier_factor).min(max_abs * self.outlier_factor);
        Ok(finish(v))
    }
}

/// The histogram estimate of the mean squared error of quantizing the observed values with
/// symmetric `bitwidth`-bit quantization clipped at `absmax` (step `absmax / qmax`,
/// round-half-away-from-zero, saturation), the model [`Mmse`] minimises. Values in the underflow
/// bin count as zero (no error).
pub fn estimated_mse(stats: &TensorStats, absmax: f32, bitwidth: u32) -> Result<f64> {
    check_bitwidth(bitwidth)?;
    if stats.is_empty() {
        return Err(CalibError::Empty);
    }
    if !(absmax.is_finite() && absmax > 0.0) {
        return Err(CalibError::InvalidParameter {
            name: "absmax",
            value: f64::from(absmax),
            reason: "must be finite and > 0",
        });
    }
    let t = f64::from(absmax);
    let sse = ErrorModel::new(stats).sse(t / qmax(bitwidth), t);
    Ok(sse / stats.count() as f64)
}

/// `n >= 2` points from `lo` to `hi` (both exact), geometrically spaced.
fn log_grid(lo: f64, hi: f64, n: usize) -> Vec<f64> {
    let ratio = (hi / lo).ln();
    let last = n - 1;
    (0..n)
        .map(|i| match i {
            0 => lo,
            i if i == last => hi,
            i => (lo * (ratio * i as f64 / last as f64).exp()).clamp(lo, hi),
        })
        .collect()
}

fn qmax(bitwidth: u32) -> f64 {
    ((1u64 << (bitwidth - 1)) - 1) as f64
}

fn pow2(k: i32) -> f64 {
    2f64.powi(k)
}

/// `ceil(log2(x))` for a positive normal `x`, exactly.
fn ceil_log2(x: f64) -> i32 {
    let bits = x.to_bits();
    let exp = ((bits >> 52) & 0x7ff) as i32 - 1023;
    if bits & ((1u64 << 52) - 1) == 0 {
        exp
    } else {
        exp + 1
    }
}

/// Piecewise-uniform model of `|x|` built from the non-empty histogram bins.
struct ErrorModel {
    lo: Vec<f64>,
    hi: Vec<f64>,
    count: Vec<f64>,
    /// `count / (hi - lo)`: the density of the bin (unused for a degenerate bin).
    density: Vec<f64>,
    /// `sq_prefix[j]`: sum over bins `< j` of `count * E[x^2]` (error if they all round to 0).
    sq_prefix: Vec<f64>,
}

const THIRD: f64 = 1.0 / 3.0;
const TWELFTH: f64 = 1.0 / 12.0;

impl ErrorModel {
    fn new(stats: &TensorStats) -> Self {
        let mut m = ErrorModel {
            lo: Vec::new(),
            hi: Vec::new(),
            count: Vec::new(),
            density: Vec::new(),
            sq_prefix: vec![0.0],
        };
        let mut acc = 0.0;
        for (a, b, c) in stats.fine_bins().filter(|b| b.2 > 0) {
            let c = c as f64;
            acc += c * (a * a + a * b + b * b) * THIRD;
            m.lo.push(a);
            m.hi.push(b);
            m.count.push(c);
            m.density.push(if b > a { c / (b - a) } else { 0.0 });
            m.sq_prefix.push(acc);
        }
        m
    }

    /// Sum of squared errors with quantization step `step` and saturation at `clip` (a grid
    /// point).
    fn sse(&self, step: f64, clip: f64) -> f64 {
        // Bins entirely below step/2 round to zero: error x^2, from the prefix sums.
        let half = 0.5 * step;
        let inv_step = 1.0 / step;
        let j0 = self.hi.partition_point(|&h| h <= half);
        // Rounding error in units of step^3, clipping error in units of 1/3, point masses.
        let mut rounding = 0.0;
        let mut clipping = 0.0;
        let mut points = 0.0;
        for j in j0..self.lo.len() {
            let (a, b) = (self.lo[j], self.hi[j]);
            if b <= a {
                // Degenerate top bin: every value equals max|x| = a.
                let d = if a > clip {
                    a - clip
                } else {
                    a - step * (a * inv_step).round()
                };
                points += self.count[j] * d * d;
                continue;
            }
            let density = self.density[j];
            if a < clip {
                rounding += density
                    * (rounding_integral_units(b.min(clip) * inv_step)
                        - rounding_integral_units(a * inv_step));
            }
            if b > clip {
                let u = a.max(clip) - clip;
                let v = b - clip;
                clipping += density * (v - u) * (u * u + u * v + v * v);
            }
        }
        self.sq_prefix[j0] + step * step * step * rounding + clipping * THIRD + points
    }
}

/// `∫_0^y (v - round(v))^2 dv` up to a constant (the rounding error integral in units of the
/// step): with `z = y + 1/2`, `floor(z)/12 + ((frac(z) - 1/2)^3 + 1/8) / 3`. `y >= 0` and at
/// most about `2^31` here (`|x| <= clip = qmax * step`), so truncation is the floor (and avoids
/// a libm call on targets without SSE4.1).
#[inline]
fn rounding_integral_units(y: f64) -> f64 {
    let z = y + 0.5;
    let fl = (z as i64) as f64;
    let r = z - fl - 0.5;
    fl * TWELFTH + (r * r * r + 0.125) * THIRD
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounding_integral_matches_numeric() {
        let s = 0.37;
        for &(a, b) in &[
            (0.0, 0.1),
            (0.1, 2.3),
            (1.0, 1.01),
            (5.0, 9.7),
            (0.18, 0.19),
        ] {
            let n = 200_000;
            let mut num = 0.0;
            for i in 0..n {
                let u = a + (b - a) * (i as f64 + 0.5) / n as f64;
                let d = u - s * (u / s).round();
                num += d * d * (b - a) / n as f64;
            }
            let ana = s * s * s * (rounding_integral_units(b / s) - rounding_integral_units(a / s));
            assert!(
                (num - ana).abs() <= 1e-6 * num.max(1e-12),
                "{a} {b}: {num} vs {ana}"
            );
        }
        // A whole period costs s^3/12.
        let p = rounding_integral_units(3.1) - rounding_integral_units(2.1);
        assert!((p - 1.0 / 12.0).abs() < 1e-15);
    }

    #[test]
    fn ceil_log2_exact() {
        assert_eq!(ceil_log2(1.0), 0);
        assert_eq!(ceil_log2(1.0000001), 1);
        assert_eq!(ceil_log2(0.5), -1);
        assert_eq!(ceil_log2(3.0), 2);
        assert_eq!(ceil_log2(4.0), 2);
        assert_eq!(ceil_log2(f64::from(f32::MIN_POSITIVE)), -126);
    }
}
