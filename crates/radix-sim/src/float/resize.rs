//! Resize over the two spatial axes of NCHW (ONNX semantics, f32 arithmetic like onnxruntime).
//!
//! Coordinates, nearest rounding and the two linear taps per axis are those of
//! `radix_ir::semantics::resize` (`ResizeAttrs::axis_taps::<f32>`). Bilinear interpolates along
//! W first, then H.

use radix_ir::semantics::resize::Taps;
use radix_ir::{ResizeAttrs, ResizeMode};
use rayon::prelude::*;

#[derive(Debug)]
enum Maps {
    Nearest {
        h: Vec<usize>,
        w: Vec<usize>,
    },
    Linear {
        h: Vec<Taps<f32>>,
        w: Vec<Taps<f32>>,
    },
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
        let taps = |i: usize| a.axis_taps::<f32>(i, hw[i], ohw[i]);
        let maps = match a.mode {
            ResizeMode::Nearest => {
                let index = |i: usize| taps(i).iter().map(|t| t.i0).collect();
                Maps::Nearest {
                    h: index(0),
                    w: index(1),
                }
            }
            ResizeMode::Linear => Maps::Linear {
                h: taps(0),
                w: taps(1),
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
                                let a = (1.0 - lx.frac) * r0[lx.i0] + lx.frac * r0[lx.i1];
                                let b = (1.0 - lx.frac) * r1[lx.i0] + lx.frac * r1[lx.i1];
                                *o = (1.0 - ly.frac) * a + ly.frac * b;
                            }
                        }
                    }
                }
            });
    }
}
