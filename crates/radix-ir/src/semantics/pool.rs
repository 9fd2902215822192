//! Pooling and convolution windows along one axis: the output length and, per output index,
//! which taps fall inside the input and inside the padded input.
//!
//! Along an axis of input length `input`, output index `o` of a window op with `kernel` taps,
//! `stride`, `dilation` and padding `(pad_lo, pad_hi)` reads positions
//! `p_k = o * stride - pad_lo + k * dilation` for `k < kernel`. A tap is *inside* when
//! `0 <= p_k < input` and *padded* when `-pad_lo <= p_k < input + pad_hi` (a `ceil_mode`
//! window can reach past the high padding; those taps are neither). In N dimensions a tap is
//! inside (padded) when it is along every axis, so counts multiply.
//!
//! MaxPool takes the largest inside tap; AveragePool divides the sum of the inside taps by
//! [`divisor`]: the number of padded taps with `count_include_pad`, else of inside taps.

use crate::op::PoolAttrs;

/// Output length along one axis: `(input + pad_lo + pad_hi - eff) / stride + 1` with
/// `eff = dilation * (kernel - 1) + 1`, the division rounded up with `ceil`; with `ceil` a
/// last window starting at or past `input + pad_lo` (entirely in the high padding) is dropped,
/// as ONNX does. `None` when the padded input is shorter than `eff` or `stride == 0`.
/// `kernel` must be at least 1.
pub fn output_len(
    input: usize,
    kernel: usize,
    stride: usize,
    pad_lo: usize,
    pad_hi: usize,
    dilation: usize,
    ceil: bool,
) -> Option<usize> {
    let eff = dilation * (kernel - 1) + 1;
    let padded = input + pad_lo + pad_hi;
    if padded < eff || stride == 0 {
        return None;
    }
    let span = padded - eff;
    let mut out = if ceil {
        span.div_ceil(stride) + 1
    } else {
        span / stride + 1
    };
    // ONNX: with ceil_mode the last window must start inside the input or left padding.
    if ceil && (out - 1) * stride >= input + pad_lo {
        out -= 1;
    }
    Some(out)
}

/// The geometry of a window along one axis (see the [module docs](self)).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AxisGeom {
    /// Input length.
    pub input: usize,
    /// Taps per window (>= 1).
    pub kernel: usize,
    /// Step between windows (>= 1).
    pub stride: usize,
    /// Padding before the input.
    pub pad_lo: usize,
    /// Padding after the input.
    pub pad_hi: usize,
    /// Step between taps (>= 1; 0 is read as 1, shape inference rejects it).
    pub dilation: usize,
}

/// The taps of one output index's window along one axis.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AxisWindow {
    /// Input index of the first inside tap (0 when there is none).
    pub first: usize,
    /// Number of inside taps: input indices `first + j * dilation` for `j < inside`.
    pub inside: usize,
    /// Number of padded taps (the inside taps and those in the padding).
    pub padded: usize,
}

impl AxisGeom {
    /// The window of output index `o`.
    #[inline]
    pub fn window(&self, o: usize) -> AxisWindow {
        let d = self.dilation.max(1);
        let start = (o * self.stride) as isize - self.pad_lo as isize;
        let k = self.kernel;
        // Taps k with p_k >= 0: k >= ceil(-start / d).
        let k_lo = if start >= 0 {
            0
        } else {
            ((-start) as usize).div_ceil(d).min(k)
        };
        // Taps k with p_k < bound: k < ceil((bound - start) / d).
        let below = |bound: isize| -> usize {
            if bound <= start {
                0
            } else {
                ((bound - start) as usize).div_ceil(d).min(k)
            }
        };
        let k_in = below(self.input as isize);
        let inside = k_in.saturating_sub(k_lo);
        AxisWindow {
            first: if inside > 0 {
                (start + (k_lo * d) as isize) as usize
            } else {
                0
            },
            inside,
            padded: below((self.input + self.pad_hi) as isize),
        }
    }

    /// The windows of output indices `0..out`.
    pub fn windows(&self, out: usize) -> Vec<AxisWindow> {
        (0..out).map(|o| self.window(o)).collect()
    }
}

/// AveragePool's divisor of a window given per axis: the product of the padded tap counts
/// with `count_include_pad`, else of the inside tap counts.
#[inline]
pub fn divisor<'a>(
    count_include_pad: bool,
    axes: impl IntoIterator<Item = &'a AxisWindow>,
) -> usize {
    axes.into_iter()
        .map(|w| {
            if count_include_pad {
                w.padded
            } else {
                w.inside
            }
        })
        .product()
}

impl PoolAttrs {
    /// The window geometry of spatial axis `axis` (0: H, 1: W) over an input of length
    /// `input`.
    pub fn axis_geom(&self, axis: usize, input: usize) -> AxisGeom {
        AxisGeom {
            input,
            kernel: self.kernel[axis],
            stride: self.strides[axis],
            pad_lo: self.pads[axis],
            pad_hi: self.pads[axis + 2],
            dilation: self.dilations[axis],
        }
    }
}
