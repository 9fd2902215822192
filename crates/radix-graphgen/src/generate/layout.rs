//! Generators of the data-movement ops: Concat, Split, Slice, Reshape, Transpose, Squeeze /
//! Unsqueeze, Flatten, Resize, Pad and Gather.

use ndarray::{ArrayD, IxDyn};
use radix_ir::op::PadMode;
use radix_ir::{Op, ResizeAttrs, ResizeCoord, ResizeMode, ResizeNearest, ValueId};

use super::Builder;

impl Builder {
    /// Concat on a random axis of inputs with unequal sizes on that axis, from different
    /// branches and of different ranges.
    pub(super) fn concat(&mut self) -> Option<()> {
        let x = self.operand(|_| true)?;
        let s = self.shape(x);
        let axis = self.rng.range(0, s.len() - 1);
        let mut parts = vec![x];
        // Other pool tensors that fit.
        let fits =
            |t: &[usize]| t.len() == s.len() && (0..s.len()).all(|a| a == axis || t[a] == s[a]);
        let others: Vec<ValueId> = self
            .pool
            .iter()
            .copied()
            .filter(|&v| v != x && fits(self.g.shape(v)))
            .collect();
        for v in others {
            if parts.len() < 4 && self.rng.chance(0.5) {
                parts.push(v);
            }
        }
        if parts.len() == 1 || self.rng.chance(0.3) {
            // A transformed copy with a different range (x * k), or a slice of x on the axis.
            if s[axis] >= 2 && self.rng.chance(0.5) {
                let cut = self.rng.range(1, s[axis] - 1);
                let (mut starts, mut ends) = (vec![0i64; s.len()], Vec::new());
                ends.extend(s.iter().map(|&d| d as i64));
                starts[axis] = cut as i64;
                let steps = vec![1i64; s.len()];
                let sl = self.add(
                    Op::Slice {
                        starts,
                        ends,
                        steps,
                    },
                    vec![x],
                )?[0];
                parts.push(sl);
            } else {
                let k = *self.rng.pick(&[0.01f32, 0.3, 3.0, 50.0]);
                let c = self.constant(ArrayD::from_elem(IxDyn(&[]), k));
                let y = self.add(Op::Mul, vec![x, c])?[0];
                parts.push(y);
            }
        }
        self.rng.shuffle(&mut parts);
        self.add(Op::Concat { axis }, parts).map(|_| ())
    }

    pub(super) fn split(&mut self) -> Option<()> {
        let x = self.operand(|s| s.iter().any(|&d| d >= 2))?;
        let s = self.shape(x);
        let axes: Vec<usize> = (0..s.len()).filter(|&a| s[a] >= 2).collect();
        let axis = *self.rng.pick(&axes);
        let n = self.rng.range(2, s[axis].min(4));
        // A random composition of s[axis] into n positive parts.
        let mut cuts: Vec<usize> = Vec::new();
        while cuts.len() < n - 1 {
            let c = self.rng.range(1, s[axis] - 1);
            if !cuts.contains(&c) {
                cuts.push(c);
            }
        }
        cuts.sort_unstable();
        let mut splits = Vec::new();
        let mut prev = 0;
        for c in cuts.into_iter().chain([s[axis]]) {
            splits.push(c - prev);
            prev = c;
        }
        self.add(Op::Split { axis, splits }, vec![x]).map(|_| ())
    }

    pub(super) fn slice(&mut self) -> Option<()> {
        let x = self.operand(|_| true)?;
        let s = self.shape(x);
        let (mut starts, mut ends, mut steps) = (Vec::new(), Vec::new(), Vec::new());
        for &d in &s {
            let d = d as i64;
            if self.rng.chance(0.4) {
                starts.push(0);
                ends.push(d);
                steps.push(1);
                continue;
            }
            let step = *self.rng.pick(&[1i64, 1, 2, 3, -1, -2]);
            let a = self.rng.range(0, (d - 1) as usize) as i64;
            let b = self.rng.range(0, (d - 1) as usize) as i64;
            if step > 0 {
                let (lo, hi) = (a.min(b), a.max(b) + 1);
                starts.push(lo);
                ends.push(hi);
            } else {
                // From the larger index down to just past the smaller one (-1: through index 0).
                let (hi, lo) = (a.max(b), a.min(b) - 1);
                starts.push(hi);
                ends.push(lo);
            }
            steps.push(step);
        }
        self.add(
            Op::Slice {
                starts,
                ends,
                steps,
            },
            vec![x],
        )
        .map(|_| ())
    }

    pub(super) fn reshape(&mut self) -> Option<()> {
        let x = self.operand(|_| true)?;
        let n: usize = self.shape(x).iter().product();
        let rank = self.rng.range(1, 4);
        let shape = self.factorize(n, rank);
        self.add(Op::Reshape { shape }, vec![x]).map(|_| ())
    }

    /// A random shape of `rank` dimensions with product `n`.
    fn factorize(&mut self, mut n: usize, rank: usize) -> Vec<usize> {
        let mut dims = vec![1; rank];
        let mut f = 2;
        let mut factors = Vec::new();
        while n > 1 {
            while n.is_multiple_of(f) {
                factors.push(f);
                n /= f;
            }
            f += 1;
        }
        for p in factors {
            let i = self.rng.range(0, rank - 1);
            dims[i] *= p;
        }
        dims
    }

    pub(super) fn transpose(&mut self) -> Option<()> {
        let x = self.operand(|s| s.len() >= 2)?;
        let mut perm: Vec<usize> = (0..self.shape(x).len()).collect();
        self.rng.shuffle(&mut perm);
        self.add(Op::Transpose { perm }, vec![x]).map(|_| ())
    }

    pub(super) fn squeeze_unsqueeze(&mut self) -> Option<()> {
        let x = self.operand(|_| true)?;
        let s = self.shape(x);
        let ones: Vec<usize> = (0..s.len()).filter(|&a| s[a] == 1).collect();
        if !ones.is_empty() && s.len() > 1 && self.rng.chance(0.5) {
            let a = *self.rng.pick(&ones);
            return self.add(Op::Squeeze { axes: vec![a] }, vec![x]).map(|_| ());
        }
        let a = self.rng.range(0, s.len());
        self.add(Op::Unsqueeze { axes: vec![a] }, vec![x])
            .map(|_| ())
    }

    pub(super) fn flatten(&mut self) -> Option<()> {
        let x = self.operand(|_| true)?;
        let axis = self.rng.range(0, self.shape(x).len());
        self.add(Op::Flatten { axis }, vec![x]).map(|_| ())
    }

    pub(super) fn resize(&mut self) -> Option<()> {
        let x = self.operand(|s| s.len() == 4)?;
        let s = self.shape(x);
        let mode = if self.rng.chance(0.5) {
            ResizeMode::Nearest
        } else {
            ResizeMode::Linear
        };
        let coord = *self.rng.pick(&[
            ResizeCoord::HalfPixel,
            ResizeCoord::PytorchHalfPixel,
            ResizeCoord::AlignCorners,
            ResizeCoord::Asymmetric,
            ResizeCoord::TfHalfPixelForNearest,
        ]);
        let nearest = *self.rng.pick(&[
            ResizeNearest::RoundPreferFloor,
            ResizeNearest::RoundPreferCeil,
            ResizeNearest::Floor,
            ResizeNearest::Ceil,
        ]);
        let mut scales = [0f32; 2];
        let mut out_hw = [0usize; 2];
        for i in 0..2 {
            let mut sc = *self.rng.pick(&[0.5f32, 1.0, 1.5, 2.0, 3.0]);
            if s[2 + i] as f32 * sc < 1.0 {
                sc = 1.0;
            }
            out_hw[i] = (s[2 + i] as f32 * sc).floor() as usize;
            scales[i] = sc;
        }
        if mode == ResizeMode::Linear && coord == ResizeCoord::TfHalfPixelForNearest {
            return None;
        }
        let a = ResizeAttrs {
            mode,
            coord,
            nearest,
            scales,
            out_hw,
        };
        self.add(Op::Resize(a), vec![x]).map(|_| ())
    }

    pub(super) fn pad(&mut self) -> Option<()> {
        let x = self.operand(|_| true)?;
        let s = self.shape(x);
        let mode = *self.rng.pick(&[
            PadMode::Constant,
            PadMode::Constant,
            PadMode::Reflect,
            PadMode::Edge,
        ]);
        let pads: Vec<(usize, usize)> = s
            .iter()
            .map(|&d| {
                let max = if mode == PadMode::Reflect {
                    (d - 1).min(2)
                } else {
                    2
                };
                if self.rng.chance(0.5) {
                    (0, 0)
                } else {
                    (self.rng.range(0, max), self.rng.range(0, max))
                }
            })
            .collect();
        let value = if self.rng.chance(0.5) {
            0.0
        } else {
            self.rng.uniform(-1.0, 1.0)
        };
        self.add(Op::Pad { pads, mode, value }, vec![x]).map(|_| ())
    }

    pub(super) fn gather(&mut self) -> Option<()> {
        let x = self.operand(|_| true)?;
        let s = self.shape(x);
        let axis = self.rng.range(0, s.len() - 1);
        let k = self.rng.range(1, 4);
        let idx: Vec<f32> = (0..k)
            .map(|_| self.rng.range(0, s[axis] - 1) as f32)
            .collect();
        let shape = if k == 1 && self.rng.chance(0.5) {
            vec![]
        } else {
            vec![k]
        };
        let c = self.constant(
            ArrayD::from_shape_vec(
                IxDyn(&shape),
                idx[..shape.iter().product::<usize>().max(1)].to_vec(),
            )
            .ok()?,
        );
        self.add(Op::Gather { axis }, vec![x, c]).map(|_| ())
    }
}
