//! Property tests of `radix_ir::semantics`: Resize coordinates and taps, and pooling windows,
//! each checked against a slow, obviously correct reference written here (exact rational
//! arithmetic, linear scans over every input index, enumeration of every kernel tap).

use proptest::prelude::*;
use radix_ir::op::{ResizeAttrs, ResizeCoord, ResizeMode, ResizeNdCoord, ResizeNearest};
use radix_ir::semantics::pool::{AxisGeom, divisor, output_len};
use radix_ir::semantics::resize::{CoordFloat, linear_taps};

const CASES: u32 = 1024;

const COORDS: [ResizeCoord; 5] = [
    ResizeCoord::HalfPixel,
    ResizeCoord::PytorchHalfPixel,
    ResizeCoord::AlignCorners,
    ResizeCoord::Asymmetric,
    ResizeCoord::TfHalfPixelForNearest,
];
const NEAREST: [ResizeNearest; 4] = [
    ResizeNearest::RoundPreferFloor,
    ResizeNearest::RoundPreferCeil,
    ResizeNearest::Floor,
    ResizeNearest::Ceil,
];

// ---------------------------------------------------------------------------------------------
// Resize: slow references.

/// An exact rational `n / d` (`d > 0`).
#[derive(Clone, Copy, Debug)]
struct Q(i128, i128);

impl Q {
    fn int(n: i128) -> Q {
        Q(n, 1)
    }
    /// The exact value of a finite f32 (scales here are within [2^-7, 2^7]).
    fn of_f32(v: f32) -> Q {
        let bits = v.to_bits();
        let exp = ((bits >> 23) & 0xff) as i32;
        let frac = (bits & 0x7f_ffff) as i128;
        assert!(exp != 0 && exp != 0xff && v > 0.0);
        let m = frac | (1 << 23);
        let e = exp - 127 - 23;
        if e >= 0 {
            Q(m << e, 1)
        } else {
            Q(m, 1i128 << -e)
        }
    }
    fn add(self, o: Q) -> Q {
        Q(self.0 * o.1 + o.0 * self.1, self.1 * o.1).norm()
    }
    fn sub(self, o: Q) -> Q {
        self.add(Q(-o.0, o.1))
    }
    fn mul(self, o: Q) -> Q {
        Q(self.0 * o.0, self.1 * o.1).norm()
    }
    fn div(self, o: Q) -> Q {
        assert!(o.0 != 0);
        let s = o.0.signum();
        Q(self.0 * o.1 * s, self.1 * o.0.abs()).norm()
    }
    fn norm(self) -> Q {
        let (mut a, mut b) = (self.0.abs(), self.1);
        while b != 0 {
            (a, b) = (b, a % b);
        }
        let g = a.max(1);
        Q(self.0 / g, self.1 / g)
    }
    fn to_f64(self) -> f64 {
        self.0 as f64 / self.1 as f64
    }
}

/// The coordinate of each mode from the ONNX operator text, in exact arithmetic.
fn exact_coord(coord: ResizeCoord, x: usize, scale: Q, len_in: usize, len_out: usize) -> Q {
    let (x, half) = (Q::int(x as i128), Q(1, 2));
    match coord {
        ResizeCoord::HalfPixel => x.add(half).div(scale).sub(half),
        ResizeCoord::PytorchHalfPixel if len_out > 1 => x.add(half).div(scale).sub(half),
        ResizeCoord::AlignCorners if len_out > 1 => x
            .mul(Q::int(len_in as i128 - 1))
            .div(Q::int(len_out as i128 - 1)),
        ResizeCoord::PytorchHalfPixel | ResizeCoord::AlignCorners => Q::int(0),
        ResizeCoord::Asymmetric => x.div(scale),
        ResizeCoord::TfHalfPixelForNearest => x.add(half).div(scale),
    }
}

/// Nearest index by a scan over every input index, comparisons only (exact in `T` for the
/// small indices used here): round_prefer_floor takes the first `i` with `c <= i + 0.5`,
/// round_prefer_ceil the first with `c < i + 0.5`, floor the last `i <= c`, ceil the first
/// `i >= c`; the ends catch everything beyond them.
fn scan_nearest<T: CoordFloat>(mode: ResizeNearest, c: T, len_in: usize) -> usize {
    let last = len_in.saturating_sub(1);
    let at = |i: usize| T::from_usize(i);
    match mode {
        ResizeNearest::RoundPreferFloor => (0..len_in).find(|&i| c <= at(i) + T::HALF),
        ResizeNearest::RoundPreferCeil => (0..len_in).find(|&i| c < at(i) + T::HALF),
        ResizeNearest::Floor => return (0..len_in).rev().find(|&i| at(i) <= c).unwrap_or(0),
        ResizeNearest::Ceil => (0..len_in).find(|&i| at(i) >= c),
    }
    .unwrap_or(last)
}

/// Linear taps by a scan: `i0` the last index `<= c` (c clamped to the input), `i1` the next
/// one or `i0` at the end, `frac` the distance from `i0` (0 at the end).
fn scan_linear<T: CoordFloat>(c: T, len_in: usize) -> (usize, usize, T) {
    let last = len_in.saturating_sub(1);
    let lo = T::ZERO;
    let hi = T::from_usize(last);
    let cc = if c < lo {
        lo
    } else if c > hi {
        hi
    } else {
        c
    };
    let i0 = (0..len_in)
        .rev()
        .find(|&i| T::from_usize(i) <= cc)
        .unwrap_or(0);
    let i1 = if i0 < last { i0 + 1 } else { i0 };
    let frac = if i1 == i0 {
        T::ZERO
    } else {
        cc - T::from_usize(i0)
    };
    (i0, i1, frac)
}

// ---------------------------------------------------------------------------------------------
// Resize: strategies.

/// Input and output lengths, and a positive scale: `out / in` (the sizes form) or a random
/// ratio of small integers (the scales form, output `floor(in * scale)` or anything).
fn resize_axis() -> impl Strategy<Value = (usize, usize, f32)> {
    (
        1usize..=64,
        1usize..=64,
        1u32..=64,
        1u32..=64,
        any::<bool>(),
    )
        .prop_map(|(len_in, len_out, p, q, sizes)| {
            let scale = if sizes {
                len_out as f32 / len_in as f32
            } else {
                p as f32 / q as f32
            };
            (len_in, len_out, scale)
        })
}

/// Coordinates with weight on ties, integers, negatives and values past the input.
fn coord_value() -> impl Strategy<Value = f64> {
    prop_oneof![
        (-8i32..80).prop_map(|k| k as f64 * 0.5),
        (-8i32..80, -3i32..=3).prop_map(|(k, d)| k as f64 * 0.5 + d as f64 * 1e-9),
        -10.0f64..80.0,
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    /// Every mode's coordinate, in f32 and in f64, is the exact value of its formula (for the
    /// f32 scale given) to within the precision of the type.
    #[test]
    fn resize_coord_matches_exact((len_in, len_out, scale) in resize_axis(), ci in 0usize..5) {
        let coord = COORDS[ci];
        let q = Q::of_f32(scale);
        for x in 0..len_out {
            let exact = exact_coord(coord, x, q, len_in, len_out).to_f64();
            let c64: f64 = coord.original_coord(x, scale as f64, len_in, len_out);
            let c32: f32 = coord.original_coord(x, scale, len_in, len_out);
            let mag = exact.abs().max(1.0);
            prop_assert!((c64 - exact).abs() <= 1e-13 * mag, "{coord:?} x={x} f64 {c64} vs {exact}");
            prop_assert!((c32 as f64 - exact).abs() <= 2e-6 * mag, "{coord:?} x={x} f32 {c32} vs {exact}");
        }
    }

    /// Nearest rounding (tie rule) and clamping equal the scan, in f32 and f64.
    #[test]
    fn nearest_index_matches_scan(c in coord_value(), len_in in 1usize..=64, m in 0usize..4) {
        let mode = NEAREST[m];
        prop_assert_eq!(mode.index(c, len_in), scan_nearest(mode, c, len_in), "{:?} c={}", mode, c);
        let c32 = c as f32;
        prop_assert_eq!(mode.index(c32, len_in), scan_nearest(mode, c32, len_in), "{:?} c={}", mode, c32);
    }

    /// Linear taps equal the scan, in f32 and f64.
    #[test]
    fn linear_taps_match_scan(c in coord_value(), len_in in 1usize..=64) {
        let t = linear_taps(c, len_in);
        prop_assert_eq!((t.i0, t.i1, t.frac), scan_linear(c, len_in), "c={}", c);
        let c32 = c as f32;
        let t = linear_taps(c32, len_in);
        prop_assert_eq!((t.i0, t.i1, t.frac), scan_linear(c32, len_in), "c={}", c32);
    }

    /// `ResizeAttrs::axis_taps` is the coordinate followed by nearest rounding or linear taps.
    #[test]
    fn axis_taps_compose((len_in, len_out, scale) in resize_axis(), ci in 0usize..5, m in 0usize..4, linear in any::<bool>()) {
        let a = ResizeAttrs {
            mode: if linear { ResizeMode::Linear } else { ResizeMode::Nearest },
            coord: COORDS[ci],
            nearest: NEAREST[m],
            scales: [scale, 1.0],
            out_hw: [len_out, 1],
        };
        let taps = a.axis_taps::<f64>(0, len_in, len_out);
        prop_assert_eq!(taps.len(), len_out);
        for (x, t) in taps.iter().enumerate() {
            let c: f64 = a.coord.original_coord(x, scale as f64, len_in, len_out);
            let want = if linear {
                scan_linear(c, len_in)
            } else {
                let i = scan_nearest(a.nearest, c, len_in);
                (i, i, 0.0)
            };
            prop_assert_eq!((t.i0, t.i1, t.frac), want);
        }
    }

    /// The ONNX-reference reading of [`ResizeNdCoord`] agrees with [`ResizeCoord`] wherever
    /// `scale * len_in == len_out` exactly, except pytorch_half_pixel at one output.
    #[test]
    fn nd_coord_agrees_where_lengths_match(len_in in 1usize..=64, len_out in 1usize..=64, ci in 0usize..5) {
        let scale = len_out as f64 / len_in as f64;
        prop_assume!(scale * len_in as f64 == len_out as f64);
        let (c2, cn) = match COORDS[ci] {
            ResizeCoord::HalfPixel => (ResizeCoord::HalfPixel, ResizeNdCoord::HalfPixel),
            ResizeCoord::PytorchHalfPixel => (ResizeCoord::PytorchHalfPixel, ResizeNdCoord::PytorchHalfPixel),
            ResizeCoord::AlignCorners => (ResizeCoord::AlignCorners, ResizeNdCoord::AlignCorners),
            ResizeCoord::Asymmetric => (ResizeCoord::Asymmetric, ResizeNdCoord::Asymmetric),
            ResizeCoord::TfHalfPixelForNearest => (ResizeCoord::TfHalfPixelForNearest, ResizeNdCoord::TfHalfPixelForNearest),
        };
        for x in 0..len_out {
            let a: f64 = c2.original_coord(x, scale, len_in, len_out);
            let b = cn.original_coord(x, scale, len_in, len_out, (0.0, 1.0)).unwrap();
            if c2 == ResizeCoord::PytorchHalfPixel && len_out == 1 {
                prop_assert_eq!((a, b), (0.0, -0.5));
            } else {
                prop_assert_eq!(a, b, "{:?} x={}", c2, x);
            }
        }
    }
}

/// The special cases named in the documentation, and exact ties.
#[test]
fn resize_special_cases_and_ties() {
    // One output: pytorch_half_pixel and align_corners read 0.
    for c in [ResizeCoord::PytorchHalfPixel, ResizeCoord::AlignCorners] {
        assert_eq!(c.original_coord::<f32>(0, 0.25, 4, 1), 0.0);
    }
    assert_eq!(
        ResizeCoord::HalfPixel.original_coord::<f32>(0, 0.25, 4, 1),
        1.5
    );
    // Asymmetric x2 upsampling: odd outputs fall exactly between two inputs.
    for (x, floor, ceil) in [(1usize, 0usize, 1usize), (3, 1, 2), (5, 2, 3)] {
        let c: f32 = ResizeCoord::Asymmetric.original_coord(x, 2.0, 4, 8);
        assert_eq!(ResizeNearest::RoundPreferFloor.index(c, 4), floor);
        assert_eq!(ResizeNearest::RoundPreferCeil.index(c, 4), ceil);
    }
    // Negative ties clamp to 0 whatever the rule.
    for m in NEAREST {
        assert_eq!(m.index(-0.5f64, 4), 0);
        assert_eq!(m.index(-1.5f32, 4), 0);
    }
}

// ---------------------------------------------------------------------------------------------
// Pooling.

/// One axis: pads below the kernel, as ONNX requires.
fn pool_axis() -> impl Strategy<Value = (AxisGeom, bool)> {
    (
        1usize..=20,
        1usize..=6,
        1usize..=4,
        1usize..=3,
        any::<bool>(),
    )
        .prop_flat_map(|(input, kernel, stride, dilation, ceil)| {
            (0..kernel, 0..kernel).prop_map(move |(pad_lo, pad_hi)| {
                (
                    AxisGeom {
                        input,
                        kernel,
                        stride,
                        pad_lo,
                        pad_hi,
                        dilation,
                    },
                    ceil,
                )
            })
        })
}

/// Output length by counting windows: floor mode, every window inside the padded input;
/// ceil mode, every window whose predecessor does not reach the padded input's end, minus
/// those that start in the high padding.
fn count_windows(g: &AxisGeom, ceil: bool) -> Option<usize> {
    let eff = g.dilation * (g.kernel - 1) + 1;
    let padded = g.input + g.pad_lo + g.pad_hi;
    if padded < eff {
        return None;
    }
    let n = (0..)
        .take_while(|&o: &usize| {
            if ceil {
                o == 0 || (o - 1) * g.stride + eff < padded
            } else {
                o * g.stride + eff <= padded
            }
        })
        .filter(|&o| !ceil || o * g.stride < g.input + g.pad_lo)
        .count();
    Some(n)
}

/// The window of output `o` by enumerating its taps: (first inside position, inside, padded).
fn enumerate_window(g: &AxisGeom, o: usize) -> (usize, usize, usize) {
    let (mut first, mut inside, mut padded) = (None, 0, 0);
    for k in 0..g.kernel {
        let p = (o * g.stride + k * g.dilation) as i64 - g.pad_lo as i64;
        if p >= 0 && p < g.input as i64 {
            first.get_or_insert(p as usize);
            inside += 1;
        }
        if p >= -(g.pad_lo as i64) && p < (g.input + g.pad_hi) as i64 {
            padded += 1;
        }
    }
    (first.unwrap_or(0), inside, padded)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    /// Output length and every window (first tap, inside and padded counts) equal the
    /// enumeration; the inside taps are consecutive in the kernel.
    #[test]
    fn pool_windows_match_enumeration((g, ceil) in pool_axis()) {
        let n = output_len(g.input, g.kernel, g.stride, g.pad_lo, g.pad_hi, g.dilation, ceil);
        prop_assert_eq!(n, count_windows(&g, ceil));
        // Check every window the output has, and a few past it (windows are defined there too).
        for o in 0..n.unwrap_or(0) + 3 {
            let w = g.window(o);
            prop_assert_eq!((w.first, w.inside, w.padded), enumerate_window(&g, o), "o={}", o);
        }
    }

    /// The 2-D AveragePool divisor equals the count of taps inside (or inside the padded)
    /// input along both axes, enumerated over the whole kernel.
    #[test]
    fn pool_divisor_matches_enumeration((gy, _) in pool_axis(), (gx, _) in pool_axis(), oy in 0usize..8, ox in 0usize..8, cip in any::<bool>()) {
        let (wy, wx) = (gy.window(oy), gx.window(ox));
        let mut count = 0;
        for ky in 0..gy.kernel {
            let py = (oy * gy.stride + ky * gy.dilation) as i64 - gy.pad_lo as i64;
            for kx in 0..gx.kernel {
                let px = (ox * gx.stride + kx * gx.dilation) as i64 - gx.pad_lo as i64;
                let ok = if cip {
                    py < (gy.input + gy.pad_hi) as i64 && px < (gx.input + gx.pad_hi) as i64
                } else {
                    py >= 0 && py < gy.input as i64 && px >= 0 && px < gx.input as i64
                };
                count += ok as usize;
            }
        }
        prop_assert_eq!(divisor(cip, [&wy, &wx]), count);
    }
}
