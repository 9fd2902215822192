//! MaxPool and AveragePool (NCHW, f32), ONNX semantics.
//!
//! Output size, windows and the average divisor are `radix_ir::semantics::pool` (output length
//! with `ceil_mode`, taps inside the input, taps inside the padded input for
//! `count_include_pad`), as onnxruntime does. Max windows are clipped to the input.

use radix_ir::PoolAttrs;
use radix_ir::semantics::pool::{AxisWindow, divisor};
use rayon::prelude::*;

#[derive(Debug)]
pub(crate) struct PoolPlan {
    max: bool,
    count_include_pad: bool,
    planes: usize,
    hw: [usize; 2],
    ohw: [usize; 2],
    dil: [usize; 2],
    wh: Vec<AxisWindow>,
    ww: Vec<AxisWindow>,
}

impl PoolPlan {
    pub fn new(a: &PoolAttrs, max: bool, x: &[usize], y: &[usize]) -> Self {
        let wh = a.axis_geom(0, x[2]).windows(y[2]);
        let ww = a.axis_geom(1, x[3]).windows(y[3]);
        PoolPlan {
            max,
            count_include_pad: a.count_include_pad,
            planes: x[0] * x[1],
            hw: [x[2], x[3]],
            ohw: [y[2], y[3]],
            dil: [a.dilations[0].max(1), a.dilations[1].max(1)],
            wh,
            ww,
        }
    }

    pub fn run(&self, x: &[f32], out: &mut [f32]) {
        let (ihw, ohw) = (self.hw[0] * self.hw[1], self.ohw[0] * self.ohw[1]);
        if ohw == 0 || self.planes == 0 {
            return;
        }
        let min_len = (4096 / ohw).max(1);
        out.par_chunks_mut(ohw)
            .enumerate()
            .with_min_len(min_len)
            .for_each(|(p, plane)| {
                let src = &x[p * ihw..][..ihw];
                self.plane(src, plane);
            });
    }

    fn plane(&self, src: &[f32], out: &mut [f32]) {
        let w = self.hw[1];
        let [dh, dw] = self.dil;
        for (orow, wy) in out.chunks_exact_mut(self.ohw[1]).zip(&self.wh) {
            for (o, wx) in orow.iter_mut().zip(&self.ww) {
                let taps = (0..wy.inside).flat_map(|ky| {
                    let row = (wy.first + ky * dh) * w;
                    (0..wx.inside).map(move |kx| src[row + wx.first + kx * dw])
                });
                *o = if self.max {
                    taps.fold(f32::MIN, f32::max)
                } else {
                    let n = divisor(self.count_include_pad, [wy, wx]);
                    let s: f32 = taps.sum();
                    if n == 0 { 0.0 } else { s / n as f32 }
                };
            }
        }
    }
}
