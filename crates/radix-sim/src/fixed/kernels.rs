//! Integer kernels of the fast engine.

use ndarray::{ArrayViewD, Axis, IxDyn, Slice};
use radix_ir::op::{ConvAttrs, PadMode, PoolAttrs};
use radix_ir::qmodel::{AxisPlan, QKernel, QTensor, Requant, saturate};
use radix_ir::{Graph, Node, Op};
use rayon::prelude::*;

use super::{Operand, epilogue, vnni};
use crate::SimError;

type Input<'a> = dyn Fn(usize) -> Result<Operand<'a>, SimError> + 'a;

fn one(shape: &[usize], data: Vec<i32>) -> Result<Vec<QTensor>, SimError> {
    Ok(vec![QTensor {
        shape: shape.to_vec(),
        data,
    }])
}

/// Runs a kernel written for one item (axis 0 of length 1) on every item of axis 0: a graph may
/// stack items inside the model (a Concat on axis 0 before a Conv).
fn per_item(
    x: Operand<'_>,
    out: &[usize],
    f: impl Fn(Operand<'_>, &[usize]) -> Result<Vec<i32>, String>,
) -> Result<Vec<i32>, String> {
    let n = x.shape.first().copied().unwrap_or(1);
    if n <= 1 || out.first() != Some(&n) {
        return f(x, out);
    }
    let (mut xs, mut os) = (x.shape.to_vec(), out.to_vec());
    xs[0] = 1;
    os[0] = 1;
    let (in_len, out_len): (usize, usize) = (xs.iter().product(), os.iter().product());
    if x.data.len() != n * in_len {
        return Err("input length does not match its shape".into());
    }
    let mut y = Vec::with_capacity(n * out_len);
    for i in 0..n {
        let xi = Operand {
            shape: &xs,
            data: &x.data[i * in_len..(i + 1) * in_len],
        };
        y.extend(f(xi, &os)?);
    }
    Ok(y)
}

/// Concatenation in row-major order: for every index of the axes before `axis`, each input's
/// contiguous block (its length on `axis` times the size of the axes after it), in input order.
fn concat_blocks<D: AsRef<[i32]>>(
    parts: &[(usize, D)],
    axis: usize,
    out_shape: &[usize],
) -> Result<Vec<i32>, String> {
    let outer: usize = out_shape[..axis].iter().product();
    let inner: usize = out_shape[axis + 1..].iter().product();
    let total: usize = parts.iter().map(|(len, _)| len).sum();
    if total != out_shape[axis] {
        return Err(format!(
            "inputs add up to {total} on axis {axis}, the output has {}",
            out_shape[axis]
        ));
    }
    for (len, d) in parts {
        if d.as_ref().len() != outer * len * inner {
            return Err("a Concat input's length does not match its shape".into());
        }
    }
    let mut out = Vec::with_capacity(outer * total * inner);
    for o in 0..outer {
        for (len, d) in parts {
            let block = len * inner;
            out.extend_from_slice(&d.as_ref()[o * block..(o + 1) * block]);
        }
    }
    Ok(out)
}

#[allow(clippy::too_many_arguments)]
pub(super) fn exec<'a>(
    node: &Node,
    kernel: &QKernel,
    prep: Option<&MacPrep>,
    input: &Input<'a>,
    out_shape: &[usize],
    bits: u8,
    g: &Graph,
) -> Result<Vec<QTensor>, SimError> {
    let bad = |msg: &str| SimError::node(node, msg.to_string());
    match (kernel, &node.op) {
        (
            QKernel::Mac {
                weights,
                bias,
                requant,
                requant_neg,
                act_min,
                act_max,
                ..
            },
            op,
        ) => {
            let x = input(0)?;
            let oc = requant.len();
            if bias.len() != oc || requant_neg.as_ref().is_some_and(|r| r.len() != oc) {
                return Err(bad("per-channel parameter lengths differ"));
            }
            let ep = Epilogue {
                bias,
                requant,
                requant_neg: requant_neg.as_deref(),
                lo: *act_min,
                hi: *act_max,
                bits,
            };
            let data = match op {
                Op::Conv(a) => per_item(x, out_shape, |xi, oi| conv(xi, weights, prep, a, oi, &ep))
                    .map_err(|m| bad(&m))?,
                Op::ConvTranspose(a) => per_item(x, out_shape, |xi, oi| {
                    conv_transpose(xi, weights, a, oi, &ep)
                })
                .map_err(|m| bad(&m))?,
                Op::Gemm { .. } => gemm(x, weights, prep, out_shape, &ep).map_err(|m| bad(&m))?,
                _ => return Err(bad("Mac kernel on a non-MAC op")),
            };
            one(out_shape, data)
        }
        (QKernel::Add { rq }, _) => {
            let (a, b) = (input(0)?, input(1)?);
            if a.shape == out_shape && b.shape == out_shape && (1..=62).contains(&rq.shift) {
                let q = radix_ir::qmodel::qmax(bits) as i64;
                let mut out = vec![0i32; a.data.len()];
                const CHUNK: usize = 1 << 13;
                out.par_chunks_mut(CHUNK)
                    .zip(a.data.par_chunks(CHUNK).zip(b.data.par_chunks(CHUNK)))
                    .for_each(|(o, (x, y))| {
                        let (ma, mb, s) = (rq.ma as i64, rq.mb as i64, rq.shift as u32);
                        epilogue::add_rows(x, y, ma, mb, s, q, o)
                    });
                return one(out_shape, out);
            }
            one(
                out_shape,
                broadcast2(&a, &b, out_shape, |x, y| {
                    saturate(rq.apply(x as i64, y as i64), bits)
                })
                .map_err(|m| bad(&m))?,
            )
        }
        (QKernel::Mul { requant }, _) => {
            let (a, b) = (input(0)?, input(1)?);
            one(
                out_shape,
                broadcast2(&a, &b, out_shape, |x, y| {
                    saturate(requant.apply(x as i64 * y as i64), bits)
                })
                .map_err(|m| bad(&m))?,
            )
        }
        (QKernel::Lut { table }, _) => {
            let x = input(0)?;
            let half = (table.len() / 2) as i32; // table covers [-qmax, qmax]
            let mut out = Vec::with_capacity(x.data.len());
            for &q in x.data {
                let idx = (q + half) as usize;
                out.push(
                    *table
                        .get(idx)
                        .ok_or_else(|| bad("input outside the lookup table"))?,
                );
            }
            one(out_shape, out)
        }
        (QKernel::PRelu { pos, neg }, _) => {
            let x = input(0)?;
            let c = x.shape.get(1).copied().unwrap_or(1);
            if neg.len() != c {
                return Err(bad("PRelu slope count differs from channels"));
            }
            let inner: usize = x.shape.get(2..).map(|s| s.iter().product()).unwrap_or(1);
            let mut out = vec![0i32; x.data.len()];
            out.par_chunks_mut(inner.max(1))
                .zip(x.data.par_chunks(inner.max(1)))
                .enumerate()
                .for_each(|(i, (o, src))| {
                    let n = &neg[i % c];
                    for (o, &q) in o.iter_mut().zip(src) {
                        *o = saturate(
                            if q >= 0 {
                                pos.apply(q as i64)
                            } else {
                                n.apply(q as i64)
                            },
                            bits,
                        );
                    }
                });
            one(out_shape, out)
        }
        (QKernel::AvgPool { requant }, Op::AveragePool(a)) => {
            let x = input(0)?;
            one(
                out_shape,
                avg_pool(x, a, out_shape, requant, bits).map_err(|m| bad(&m))?,
            )
        }
        (QKernel::GlobalAvg { requant }, _) => {
            let x = input(0)?;
            let hw: usize = x.shape[2..].iter().product();
            let out = x
                .data
                .chunks(hw.max(1))
                .map(|p| saturate(requant.apply(p.iter().map(|&v| v as i64).sum()), bits))
                .collect();
            one(out_shape, out)
        }
        (QKernel::Concat { requant }, Op::Concat { axis }) => {
            let mut parts: Vec<(usize, std::borrow::Cow<'_, [i32]>)> =
                Vec::with_capacity(requant.len());
            for (k, rq) in requant.iter().enumerate() {
                let x = input(k)?;
                if x.shape.len() != out_shape.len() || *axis >= out_shape.len() {
                    return Err(bad("Concat input rank differs from the output's"));
                }
                let data = match rq {
                    None => std::borrow::Cow::Borrowed(x.data),
                    Some(r) => x
                        .data
                        .iter()
                        .map(|&q| saturate(r.apply(q as i64), bits))
                        .collect::<Vec<i32>>()
                        .into(),
                };
                parts.push((x.shape[*axis], data));
            }
            one(
                out_shape,
                concat_blocks(&parts, *axis, out_shape).map_err(|m| bad(&m))?,
            )
        }
        (
            QKernel::Resize {
                rows,
                cols,
                requant,
            },
            _,
        ) => {
            let x = input(0)?;
            one(
                out_shape,
                resize(x, rows, cols, requant, out_shape, bits).map_err(|m| bad(&m))?,
            )
        }
        (QKernel::MatMul { requant }, _) => {
            let (a, b) = (input(0)?, input(1)?);
            one(
                out_shape,
                matmul(&a, &b, out_shape, requant, bits).map_err(|m| bad(&m))?,
            )
        }
        (QKernel::PassThrough { pad_value }, op) => {
            passthrough(node, op, input, out_shape, *pad_value, g)
        }
        (QKernel::Cpu, _) => Err(bad("CPU node reached the integer kernels")),
        (k, op) => Err(bad(&format!(
            "kernel {k:?} does not fit op {}",
            op.type_name()
        ))),
    }
}

/// Per-output-channel epilogue: bias, requantization, saturation, activation clamp.
struct Epilogue<'a> {
    bias: &'a [i64],
    requant: &'a [Requant],
    requant_neg: Option<&'a [Requant]>,
    lo: i32,
    hi: i32,
    bits: u8,
}

impl Epilogue<'_> {
    /// `finish` over a row of one channel. `small`: every `acc + bias` fits i32 (proved by
    /// [`fits_i32`]), so `acc * mult` cannot overflow i64 and the branch-free rounding below equals
    /// `Requant::apply` exactly.
    #[inline]
    fn finish_row<T: Acc>(&self, c: usize, acc: &[T], out: &mut [i32], small: bool) {
        let r = self.requant[c];
        if !small || self.requant_neg.is_some() || !(1..=62).contains(&r.shift) {
            for (o, &v) in out.iter_mut().zip(acc) {
                *o = self.finish(c, v.to_i64());
            }
            return;
        }
        let q = radix_ir::qmodel::qmax(self.bits) as i64;
        let (lo, hi) = ((self.lo as i64).max(-q), (self.hi as i64).min(q));
        let (b, m, s) = (self.bias[c], r.mult as i64, r.shift as u32);
        match T::as_i32(acc) {
            Some(acc) => epilogue::requant_row(acc, b, m, s, lo, hi, out),
            None => {
                let half = 1i64 << (s - 1);
                for (o, &v) in out.iter_mut().zip(acc) {
                    let p = (v.to_i64() + b) * m;
                    let sign = p >> 63; // 0 or -1
                    let mag = ((p ^ sign) - sign + half) >> s; // round half away from zero on |p|
                    *o = ((mag ^ sign) - sign).clamp(lo, hi) as i32;
                }
            }
        }
    }

    /// `(bias, mult, shift, lo, hi)` of channel `c` when its requantization takes the
    /// branch-free form of `epilogue` (every `acc + bias` fits i32, one multiplier, shift in
    /// 1..=62), with `lo, hi` the activation clamp within the bitwidth.
    fn simple(&self, c: usize, small: bool) -> Option<(i64, i64, u32, i64, i64)> {
        let r = self.requant[c];
        if !small || self.requant_neg.is_some() || !(1..=62).contains(&r.shift) {
            return None;
        }
        let q = radix_ir::qmodel::qmax(self.bits) as i64;
        let (lo, hi) = ((self.lo as i64).max(-q), (self.hi as i64).min(q));
        Some((self.bias[c], r.mult as i64, r.shift as u32, lo, hi))
    }

    #[inline]
    fn finish(&self, c: usize, acc: i64) -> i32 {
        let acc = acc + self.bias[c];
        let y = match self.requant_neg {
            Some(neg) if acc < 0 => neg[c].apply(acc),
            _ => self.requant[c].apply(acc),
        };
        saturate(y, self.bits).clamp(self.lo, self.hi)
    }
}

/// What a MAC layer needs at run time, computed once when the engine is built.
#[derive(Debug)]
pub(super) struct MacPrep {
    /// `Σ|w|` per output channel (the accumulator bound of [`fits_i32`]).
    row_abs: Vec<i64>,
    /// Weights packed for the VNNI GEMM, one per group (`None`: CPU without VNNI, a weight
    /// outside i16, or a layer the VNNI path does not take: depthwise, ConvTranspose).
    packed: Option<Vec<vnni::PackedW>>,
    /// Gemm weights as i16 (row per output), for the dot-product path.
    w16: Option<Vec<i16>>,
    /// `max |x|` every value of the layer's input can reach: the saturation bound of its
    /// bitwidth (every kernel and the input quantization saturate their outputs), so the
    /// accumulator bound needs no scan of the input. `None` for a constant input.
    pub(super) x_bound: Option<i64>,
}

impl MacPrep {
    pub(super) fn new(
        op: &Op,
        weights: &[i32],
        out_channels: usize,
        in_bits: Option<u8>,
    ) -> MacPrep {
        let k = weights.len().checked_div(out_channels).unwrap_or(0);
        let row_abs = weights
            .chunks(k.max(1))
            .map(|r| r.iter().map(|w| w.unsigned_abs() as i64).sum())
            .collect();
        let fits16 = weights.iter().all(|&w| i16::try_from(w).is_ok());
        let packed = match op {
            Op::Conv(a) if vnni::available() && fits16 => {
                let g = a.group.max(1);
                let cout_g = out_channels / g;
                let depthwise = k == a.kernel.iter().product::<usize>() && cout_g == 1;
                if depthwise || !out_channels.is_multiple_of(g) {
                    None
                } else {
                    weights
                        .chunks(cout_g * k)
                        .map(|wg| vnni::PackedW::new(wg, cout_g, k))
                        .collect()
                }
            }
            _ => None,
        };
        let w16 = match op {
            Op::Gemm { .. } if fits16 => Some(weights.iter().map(|&w| w as i16).collect()),
            _ => None,
        };
        MacPrep {
            row_abs,
            packed,
            w16,
            x_bound: in_bits.map(|b| radix_ir::qmodel::qmax(b) as i64),
        }
    }
}

/// A bound on `|x|`: the input's saturation bound when known, else a scan. Debug builds check
/// the bound against the data.
fn input_bound(prep: Option<&MacPrep>, x: &[i32]) -> i64 {
    match prep.and_then(|p| p.x_bound) {
        Some(b) => {
            debug_assert!(max_abs(x) <= b, "input exceeds its saturation bound");
            b
        }
        None => max_abs(x),
    }
}

#[inline(always)]
fn max_abs_body(x: &[i32]) -> i64 {
    x.iter().fold(0u32, |m, v| m.max(v.unsigned_abs())) as i64
}

/// `max |x|` (vectorised; a layer's inputs are scanned on every call).
fn max_abs(x: &[i32]) -> i64 {
    #[cfg(target_arch = "x86_64")]
    {
        #[target_feature(enable = "avx512f,avx2")]
        fn v4(x: &[i32]) -> i64 {
            max_abs_body(x)
        }
        #[target_feature(enable = "avx2")]
        fn v3(x: &[i32]) -> i64 {
            max_abs_body(x)
        }
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU has AVX-512F (and AVX2).
            return unsafe { v4(x) };
        }
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU has AVX2.
            return unsafe { v3(x) };
        }
    }
    max_abs_body(x)
}

/// True when `Σ|w| * max|x| + |bias|` fits i32 for every output channel (rows of `k` weights):
/// then every partial sum of a row, in any order, fits i32 too.
fn fits_i32(prep: Option<&MacPrep>, weights: &[i32], k: usize, xmax: i64, bias: &[i64]) -> bool {
    let fits = |abs: i64, b: &i64| {
        abs.checked_mul(xmax)
            .and_then(|v| v.checked_add(b.abs()))
            .is_some_and(|v| v < i32::MAX as i64)
    };
    match prep {
        Some(p) => p.row_abs.iter().zip(bias).all(|(a, b)| fits(*a, b)),
        None => weights
            .chunks(k.max(1))
            .zip(bias)
            .all(|(row, b)| fits(row.iter().map(|w| w.unsigned_abs() as i64).sum::<i64>(), b)),
    }
}

fn conv(
    x: Operand<'_>,
    w: &[i32],
    prep: Option<&MacPrep>,
    a: &ConvAttrs,
    out: &[usize],
    ep: &Epilogue<'_>,
) -> Result<Vec<i32>, String> {
    let (n, cin, h, wd) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3]);
    let (cout, oh, ow) = (out[1], out[2], out[3]);
    let g = a.group;
    let (cin_g, cout_g) = (cin / g, cout / g);
    let (kh, kw) = (a.kernel[0], a.kernel[1]);
    let k = cin_g * kh * kw;
    if w.len() != cout * k || n != 1 {
        return Err(format!(
            "weights have {} values, expected {}",
            w.len(),
            cout * k
        ));
    }
    let hw = oh * ow;
    let xmax = input_bound(prep, x.data);
    let small = fits_i32(prep, w, k, xmax, ep.bias);
    // Exact in i32 and every operand fits i16: the VNNI GEMM (same results, see vnni.rs).
    let packed = prep
        .and_then(|p| p.packed.as_deref())
        .filter(|p| small && xmax <= i16::MAX as i64 && p.len() == g);
    if let Some(packed) = packed {
        // The output is written in full by the GEMMs (one per group): no zero fill.
        let mut outv: Vec<i32> = Vec::with_capacity(cout * hw);
        let spare = &mut outv.spare_capacity_mut()[..cout * hw];
        for (grp, og) in spare.chunks_mut(cout_g * hw).enumerate() {
            let xg = &x.data[grp * cin_g * h * wd..(grp + 1) * cin_g * h * wd];
            let col_owned;
            let col: &[i32] = if kh == 1 && kw == 1 && a.strides == [1, 1] && a.pads == [0; 4] {
                xg
            } else {
                col_owned = im2col(xg, cin_g, h, wd, a, oh, ow);
                &col_owned
            };
            let base = grp * cout_g;
            vnni::gemm(
                &packed[grp],
                col,
                hw,
                og,
                &|r, acc: &[i32], o: &mut [i32]| ep.finish_row(base + r, acc, o, true),
                &|r| ep.simple(base + r, true),
            );
        }
        // SAFETY: `vnni::gemm` writes every element of its `cout_g × hw` block, and the groups'
        // blocks cover all `cout × hw` elements.
        unsafe { outv.set_len(cout * hw) };
        return Ok(outv);
    }
    let mut outv = vec![0i32; cout * hw];
    // Depthwise: direct loops per channel.
    if cin_g == 1 && cout_g == 1 {
        if small {
            depthwise::<i32>(x.data, w, a, [h, wd, oh, ow], &mut outv, ep, true);
        } else {
            depthwise::<i64>(x.data, w, a, [h, wd, oh, ow], &mut outv, ep, false);
        }
        return Ok(outv);
    }
    for grp in 0..g {
        let xg = &x.data[grp * cin_g * h * wd..(grp + 1) * cin_g * h * wd];
        // im2col: [k, hw]; a 1x1 stride-1 unpadded conv reads the input directly.
        let direct = kh == 1 && kw == 1 && a.strides == [1, 1] && a.pads == [0; 4];
        let col_owned;
        let col: &[i32] = if direct {
            xg
        } else {
            col_owned = im2col(xg, cin_g, h, wd, a, oh, ow);
            &col_owned
        };
        let wg = &w[grp * cout_g * k..(grp + 1) * cout_g * k];
        let og = &mut outv[grp * cout_g * hw..(grp + 1) * cout_g * hw];
        let base = grp * cout_g;
        if small {
            gemm_blocked::<i32>(wg, col, k, hw, og, base, ep, true);
        } else {
            gemm_blocked::<i64>(wg, col, k, hw, og, base, ep, false);
        }
    }
    Ok(outv)
}

/// Accumulator types: i32 when a bound proves it exact, else i64.
trait Acc: Copy + Default + Send + Sync + std::ops::AddAssign + std::ops::Mul<Output = Self> {
    fn from_i32(v: i32) -> Self;
    fn to_i64(self) -> i64;
    /// The slice itself when the accumulator type is i32 (for the vectorised epilogue).
    fn as_i32(s: &[Self]) -> Option<&[i32]>;
}
impl Acc for i32 {
    #[inline(always)]
    fn from_i32(v: i32) -> Self {
        v
    }
    #[inline(always)]
    fn to_i64(self) -> i64 {
        self as i64
    }
    fn as_i32(s: &[Self]) -> Option<&[i32]> {
        Some(s)
    }
}
impl Acc for i64 {
    #[inline(always)]
    fn from_i32(v: i32) -> Self {
        v as i64
    }
    #[inline(always)]
    fn to_i64(self) -> i64 {
        self
    }
    fn as_i32(_: &[Self]) -> Option<&[i32]> {
        None
    }
}

/// Rows of output channels computed together (each column tile of the input is reused this often).
const MR: usize = 8;
/// Columns per tile: MR accumulator rows of NT values stay in L1.
const NT: usize = 128;

/// One MR x NT tile: `acc[r][j] += Σ_k w[co0 + r, k] * col[k, n0 + j]`.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn tile_body<T: Acc>(
    acc: &mut [[T; NT]; MR],
    rows: usize,
    w: &[i32],
    col: &[i32],
    k: usize,
    hw: usize,
    n0: usize,
    nt: usize,
    co0: usize,
) {
    for kk in 0..k {
        let xr = &col[kk * hw + n0..kk * hw + n0 + nt];
        for (r, arow) in acc.iter_mut().enumerate().take(rows) {
            let wv = T::from_i32(w[(co0 + r) * k + kk]);
            for (a, &v) in arow[..nt].iter_mut().zip(xr) {
                *a += wv * T::from_i32(v);
            }
        }
    }
}

/// The same loop compiled for AVX2 (8 i32 lanes); chosen at run time, never by build flags.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[allow(clippy::too_many_arguments)]
fn tile_avx2<T: Acc>(
    acc: &mut [[T; NT]; MR],
    rows: usize,
    w: &[i32],
    col: &[i32],
    k: usize,
    hw: usize,
    n0: usize,
    nt: usize,
    co0: usize,
) {
    tile_body(acc, rows, w, col, k, hw, n0, nt, co0)
}

#[inline]
#[allow(clippy::too_many_arguments)]
fn tile<T: Acc>(
    acc: &mut [[T; NT]; MR],
    rows: usize,
    w: &[i32],
    col: &[i32],
    k: usize,
    hw: usize,
    n0: usize,
    nt: usize,
    co0: usize,
) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU supports AVX2 (checked just above); tile_avx2 is safe Rust otherwise.
        return unsafe { tile_avx2(acc, rows, w, col, k, hw, n0, nt, co0) };
    }
    tile_body(acc, rows, w, col, k, hw, n0, nt, co0)
}

/// `out[co, n] = ep(Σ_k w[co, k] * col[k, n])`, blocked MR channels x NT columns, parallel over
/// channel blocks.
#[allow(clippy::too_many_arguments)]
fn gemm_blocked<T: Acc>(
    w: &[i32],
    col: &[i32],
    k: usize,
    hw: usize,
    out: &mut [i32],
    base: usize,
    ep: &Epilogue<'_>,
    small: bool,
) {
    out.par_chunks_mut(MR * hw)
        .enumerate()
        .for_each(|(blk, oblk)| {
            let rows = oblk.len() / hw;
            let co0 = blk * MR;
            let mut acc = [[T::default(); NT]; MR];
            let mut n0 = 0;
            while n0 < hw {
                let nt = NT.min(hw - n0);
                for row in acc.iter_mut().take(rows) {
                    row.iter_mut().for_each(|v| *v = T::default());
                }
                tile(&mut acc, rows, w, col, k, hw, n0, nt, co0);
                for (r, arow) in acc.iter().enumerate().take(rows) {
                    ep.finish_row(
                        base + co0 + r,
                        &arow[..nt],
                        &mut oblk[r * hw + n0..r * hw + n0 + nt],
                        small,
                    );
                }
                n0 += nt;
            }
        });
}

/// Depthwise conv over a zero-padded, phase-split copy of each plane (no bounds checks and only
/// contiguous reads in the inner loops), parallel over channels.
fn depthwise<T: Acc>(
    xd: &[i32],
    w: &[i32],
    a: &ConvAttrs,
    dims: [usize; 4],
    outv: &mut [i32],
    ep: &Epilogue<'_>,
    small: bool,
) {
    let [h, wd, oh, ow] = dims;
    let hw = oh * ow;
    let kk = a.kernel[0] * a.kernel[1];
    if hw == 0 {
        return;
    }
    outv.par_chunks_mut(hw)
        .enumerate()
        .for_each_init(DwBuf::default, |buf, (c, o)| {
            let plane = &xd[c * h * wd..(c + 1) * h * wd];
            let wc = &w[c * kk..(c + 1) * kk];
            dw_plane::<T>(plane, wc, a, dims, c, o, ep, small, buf);
        });
}

/// Per-task buffer of the depthwise kernel: the phase-split padded plane and its geometry.
#[derive(Default)]
struct DwBuf {
    key: [usize; 7],
    q: Vec<i32>,
}

/// One depthwise output plane, compiled for AVX-512 when the CPU has it (the loops are the same).
#[allow(clippy::too_many_arguments)]
fn dw_plane<T: Acc>(
    plane: &[i32],
    wc: &[i32],
    a: &ConvAttrs,
    dims: [usize; 4],
    c: usize,
    o: &mut [i32],
    ep: &Epilogue<'_>,
    small: bool,
    buf: &mut DwBuf,
) {
    #[cfg(target_arch = "x86_64")]
    {
        #[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vl,avx2")]
        #[allow(clippy::too_many_arguments)]
        fn v4<T: Acc>(
            plane: &[i32],
            wc: &[i32],
            a: &ConvAttrs,
            dims: [usize; 4],
            c: usize,
            o: &mut [i32],
            ep: &Epilogue<'_>,
            small: bool,
            buf: &mut DwBuf,
        ) {
            dw_plane_body::<T>(plane, wc, a, dims, c, o, ep, small, buf)
        }
        if std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx512bw")
            && std::arch::is_x86_feature_detected!("avx512dq")
            && std::arch::is_x86_feature_detected!("avx512vl")
        {
            // SAFETY: the CPU has every feature `v4` is compiled for.
            return unsafe { v4::<T>(plane, wc, a, dims, c, o, ep, small, buf) };
        }
    }
    dw_plane_body::<T>(plane, wc, a, dims, c, o, ep, small, buf)
}

/// The padded plane `P` (input at (pt, pl), zeros around) is stored as `sx` phase planes
/// `Q[b][y][j] = P[y][j*sx + b]`, so tap `(ky, kx)` of output row `oy` reads the contiguous run
/// `Q[(kx*dx) % sx][oy*sy + ky*dy][(kx*dx)/sx ..][..ow]`.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn dw_plane_body<T: Acc>(
    plane: &[i32],
    wc: &[i32],
    a: &ConvAttrs,
    [h, wd, oh, ow]: [usize; 4],
    c: usize,
    o: &mut [i32],
    ep: &Epilogue<'_>,
    small: bool,
    buf: &mut DwBuf,
) {
    let (kh, kw) = (a.kernel[0], a.kernel[1]);
    let (sy, sx, dy, dx) = (a.strides[0], a.strides[1], a.dilations[0], a.dilations[1]);
    let (pt, pl) = (a.pads[0], a.pads[1]);
    // Rows and columns the taps can reach (at least the input plus its leading pads).
    let ph = ((oh - 1) * sy + (kh - 1) * dy + 1).max(h + pt);
    let pw = ((ow - 1) * sx + (kw - 1) * dx + 1).max(wd + pl);
    let wq = pw.div_ceil(sx);
    let phase = ph * wq;
    // Every plane of a layer writes the same interior cells: the zero borders laid down for the
    // first plane stay valid for the next ones.
    let key = [h, wd, sx, pt, pl, ph, wq];
    if buf.key != key {
        buf.q.clear();
        buf.q.resize(sx * phase, 0);
        buf.key = key;
    }
    let q = &mut buf.q[..];
    for y in 0..h {
        let row = &plane[y * wd..(y + 1) * wd];
        for b in 0..sx {
            // input columns x with (x + pl) % sx == b land in phase b at column (x + pl) / sx
            let x0 = (b + sx - pl % sx) % sx;
            if x0 >= wd {
                continue;
            }
            let j0 = (x0 + pl) / sx;
            let cnt = (wd - x0).div_ceil(sx);
            let dst = &mut q[b * phase + (y + pt) * wq + j0..][..cnt];
            if sx == 1 {
                dst.copy_from_slice(row);
            } else if sx == 2 {
                crate::simd::gather2_i32(&row[x0..], dst);
            } else {
                for (k, d) in dst.iter_mut().enumerate() {
                    *d = row[x0 + k * sx];
                }
            }
        }
    }
    // The accumulator row lives on the stack for the usual widths (no allocation per plane).
    let mut stack = [T::default(); 256];
    let mut heap = Vec::new();
    let acc: &mut [T] = if ow <= stack.len() {
        &mut stack[..ow]
    } else {
        heap.resize(ow, T::default());
        &mut heap
    };
    let tap = |oy: usize, ky: usize, kx: usize| -> &[i32] {
        let cx = kx * dx;
        &q[(cx % sx) * phase + (oy * sy + ky * dy) * wq + cx / sx..][..ow]
    };
    if kh == 3
        && kw == 3
        && let Some((b, m, sh, lo, hi)) = ep.simple(c, small)
        && T::as_i32(&[]).is_some()
        && epilogue::vector_ok()
    {
        // i32 sums (proved exact), requantized in the same pass.
        let w: [i32; 9] = std::array::from_fn(|t| wc[t]);
        let offs: [usize; 9] = std::array::from_fn(|t| {
            let (ky, cx) = (t / 3, (t % 3) * dx);
            (cx % sx) * phase + ky * dy * wq + cx / sx
        });
        if epilogue::dw3x3_plane(q, &offs, sy * wq, ow, &w, (b, m, sh, lo, hi), o) {
            return;
        }
    }
    if kh == 3 && kw == 3 {
        // The nine taps summed per output with the accumulator in a register.
        let w: [T; 9] = std::array::from_fn(|t| T::from_i32(wc[t]));
        for oy in 0..oh {
            let n = acc.len();
            let (t0, t1, t2) = (
                &tap(oy, 0, 0)[..n],
                &tap(oy, 0, 1)[..n],
                &tap(oy, 0, 2)[..n],
            );
            let (t3, t4, t5) = (
                &tap(oy, 1, 0)[..n],
                &tap(oy, 1, 1)[..n],
                &tap(oy, 1, 2)[..n],
            );
            let (t6, t7, t8) = (
                &tap(oy, 2, 0)[..n],
                &tap(oy, 2, 1)[..n],
                &tap(oy, 2, 2)[..n],
            );
            let f = T::from_i32;
            for i in 0..n {
                let mut s = w[0] * f(t0[i]);
                s += w[1] * f(t1[i]);
                s += w[2] * f(t2[i]);
                s += w[3] * f(t3[i]);
                s += w[4] * f(t4[i]);
                s += w[5] * f(t5[i]);
                s += w[6] * f(t6[i]);
                s += w[7] * f(t7[i]);
                s += w[8] * f(t8[i]);
                acc[i] = s;
            }
            ep.finish_row(c, acc, &mut o[oy * ow..(oy + 1) * ow], small);
        }
        return;
    }
    for oy in 0..oh {
        acc.iter_mut().for_each(|v| *v = T::default());
        for ky in 0..kh {
            let y = oy * sy + ky * dy;
            for kx in 0..kw {
                let wv = T::from_i32(wc[ky * kw + kx]);
                let cx = kx * dx;
                let src = &q[(cx % sx) * phase + y * wq + cx / sx..][..ow];
                for (a, &v) in acc.iter_mut().zip(src) {
                    *a += wv * T::from_i32(v);
                }
            }
        }
        ep.finish_row(c, acc, &mut o[oy * ow..(oy + 1) * ow], small);
    }
}

fn im2col(
    x: &[i32],
    cin: usize,
    h: usize,
    w: usize,
    a: &ConvAttrs,
    oh: usize,
    ow: usize,
) -> Vec<i32> {
    let (kh, kw) = (a.kernel[0], a.kernel[1]);
    let hw = oh * ow;
    let mut col = vec![0i32; cin * kh * kw * hw];
    col.par_chunks_mut(kh * kw * hw)
        .enumerate()
        .for_each(|(c, cc)| {
            let plane = &x[c * h * w..(c + 1) * h * w];
            for ky in 0..kh {
                for kx in 0..kw {
                    let dst = &mut cc[(ky * kw + kx) * hw..(ky * kw + kx + 1) * hw];
                    // Output columns whose input column ix = ox*sx + kx*dx - pl is inside.
                    let (sx, off) = (
                        a.strides[1],
                        (kx * a.dilations[1]) as isize - a.pads[1] as isize,
                    );
                    let first = if off >= 0 {
                        0
                    } else {
                        ((-off) as usize).div_ceil(sx)
                    };
                    let last = if (w as isize) <= off {
                        0
                    } else {
                        ((w as isize - off) as usize).div_ceil(sx).min(ow)
                    };
                    for oy in 0..oh {
                        let iy =
                            (oy * a.strides[0] + ky * a.dilations[0]) as isize - a.pads[0] as isize;
                        if iy < 0 || iy >= h as isize || first >= last {
                            continue;
                        }
                        let row = &plane[iy as usize * w..(iy as usize + 1) * w];
                        let d = &mut dst[oy * ow + first..oy * ow + last];
                        let x0 = (first as isize * sx as isize + off) as usize;
                        if sx == 1 {
                            d.copy_from_slice(&row[x0..x0 + d.len()]);
                        } else {
                            for (j, v) in d.iter_mut().enumerate() {
                                *v = row[x0 + j * sx];
                            }
                        }
                    }
                }
            }
        });
    col
}

fn conv_transpose(
    x: Operand<'_>,
    w: &[i32],
    a: &ConvAttrs,
    out: &[usize],
    ep: &Epilogue<'_>,
) -> Result<Vec<i32>, String> {
    let (n, cin, h, wd) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3]);
    let (cout, oh, ow) = (out[1], out[2], out[3]);
    let g = a.group;
    let (cin_g, cout_g) = (cin / g, cout / g);
    let (kh, kw) = (a.kernel[0], a.kernel[1]);
    if w.len() != cin * cout_g * kh * kw || n != 1 {
        return Err("ConvTranspose weight size mismatch".into());
    }
    let mut outv = vec![0i32; cout * oh * ow];
    outv.par_chunks_mut(oh * ow).enumerate().for_each(|(c, o)| {
        let grp = c / cout_g;
        let j = c % cout_g;
        let mut acc = vec![0i64; oh * ow];
        for ci in grp * cin_g..(grp + 1) * cin_g {
            let plane = &x.data[ci * h * wd..(ci + 1) * h * wd];
            let wk = &w[(ci * cout_g + j) * kh * kw..(ci * cout_g + j + 1) * kh * kw];
            for iy in 0..h {
                for ix in 0..wd {
                    let v = plane[iy * wd + ix] as i64;
                    if v == 0 {
                        continue;
                    }
                    for ky in 0..kh {
                        let oy =
                            (iy * a.strides[0] + ky * a.dilations[0]) as isize - a.pads[0] as isize;
                        if oy < 0 || oy >= oh as isize {
                            continue;
                        }
                        for kx in 0..kw {
                            let ox = (ix * a.strides[1] + kx * a.dilations[1]) as isize
                                - a.pads[1] as isize;
                            if ox >= 0 && (ox as usize) < ow {
                                acc[oy as usize * ow + ox as usize] += v * wk[ky * kw + kx] as i64;
                            }
                        }
                    }
                }
            }
        }
        for (o, &a) in o.iter_mut().zip(&acc) {
            *o = ep.finish(c, a);
        }
    });
    Ok(outv)
}

fn gemm(
    x: Operand<'_>,
    w: &[i32],
    prep: Option<&MacPrep>,
    out: &[usize],
    ep: &Epilogue<'_>,
) -> Result<Vec<i32>, String> {
    let (m, k) = (x.shape[0], x.shape[1]);
    let nn = out[1];
    if w.len() != nn * k {
        return Err("Gemm weight size mismatch".into());
    }
    let mut outv = vec![0i32; m * nn];
    let xmax = input_bound(prep, x.data);
    let w16 = prep
        .and_then(|p| p.w16.as_deref())
        .filter(|_| xmax <= i16::MAX as i64 && fits_i32(prep, w, k, xmax, ep.bias));
    if let Some(w16) = w16 {
        // Every sum fits i32 (checked): i16 dot products, exact.
        let x16: Vec<i16> = x.data.iter().map(|&v| v as i16).collect();
        outv.par_chunks_mut(nn).enumerate().for_each(|(r, orow)| {
            let xr = &x16[r * k..(r + 1) * k];
            orow.par_chunks_mut(64).enumerate().for_each(|(blk, o)| {
                for (i, o) in o.iter_mut().enumerate() {
                    let c = blk * 64 + i;
                    *o = ep.finish(c, dot_i16(&w16[c * k..(c + 1) * k], xr) as i64);
                }
            });
        });
        return Ok(outv);
    }
    outv.par_chunks_mut(nn).enumerate().for_each(|(r, orow)| {
        let xr = &x.data[r * k..(r + 1) * k];
        for (c, o) in orow.iter_mut().enumerate() {
            let wr = &w[c * k..(c + 1) * k];
            let acc: i64 = xr.iter().zip(wr).map(|(&a, &b)| a as i64 * b as i64).sum();
            *o = ep.finish(c, acc);
        }
    });
    Ok(outv)
}

#[inline(always)]
fn dot_i16_body(a: &[i16], b: &[i16]) -> i32 {
    // Wrapping: the caller proved the exact sum (and every partial sum) fits i32.
    a.iter()
        .zip(b)
        .fold(0i32, |s, (&x, &y)| s.wrapping_add(x as i32 * y as i32))
}

/// `Σ a[i]·b[i]` in i32 (vectorised to `vpmaddwd` where the CPU has AVX-512BW or AVX2).
fn dot_i16(a: &[i16], b: &[i16]) -> i32 {
    #[cfg(target_arch = "x86_64")]
    {
        #[target_feature(enable = "avx512f,avx512bw,avx2")]
        fn v4(a: &[i16], b: &[i16]) -> i32 {
            dot_i16_body(a, b)
        }
        #[target_feature(enable = "avx2")]
        fn v3(a: &[i16], b: &[i16]) -> i32 {
            dot_i16_body(a, b)
        }
        if std::arch::is_x86_feature_detected!("avx512bw") {
            // SAFETY: the CPU has AVX-512F/BW (and so AVX2).
            return unsafe { v4(a, b) };
        }
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU has AVX2.
            return unsafe { v3(a, b) };
        }
    }
    dot_i16_body(a, b)
}

/// numpy-broadcast binary op on integers.
///
/// The output is cut into runs over the innermost axes along which each operand is either
/// constant (broadcast) or contiguous, so the inner loop is a plain slice loop (a scalar times a
/// tensor, a per-channel constant, or two tensors of the same shape) and runs in parallel.
fn broadcast2(
    a: &Operand<'_>,
    b: &Operand<'_>,
    out: &[usize],
    f: impl Fn(i32, i32) -> i32 + Sync,
) -> Result<Vec<i32>, String> {
    let nd = out.len();
    // Strides of an operand seen with the output's shape (0 along broadcast axes).
    let strides = |shape: &[usize], len: usize| -> Result<Vec<usize>, String> {
        if shape.len() > nd || shape.iter().product::<usize>() != len {
            return Err(format!("shape {shape:?} does not broadcast to {out:?}"));
        }
        let lead = nd - shape.len();
        let mut st = vec![0usize; nd];
        let mut acc = 1;
        for d in (0..shape.len()).rev() {
            let (s, o) = (shape[d], out[lead + d]);
            if s != o && s != 1 {
                return Err(format!("shape {shape:?} does not broadcast to {out:?}"));
            }
            st[lead + d] = if s == 1 { 0 } else { acc };
            acc *= s;
        }
        Ok(st)
    };
    let (sa, sb) = (
        strides(a.shape, a.data.len())?,
        strides(b.shape, b.data.len())?,
    );
    let total: usize = out.iter().product();
    // Innermost run: axes k.. along which each operand is constant or contiguous.
    let run_kind = |st: &[usize], k: usize| -> Option<bool> {
        let (mut constant, mut contiguous, mut acc) = (true, true, 1);
        for d in (k..nd).rev() {
            if out[d] != 1 {
                constant &= st[d] == 0;
                contiguous &= st[d] == acc;
            }
            acc *= out[d];
        }
        if constant {
            Some(true)
        } else if contiguous {
            Some(false)
        } else {
            None
        }
    };
    let mut k = nd;
    while k > 0 && run_kind(&sa, k - 1).is_some() && run_kind(&sb, k - 1).is_some() {
        k -= 1;
    }
    let inner: usize = out[k..].iter().product();
    let (a_const, b_const) = (
        run_kind(&sa, k).unwrap_or(true),
        run_kind(&sb, k).unwrap_or(true),
    );
    let mut res = vec![0i32; total];
    if inner == 0 {
        return Ok(res);
    }
    // Offsets of both operands at the start of run `r`.
    let offsets = |mut r: usize| -> (usize, usize) {
        let (mut oa, mut ob) = (0, 0);
        for d in (0..k).rev() {
            let i = r % out[d];
            r /= out[d];
            oa += i * sa[d];
            ob += i * sb[d];
        }
        (oa, ob)
    };
    // Runs in parallel; a long run is cut into `per_run` equal chunks of about 16K values.
    let mut per_run = inner.div_ceil(1 << 14);
    while !inner.is_multiple_of(per_run) {
        per_run += 1;
    }
    let chunk = inner / per_run;
    res.par_chunks_mut(chunk).enumerate().for_each(|(c, o)| {
        let (r, within) = (c / per_run, (c % per_run) * chunk);
        let (oa, ob) = offsets(r);
        let n = o.len();
        match (a_const, b_const) {
            (false, false) => {
                let (x, y) = (&a.data[oa + within..][..n], &b.data[ob + within..][..n]);
                for ((o, &x), &y) in o.iter_mut().zip(x).zip(y) {
                    *o = f(x, y);
                }
            }
            (true, false) => {
                let (x, y) = (a.data[oa], &b.data[ob + within..][..n]);
                for (o, &y) in o.iter_mut().zip(y) {
                    *o = f(x, y);
                }
            }
            (false, true) => {
                let (x, y) = (&a.data[oa + within..][..n], b.data[ob]);
                for (o, &x) in o.iter_mut().zip(x) {
                    *o = f(x, y);
                }
            }
            (true, true) => o.fill(f(a.data[oa], b.data[ob])),
        }
    });
    Ok(res)
}

fn avg_pool(
    x: Operand<'_>,
    a: &PoolAttrs,
    out: &[usize],
    rq: &[Requant],
    bits: u8,
) -> Result<Vec<i32>, String> {
    let (h, w) = (x.shape[2], x.shape[3]);
    let (oh, ow) = (out[2], out[3]);
    let planes = x.shape[0] * x.shape[1];
    let mut outv = vec![0i32; planes * oh * ow];
    outv.par_chunks_mut(oh * ow).enumerate().for_each(|(p, o)| {
        let plane = &x.data[p * h * w..(p + 1) * h * w];
        for oy in 0..oh {
            for ox in 0..ow {
                let (mut sum, mut cnt, mut padded) = (0i64, 0usize, 0usize);
                for ky in 0..a.kernel[0] {
                    let iy =
                        (oy * a.strides[0] + ky * a.dilations[0]) as isize - a.pads[0] as isize;
                    for kx in 0..a.kernel[1] {
                        let ix =
                            (ox * a.strides[1] + kx * a.dilations[1]) as isize - a.pads[1] as isize;
                        let inside_padded =
                            iy < (h + a.pads[2]) as isize && ix < (w + a.pads[3]) as isize;
                        if iy >= 0 && ix >= 0 && (iy as usize) < h && (ix as usize) < w {
                            sum += plane[iy as usize * w + ix as usize] as i64;
                            cnt += 1;
                        }
                        if inside_padded {
                            padded += 1;
                        }
                    }
                }
                let nd = if a.count_include_pad { padded } else { cnt };
                o[oy * ow + ox] = rq
                    .get(nd)
                    .map(|r| saturate(r.apply(sum), bits))
                    .unwrap_or(0);
            }
        }
    });
    Ok(outv)
}

fn max_pool(x: Operand<'_>, a: &PoolAttrs, out: &[usize]) -> Vec<i32> {
    let (h, w) = (x.shape[2], x.shape[3]);
    let (oh, ow) = (out[2], out[3]);
    let planes = x.shape[0] * x.shape[1];
    let mut outv = vec![0i32; planes * oh * ow];
    outv.par_chunks_mut(oh * ow).enumerate().for_each(|(p, o)| {
        let plane = &x.data[p * h * w..(p + 1) * h * w];
        for oy in 0..oh {
            for ox in 0..ow {
                let mut m = i32::MIN;
                for ky in 0..a.kernel[0] {
                    let iy =
                        (oy * a.strides[0] + ky * a.dilations[0]) as isize - a.pads[0] as isize;
                    if iy < 0 || iy >= h as isize {
                        continue;
                    }
                    for kx in 0..a.kernel[1] {
                        let ix =
                            (ox * a.strides[1] + kx * a.dilations[1]) as isize - a.pads[1] as isize;
                        if ix >= 0 && (ix as usize) < w {
                            m = m.max(plane[iy as usize * w + ix as usize]);
                        }
                    }
                }
                o[oy * ow + ox] = if m == i32::MIN { 0 } else { m };
            }
        }
    });
    outv
}

fn resize(
    x: Operand<'_>,
    rows: &AxisPlan,
    cols: &AxisPlan,
    rq: &Requant,
    out: &[usize],
    bits: u8,
) -> Result<Vec<i32>, String> {
    let (h, w) = (x.shape[2], x.shape[3]);
    let (oh, ow) = (out[2], out[3]);
    if rows.i0.len() != oh || cols.i0.len() != ow {
        return Err("resize plan does not match the output size".into());
    }
    if rows.i0.iter().chain(&rows.i1).any(|&i| i as usize >= h)
        || cols.i0.iter().chain(&cols.i1).any(|&i| i as usize >= w)
    {
        return Err("resize plan indexes outside the input".into());
    }
    let planes = x.shape[0] * x.shape[1];
    let mut outv = vec![0i32; planes * oh * ow];
    outv.par_chunks_mut(oh * ow).enumerate().for_each(|(p, o)| {
        let plane = &x.data[p * h * w..(p + 1) * h * w];
        for oy in 0..oh {
            let (r0, r1) = (rows.i0[oy] as usize * w, rows.i1[oy] as usize * w);
            let (wy0, wy1) = (rows.w0[oy] as i64, rows.w1[oy] as i64);
            for ox in 0..ow {
                let (c0, c1) = (cols.i0[ox] as usize, cols.i1[ox] as usize);
                let (wx0, wx1) = (cols.w0[ox] as i64, cols.w1[ox] as i64);
                let acc = wy0 * (wx0 * plane[r0 + c0] as i64 + wx1 * plane[r0 + c1] as i64)
                    + wy1 * (wx0 * plane[r1 + c0] as i64 + wx1 * plane[r1 + c1] as i64);
                o[oy * ow + ox] = saturate(rq.apply(acc), bits);
            }
        }
    });
    Ok(outv)
}

fn matmul(
    a: &Operand<'_>,
    b: &Operand<'_>,
    out: &[usize],
    rq: &Requant,
    bits: u8,
) -> Result<Vec<i32>, String> {
    // numpy semantics: a 1-D a is a row [1, k], a 1-D b a column [k, 1]; batch axes broadcast.
    if a.shape.is_empty() || b.shape.is_empty() {
        return Err("MatMul of a scalar".into());
    }
    let a2: Vec<usize> = if a.shape.len() == 1 {
        vec![1, a.shape[0]]
    } else {
        a.shape.to_vec()
    };
    let b2: Vec<usize> = if b.shape.len() == 1 {
        vec![b.shape[0], 1]
    } else {
        b.shape.to_vec()
    };
    let (ra, rb) = (a2.len(), b2.len());
    let (m, k, n) = (a2[ra - 2], a2[ra - 1], b2[rb - 1]);
    if b2[rb - 2] != k {
        return Err("MatMul inner dimensions differ".into());
    }
    let rank = (ra - 2).max(rb - 2);
    // Batch dims right-aligned, with each operand's element stride per batch axis (0: broadcast).
    let mut batch = vec![1usize; rank];
    let (mut sa, mut sb) = (vec![0usize; rank], vec![0usize; rank]);
    let (mut stride_a, mut stride_b) = (m * k, k * n);
    for i in (0..rank).rev() {
        let da = (i + ra - 2).checked_sub(rank).map(|j| a2[j]).unwrap_or(1);
        let db = (i + rb - 2).checked_sub(rank).map(|j| b2[j]).unwrap_or(1);
        batch[i] = match (da, db) {
            (x, y) if x == y => x,
            (1, y) => y,
            (x, 1) => x,
            _ => return Err("MatMul batch axes do not broadcast".into()),
        };
        if da > 1 {
            sa[i] = stride_a;
        }
        if db > 1 {
            sb[i] = stride_b;
        }
        stride_a *= da;
        stride_b *= db;
    }
    let batches: usize = batch.iter().product();
    if out.iter().product::<usize>() != batches * m * n
        || a.data.len() != stride_a
        || b.data.len() != stride_b
    {
        return Err("MatMul shapes do not match".into());
    }
    let mut o = vec![0i32; batches * m * n];
    o.par_chunks_mut((m * n).max(1))
        .enumerate()
        .for_each(|(bi, block)| {
            let (mut rem, mut oa, mut ob) = (bi, 0, 0);
            for i in (0..rank).rev() {
                let idx = rem % batch[i];
                rem /= batch[i];
                oa += idx * sa[i];
                ob += idx * sb[i];
            }
            let (ad, bd) = (&a.data[oa..oa + m * k], &b.data[ob..ob + k * n]);
            for (r, orow) in block.chunks_mut(n.max(1)).enumerate() {
                for (c, v) in orow.iter_mut().enumerate() {
                    let acc: i64 = (0..k)
                        .map(|kk| ad[r * k + kk] as i64 * bd[kk * n + c] as i64)
                        .sum();
                    *v = saturate(rq.apply(acc), bits);
                }
            }
        });
    Ok(o)
}

/// Ops whose integers move unchanged: pooling max, layout, pad.
fn passthrough<'a>(
    node: &Node,
    op: &Op,
    input: &Input<'a>,
    out: &[usize],
    pad_value: i32,
    g: &Graph,
) -> Result<Vec<QTensor>, SimError> {
    let bad = |m: String| SimError::node(node, m);
    let x = input(0)?;
    let xv = ArrayViewD::from_shape(IxDyn(x.shape), x.data).map_err(|e| bad(e.to_string()))?;
    let data: Vec<i32> = match op {
        Op::Reshape { .. }
        | Op::Flatten { .. }
        | Op::Squeeze { .. }
        | Op::Unsqueeze { .. }
        | Op::Identity
        | Op::Dropout
        | Op::Cast => x.data.to_vec(),
        Op::Transpose { perm } => xv.permuted_axes(IxDyn(perm)).iter().copied().collect(),
        Op::MaxPool(a) => max_pool(x, a, out),
        Op::GlobalMaxPool => {
            let hw: usize = x.shape[2..].iter().product();
            x.data
                .chunks(hw.max(1))
                .map(|p| p.iter().copied().max().unwrap_or(0))
                .collect()
        }
        Op::Slice {
            starts,
            ends,
            steps,
        } => {
            let mut v = xv.view();
            for ax in 0..v.ndim() {
                let (s, e, st) = (starts[ax], ends[ax], steps[ax]);
                let sl = if st > 0 {
                    Slice::new(s as isize, Some(e.max(s) as isize), st as isize)
                } else {
                    let lo = (e + 1).max(0);
                    let hi = s + 1;
                    if hi <= lo {
                        Slice::new(0, Some(0), 1)
                    } else {
                        Slice::new(lo as isize, Some(hi as isize), st as isize)
                    }
                };
                v.slice_axis_inplace(Axis(ax), sl);
            }
            v.iter().copied().collect()
        }
        Op::Split { axis, splits } => {
            let mut outs = Vec::with_capacity(splits.len());
            let mut start = 0;
            for (k, &s) in splits.iter().enumerate() {
                let part = xv.slice_axis(Axis(*axis), Slice::from(start..start + s));
                let shape = g.shape(node.outputs[k]).to_vec();
                outs.push(QTensor {
                    shape,
                    data: part.iter().copied().collect(),
                });
                start += s;
            }
            return Ok(outs);
        }
        Op::Gather { axis } => {
            let idx = g
                .const_data(node.inputs[1])
                .ok_or_else(|| bad("Gather indices are not constant".into()))?;
            let dim = x.shape[*axis] as i64;
            let mut parts = Vec::with_capacity(idx.len());
            for &i in idx.iter() {
                let mut i = i as i64;
                if i < 0 {
                    i += dim;
                }
                if i < 0 || i >= dim {
                    return Err(bad(format!("gather index {i} out of range")));
                }
                parts.push(
                    xv.index_axis(Axis(*axis), i as usize)
                        .insert_axis(Axis(*axis)),
                );
            }
            ndarray::concatenate(Axis(*axis), &parts)
                .map_err(|e| bad(e.to_string()))?
                .iter()
                .copied()
                .collect()
        }
        Op::Pad { pads, mode, .. } => {
            let rank = x.shape.len();
            let mut outv = Vec::with_capacity(out.iter().product());
            let mut src = vec![0usize; rank];
            for (flat, _) in (0..out.iter().product::<usize>()).zip(0..) {
                let mut rem = flat;
                let mut inside = true;
                for ax in (0..rank).rev() {
                    let i = rem % out[ax];
                    rem /= out[ax];
                    let p = i as i64 - pads[ax].0 as i64;
                    let d = x.shape[ax] as i64;
                    let s = match mode {
                        PadMode::Constant => {
                            if p < 0 || p >= d {
                                inside = false;
                            }
                            p.clamp(0, d - 1)
                        }
                        PadMode::Edge => p.clamp(0, d - 1),
                        PadMode::Reflect => {
                            if d == 1 {
                                0
                            } else {
                                let period = 2 * (d - 1);
                                let m = p.rem_euclid(period);
                                if m >= d { period - m } else { m }
                            }
                        }
                    };
                    src[ax] = s as usize;
                }
                outv.push(if inside { xv[IxDyn(&src)] } else { pad_value });
            }
            outv
        }
        Op::Resize(_) | Op::Concat { .. } => {
            return Err(bad("pass-through kernel on a rescaling op".into()));
        }
        other => {
            return Err(bad(format!(
                "no pass-through form for {}",
                other.type_name()
            )));
        }
    };
    one(out, data)
}
