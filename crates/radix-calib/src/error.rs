//! Typed errors of the calibration crate.

/// Everything that can go wrong in `radix-calib`. No function of this crate panics on user data;
/// it returns one of these instead.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CalibError {
    /// A NaN or an infinity was found. `index` is the position of the first offending value in
    /// the slice (row-major logical index for arrays) that was being observed.
    #[error("non-finite value {value} at index {index}")]
    NonFinite {
        /// Position of the first non-finite value.
        index: usize,
        /// The value itself (NaN, +inf or -inf).
        value: f32,
    },
    /// The data length does not match the product of the given shape.
    #[error("data has {len} values, which does not match shape {shape:?}")]
    ShapeMismatch {
        /// The shape that was given.
        shape: Vec<usize>,
        /// Number of values actually given.
        len: usize,
    },
    /// The channel axis is not an axis of the shape.
    #[error("channel axis {axis} is out of range for a tensor of rank {rank}")]
    AxisOutOfRange {
        /// Requested axis.
        axis: usize,
        /// Rank of the tensor.
        rank: usize,
    },
    /// Per-channel statistics were combined with data or statistics of another layout.
    #[error(
        "per-channel statistics mismatch: expected {expected_channels} channels along axis {expected_axis}, found {found_channels} along axis {found_axis}"
    )]
    ChannelMismatch {
        /// Channel count of the statistics.
        expected_channels: usize,
        /// Axis of the statistics.
        expected_axis: usize,
        /// Channel count found.
        found_channels: usize,
        /// Axis found.
        found_axis: usize,
    },
    /// A range method parameter is out of its domain.
    #[error("invalid parameter `{name}` = {value}: {reason}")]
    InvalidParameter {
        /// Parameter name, as in the analysis options (`percentage`, `percentile`, ...).
        name: &'static str,
        /// The rejected value.
        value: f64,
        /// What the domain is.
        reason: &'static str,
    },
    /// The bitwidth cannot be used for symmetric quantization (must be 2..=32).
    #[error("unsupported bitwidth {0} (must be 2..=32)")]
    InvalidBitwidth(u32),
    /// A range was requested from statistics that never observed a value.
    #[error("no values were observed for this tensor")]
    Empty,
    /// Two slices that must have the same length do not.
    #[error("length mismatch: reference has {reference} values, test has {test}")]
    LengthMismatch {
        /// Length of the reference slice.
        reference: usize,
        /// Length of the test slice.
        test: usize,
    },
    /// Deserialized statistics violate an invariant (corrupt or hand-edited data).
    #[error("invalid serialized statistics: {0}")]
    InvalidStats(&'static str),
}

/// Result alias of this crate.
pub type Result<T, E = CalibError> = std::result::Result<T, E>;
