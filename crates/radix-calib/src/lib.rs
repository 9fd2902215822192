//! # radix-calib: streaming calibration statistics and range methods
//!
//! Pure math, no engine: the calibration driver feeds every intermediate tensor of every input
//! image (as `f32` slices or ndarray arrays) into a [`TensorStats`] (and, where a later stage
//! needs it, a [`ChannelStats`]), merges the per-thread statistics, and asks a [`RangeMethod`]
//! for each tensor's symmetric range `absmax`. The fixed-point parameters follow from it
//! (docs/FIXED_POINT.md): `radix = (b-1) - ceil(log2(absmax))`, `scale = qmax / (absmax * 2^radix)`,
//! `qmax = 2^(b-1) - 1`.
//!
//! ```
//! use radix_calib::{MinMax, Mmse, Percentage, RangeMethod, TensorStats};
//!
//! // One TensorStats per tensor and thread; observe every image, then merge.
//! let mut a = TensorStats::new();
//! a.observe(&[0.5, -1.0, 2.0])?;
//! let mut b = TensorStats::new();
//! b.observe(&[-3.0, 0.0])?;
//! a.merge(&b);
//! assert_eq!(MinMax.absmax(&a, 8)?, 3.0);
//! let p = Percentage::default().absmax(&a, 8)?; // 0.999 of 5 values: the largest
//! assert_eq!(p, 3.0);
//! let t = Mmse::default().absmax(&a, 16)?;
//! assert!(t > 0.0 && t <= 3.0);
//! # Ok::<(), radix_calib::CalibError>(())
//! ```
//!
//! ## The histogram
//!
//! [`TensorStats`] keeps the exact count, the exact signed min and max, and a histogram of `|x|`
//! whose bin is read straight off the IEEE-754 bit pattern: `key = (bits(|x|) >> 16)`, i.e. the
//! 8 exponent bits and the top [`SUB_BIN_BITS`] = 7 mantissa bits. Each octave
//! `[2^e, 2^(e+1))` is thus split into 128 equal sub-bins; a bin `[lo, hi)` has
//! `(hi - lo) / lo <= 2^-7` (0.78%) everywhere in the normal range. Binning costs a mask, a
//! shift, a saturating subtract and an increment per value; no float math, no branch.
//!
//! Only the key range actually seen is allocated, densely, and it is capped to the
//! [`WINDOW_OCTAVES`] = 40 octaves below the largest `|x|` seen: values smaller than
//! `max|x| * 2^-40` (≈ 1e-12 of the range), subnormals and zeros are counted in one underflow
//! bin. Memory per tensor is therefore at most `(40 * 128 + 1) * 8` bytes ≈ 41 KiB, typically
//! a few KiB, and does not grow with the number of observations (counts are `u64`).
//!
//! The layout is canonical: the allocated key range is `[max(smallest key seen, top - window),
//! largest key seen]`, a function of the multiset of observed values only. Merging adds integer
//! counts and takes exact min/max (with `-0.0` normalised to `+0.0`, so not even the sign of a
//! zero depends on the order), so [`TensorStats::merge`] is exactly associative and
//! commutative: any split of the data over images and threads, merged in any order or tree,
//! gives the same value and the same serialized bytes (serde; the serialized form is validated on
//! deserialization).
//!
//! ### Error bound
//!
//! A quantile of `|x|` ([`TensorStats::quantile`]) is located exactly at bin granularity
//! (integer counts), then interpolated linearly inside its bin. The true order statistic and the
//! estimate lie in the same bin, so the relative error is below `2^-7` (0.78%) for any quantile
//! and any distribution, including tails of 1e-6 of the mass; for smooth densities it is much
//! smaller. Rank `ceil(p * count)` equal to `count` (e.g. `p = 1.0`) returns the exact
//! `max|x|`, and no quantile ever exceeds it. A quantile that falls in the underflow bin is 0.
//!
//! ## Range methods
//!
//! * [`Percentage`] (`percentage`): the `p`-quantile of `|x|` (clip the top `1 - p`), with
//!   `percentage` (default 0.999) for tensors of at most 8 bits and `percentage_16b` (default
//!   0.999999) for wider ones. `1.0` is plain min/max. If more than `p` of the values are zero
//!   the quantile of the non-zero values is used instead.
//! * [`MinMax`]: exactly `max|x|`.
//! * [`Mmse`] (`mmse`): [`MMSE_CANDIDATES`] = 128 thresholds `t`, log-spaced from the
//!   `(1 - percentile)`-quantile of `|x|` to `max|x|`, refined by [`MMSE_REFINE`] linear steps
//!   around the best; for each, the squared error of symmetric
//!   quantization with step `t / qmax` and saturation at `t` is integrated exactly over the
//!   histogram (values uniform within a bin; rounding error against the actual grid, clipping
//!   error `(|x| - t)^2` above `t`); the smallest error wins (ties: smaller `t`), then it is
//!   multiplied by `outlier_factor`. A `power_of_two` variant models KL520 (no scale).
//!   [`estimated_mse`] exposes the error model.
//!
//! Every method returns a finite `absmax > 0`. A tensor whose `max|x|` is zero or subnormal gets
//! [`ZERO_TENSOR_ABSMAX`] (1.0: its values all quantize to 0 anyway, and the radix stays
//! ordinary). Bad parameters, bitwidths outside `2..=32`, empty statistics and NaN/inf data are
//! typed [`CalibError`]s, never panics.
//!
//! [`sqnr_db`] is the SNR measure shared by the other crates.

#![deny(missing_docs)]

mod channel;
mod error;
mod method;
mod sqnr;
mod stats;

pub use channel::{ChannelRange, ChannelStats};
pub use error::{CalibError, Result};
pub use method::{
    MMSE_CANDIDATES, MMSE_REFINE, MinMax, Mmse, Percentage, RangeMethod, ZERO_TENSOR_ABSMAX,
    estimated_mse,
};
pub use sqnr::{output_sqnr_db, sqnr_db, sqnr_from_energies, try_sqnr_db};
pub use stats::{HistBin, SUB_BIN_BITS, SUB_BINS, TensorStats, WINDOW_OCTAVES};
