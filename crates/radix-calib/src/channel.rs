//! Per-channel exact minimum / maximum along one axis (e.g. the `C` of NCHW).

use ndarray::{ArrayBase, Data, Dimension};
use serde::{Deserialize, Serialize};

use crate::error::{CalibError, Result};
use crate::stats::{minmax_ord, ord, unord};

/// Range of one channel.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ChannelRange {
    /// Number of values observed in this channel.
    pub count: u64,
    /// Exact smallest value.
    pub min: f32,
    /// Exact largest value.
    pub max: f32,
    /// Exact `max|x|`.
    pub absmax: f32,
}

/// Streaming per-channel statistics: count, exact min and max (zeros reported as `+0.0`) of
/// every index along `axis` of row-major tensors of any rank. Mergeable exactly like [`TensorStats`](crate::TensorStats)
/// (associative, commutative, byte-identical serialization for any split and order).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "ChannelRepr", into = "ChannelRepr")]
pub struct ChannelStats {
    axis: usize,
    counts: Vec<u64>,
    min_ord: Vec<i32>,
    max_ord: Vec<i32>,
}

impl ChannelStats {
    /// Empty statistics for `channels` channels along `axis`.
    pub fn new(channels: usize, axis: usize) -> Self {
        ChannelStats {
            axis,
            counts: vec![0; channels],
            min_ord: vec![i32::MAX; channels],
            max_ord: vec![i32::MIN; channels],
        }
    }

    /// Number of channels.
    pub fn channels(&self) -> usize {
        self.counts.len()
    }

    /// The channel axis.
    pub fn axis(&self) -> usize {
        self.axis
    }

    /// Adds a row-major tensor `data` of shape `shape`. `shape[axis]` must equal
    /// [`channels`](Self::channels). Fails without changing anything on a shape mismatch or a
    /// NaN/inf (naming its flat row-major index).
    pub fn observe(&mut self, data: &[f32], shape: &[usize]) -> Result<()> {
        let axis = self.axis;
        if axis >= shape.len() {
            return Err(CalibError::AxisOutOfRange {
                axis,
                rank: shape.len(),
            });
        }
        if shape[axis] != self.channels() {
            return Err(CalibError::ChannelMismatch {
                expected_channels: self.channels(),
                expected_axis: axis,
                found_channels: shape[axis],
                found_axis: axis,
            });
        }
        let product = shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d));
        if product != Some(data.len()) {
            return Err(CalibError::ShapeMismatch {
                shape: shape.to_vec(),
                len: data.len(),
            });
        }
        // Fail before changing anything.
        minmax_ord(data)?;
        let channels = self.channels();
        let inner: usize = shape[axis + 1..].iter().product();
        if inner == 0 || data.is_empty() {
            return Ok(());
        }
        let n = inner as u64;
        if inner >= 32 {
            for (i, chunk) in data.chunks_exact(inner).enumerate() {
                let c = i % channels;
                let (mn, mx) = minmax_ord(chunk)?;
                self.min_ord[c] = self.min_ord[c].min(mn);
                self.max_ord[c] = self.max_ord[c].max(mx);
                self.counts[c] = self.counts[c].saturating_add(n);
            }
        } else {
            for (i, chunk) in data.chunks_exact(inner).enumerate() {
                let c = i % channels;
                for &x in chunk {
                    let o = ord((x + 0.0).to_bits());
                    self.min_ord[c] = self.min_ord[c].min(o);
                    self.max_ord[c] = self.max_ord[c].max(o);
                }
                self.counts[c] = self.counts[c].saturating_add(n);
            }
        }
        Ok(())
    }

    /// Adds an array of any layout (copied to standard layout first if it is not already).
    pub fn observe_array<S, D>(&mut self, a: &ArrayBase<S, D>) -> Result<()>
    where
        S: Data<Elem = f32>,
        D: Dimension,
    {
        let std = a.as_standard_layout();
        match std.as_slice() {
            Some(s) => self.observe(s, a.shape()),
            None => Err(CalibError::InvalidStats("array is not contiguous")),
        }
    }

    /// Adds all observations of `other` (same channel count and axis, else an error and no
    /// change).
    pub fn merge(&mut self, other: &ChannelStats) -> Result<()> {
        if other.axis != self.axis || other.channels() != self.channels() {
            return Err(CalibError::ChannelMismatch {
                expected_channels: self.channels(),
                expected_axis: self.axis,
                found_channels: other.channels(),
                found_axis: other.axis,
            });
        }
        for c in 0..self.channels() {
            self.counts[c] = self.counts[c].saturating_add(other.counts[c]);
            self.min_ord[c] = self.min_ord[c].min(other.min_ord[c]);
            self.max_ord[c] = self.max_ord[c].max(other.max_ord[c]);
        }
        Ok(())
    }

    /// Range of channel `c` (`None` if `c` is out of range or the channel saw no value).
    pub fn channel(&self, c: usize) -> Option<ChannelRange> {
        let count = *self.counts.get(c)?;
        if count == 0 {
            return None;
        }
        let min = unord(self.min_ord[c]);
        let max = unord(self.max_ord[c]);
        Some(ChannelRange {
            count,
            min,
            max,
            absmax: min.abs().max(max.abs()),
        })
    }

    /// `max|x|` of every channel (0.0 for a channel that saw no value).
    pub fn absmax(&self) -> Vec<f32> {
        (0..self.channels())
            .map(|c| self.channel(c).map_or(0.0, |r| r.absmax))
            .collect()
    }
}

#[derive(Clone, Serialize, Deserialize)]
struct ChannelRepr {
    axis: usize,
    counts: Vec<u64>,
    min: Vec<Option<f32>>,
    max: Vec<Option<f32>>,
}

impl From<ChannelStats> for ChannelRepr {
    fn from(s: ChannelStats) -> Self {
        let min = (0..s.channels())
            .map(|c| s.channel(c).map(|r| r.min))
            .collect();
        let max = (0..s.channels())
            .map(|c| s.channel(c).map(|r| r.max))
            .collect();
        ChannelRepr {
            axis: s.axis,
            counts: s.counts,
            min,
            max,
        }
    }
}

impl TryFrom<ChannelRepr> for ChannelStats {
    type Error = CalibError;

    fn try_from(r: ChannelRepr) -> Result<Self> {
        let n = r.counts.len();
        if r.min.len() != n || r.max.len() != n {
            return Err(CalibError::InvalidStats(
                "per-channel vectors differ in length",
            ));
        }
        let mut s = ChannelStats::new(n, r.axis);
        for c in 0..n {
            match (r.counts[c], r.min[c], r.max[c]) {
                (0, None, None) => {}
                (k, Some(mn), Some(mx))
                    if k > 0
                        && mn.to_bits() != (-0.0f32).to_bits()
                        && mx.to_bits() != (-0.0f32).to_bits()
                        && mn.is_finite()
                        && mx.is_finite()
                        && ord(mn.to_bits()) <= ord(mx.to_bits()) =>
                {
                    s.counts[c] = k;
                    s.min_ord[c] = ord(mn.to_bits());
                    s.max_ord[c] = ord(mx.to_bits());
                }
                _ => return Err(CalibError::InvalidStats("invalid channel range")),
            }
        }
        Ok(s)
    }
}
