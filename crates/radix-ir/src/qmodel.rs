//! The quantized model: the float graph plus, for every tensor, its fixed-point parameters and,
//! for every node, the integer kernel parameters the simulators execute.
//!
//! All integer semantics (number format, rounding, saturation, requantization) are defined here,
//! once, and documented in `docs/FIXED_POINT.md`. Simulators call these primitives; they never
//! touch floats on the fixed-point path. Float appears only when *building* parameters
//! (quantization time) and at the model boundary (quantize inputs, dequantize outputs), and in
//! nodes placed on the CPU, which run in float between a dequantize and a quantize.

use serde::{Deserialize, Serialize};

use ndarray::{ArrayD, IxDyn};

use crate::{Graph, ValueId};

/// Fixed-point parameters of a tensor: `real = q / (scale * 2^radix)`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct QParams {
    /// Bitwidth of the codes (4, 8 or 16).
    pub bits: u8,
    /// Power-of-two exponent of the multiplier.
    pub radix: i32,
    /// In [1, 2); exactly 1 on platforms without scale (KL520).
    pub scale: f32,
}

impl QParams {
    /// Parameters covering `absmax` at `bits` (docs/FIXED_POINT.md). `pow2` forces scale = 1.
    pub fn from_absmax(absmax: f32, bits: u8, pow2: bool) -> QParams {
        let absmax = if absmax.is_finite() && absmax > 0.0 {
            absmax as f64
        } else {
            1.0
        };
        let qmax = qmax(bits) as f64;
        let mut radix = (bits as i32 - 1) - absmax.log2().ceil() as i32;
        if pow2 {
            return QParams {
                bits,
                radix,
                scale: 1.0,
            };
        }
        let mut scale = qmax / (absmax * 2f64.powi(radix));
        // An exact power of two gives scale just below 1: take one more radix bit instead.
        while scale < 1.0 {
            radix -= 1;
            scale *= 2.0;
        }
        while scale >= 2.0 {
            radix += 1;
            scale /= 2.0;
        }
        QParams {
            bits,
            radix,
            scale: scale as f32,
        }
    }

    /// `scale * 2^radix`: the number of integer steps per unit of real value.
    pub fn multiplier(&self) -> f64 {
        self.scale as f64 * 2f64.powi(self.radix)
    }
    /// Smallest code of this bitwidth ([`qmin`]).
    pub fn qmin(&self) -> i32 {
        qmin(self.bits)
    }
    /// Largest code of this bitwidth ([`qmax`]).
    pub fn qmax(&self) -> i32 {
        qmax(self.bits)
    }
    /// Float to fixed: round half away from zero, then saturate.
    pub fn quantize(&self, x: f32) -> i32 {
        self.quantizer()(x)
    }
    /// [`quantize`](Self::quantize) with the multiplier and bounds computed once, for slices.
    pub fn quantizer(&self) -> impl Fn(f32) -> i32 + Copy + Send + Sync {
        let (m, lo, hi) = (self.multiplier(), self.qmin() as f64, self.qmax() as f64);
        move |x: f32| {
            let v = x as f64 * m;
            // Half away from zero, as `f64::round`, written with `trunc` (one instruction, so
            // loops over slices vectorise): `v - trunc(v)` is exact.
            let t = v.trunc();
            let r = t + if (v - t).abs() >= 0.5 {
                v.signum()
            } else {
                0.0
            };
            // NaN stays NaN through clamp, and `as` turns NaN into 0.
            r.clamp(lo, hi) as i32
        }
    }
    /// Fixed to float: `q / multiplier`.
    pub fn dequantize(&self, q: i32) -> f32 {
        (q as f64 / self.multiplier()) as f32
    }
    /// Largest real value representable.
    pub fn range(&self) -> f32 {
        (self.qmax() as f64 / self.multiplier()) as f32
    }
}

/// Largest code of a bitwidth: `2^(bits - 1) - 1`.
pub fn qmax(bits: u8) -> i32 {
    (1i32 << (bits - 1)) - 1
}
/// Symmetric: the most negative code is not used, so negation never overflows.
pub fn qmin(bits: u8) -> i32 {
    -qmax(bits)
}

/// Saturates to a bitwidth's symmetric range.
#[inline]
pub fn saturate(v: i64, bits: u8) -> i32 {
    let m = qmax(bits) as i64;
    v.clamp(-m, m) as i32
}

/// `v / 2^shift` rounded half away from zero (`shift >= 0`); `shift < 0` multiplies by
/// `2^-shift`, saturating at the i64 range. Exact for every `v` and `shift` (computed in i128,
/// so `i64::MIN` and shifts of 63 and more need no special rules).
#[inline]
pub fn round_shift(v: i64, shift: i32) -> i64 {
    if shift <= 0 {
        let s = shift.unsigned_abs();
        if v == 0 {
            return 0;
        }
        if s >= 63 {
            return if v > 0 { i64::MAX } else { i64::MIN };
        }
        return v.saturating_mul(1i64 << s);
    }
    if shift >= 127 {
        return 0; // |v| <= 2^63 < 2^(shift-1): below one half
    }
    let (v, half) = (v as i128, 1i128 << (shift - 1));
    let r = if v >= 0 {
        (v + half) >> shift
    } else {
        -((-v + half) >> shift)
    };
    r as i64
}

/// [`round_shift`] of an i128 value (a product that does not fit i64), saturated to the i64
/// range.
pub fn round_shift_wide(v: i128, shift: i32) -> i64 {
    let r = if shift <= 0 {
        let s = shift.unsigned_abs();
        if v == 0 {
            0
        } else if s >= 64 {
            v.signum() * i128::MAX
        } else {
            v.saturating_mul(1i128 << s)
        }
    } else if shift >= 127 {
        0
    } else {
        let half = 1i128 << (shift - 1);
        // |v| < 2^(63+31): adding half cannot overflow i128.
        if v >= 0 {
            (v + half) >> shift
        } else {
            -((-v + half) >> shift)
        }
    };
    r.clamp(i64::MIN as i128, i64::MAX as i128) as i64
}

/// An integer multiplier `mult / 2^shift` approximating a positive real factor.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Requant {
    /// Mantissa (negative for a negative factor; 0 for a zero factor).
    pub mult: i32,
    /// Right shift (negative: left shift).
    pub shift: i32,
}

/// Mantissa width of requantization multipliers: `mult` lies in [2^14, 2^15).
pub const REQUANT_BITS: i32 = 15;

impl Requant {
    /// The closest `mult / 2^shift` to `factor` with a 15-bit mantissa. Negative factors
    /// (PRelu slopes) give a negative `mult`; zero and non-finite factors give 0.
    pub fn from_factor(factor: f64) -> Requant {
        if factor < 0.0 {
            let r = Requant::from_factor(-factor);
            return Requant {
                mult: -r.mult,
                shift: r.shift,
            };
        }
        if !(factor.is_finite() && factor > 0.0) {
            return Requant { mult: 0, shift: 0 };
        }
        let e = factor.log2().floor() as i32; // factor = f * 2^e, f in [1, 2)
        let mut shift = REQUANT_BITS - 1 - e;
        let mut mult = (factor * 2f64.powi(shift)).round() as i64;
        if mult >= 1 << REQUANT_BITS {
            mult >>= 1;
            shift -= 1;
        }
        if shift > 62 {
            return Requant { mult: 0, shift: 0 };
        }
        Requant {
            mult: mult as i32,
            shift,
        }
    }
    /// `round(v * mult / 2^shift)`, half away from zero, with the product exact (wider than
    /// i64 when it must be) and the result saturated to the i64 range.
    #[inline]
    pub fn apply(&self, v: i64) -> i64 {
        match v.checked_mul(self.mult as i64) {
            Some(p) => round_shift(p, self.shift),
            None => round_shift_wide(v as i128 * self.mult as i128, self.shift),
        }
    }
    /// The real factor `mult / 2^shift`.
    pub fn factor(&self) -> f64 {
        self.mult as f64 * 2f64.powi(-self.shift)
    }
}

/// Two inputs brought to a common scale and added: `round((a*ma + b*mb) / 2^shift)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddRequant {
    /// Multiplier of the first input.
    pub ma: i32,
    /// Multiplier of the second input (negative for Sub).
    pub mb: i32,
    /// Shared right shift.
    pub shift: i32,
}

impl AddRequant {
    /// Factors for `y = fa*a + fb*b` (`fb` negative for Sub), sharing one shift chosen so the
    /// larger mantissa fits 15 bits.
    pub fn from_factors(fa: f64, fb: f64) -> AddRequant {
        let big = fa.abs().max(fb.abs());
        if !(big.is_finite() && big > 0.0) {
            return AddRequant {
                ma: 0,
                mb: 0,
                shift: 0,
            };
        }
        let e = big.log2().floor() as i32;
        let mut shift = (REQUANT_BITS - 1 - e).min(62);
        let mut ma = (fa * 2f64.powi(shift)).round() as i64;
        let mut mb = (fb * 2f64.powi(shift)).round() as i64;
        if ma.abs() >= 1 << REQUANT_BITS || mb.abs() >= 1 << REQUANT_BITS {
            ma = (fa * 2f64.powi(shift - 1)).round() as i64;
            mb = (fb * 2f64.powi(shift - 1)).round() as i64;
            shift -= 1;
        }
        AddRequant {
            ma: ma as i32,
            mb: mb as i32,
            shift,
        }
    }
    /// `round((a*ma + b*mb) / 2^shift)`, half away from zero.
    #[inline]
    pub fn apply(&self, a: i64, b: i64) -> i64 {
        round_shift(a * self.ma as i64 + b * self.mb as i64, self.shift)
    }
}

/// Bilinear / nearest resampling plan along one axis: for every output index, two source
/// indices and their integer weights (summing to `1 << RESIZE_FRAC_BITS`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AxisPlan {
    /// First source index per output index.
    pub i0: Vec<u32>,
    /// Second source index per output index.
    pub i1: Vec<u32>,
    /// Weight of `i0` per output index.
    pub w0: Vec<i32>,
    /// Weight of `i1` per output index.
    pub w1: Vec<i32>,
}

/// Fractional bits of the Resize plan weights: an axis's two weights sum to `1 << 10`.
pub const RESIZE_FRAC_BITS: i32 = 10;

/// Integer kernel parameters of one node.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum QKernel {
    /// Conv, ConvTranspose and Gemm. `acc = Σ x·w + bias[c]` (i64 semantics), then
    /// `y = sat(requant[c].apply(acc))` (negative acc uses `requant_neg` for LeakyRelu), then the
    /// activation clamp `[act_min, act_max]`.
    Mac {
        /// Quantized weights in the float weight's layout (serialized packed: 1, 2 or 4 bytes
        /// per code, the narrowest that holds them all).
        #[serde(with = "packed_codes")]
        weights: Vec<i32>,
        /// Weight parameters, one per output channel.
        weight_params: Vec<QParams>,
        /// Integer bias per output channel, at the accumulator's scale.
        bias: Vec<i64>,
        /// Accumulator to output per output channel.
        requant: Vec<Requant>,
        /// LeakyRelu: the requantization of negative accumulators per output channel.
        requant_neg: Option<Vec<Requant>>,
        /// Lower bound of the fused activation, in output codes.
        act_min: i32,
        /// Upper bound of the fused activation, in output codes.
        act_max: i32,
    },
    /// Add / Sub of two tensors (broadcast), either possibly constant (see `QuantModel::consts`).
    Add {
        /// Both inputs to the output.
        rq: AddRequant,
    },
    /// Mul (and Div by a constant, folded into the constant): `y = sat(requant.apply(a*b))`.
    Mul {
        /// The product of the codes to the output.
        requant: Requant,
    },
    /// Any unary elementwise op: `y = table[q - qmin(in)]`.
    Lut {
        /// Output code per input code, from `qmin` to `qmax`.
        table: Vec<i32>,
    },
    /// `y = q >= 0 ? pos(q) : neg[c](q)` per channel c (axis 1).
    PRelu {
        /// Non-negative inputs to the output.
        pos: Requant,
        /// Negative inputs to the output (slope included), per channel.
        neg: Vec<Requant>,
    },
    /// Max pooling, Relu/Clip on the same scale, layout ops: the integers pass through
    /// (pad cells take `pad_value`).
    PassThrough {
        /// Code of the cells Pad adds.
        pad_value: i32,
    },
    /// Average pooling: `y = sat(requant[count].apply(Σ window))`, indexed by the number of cells
    /// the divisor counts.
    AvgPool {
        /// Indexed by the divisor (0 to the kernel's cell count).
        requant: Vec<Requant>,
    },
    /// Global average pooling: `y = sat(requant.apply(Σ plane))`.
    GlobalAvg {
        /// The plane's sum to the output (the mean's divisor included).
        requant: Requant,
    },
    /// Concat: input i is rescaled with `requant[i]` (None: same parameters, copied).
    Concat {
        /// Per input: its rescaling to the output (`None`: copied).
        requant: Vec<Option<Requant>>,
    },
    /// Resize: per-axis plans; `y = sat(requant.apply(Σ wy·wx·q))` (nearest: one weight 1<<FRAC).
    Resize {
        /// The plan along H.
        rows: AxisPlan,
        /// The plan along W.
        cols: AxisPlan,
        /// The weighted sum to the output (the weights' `2^(2 * RESIZE_FRAC_BITS)` included).
        requant: Requant,
    },
    /// MatMul of two tensors: `y = sat(requant.apply(Σ a·b))`.
    MatMul {
        /// The product's sum to the output.
        requant: Requant,
    },
    /// Runs in float on the CPU: dequantize inputs, float op, quantize the output.
    Cpu,
}

/// Where a node runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Placement {
    /// On the NPU, in fixed point.
    Npu,
    /// On the host CPU, in float between a dequantize and a quantize.
    Cpu,
}

/// The quantized form of one graph node.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct QNode {
    /// Where the node runs.
    pub placement: Placement,
    /// Its integer kernel ([`QKernel::Cpu`] for a CPU node).
    pub kernel: QKernel,
}

/// A quantized constant input (elementwise operands such as Add's bias tensor or PRelu slopes).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct QConst {
    /// The constant's fixed-point parameters.
    pub params: QParams,
    /// The codes (serialized packed, as the Mac weights).
    #[serde(with = "packed_codes")]
    pub data: Vec<i32>,
}

/// Integer codes serialized as `(width, little-endian bytes)` with the narrowest width (1, 2 or
/// 4 bytes) that holds every code: an int8 weight takes one byte in a BIE whatever its value
/// (bincode's varints took 3 bytes for codes of magnitude >= 126).
mod packed_codes {
    use serde::de::Error as _;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer>(codes: &[i32], s: S) -> Result<S::Ok, S::Error> {
        let width: usize = if codes.iter().all(|&c| i8::try_from(c).is_ok()) {
            1
        } else if codes.iter().all(|&c| i16::try_from(c).is_ok()) {
            2
        } else {
            4
        };
        let mut bytes = Vec::with_capacity(codes.len() * width);
        for c in codes {
            bytes.extend_from_slice(&c.to_le_bytes()[..width]);
        }
        (width as u8, bytes).serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<i32>, D::Error> {
        let (width, bytes) = <(u8, Vec<u8>)>::deserialize(d)?;
        let width = usize::from(width);
        if !matches!(width, 1 | 2 | 4) || bytes.len() % width != 0 {
            return Err(D::Error::custom(format!(
                "packed codes: width {width} with {} bytes",
                bytes.len()
            )));
        }
        Ok(bytes
            .chunks_exact(width)
            .map(|b| match width {
                1 => i32::from(b[0] as i8),
                2 => i32::from(i16::from_le_bytes([b[0], b[1]])),
                _ => i32::from_le_bytes([b[0], b[1], b[2], b[3]]),
            })
            .collect())
    }
}

/// Schema version of [`QuantModel`]'s serialized layout, written in every BIE header and
/// checked on read. The payload is bincode of these types, which encodes struct fields by
/// order and enum variants by position: adding, removing or reordering a field of any type
/// reachable from `QuantModel` (`Graph`, `Node`, `Op` and its attributes, `QKernel`,
/// `QParams`, ...) or a variant of any of its enums changes the layout, so it must bump this.
/// The golden BIE test (`crates/radix/tests/golden_bie.rs`) fails when the layout changes.
///
/// History: 1, the first versioned layout; 2, new `Op` variants (`Reduce`, `ResizeNd`,
/// `LayerNormStats`, `PoolNd`, `BatchNormTrain`, ...) for the ONNX conformance ops; 3, Mac
/// weights and quantized constants packed (1, 2 or 4 bytes per code).
pub const SCHEMA_VERSION: u32 = 3;

/// A quantized model, ready for the simulators and the BIE container.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct QuantModel {
    /// The optimized float graph (structure, shapes, names, origins; float weights for CPU nodes).
    pub graph: Graph,
    /// The platform the model was quantized for (520, 720, ...).
    pub platform: u32,
    /// Fixed-point parameters of every non-constant tensor, indexed by `ValueId`.
    pub tensors: Vec<Option<QParams>>,
    /// Quantized constants used directly by integer kernels, indexed by `ValueId`.
    pub consts: Vec<Option<QConst>>,
    /// One entry per graph node, same order.
    pub nodes: Vec<QNode>,
}

impl QuantModel {
    /// The fixed-point parameters of value `v` (`None` for constants and unknown ids).
    pub fn params(&self, v: ValueId) -> Option<QParams> {
        self.tensors.get(v.0).copied().flatten()
    }

    /// Drops the float data of the constants that only `Mac` kernels read as their weights or
    /// bias: those kernels hold them as integers, and no engine reads the float copy. A BIE
    /// stores the model this way (the float weights took 4 bytes per weight beside 1-2 of
    /// integer codes); [`restore_mac_float_weights`](Self::restore_mac_float_weights) makes the
    /// graph whole again after reading. Returns the number of float values dropped.
    pub fn drop_mac_float_weights(&mut self) -> usize {
        let g = &self.graph;
        // Per value: read by something other than a Mac kernel's weight or bias input.
        let mut other_use = vec![false; g.values.len()];
        for (node, q) in g.nodes.iter().zip(&self.nodes) {
            let mac = matches!(q.kernel, QKernel::Mac { .. });
            for (k, v) in node.inputs.iter().enumerate() {
                if !(mac && (k == 1 || k == 2)) {
                    other_use[v.0] = true;
                }
            }
        }
        for v in &g.outputs {
            other_use[v.0] = true;
        }
        let mut dropped = 0;
        for (value, used) in self.graph.values.iter_mut().zip(other_use) {
            if !used && let Some(d) = value.data.take() {
                dropped += d.len();
            }
        }
        dropped
    }

    /// Gives every Mac weight or bias input whose float data was dropped the values its kernel
    /// computes with: `w = q_w / S_w[c]`, `b = bias[c] / (S_x * S_w[c])` (the de-quantized
    /// integers, bias adjust included). Afterwards the graph is valid again (every constant
    /// has data) and the float engine runs the weights the NPU uses. Returns the number of
    /// float values restored.
    pub fn restore_mac_float_weights(&mut self) -> usize {
        let mut restored = 0;
        for (n, node) in self.graph.nodes.iter().enumerate() {
            let QKernel::Mac {
                weights,
                weight_params,
                bias,
                ..
            } = &self.nodes[n].kernel
            else {
                continue;
            };
            let (transpose, group) = match &node.op {
                crate::Op::ConvTranspose(a) => (true, a.group.max(1)),
                _ => (false, 1),
            };
            if let Some(&w) = node.inputs.get(1)
                && self.graph.values[w.0].data.is_none()
            {
                let shape = self.graph.values[w.0].shape.clone();
                if shape.iter().product::<usize>() == weights.len() && shape.len() >= 2 {
                    // Output channel of each flat index, as the quantizer assigned them.
                    let inner: usize = shape[2..].iter().product();
                    let cin_per_g = (shape[0] / group).max(1);
                    let data: Vec<f32> = weights
                        .iter()
                        .enumerate()
                        .map(|(i, &q)| {
                            let (i0, i1) = (i / (shape[1] * inner), (i / inner) % shape[1]);
                            let c = if transpose {
                                (i0 / cin_per_g) * shape[1] + i1
                            } else {
                                i0
                            };
                            weight_params
                                .get(c)
                                .map_or(0.0, |p| (q as f64 / p.multiplier()) as f32)
                        })
                        .collect();
                    if let Ok(a) = ArrayD::from_shape_vec(IxDyn(&shape), data) {
                        restored += a.len();
                        self.graph.values[w.0].data = Some(std::sync::Arc::new(a));
                    }
                }
            }
            let px = node.inputs.first().and_then(|&x| self.params(x));
            if let (Some(&b), Some(px)) = (node.inputs.get(2), px)
                && self.graph.values[b.0].data.is_none()
            {
                let shape = self.graph.values[b.0].shape.clone();
                if shape.iter().product::<usize>() == bias.len() {
                    let data: Vec<f32> = bias
                        .iter()
                        .zip(weight_params)
                        .map(|(&q, p)| (q as f64 / (px.multiplier() * p.multiplier())) as f32)
                        .collect();
                    if let Ok(a) = ArrayD::from_shape_vec(IxDyn(&shape), data) {
                        restored += a.len();
                        self.graph.values[b.0].data = Some(std::sync::Arc::new(a));
                    }
                }
            }
        }
        restored
    }
}

/// An integer tensor as the simulators hold it (int4/8/16 codes widened to i32), row-major.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct QTensor {
    /// Shape.
    pub shape: Vec<usize>,
    /// Codes, row-major.
    pub data: Vec<i32>,
}
