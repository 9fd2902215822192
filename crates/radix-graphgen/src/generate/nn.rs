//! Generators of the weighted and windowed ops: Conv, ConvTranspose, Gemm / MatMul, pooling,
//! PRelu / BatchNorm, and the detector-style heads.

use radix_ir::{Activation, ConvAttrs, Op, PoolAttrs};

use super::Builder;

impl Builder {
    fn activation(&mut self) -> Activation {
        match self.rng.range(0, 5) {
            0 => Activation::Relu,
            1 => Activation::Clip { min: 0.0, max: 6.0 },
            2 => Activation::LeakyRelu { alpha: 0.1 },
            _ => Activation::None,
        }
    }

    pub(super) fn conv(&mut self) -> Option<()> {
        let x = self.operand(|s| s.len() == 4 && s[2] >= 1 && s[3] >= 1)?;
        let s = self.shape(x);
        let cin = s[1];
        let depthwise = cin > 1 && self.rng.chance(0.3);
        let (cout, group) = if depthwise {
            (cin, cin)
        } else {
            (self.rng.range(1, 10), 1)
        };
        let kh = self.rng.range(1, 3.min(s[2] + 2));
        let kw = self.rng.range(1, 3.min(s[3] + 2));
        let pads = [
            self.rng.range(0, kh - 1),
            self.rng.range(0, kw - 1),
            self.rng.range(0, kh - 1),
            self.rng.range(0, kw - 1),
        ];
        let a = ConvAttrs {
            kernel: [kh, kw],
            strides: [self.rng.range(1, 2), self.rng.range(1, 2)],
            pads,
            dilations: if self.rng.chance(0.15) {
                [2, 2]
            } else {
                [1, 1]
            },
            group,
            output_padding: [0, 0],
            activation: self.activation(),
        };
        let fan_in = (cin / group * kh * kw) as f32;
        let w = self
            .rng
            .array(&[cout, cin / group, kh, kw], (2.0 / fan_in).sqrt());
        let w = self.constant(w);
        let mut ins = vec![x, w];
        if self.rng.chance(0.8) {
            let b = self.rng.array(&[cout], 0.3);
            ins.push(self.constant(b));
        }
        self.add(Op::Conv(a), ins).map(|_| ())
    }

    pub(super) fn conv_transpose(&mut self) -> Option<()> {
        let x = self.operand(|s| s.len() == 4)?;
        let s = self.shape(x);
        let cin = s[1];
        let cout = self.rng.range(1, 6);
        let k = self.rng.range(1, 3);
        let stride = self.rng.range(1, 2);
        let a = ConvAttrs {
            kernel: [k, k],
            strides: [stride, stride],
            pads: [0; 4],
            dilations: [1, 1],
            group: 1,
            output_padding: [0, 0],
            activation: self.activation(),
        };
        let w = self
            .rng
            .array(&[cin, cout, k, k], (1.0 / cin as f32).sqrt());
        let w = self.constant(w);
        let b = self.rng.array(&[cout], 0.2);
        let b = self.constant(b);
        self.add(Op::ConvTranspose(a), vec![x, w, b]).map(|_| ())
    }

    pub(super) fn gemm_or_matmul(&mut self) -> Option<()> {
        if self.rng.chance(0.5) {
            let x = self.operand(|s| s.len() == 2)?;
            let k = self.shape(x)[1];
            let n = self.rng.range(1, 12);
            let w = self.rng.array(&[n, k], (1.0 / k as f32).sqrt());
            let w = self.constant(w);
            let b = self.rng.array(&[n], 0.3);
            let b = self.constant(b);
            let activation = self.activation();
            self.add(Op::Gemm { activation }, vec![x, w, b]).map(|_| ())
        } else {
            let x = self.operand(|s| s.len() >= 2)?;
            let k = *self.shape(x).last()?;
            if self.rng.chance(0.5) {
                // Two computed operands: x · yᵀ-shaped partner of matching inner size.
                let y = self.operand(|s| s.len() == 2 && s[0] == k)?;
                return self.add(Op::MatMul, vec![x, y]).map(|_| ());
            }
            let n = self.rng.range(1, 10);
            let w = self.rng.array(&[k, n], (1.0 / k as f32).sqrt());
            let w = self.constant(w);
            self.add(Op::MatMul, vec![x, w]).map(|_| ())
        }
    }

    pub(super) fn pool_op(&mut self) -> Option<()> {
        let x = self.operand(|s| s.len() == 4)?;
        let s = self.shape(x);
        let op = match self.rng.range(0, 3) {
            0 => Op::GlobalAveragePool,
            1 => Op::GlobalMaxPool,
            k => {
                let kh = self.rng.range(1, 3.min(s[2]).max(1));
                let kw = self.rng.range(1, 3.min(s[3]).max(1));
                let a = PoolAttrs {
                    kernel: [kh, kw],
                    strides: [self.rng.range(1, 2), self.rng.range(1, 2)],
                    pads: [
                        self.rng.range(0, kh - 1),
                        self.rng.range(0, kw - 1),
                        self.rng.range(0, kh - 1),
                        self.rng.range(0, kw - 1),
                    ],
                    dilations: [1, 1],
                    ceil_mode: self.rng.chance(0.3),
                    count_include_pad: self.rng.chance(0.3),
                };
                if k == 2 && self.rng.chance(0.5) {
                    Op::MaxPool(a)
                } else {
                    Op::AveragePool(a)
                }
            }
        };
        self.add(op, vec![x]).map(|_| ())
    }

    pub(super) fn prelu_or_bn(&mut self) -> Option<()> {
        let x = self.operand(|s| s.len() == 4)?;
        let c = self.shape(x)[1];
        if self.rng.chance(0.5) {
            let slope = self.rng.array(&[c, 1, 1], 0.3);
            let slope = self.constant(slope);
            self.add(Op::PRelu, vec![x, slope]).map(|_| ())
        } else {
            let gamma = self.rng.array(&[c], 1.0);
            let beta = self.rng.array(&[c], 0.5);
            let mean = self.rng.array(&[c], 0.5);
            let var = self.rng.array(&[c], 0.5).mapv(|v| v.abs() + 0.1);
            let ins = vec![
                x,
                self.constant(gamma),
                self.constant(beta),
                self.constant(mean),
                self.constant(var),
            ];
            self.add(Op::BatchNorm { epsilon: 1e-5 }, ins).map(|_| ())
        }
    }

    /// The structure that broke real detectors: per-level heads producing box values (large) and
    /// sigmoid scores (in [0, 1]) concatenated on channels, each reshaped to [1, C, HW] and
    /// concatenated on the last axis.
    pub(super) fn detector_head(&mut self) -> Option<()> {
        let x = self.operand(|s| s.len() == 4 && s[0] == 1 && s[2] >= 2 && s[3] >= 2)?;
        let s = self.shape(x);
        let levels = self.rng.range(1, 3);
        let (nbox, ncls) = (self.rng.range(1, 4), self.rng.range(1, 3));
        let box_scale = *self.rng.pick(&[1.0f32, 16.0, 300.0]);
        let mut flat = Vec::new();
        let mut feat = x;
        let mut fs = s.clone();
        for level in 0..levels {
            if level > 0 {
                if fs[2] < 2 || fs[3] < 2 {
                    break;
                }
                let w = self.rng.array(&[fs[1], fs[1], 2, 2], 0.5);
                let w = self.constant(w);
                let a = ConvAttrs {
                    kernel: [2, 2],
                    strides: [2, 2],
                    pads: [0; 4],
                    dilations: [1, 1],
                    group: 1,
                    output_padding: [0, 0],
                    activation: Activation::Relu,
                };
                feat = self.add(Op::Conv(a), vec![feat, w])?[0];
                fs = self.shape(feat);
            }
            let one = ConvAttrs {
                kernel: [1, 1],
                strides: [1, 1],
                pads: [0; 4],
                dilations: [1, 1],
                group: 1,
                output_padding: [0, 0],
                activation: Activation::None,
            };
            let wb = self.rng.array(&[nbox, fs[1], 1, 1], box_scale);
            let wb = self.constant(wb);
            let bb = self.rng.array(&[nbox], box_scale);
            let bb = self.constant(bb);
            let boxes = self.add(Op::Conv(one.clone()), vec![feat, wb, bb])?[0];
            let wc = self.rng.array(&[ncls, fs[1], 1, 1], 1.0);
            let wc = self.constant(wc);
            let logits = self.add(Op::Conv(one), vec![feat, wc])?[0];
            let scores = self.add(Op::Sigmoid, vec![logits])?[0];
            let cat = self.add(Op::Concat { axis: 1 }, vec![boxes, scores])?[0];
            let hw = fs[2] * fs[3];
            let r = self.add(
                Op::Reshape {
                    shape: vec![1, nbox + ncls, hw],
                },
                vec![cat],
            )?[0];
            flat.push(r);
        }
        if flat.len() > 1 {
            self.add(Op::Concat { axis: 2 }, flat)?;
        }
        Some(())
    }
}
