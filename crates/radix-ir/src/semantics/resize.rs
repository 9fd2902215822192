//! Resize coordinates: which input position an output index reads, and its two taps.
//!
//! Two readings of ONNX `coordinate_transformation_mode` exist and both are defined here:
//! * [`ResizeCoord::original_coord`] for [`Op::Resize`](crate::Op::Resize) (NCHW, nearest /
//!   linear): the ONNX operator text as onnxruntime implements it, with `len_out` the integer
//!   output length. The float engine and the host-float CPU op compute it in f32 (like
//!   onnxruntime), the quantizer's integer plan in f64; the float type is a parameter because the
//!   two can round a coordinate differently near an integer, and each path keeps the precision
//!   its results were defined with.
//! * [`ResizeNdCoord::original_coord`] for [`Op::ResizeNd`](crate::Op::ResizeNd): the ONNX
//!   reference implementation (`_interpolate_1d_with_x`), in f64, where the resized length is
//!   the float `scale * len_in`, not the integer output length.

use std::ops::{Add, Div, Mul, Sub};

use crate::op::{ResizeAttrs, ResizeCoord, ResizeMode, ResizeNdCoord, ResizeNearest};

/// The float type a Resize coordinate is computed in: `f32` or `f64`. Every method is the
/// standard library's method of the same name, or an `as` cast.
pub trait CoordFloat:
    Copy
    + PartialEq
    + PartialOrd
    + Add<Output = Self>
    + Sub<Output = Self>
    + Mul<Output = Self>
    + Div<Output = Self>
    + private::Sealed
{
    /// 0.
    const ZERO: Self;
    /// 0.5.
    const HALF: Self;
    /// 1.
    const ONE: Self;
    /// `n as Self`.
    fn from_usize(n: usize) -> Self;
    /// `x as Self` (exact for `f32 -> f64`).
    fn from_f32(x: f32) -> Self;
    /// `self as usize`: truncation toward zero, saturating, NaN to 0.
    fn to_usize(self) -> usize;
    /// Largest integer `<= self`.
    fn floor(self) -> Self;
    /// Smallest integer `>= self`.
    fn ceil(self) -> Self;
    /// Nearest integer, halves away from zero.
    fn round(self) -> Self;
    /// The larger of the two; the other one when either is NaN.
    fn max(self, other: Self) -> Self;
    /// `self` restricted to `[lo, hi]` (NaN stays NaN).
    fn clamp(self, lo: Self, hi: Self) -> Self;
}

mod private {
    pub trait Sealed {}
    impl Sealed for f32 {}
    impl Sealed for f64 {}
}

macro_rules! coord_float {
    ($t:ty) => {
        impl CoordFloat for $t {
            const ZERO: Self = 0.0;
            const HALF: Self = 0.5;
            const ONE: Self = 1.0;
            #[inline]
            fn from_usize(n: usize) -> Self {
                n as $t
            }
            #[inline]
            fn from_f32(x: f32) -> Self {
                x as $t
            }
            #[inline]
            fn to_usize(self) -> usize {
                self as usize
            }
            #[inline]
            fn floor(self) -> Self {
                <$t>::floor(self)
            }
            #[inline]
            fn ceil(self) -> Self {
                <$t>::ceil(self)
            }
            #[inline]
            fn round(self) -> Self {
                <$t>::round(self)
            }
            #[inline]
            fn max(self, other: Self) -> Self {
                <$t>::max(self, other)
            }
            #[inline]
            fn clamp(self, lo: Self, hi: Self) -> Self {
                <$t>::clamp(self, lo, hi)
            }
        }
    };
}
coord_float!(f32);
coord_float!(f64);

/// `(x + 0.5) / scale - 0.5`.
#[inline]
fn half_pixel<T: CoordFloat>(x: T, scale: T) -> T {
    (x + T::HALF) / scale - T::HALF
}

/// `x * (len_in - 1) / (len_resized - 1)`.
#[inline]
fn align_corners<T: CoordFloat>(x: T, len_in: T, len_resized: T) -> T {
    x * (len_in - T::ONE) / (len_resized - T::ONE)
}

impl ResizeCoord {
    /// The input coordinate output index `x` reads along one axis of input length `len_in`,
    /// output length `len_out` and scale `scale` (output / input), computed in `T`:
    ///
    /// | mode | coordinate |
    /// |---|---|
    /// | half_pixel | `(x + 0.5) / scale - 0.5` |
    /// | pytorch_half_pixel | `(x + 0.5) / scale - 0.5` if `len_out > 1`, else `0` |
    /// | align_corners | `x * (len_in - 1) / (len_out - 1)` if `len_out > 1`, else `0` |
    /// | asymmetric | `x / scale` |
    /// | tf_half_pixel_for_nearest | `(x + 0.5) / scale` |
    ///
    /// The result is not clamped: it may lie outside `[0, len_in - 1]` (see
    /// [`ResizeNearest::index`] and [`linear_taps`]).
    #[inline]
    pub fn original_coord<T: CoordFloat>(
        self,
        x: usize,
        scale: T,
        len_in: usize,
        len_out: usize,
    ) -> T {
        let xf = T::from_usize(x);
        match self {
            ResizeCoord::HalfPixel => half_pixel(xf, scale),
            ResizeCoord::PytorchHalfPixel if len_out > 1 => half_pixel(xf, scale),
            ResizeCoord::PytorchHalfPixel => T::ZERO,
            ResizeCoord::AlignCorners if len_out > 1 => {
                align_corners(xf, T::from_usize(len_in), T::from_usize(len_out))
            }
            ResizeCoord::AlignCorners => T::ZERO,
            ResizeCoord::Asymmetric => xf / scale,
            ResizeCoord::TfHalfPixelForNearest => (xf + T::HALF) / scale,
        }
    }
}

impl ResizeNdCoord {
    /// The input coordinate output index `y` reads along one axis, as the ONNX reference
    /// computes it (f64): with `len_resized = scale * len_in` (a float) and `span = roi.1 -
    /// roi.0`,
    ///
    /// | mode | coordinate |
    /// |---|---|
    /// | half_pixel | `(y + 0.5) / scale - 0.5` |
    /// | half_pixel_symmetric | `len_in / 2 * (1 - len_out / len_resized) + (y + 0.5) / scale - 0.5` |
    /// | pytorch_half_pixel | `-0.5` if `len_resized == 1`, else `(y + 0.5) / scale - 0.5` |
    /// | align_corners | `0` if `len_resized == 1`, else `y * (len_in - 1) / (len_resized - 1)` |
    /// | asymmetric | `y / scale` |
    /// | tf_half_pixel_for_nearest | `(y + 0.5) / scale` |
    /// | tf_crop_and_resize | `roi.0 * (len_in - 1) + y * span * (len_in - 1) / (len_resized - 1)`, or `roi.0 * (len_in - 1) + span * (len_in - 1) / 2` if `len_resized == 1` |
    ///
    /// `None`: tf_crop_and_resize outside `[0, len_in - 1]` (the output takes the extrapolation
    /// value). The roi products are rounded to f32 as the reference's float32 roi does.
    /// Where `len_resized` equals `len_out` these agree with [`ResizeCoord::original_coord`]
    /// except pytorch_half_pixel at one output (`-0.5` here, `0` there; the ONNX reference and
    /// onnxruntime differ there).
    pub fn original_coord(
        self,
        y: usize,
        scale: f64,
        len_in: usize,
        len_out: usize,
        roi: (f32, f32),
    ) -> Option<f64> {
        let (roi0, roi1) = roi;
        let width_in = len_in as f64;
        let width_out = scale * width_in;
        let y = y as f64;
        Some(match self {
            ResizeNdCoord::AlignCorners if width_out == 1.0 => 0.0,
            ResizeNdCoord::AlignCorners => align_corners(y, width_in, width_out),
            ResizeNdCoord::Asymmetric => y / scale,
            ResizeNdCoord::TfCropAndResize => {
                // roi arithmetic in f32 as the reference (float32 roi) does it.
                let span = (roi1 - roi0) as f64;
                let base = if width_out == 1.0 {
                    (((roi1 - roi0) * (len_in as f32 - 1.0)) / 2.0) as f64
                } else {
                    y * span * (width_in - 1.0) / (width_out - 1.0)
                };
                let x = base + (roi0 * (len_in as f32 - 1.0)) as f64;
                if x < 0.0 || x > width_in - 1.0 {
                    return None;
                }
                x
            }
            ResizeNdCoord::PytorchHalfPixel if width_out == 1.0 => -0.5,
            ResizeNdCoord::PytorchHalfPixel | ResizeNdCoord::HalfPixel => half_pixel(y, scale),
            ResizeNdCoord::HalfPixelSymmetric => {
                let adjustment = len_out as f64 / width_out;
                let center = width_in / 2.0;
                center * (1.0 - adjustment) + (y + 0.5) / scale - 0.5
            }
            ResizeNdCoord::TfHalfPixelForNearest => (y + 0.5) / scale,
        })
    }
}

impl ResizeNearest {
    /// Rounds a coordinate to an integer: `floor` / `ceil`, or to the nearest integer with a
    /// tie (`x - floor(x) == 0.5`) going down (round_prefer_floor) or up (round_prefer_ceil).
    /// Not clamped.
    #[inline]
    pub fn round<T: CoordFloat>(self, x: T) -> T {
        let tie = x - x.floor() == T::HALF;
        match self {
            ResizeNearest::RoundPreferFloor if tie => x.floor(),
            ResizeNearest::RoundPreferCeil if tie => x.ceil(),
            ResizeNearest::RoundPreferFloor | ResizeNearest::RoundPreferCeil => x.round(),
            ResizeNearest::Floor => x.floor(),
            ResizeNearest::Ceil => x.ceil(),
        }
    }

    /// The input index nearest mode reads for coordinate `x`: [`ResizeNearest::round`], then
    /// clamped to `[0, len_in - 1]` (NaN reads index 0).
    #[inline]
    pub fn index<T: CoordFloat>(self, x: T, len_in: usize) -> usize {
        self.round(x)
            .max(T::ZERO)
            .to_usize()
            .min(len_in.saturating_sub(1))
    }
}

/// The two input indices an output reads along one axis and the weight of the second one:
/// the value is `(1 - frac) * x[i0] + frac * x[i1]`. Nearest mode: `i1 == i0`, `frac == 0`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Taps<T> {
    /// First input index.
    pub i0: usize,
    /// Second input index (`i0 + 1`, or `i0` at the last input index).
    pub i1: usize,
    /// Weight of `i1`, in `[0, 1)`; 0 when `i1 == i0`.
    pub frac: T,
}

/// Linear taps of coordinate `c`: `c` clamped to `[0, len_in - 1]`, `i0 = floor(c)`,
/// `i1 = min(i0 + 1, len_in - 1)`, `frac = c - i0` (0 when `i1 == i0`).
#[inline]
pub fn linear_taps<T: CoordFloat>(c: T, len_in: usize) -> Taps<T> {
    let last = len_in.saturating_sub(1);
    let c = c.clamp(T::ZERO, T::from_usize(last));
    let i0 = c.to_usize().min(last);
    let i1 = (i0 + 1).min(last);
    Taps {
        i0,
        i1,
        frac: if i1 == i0 {
            T::ZERO
        } else {
            c - T::from_usize(i0)
        },
    }
}

impl ResizeAttrs {
    /// The taps of every output index along spatial axis `axis` (0: H, 1: W) for an input of
    /// length `len_in` and an output of length `len_out`, computed in `T`: the coordinate of
    /// [`ResizeCoord::original_coord`] with `scales[axis]`, then [`ResizeNearest::index`]
    /// (nearest) or [`linear_taps`] (linear).
    pub fn axis_taps<T: CoordFloat>(
        &self,
        axis: usize,
        len_in: usize,
        len_out: usize,
    ) -> Vec<Taps<T>> {
        let scale = T::from_f32(self.scales[axis]);
        (0..len_out)
            .map(|o| {
                let c = self.coord.original_coord(o, scale, len_in, len_out);
                match self.mode {
                    ResizeMode::Nearest => {
                        let i = self.nearest.index(c, len_in);
                        Taps {
                            i0: i,
                            i1: i,
                            frac: T::ZERO,
                        }
                    }
                    ResizeMode::Linear => linear_taps(c, len_in),
                }
            })
            .collect()
    }
}
