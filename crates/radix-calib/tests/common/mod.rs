//! Shared helpers of the integration tests: seeded samplers and the Radix fake-quantizer.
#![allow(dead_code)]

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

pub fn rng(seed: u64) -> StdRng {
    StdRng::seed_from_u64(seed)
}

/// Uniform in (0, 1].
fn open01(r: &mut StdRng) -> f64 {
    1.0 - r.random::<f64>()
}

pub fn normal(r: &mut StdRng) -> f64 {
    let u1 = open01(r);
    let u2: f64 = r.random();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

pub fn normals(seed: u64, n: usize) -> Vec<f32> {
    let mut r = rng(seed);
    (0..n).map(|_| normal(&mut r) as f32).collect()
}

pub fn laplace(seed: u64, n: usize) -> Vec<f32> {
    let mut r = rng(seed);
    (0..n)
        .map(|_| {
            let e = -open01(&mut r).ln();
            (if r.random::<bool>() { e } else { -e }) as f32
        })
        .collect()
}

pub fn student_t3(seed: u64, n: usize) -> Vec<f32> {
    let mut r = rng(seed);
    (0..n)
        .map(|_| {
            let z = normal(&mut r);
            let chi2: f64 = (0..3).map(|_| normal(&mut r).powi(2)).sum();
            (z / (chi2 / 3.0).sqrt()) as f32
        })
        .collect()
}

pub fn exponential(seed: u64, n: usize) -> Vec<f32> {
    let mut r = rng(seed);
    (0..n).map(|_| (-open01(&mut r).ln()) as f32).collect()
}

pub fn uniform_signed(seed: u64, n: usize, a: f32) -> Vec<f32> {
    let mut r = rng(seed);
    (0..n)
        .map(|_| (r.random::<f32>() * 2.0 - 1.0) * a)
        .collect()
}

/// Quantize/dequantize with the Radix format (docs/FIXED_POINT.md): `radix = (b-1) - ceil(log2(absmax))`,
/// `scale = qmax / (absmax * 2^radix)` (1 with `pow2`), round half away from zero, saturate.
pub fn fake_quant(x: &[f32], absmax: f32, bits: u32, pow2: bool) -> Vec<f32> {
    let qmax = ((1i64 << (bits - 1)) - 1) as f32;
    let radix = (bits as i32 - 1) - absmax.log2().ceil() as i32;
    let p2 = 2f32.powi(radix);
    let scale = if pow2 { 1.0 } else { qmax / (absmax * p2) };
    let mul = scale * p2;
    x.iter()
        .map(|&v| (v * mul).round().clamp(-qmax, qmax) / mul)
        .collect()
}

pub fn snr(x: &[f32], absmax: f32, bits: u32, pow2: bool) -> f64 {
    radix_calib::sqnr_db(x, &fake_quant(x, absmax, bits, pow2))
}

/// Sorted `|x|`.
pub fn sorted_abs(x: &[f32]) -> Vec<f32> {
    let mut a: Vec<f32> = x.iter().map(|v| v.abs()).collect();
    a.sort_by(f32::total_cmp);
    a
}

/// The exact quantile with the crate's rank convention: the `ceil(p*n)`-th smallest `|x|`.
pub fn exact_quantile(sorted: &[f32], p: f64) -> f32 {
    let n = sorted.len() as f64;
    let x = p * n;
    let k = ((x - x * 1e-12).ceil() as usize).clamp(1, sorted.len());
    sorted[k - 1]
}
