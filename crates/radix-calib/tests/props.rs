//! Property tests: merge laws, quantile error bound, range method invariants.

mod common;

use common::{exact_quantile, sorted_abs};
use proptest::prelude::*;
use radix_calib::{MinMax, Mmse, Percentage, RangeMethod, SUB_BINS, TensorStats};

/// Finite floats of widely varying magnitude, with zeros, signed zeros and subnormals.
fn value() -> impl Strategy<Value = f32> {
    prop_oneof![
        8 => -1e3f32..1e3f32,
        2 => (-60i32..60, -1.0f32..1.0).prop_map(|(e, m)| m * 2f32.powi(e)),
        1 => Just(0.0f32),
        1 => Just(-0.0f32),
        1 => prop_oneof![Just(1e-40f32), Just(-1e-45f32), Just(f32::MAX), Just(-f32::MAX)],
        1 => any::<f32>().prop_filter("finite", |v| v.is_finite()),
    ]
}

fn data() -> impl Strategy<Value = Vec<f32>> {
    prop::collection::vec(value(), 0..3000)
}

fn stats(x: &[f32]) -> TensorStats {
    TensorStats::from_slice(x).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    /// Any split, merged in any order, equals observing everything at once (value and bytes).
    #[test]
    fn merge_is_order_and_split_independent(x in data(), cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..8), seed in any::<u64>()) {
        let whole = stats(&x);
        let mut idx: Vec<usize> = cuts.iter().map(|c| c.index(x.len() + 1)).collect();
        idx.push(0);
        idx.push(x.len());
        idx.sort_unstable();
        let mut parts: Vec<TensorStats> = idx.windows(2).map(|w| stats(&x[w[0]..w[1]])).collect();
        // A deterministic shuffle from the seed.
        let n = parts.len();
        for i in (1..n).rev() {
            let j = (seed.wrapping_mul(6364136223846793005).wrapping_add(i as u64) >> 33) as usize % (i + 1);
            parts.swap(i, j);
        }
        let mut merged = TensorStats::new();
        for p in &parts {
            merged.merge(p);
        }
        prop_assert_eq!(&merged, &whole);
        prop_assert_eq!(serde_json::to_string(&merged).unwrap(), serde_json::to_string(&whole).unwrap());
        // Merging into a part (other association) as well.
        if let Some((first, rest)) = parts.split_first() {
            let mut acc = first.clone();
            let mut tail = TensorStats::new();
            for p in rest.iter().rev() {
                tail.merge(p);
            }
            acc.merge(&tail);
            prop_assert_eq!(&acc, &whole);
        }
        prop_assert!(whole.histogram_len() <= (radix_calib::WINDOW_OCTAVES * SUB_BINS) as usize + 1);
        let back: TensorStats = serde_json::from_str(&serde_json::to_string(&whole).unwrap()).unwrap();
        prop_assert_eq!(back, whole);
    }

    /// Quantiles are within one bin (relative 2^-7) of the exact order statistic, monotone in p,
    /// never above max|x|, and exact at p = 1. Values far below the window count as 0.
    #[test]
    fn quantile_error_bound(x in prop::collection::vec(value(), 1..3000), ps in prop::collection::vec(0.0f64..=1.0, 1..6)) {
        let s = stats(&x);
        let sorted = sorted_abs(&x);
        let max = *sorted.last().unwrap();
        prop_assert_eq!(s.max_abs(), Some(max));
        prop_assert_eq!(s.quantile(1.0).unwrap(), max);
        let floor = f64::from(s.underflow_edge());
        let mut ps = ps;
        ps.sort_by(f64::total_cmp);
        let mut prev = 0f32;
        for p in ps {
            let got = s.quantile(p).unwrap();
            let want = f64::from(exact_quantile(&sorted, p));
            let err = (f64::from(got) - want).abs();
            prop_assert!(err <= want / f64::from(SUB_BINS) || (want < floor && f64::from(got) < floor),
                "p={} got {} want {}", p, got, want);
            prop_assert!(got <= max && got >= prev);
            prev = got;
        }
    }

    /// Every method returns a finite absmax in (0, max|x| * factor], or 1.0 for all-zero data.
    #[test]
    fn methods_return_valid_ranges(x in prop::collection::vec(value(), 1..2000), p in 0.0f64..=1.0, pc in 0.0f64..=1.0, f in 0.25f64..4.0, bits in prop::sample::select(vec![4u32, 8, 16])) {
        let s = stats(&x);
        let max = s.max_abs().unwrap();
        let methods: Vec<(Box<dyn RangeMethod>, f64)> = vec![
            (Box::new(MinMax), 1.0),
            (Box::new(Percentage { percentage: p, percentage_16b: p }), 1.0),
            (Box::new(Mmse { percentile: pc, outlier_factor: f, power_of_two: false }), f),
            (Box::new(Mmse { percentile: pc, outlier_factor: f, power_of_two: true }), f),
        ];
        for (m, factor) in methods {
            let a = m.absmax(&s, bits).unwrap();
            prop_assert!(a.is_finite() && a > 0.0, "{}: {}", m.name(), a);
            if max >= f32::MIN_POSITIVE {
                let cap = ((f64::from(max) * factor) as f32).min(f32::MAX);
                prop_assert!(a <= cap, "{}: {} > {}", m.name(), a, cap);
                prop_assert!(a >= f32::MIN_POSITIVE);
            } else {
                prop_assert_eq!(a, radix_calib::ZERO_TENSOR_ABSMAX);
            }
            let radix = (bits as i32 - 1) - a.log2().ceil() as i32;
            prop_assert!((-200..300).contains(&radix));
        }
    }
}
