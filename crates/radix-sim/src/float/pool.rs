//! MaxPool and AveragePool (NCHW, f32), ONNX semantics.
//!
//! Output size follows `ceil_mode` (see `radix_ir::shape::window_out`). Max windows are clipped to
//! the input. The average divisor is the number of window taps inside the input
//! (`count_include_pad = 0`) or inside the padded input (`count_include_pad = 1`; taps that a
//! `ceil_mode` window puts beyond the bottom/right padding never count), as onnxruntime does.

use radix_ir::PoolAttrs;
use rayon::prelude::*;

/// The taps of one output position along one axis: input indices `first + k * dil` for
/// `k < valid`, and `incl` taps inside the padded input.
#[derive(Clone, Copy, Debug)]
struct Window {
    first: usize,
    valid: usize,
    incl: usize,
}

fn windows(
    input: usize,
    output: usize,
    kernel: usize,
    stride: usize,
    pad_lo: usize,
    pad_hi: usize,
    dil: usize,
) -> Vec<Window> {
    let dil = dil.max(1) as isize;
    (0..output)
        .map(|o| {
            let start = (o * stride) as isize - pad_lo as isize;
            let mut first = None;
            let (mut valid, mut incl) = (0, 0);
            for k in 0..kernel as isize {
                let p = start + k * dil;
                if p < input as isize + pad_hi as isize {
                    incl += 1;
                }
                if p >= 0 && p < input as isize {
                    first.get_or_insert(p as usize);
                    valid += 1;
                }
            }
            Window {
                first: first.unwrap_or(0),
                valid,
                incl,
            }
        })
        .collect()
}

#[derive(Debug)]
pub(crate) struct PoolPlan {
    max: bool,
    count_include_pad: bool,
    planes: usize,
    hw: [usize; 2],
    ohw: [usize; 2],
    dil: [usize; 2],
    wh: Vec<Window>,
    ww: Vec<Window>,
}

impl PoolPlan {
    pub fn new(a: &PoolAttrs, max: bool, x: &[usize], y: &[usize]) -> Self {
        let wh = windows(
            x[2],
            y[2],
            a.kernel[0],
            a.strides[0],
            a.pads[0],
            a.pads[2],
            a.dilations[0],
        );
        let ww = windows(
            x[3],
            y[3],
            a.kernel[1],
            a.strides[1],
            a.pads[1],
            a.pads[3],
            a.dilations[1],
        );
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
                let taps = (0..wy.valid).flat_map(|ky| {
                    let row = (wy.first + ky * dh) * w;
                    (0..wx.valid).map(move |kx| src[row + wx.first + kx * dw])
                });
                *o = if self.max {
                    taps.fold(f32::MIN, f32::max)
                } else {
                    let n = if self.count_include_pad {
                        wy.incl * wx.incl
                    } else {
                        wy.valid * wx.valid
                    };
                    let s: f32 = taps.sum();
                    if n == 0 { 0.0 } else { s / n as f32 }
                };
            }
        }
    }
}
