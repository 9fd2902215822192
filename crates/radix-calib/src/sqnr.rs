//! Signal-to-quantization-noise ratio.

use ndarray::ArrayD;

use crate::error::{CalibError, Result};

/// The ratio of accumulated energies in dB, with [`sqnr_db`]'s rule: `+inf` when there is no
/// noise (also when there is no signal), `-inf` for noise without signal.
pub fn sqnr_from_energies(signal: f64, noise: f64) -> f64 {
    if noise == 0.0 {
        f64::INFINITY
    } else {
        10.0 * (signal / noise).log10()
    }
}

/// [`sqnr_db`] of model output `k`, its values pooled over every item (`items[i][k]`); NaN when
/// the shapes differ.
pub fn output_sqnr_db(reference: &[Vec<ArrayD<f32>>], test: &[Vec<ArrayD<f32>>], k: usize) -> f64 {
    let pooled = |items: &[Vec<ArrayD<f32>>]| -> Vec<f32> {
        items
            .iter()
            .filter_map(|o| o.get(k))
            .flat_map(|a| a.iter().copied())
            .collect()
    };
    if reference.len() != test.len() {
        return f64::NAN;
    }
    sqnr_db(&pooled(reference), &pooled(test))
}

/// `10 * log10(Σ ref² / Σ (ref - test)²)` in dB, accumulated in f64 in a fixed order (the same
/// bits for the same inputs).
///
/// `+inf` when the slices are equal (also when both are all-zero), `-inf` when the reference is
/// all-zero and the test is not, NaN when a value is NaN/inf or the lengths differ (use
/// [`try_sqnr_db`] to get an error instead).
pub fn sqnr_db(reference: &[f32], test: &[f32]) -> f64 {
    try_sqnr_db(reference, test).unwrap_or(f64::NAN)
}

/// [`sqnr_db`] that reports a length mismatch as [`CalibError::LengthMismatch`].
pub fn try_sqnr_db(reference: &[f32], test: &[f32]) -> Result<f64> {
    if reference.len() != test.len() {
        return Err(CalibError::LengthMismatch {
            reference: reference.len(),
            test: test.len(),
        });
    }
    const LANES: usize = 8;
    let mut sig = [0f64; LANES];
    let mut noise = [0f64; LANES];
    let rc = reference.chunks_exact(LANES);
    let tc = test.chunks_exact(LANES);
    let (rr, tr) = (rc.remainder(), tc.remainder());
    for (r, t) in rc.zip(tc) {
        for l in 0..LANES {
            let x = f64::from(r[l]);
            let d = x - f64::from(t[l]);
            sig[l] += x * x;
            noise[l] += d * d;
        }
    }
    for (&r, &t) in rr.iter().zip(tr) {
        let x = f64::from(r);
        let d = x - f64::from(t);
        sig[0] += x * x;
        noise[0] += d * d;
    }
    let sig: f64 = sig.iter().sum();
    let noise: f64 = noise.iter().sum();
    Ok(sqnr_from_energies(sig, noise))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_values() {
        assert_eq!(sqnr_db(&[1.0, 2.0], &[1.0, 2.0]), f64::INFINITY);
        assert_eq!(sqnr_db(&[0.0; 3], &[0.0; 3]), f64::INFINITY);
        assert_eq!(sqnr_db(&[0.0; 3], &[0.0, 1.0, 0.0]), f64::NEG_INFINITY);
        // signal 1+4+9+16 = 30 (x 3 to cover the remainder path), noise 0.3 -> 20 dB
        let r: Vec<f32> = [1.0, 2.0, 3.0, 4.0].repeat(3);
        let mut t = r.clone();
        t[0] += 0.3f32.sqrt();
        t[9] -= 0.3f32.sqrt();
        t[11] += 0.3f32.sqrt();
        let db = sqnr_db(&r, &t);
        assert!((db - 20.0).abs() < 1e-5, "{db}");
        assert!(sqnr_db(&[1.0], &[1.0, 2.0]).is_nan());
        assert_eq!(
            try_sqnr_db(&[1.0], &[]),
            Err(CalibError::LengthMismatch {
                reference: 1,
                test: 0
            })
        );
        assert!(sqnr_db(&[f32::NAN], &[1.0]).is_nan());
        assert_eq!(sqnr_from_energies(0.0, 0.0), f64::INFINITY);
        assert_eq!(sqnr_from_energies(0.0, 1.0), f64::NEG_INFINITY);
        // Pooled over items: the same as one slice of all values.
        let a = |v: &[f32]| ArrayD::from_shape_vec(ndarray::IxDyn(&[v.len()]), v.to_vec()).unwrap();
        let reference = vec![vec![a(&[1.0, 2.0])], vec![a(&[3.0, 4.0])]];
        let test = vec![vec![a(&[1.0, 2.5])], vec![a(&[3.0, 4.0])]];
        let want = sqnr_db(&[1.0, 2.0, 3.0, 4.0], &[1.0, 2.5, 3.0, 4.0]);
        assert_eq!(output_sqnr_db(&reference, &test, 0), want);
        assert!(output_sqnr_db(&reference, &test[..1], 0).is_nan());
    }
}
