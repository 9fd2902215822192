//! Resize over the two spatial axes of NCHW (ONNX semantics, f32 arithmetic like onnxruntime).
//!
//! Per output coordinate `x` along an axis of input length `in`, output length `out` and scale `s`:
//! * half_pixel: `(x + 0.5) / s - 0.5`
//! * pytorch_half_pixel: `out > 1 ? (x + 0.5) / s - 0.5 : 0`
//! * align_corners: `out > 1 ? x * (in - 1) / (out - 1) : 0`
//! * asymmetric: `x / s`
//! * tf_half_pixel_for_nearest: `(x + 0.5) / s`
//!
//! Nearest rounds that coordinate (round_prefer_floor / round_prefer_ceil / floor / ceil) and
//! clamps it to the input. Linear clamps it to `[0, in - 1]` and interpolates between its two
//! neighbours (bilinear: along W first, then H).

use radix_ir::{ResizeAttrs, ResizeCoord, ResizeMode, ResizeNearest};
use rayon::prelude::*;

fn original_coord(coord: ResizeCoord, x: usize, scale: f32, len_in: usize, len_out: usize) -> f32 {
    let x = x as f32;
    match coord {
        ResizeCoord::HalfPixel => (x + 0.5) / scale - 0.5,
        ResizeCoord::PytorchHalfPixel => {
            if len_out > 1 {
                (x + 0.5) / scale - 0.5
            } else {
                0.0
            }
        }
        ResizeCoord::AlignCorners => {
            if len_out > 1 {
                x * (len_in as f32 - 1.0) / (len_out as f32 - 1.0)
            } else {
                0.0
            }
        }
        ResizeCoord::Asymmetric => x / scale,
        ResizeCoord::TfHalfPixelForNearest => (x + 0.5) / scale,
    }
}

fn nearest_index(mode: ResizeNearest, x: f32, len_in: usize) -> usize {
    let is_half = x == (x as i64) as f32 + 0.5;
    let r = match mode {
        ResizeNearest::RoundPreferFloor if is_half => x.floor(),
        ResizeNearest::RoundPreferCeil if is_half => x.ceil(),
        ResizeNearest::RoundPreferFloor | ResizeNearest::RoundPreferCeil => x.round(),
        ResizeNearest::Floor => x.floor(),
        ResizeNearest::Ceil => x.ceil(),
    };
    (r.max(0.0) as usize).min(len_in.saturating_sub(1))
}

/// Two neighbours and the weight of the second one.
#[derive(Clone, Copy, Debug)]
struct Lerp {
    i0: usize,
    i1: usize,
    f: f32,
}

fn lerp_axis(coord: ResizeCoord, scale: f32, len_in: usize, len_out: usize) -> Vec<Lerp> {
    (0..len_out)
        .map(|x| {
            let c = original_coord(coord, x, scale, len_in, len_out)
                .clamp(0.0, len_in.saturating_sub(1) as f32);
            let i0 = (c as usize).min(len_in.saturating_sub(1));
            let i1 = (i0 + 1).min(len_in.saturating_sub(1));
            Lerp {
                i0,
                i1,
                f: if i1 == i0 { 0.0 } else { c - i0 as f32 },
            }
        })
        .collect()
}

#[derive(Debug)]
enum Maps {
    Nearest { h: Vec<usize>, w: Vec<usize> },
    Linear { h: Vec<Lerp>, w: Vec<Lerp> },
}

#[derive(Debug)]
pub(crate) struct ResizePlan {
    planes: usize,
    hw: [usize; 2],
    ohw: [usize; 2],
    maps: Maps,
}

impl ResizePlan {
    pub fn new(a: &ResizeAttrs, x: &[usize], y: &[usize]) -> Self {
        let (hw, ohw) = ([x[2], x[3]], [y[2], y[3]]);
        let maps = match a.mode {
            ResizeMode::Nearest => {
                let axis = |i: usize| -> Vec<usize> {
                    (0..ohw[i])
                        .map(|o| {
                            nearest_index(
                                a.nearest,
                                original_coord(a.coord, o, a.scales[i], hw[i], ohw[i]),
                                hw[i],
                            )
                        })
                        .collect()
                };
                Maps::Nearest {
                    h: axis(0),
                    w: axis(1),
                }
            }
            ResizeMode::Linear => Maps::Linear {
                h: lerp_axis(a.coord, a.scales[0], hw[0], ohw[0]),
                w: lerp_axis(a.coord, a.scales[1], hw[1], ohw[1]),
            },
        };
        ResizePlan {
            planes: x[0] * x[1],
            hw,
            ohw,
            maps,
        }
    }

    pub fn run(&self, x: &[f32], out: &mut [f32]) {
        let (ihw, ohw) = (self.hw[0] * self.hw[1], self.ohw[0] * self.ohw[1]);
        if ohw == 0 || self.planes == 0 || ihw == 0 {
            out.fill(0.0);
            return;
        }
        let (w, ow) = (self.hw[1], self.ohw[1]);
        let min_len = (4096 / ohw).max(1);
        out.par_chunks_mut(ohw)
            .enumerate()
            .with_min_len(min_len)
            .for_each(|(p, plane)| {
                let src = &x[p * ihw..][..ihw];
                match &self.maps {
                    Maps::Nearest { h, w: wm } => {
                        for (orow, &iy) in plane.chunks_exact_mut(ow).zip(h) {
                            let row = &src[iy * w..][..w];
                            for (o, &ix) in orow.iter_mut().zip(wm) {
                                *o = row[ix];
                            }
                        }
                    }
                    Maps::Linear { h, w: wm } => {
                        for (orow, ly) in plane.chunks_exact_mut(ow).zip(h) {
                            let (r0, r1) = (&src[ly.i0 * w..][..w], &src[ly.i1 * w..][..w]);
                            for (o, lx) in orow.iter_mut().zip(wm) {
                                let a = (1.0 - lx.f) * r0[lx.i0] + lx.f * r0[lx.i1];
                                let b = (1.0 - lx.f) * r1[lx.i0] + lx.f * r1[lx.i1];
                                *o = (1.0 - ly.f) * a + ly.f * b;
                            }
                        }
                    }
                }
            });
    }
}
