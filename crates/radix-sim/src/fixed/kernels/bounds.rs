//! Accumulator bounds of the MAC kernels: what a layer needs at run time, computed once
//! ([`MacPrep`]: `Σ|w|` per channel, packed weights, the input's saturation bound), and the
//! checks that choose exact i32 sums over i64.

use radix_ir::Op;

use crate::fixed::vnni;

/// What a MAC layer needs at run time, computed once when the engine is built.
#[derive(Debug)]
pub(in crate::fixed) struct MacPrep {
    /// `Σ|w|` per output channel (the accumulator bound of [`fits_i32`]).
    row_abs: Vec<i64>,
    /// Weights packed for the VNNI GEMM, one per group (`None`: CPU without VNNI, a weight
    /// outside i16, or a layer the VNNI path does not take: depthwise, ConvTranspose).
    pub(super) packed: Option<Vec<vnni::PackedW>>,
    /// Gemm weights as i16 (row per output), for the dot-product path.
    pub(super) w16: Option<Vec<i16>>,
    /// `max |x|` every value of the layer's input can reach: the saturation bound of its
    /// bitwidth (every kernel and the input quantization saturate their outputs), so the
    /// accumulator bound needs no scan of the input. `None` for a constant input.
    pub(super) x_bound: Option<i64>,
}

impl MacPrep {
    pub(in crate::fixed) fn new(
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
pub(super) fn input_bound(prep: Option<&MacPrep>, x: &[i32]) -> i64 {
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
pub(super) fn fits_i32(
    prep: Option<&MacPrep>,
    weights: &[i32],
    k: usize,
    xmax: i64,
    bias: &[i64],
) -> bool {
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
