//! Acceptance tests of issue 3 (calibration statistics and range methods) on synthetic data with
//! known answers.

mod common;

use common::*;
use radix_calib::{
    CalibError, ChannelStats, MinMax, Mmse, Percentage, RangeMethod, SUB_BINS, TensorStats,
    WINDOW_OCTAVES, ZERO_TENSOR_ABSMAX, estimated_mse,
};
use rand::seq::SliceRandom;
use rayon::prelude::*;

fn pct(p: f64) -> Percentage {
    Percentage {
        percentage: p,
        percentage_16b: p,
    }
}

fn stats_of(x: &[f32]) -> TensorStats {
    TensorStats::from_slice(x).expect("finite data")
}

#[test]
fn gaussian_with_outliers_percentage_clips_them() {
    let mut x = normals(1, 1_000_000);
    for i in 0..100 {
        x[i * 9_973] = if i % 2 == 0 { 50.0 } else { -50.0 };
    }
    let s = stats_of(&x);
    let a = pct(0.999).absmax(&s, 8).unwrap();
    assert!((a - 3.29).abs() / 3.29 < 0.02, "percentage 0.999 gave {a}");
    // The default 8-bit percentage is 0.999 as well.
    assert_eq!(Percentage::default().absmax(&s, 8).unwrap(), a);
    assert_eq!(pct(1.0).absmax(&s, 8).unwrap(), 50.0);
    assert_eq!(MinMax.absmax(&s, 8).unwrap(), 50.0);
    assert_eq!(s.max_abs(), Some(50.0));
    assert_eq!(s.max(), Some(50.0));
    assert_eq!(s.min(), Some(-50.0));
    // 16-bit tensors use percentage_16b = 0.999999: only the 100 outliers (1e-4) are above
    // rank 0.999999 * n, so the range keeps them.
    assert_eq!(Percentage::default().absmax(&s, 16).unwrap(), 50.0);
}

#[test]
fn mmse_beats_minmax_on_heavy_tails_int8() {
    for (name, x) in [
        ("laplace", laplace(2, 1_000_000)),
        ("student-t3", student_t3(3, 1_000_000)),
    ] {
        let s = stats_of(&x);
        let mm = MinMax.absmax(&s, 8).unwrap();
        let ms = Mmse::default().absmax(&s, 8).unwrap();
        let (snr_mm, snr_ms) = (snr(&x, mm, 8, false), snr(&x, ms, 8, false));
        println!("{name}: minmax {mm} -> {snr_mm:.2} dB, mmse {ms} -> {snr_ms:.2} dB");
        assert!(ms < mm, "{name}: mmse should clip ({ms} vs {mm})");
        assert!(snr_ms > snr_mm + 0.5, "{name}: {snr_ms} vs {snr_mm}");
    }
}

/// The histogram model's optimum is (nearly) the true optimum on the samples themselves.
#[test]
fn mmse_close_to_brute_force_optimum() {
    for (name, x, bits) in [
        ("laplace int8", laplace(4, 300_000), 8),
        ("student-t3 int8", student_t3(5, 300_000), 8),
        ("gaussian int8", normals(6, 300_000), 8),
        ("student-t3 int16", student_t3(7, 300_000), 16),
    ] {
        let s = stats_of(&x);
        let m = Mmse {
            percentile: 0.01,
            ..Mmse::default()
        };
        let ms = m.absmax(&s, bits).unwrap();
        let got = snr(&x, ms, bits, false);
        let lo = s.quantile(0.99).unwrap();
        let hi = s.max_abs().unwrap();
        let best = (0..=150)
            .map(|i| {
                let t = lo * (hi / lo).powf(i as f32 / 150.0);
                snr(&x, t, bits, false)
            })
            .fold(f64::NEG_INFINITY, f64::max);
        println!("{name}: mmse {ms} -> {got:.3} dB, brute force best {best:.3} dB");
        assert!(got > best - 0.15, "{name}: {got} vs best {best}");
    }
}

#[test]
fn mmse_more_bits_clip_less_and_uniform_keeps_range() {
    let x = laplace(8, 500_000);
    let s = stats_of(&x);
    let t8 = Mmse::default().absmax(&s, 8).unwrap();
    let t16 = Mmse::default().absmax(&s, 16).unwrap();
    let t4 = Mmse::default().absmax(&s, 4).unwrap();
    assert!(t4 <= t8 && t8 <= t16, "{t4} {t8} {t16}");

    let u = uniform_signed(9, 500_000, 2.0);
    let su = stats_of(&u);
    let tu = Mmse::default().absmax(&su, 8).unwrap();
    let max = su.max_abs().unwrap();
    assert!(tu <= max && tu > 0.99 * max, "{tu} vs {max}");

    // The model's MSE at the chosen threshold is the minimum over other thresholds.
    let e = estimated_mse(&s, t8, 8).unwrap();
    for f in [0.9f32, 0.95, 1.05, 1.1] {
        let other = (t8 * f).min(s.max_abs().unwrap());
        assert!(estimated_mse(&s, other, 8).unwrap() >= e);
    }
    // And it predicts the measured error of the real quantizer.
    let q = fake_quant(&x, t8, 8, false);
    let measured: f64 = x
        .iter()
        .zip(&q)
        .map(|(a, b)| f64::from(a - b).powi(2))
        .sum::<f64>()
        / x.len() as f64;
    assert!((measured - e).abs() / measured < 0.05, "{measured} vs {e}");
}

#[test]
fn mmse_parameters() {
    let x = student_t3(10, 200_000);
    let s = stats_of(&x);
    let max = s.max_abs().unwrap();
    // percentile 0: only max|x| is a candidate.
    assert_eq!(Mmse::new(0.0, 1.0).unwrap().absmax(&s, 8).unwrap(), max);
    // outlier_factor scales the threshold exactly (power of two) and is capped at max * factor.
    let t = Mmse::default().absmax(&s, 8).unwrap();
    assert_eq!(
        Mmse::new(0.001, 2.0).unwrap().absmax(&s, 8).unwrap(),
        2.0 * t
    );
    assert_eq!(
        Mmse::new(0.0, 2.0).unwrap().absmax(&s, 8).unwrap(),
        2.0 * max
    );
    // percentile 1: the whole distribution is searched (on a coarser grid): as good as the
    // default up to the flatness of the optimum.
    let t_all = Mmse::new(1.0, 1.0).unwrap().absmax(&s, 8).unwrap();
    let (e_all, e) = (
        estimated_mse(&s, t_all, 8).unwrap(),
        estimated_mse(&s, t, 8).unwrap(),
    );
    assert!(e_all <= e * (1.0 + 1e-4), "{e_all} vs {e}");

    // KL520 power-of-two steps: result has the radix of a power of two of the search range and
    // beats min/max under scale = 1 quantization.
    let p2 = Mmse {
        power_of_two: true,
        ..Mmse::default()
    };
    let a = p2.absmax(&s, 8).unwrap();
    assert!(a == max || a.log2().fract() == 0.0, "{a}");
    assert!(snr(&x, a, 8, true) >= snr(&x, max, 8, true));

    for bad in [
        Mmse::new(1.5, 1.0).err(),
        Mmse::new(0.1, 0.0).err(),
        Mmse::new(f64::NAN, 1.0).err(),
        Mmse::new(0.1, f64::INFINITY).err(),
        Percentage::new(-0.1, 1.0).err(),
        Percentage::new(1.0, 1.0001).err(),
    ] {
        assert!(matches!(bad, Some(CalibError::InvalidParameter { .. })));
    }
    assert_eq!(
        Percentage::default().absmax(&s, 1),
        Err(CalibError::InvalidBitwidth(1))
    );
    assert_eq!(
        Mmse::default().absmax(&s, 33),
        Err(CalibError::InvalidBitwidth(33))
    );
    assert!(matches!(
        pct(f64::NAN).absmax(&s, 8),
        Err(CalibError::InvalidParameter {
            name: "percentage",
            ..
        })
    ));
}

#[test]
fn quantiles_match_sorted_array() {
    let bound = 1.0 / f64::from(SUB_BINS); // documented relative error bound (< 1%)
    let ps = [0.5, 0.9, 0.99, 0.999, 0.9999, 0.99999, 0.999999];
    for (name, x) in [
        ("uniform", uniform_signed(11, 2_000_000, 3.0)),
        ("exponential", exponential(12, 2_000_000)),
    ] {
        let s = stats_of(&x);
        let sorted = sorted_abs(&x);
        let mut worst = 0f64;
        for p in ps {
            let want = f64::from(exact_quantile(&sorted, p));
            let got = f64::from(pct(p).absmax(&s, 8).unwrap());
            let rel = (got - want).abs() / want;
            worst = worst.max(rel);
            assert!(
                rel < bound,
                "{name} p={p}: {got} vs exact {want} (rel {rel})"
            );
            assert!(rel < 0.01);
        }
        println!("{name}: worst relative quantile error {worst:.2e}");
        assert_eq!(s.quantile(1.0).unwrap(), *sorted.last().unwrap());
    }
}

/// Data spanning > 40 octaves, with zeros, negative zeros and subnormals, in chunks of varied
/// scale and size (so the key range grows and folds at different moments in different orders).
fn nasty_chunks() -> Vec<Vec<f32>> {
    let mut r = rng(13);
    (0..64)
        .map(|i| {
            let n = 1_000 + (i * 7_919) % 20_000;
            let scale = 2f32.powi((i as i32 % 17) * 5 - 50);
            let mut v: Vec<f32> = normals(100 + i as u64, n)
                .into_iter()
                .map(|x| x * scale)
                .collect();
            v[0] = 0.0;
            v[1] = -0.0;
            v[2] = 1e-40;
            v[3] = -3e-39;
            v.shuffle(&mut r);
            v
        })
        .collect()
}

fn fingerprint(s: &TensorStats) -> (String, Vec<u8>, Vec<u8>, Vec<u32>) {
    let json = serde_json::to_string(s).unwrap();
    let bin = bincode::serde::encode_to_vec(s, bincode::config::standard()).unwrap();
    let fixed = bincode::serde::encode_to_vec(s, bincode::config::legacy()).unwrap();
    let methods: Vec<Box<dyn RangeMethod>> = vec![
        Box::new(MinMax),
        Box::new(Percentage::default()),
        Box::new(Mmse::default()),
        Box::new(Mmse {
            power_of_two: true,
            ..Mmse::default()
        }),
    ];
    let bits = methods
        .iter()
        .flat_map(|m| [8, 16].map(|b| m.absmax(s, b).unwrap().to_bits()))
        .collect();
    (json, bin, fixed, bits)
}

fn balanced(parts: &[TensorStats]) -> TensorStats {
    match parts.len() {
        0 => TensorStats::new(),
        1 => parts[0].clone(),
        n => {
            let mut a = balanced(&parts[..n / 2]);
            a.merge(&balanced(&parts[n / 2..]));
            a
        }
    }
}

#[test]
fn deterministic_for_any_order_tree_and_thread_count() {
    let chunks = nasty_chunks();
    let mut seq = TensorStats::new();
    for c in &chunks {
        seq.observe(c).unwrap();
    }
    let want = fingerprint(&seq);
    assert!(seq.underflow_count() > 0);
    let parts: Vec<TensorStats> = chunks.iter().map(|c| stats_of(c)).collect();

    let mut candidates: Vec<(&str, TensorStats)> = Vec::new();
    let fold = |order: &[usize]| {
        let mut s = TensorStats::new();
        for &i in order {
            s.merge(&parts[i]);
        }
        s
    };
    let fwd: Vec<usize> = (0..parts.len()).collect();
    let rev: Vec<usize> = fwd.iter().rev().copied().collect();
    let mut shuf = fwd.clone();
    shuf.shuffle(&mut rng(14));
    candidates.push(("merge forward", fold(&fwd)));
    candidates.push(("merge reverse", fold(&rev)));
    candidates.push(("merge shuffled", fold(&shuf)));
    candidates.push(("balanced tree", balanced(&parts)));
    let shuffled_parts: Vec<TensorStats> = shuf.iter().map(|&i| parts[i].clone()).collect();
    candidates.push(("balanced tree shuffled", balanced(&shuffled_parts)));
    let mut right = TensorStats::new();
    for p in parts.iter().rev() {
        let mut p = p.clone();
        p.merge(&right);
        right = p;
    }
    candidates.push(("right fold", right));
    let mut obs_shuf = TensorStats::new();
    for &i in &shuf {
        obs_shuf.observe(&chunks[i]).unwrap();
    }
    candidates.push(("observe shuffled", obs_shuf));
    for threads in [1, 2, 4] {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        let s = pool.install(|| {
            shuf.par_iter()
                .fold(TensorStats::new, |mut s, &i| {
                    s.observe(&chunks[i]).unwrap();
                    s
                })
                .reduce(TensorStats::new, |mut a, b| {
                    a.merge(&b);
                    a
                })
        });
        candidates.push((["rayon 1", "rayon 2", "rayon 4"][threads / 2], s));
    }
    for (name, s) in &candidates {
        assert_eq!(s, &seq, "{name}");
        assert!(
            fingerprint(s) == want,
            "{name}: serialized bytes or ranges differ"
        );
    }
}

#[test]
fn channel_stats_deterministic() {
    let chunks = nasty_chunks();
    // View each chunk's prefix as a [n, 4, 5, 5] NCHW tensor.
    let tensors: Vec<&[f32]> = chunks.iter().map(|c| &c[..c.len() / 100 * 100]).collect();
    let obs = |order: &mut dyn Iterator<Item = usize>| {
        let mut s = ChannelStats::new(4, 1);
        for i in order {
            let t = tensors[i];
            s.observe(t, &[t.len() / 100, 4, 5, 5]).unwrap();
        }
        s
    };
    let a = obs(&mut (0..tensors.len()));
    let b = obs(&mut (0..tensors.len()).rev());
    let mut c = ChannelStats::new(4, 1);
    for i in (0..tensors.len()).step_by(2) {
        let mut part = obs(&mut [i, i + 1].into_iter().filter(|&j| j < tensors.len()));
        part.merge(&c).unwrap();
        c = part;
    }
    assert_eq!(a, b);
    assert_eq!(a, c);
    assert_eq!(
        serde_json::to_string(&a).unwrap(),
        serde_json::to_string(&c).unwrap()
    );
}

#[test]
fn memory_does_not_grow_with_inputs() {
    // "Images" with the same extremes: identical key range, so identical fixed-width size.
    let image = |i: u64| {
        let mut v = uniform_signed(1000 + i, 50_000, 4.0);
        v[0] = 4.0;
        v[1] = -2f32.powi(-10);
        for x in &mut v[2..] {
            if x.abs() < 2f32.powi(-10) {
                *x = 2f32.powi(-10);
            }
        }
        v
    };
    let run = |n: u64| {
        let mut s = TensorStats::new();
        for i in 0..n {
            s.observe(&image(i)).unwrap();
        }
        s
    };
    let (s22, s220) = (run(22), run(220));
    let size = |s: &TensorStats, fixed: bool| {
        if fixed {
            bincode::serde::encode_to_vec(s, bincode::config::legacy())
                .unwrap()
                .len()
        } else {
            bincode::serde::encode_to_vec(s, bincode::config::standard())
                .unwrap()
                .len()
        }
    };
    assert_eq!(s22.histogram_len(), s220.histogram_len());
    assert_eq!(size(&s22, true), size(&s220, true));
    let (v22, v220) = (size(&s22, false), size(&s220, false));
    println!("varint sizes: 22 inputs {v22} B, 220 inputs {v220} B");
    // Varint counts grow by a byte or two as they pass 250 / 65535; nothing else grows.
    assert!(v220 as f64 <= 1.5 * v22 as f64);

    // Gaussian images: the range widens a little with more samples, the size barely.
    let run_g = |n: u64| {
        let mut s = TensorStats::new();
        for i in 0..n {
            s.observe(&normals(5000 + i, 20_000)).unwrap();
        }
        s
    };
    let (g22, g220) = (run_g(22), run_g(220));
    println!(
        "gaussian: {} vs {} slots",
        g22.histogram_len(),
        g220.histogram_len()
    );
    assert!(g220.histogram_len() as f64 <= 1.3 * g22.histogram_len() as f64);

    // Whatever the data, at most the window is allocated.
    let mut wide = TensorStats::new();
    for e in -149..128 {
        wide.observe(&[2f32.powi(e), -1.5 * 2f32.powi(e.min(127))])
            .unwrap();
    }
    wide.observe(&[f32::MAX, -f32::MAX]).unwrap();
    let cap = (WINDOW_OCTAVES * SUB_BINS) as usize + 1;
    assert!(wide.histogram_len() <= cap);
    assert_eq!(wide.max_abs(), Some(f32::MAX));
    assert_eq!(Percentage::default().absmax(&wide, 8).unwrap(), f32::MAX);
}

#[test]
fn non_finite_values_are_rejected_with_their_index() {
    let mut s = stats_of(&[1.0, -2.0]);
    let before = s.clone();
    for (data, index) in [
        (vec![0.0, 1.0, f32::NAN, f32::INFINITY], 2),
        (vec![f32::NEG_INFINITY, 1.0], 0),
        (vec![1.0; 7].into_iter().chain([f32::INFINITY]).collect(), 7),
        (vec![-f32::NAN], 0),
    ] {
        match s.observe(&data) {
            Err(CalibError::NonFinite { index: i, value }) => {
                assert_eq!(i, index);
                assert!(!value.is_finite());
            }
            other => panic!("expected NonFinite, got {other:?}"),
        }
        assert_eq!(s, before, "stats must be unchanged after an error");
    }
    // Arrays of any layout report the logical (row-major) index.
    let mut a = ndarray::Array2::<f32>::zeros((3, 4));
    a[[2, 1]] = f32::NAN;
    let t = a.t();
    let err = TensorStats::new().observe_array(&t).unwrap_err();
    assert!(
        matches!(err, CalibError::NonFinite { index: 5, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("index 5"));
    let mut cs = ChannelStats::new(4, 1);
    assert!(matches!(
        cs.observe_array(&a),
        Err(CalibError::NonFinite { index: 9, .. })
    ));
    assert_eq!(cs, ChannelStats::new(4, 1));
}

#[test]
fn degenerate_tensors() {
    let methods: Vec<Box<dyn RangeMethod>> = vec![
        Box::new(MinMax),
        Box::new(Percentage::default()),
        Box::new(Mmse::default()),
        Box::new(Mmse {
            power_of_two: true,
            ..Mmse::default()
        }),
    ];
    let empty = TensorStats::new();
    let zeros = stats_of(&[0.0, -0.0, 0.0]);
    let subnormal = stats_of(&[1e-40, -1e-45, 0.0]);
    let single = stats_of(&[-3.0]);
    let constant = stats_of(&[0.75; 1000]);
    let mut sparse = vec![0.0f32; 1_000_000];
    sparse[17] = 2.0;
    sparse[999] = -0.5;
    let sparse = stats_of(&sparse);
    for m in &methods {
        for b in [4, 8, 16] {
            assert_eq!(m.absmax(&empty, b), Err(CalibError::Empty), "{}", m.name());
            assert_eq!(m.absmax(&zeros, b).unwrap(), ZERO_TENSOR_ABSMAX);
            assert_eq!(m.absmax(&subnormal, b).unwrap(), ZERO_TENSOR_ABSMAX);
            assert_eq!(m.absmax(&single, b).unwrap(), 3.0, "{}", m.name());
            assert_eq!(m.absmax(&constant, b).unwrap(), 0.75, "{}", m.name());
            let a = m.absmax(&sparse, b).unwrap();
            assert!((0.5..=2.0).contains(&a), "{}: sparse {a}", m.name());
            let radix = (b as i32 - 1) - a.log2().ceil() as i32;
            assert!((-30..40).contains(&radix));
        }
    }
    assert_eq!(zeros.min().map(f32::to_bits), Some(0.0f32.to_bits()));
    assert_eq!(zeros.max().map(f32::to_bits), Some(0.0f32.to_bits()));
    assert_eq!(empty.quantile(0.5), Err(CalibError::Empty));
    assert_eq!(zeros.quantile(0.5), Ok(0.0));
    assert_eq!(single.min(), Some(-3.0));
    assert_eq!(single.max_abs(), Some(3.0));
}

#[test]
fn serde_roundtrip_and_validation() {
    let x = student_t3(20, 10_000);
    let s = stats_of(&x);
    let json = serde_json::to_string(&s).unwrap();
    let back: TensorStats = serde_json::from_str(&json).unwrap();
    assert_eq!(back, s);
    let bin = bincode::serde::encode_to_vec(&s, bincode::config::standard()).unwrap();
    let (back, _): (TensorStats, usize) =
        bincode::serde::decode_from_slice(&bin, bincode::config::standard()).unwrap();
    assert_eq!(back, s);
    let e = serde_json::to_string(&TensorStats::new()).unwrap();
    assert_eq!(
        serde_json::from_str::<TensorStats>(&e).unwrap(),
        TensorStats::new()
    );

    // Tampered data is rejected, not trusted.
    let mut v: serde_json::Value = serde_json::from_str(&json).unwrap();
    v["count"] = serde_json::json!(5);
    assert!(serde_json::from_value::<TensorStats>(v).is_err());
    let mut v: serde_json::Value = serde_json::from_str(&json).unwrap();
    v["max"] = serde_json::json!(1e6);
    assert!(serde_json::from_value::<TensorStats>(v).is_err());
    let mut v: serde_json::Value = serde_json::from_str(&json).unwrap();
    v["lo_key"] = serde_json::json!(u32::MAX);
    assert!(serde_json::from_value::<TensorStats>(v).is_err());

    let mut cs = ChannelStats::new(3, 0);
    cs.observe(&[1.0, -2.0, 3.0, 4.0, 5.0, 6.0], &[3, 2])
        .unwrap();
    let j = serde_json::to_string(&cs).unwrap();
    assert_eq!(serde_json::from_str::<ChannelStats>(&j).unwrap(), cs);
}

#[test]
fn channel_stats_known_answers() {
    // NCHW [2, 3, 2, 2]: value = n*100 + c*10 + h*2 + w, channel 1 negated.
    let shape = [2usize, 3, 2, 2];
    let data: Vec<f32> = (0..24)
        .map(|i| {
            let (n, c, hw) = (i / 12, (i / 4) % 3, i % 4);
            let v = (n * 100 + c * 10 + hw) as f32;
            if c == 1 { -v } else { v }
        })
        .collect();
    let mut s = ChannelStats::new(3, 1);
    s.observe(&data, &shape).unwrap();
    let r: Vec<_> = (0..3).map(|c| s.channel(c).unwrap()).collect();
    assert_eq!(
        (r[0].min, r[0].max, r[0].absmax, r[0].count),
        (0.0, 103.0, 103.0, 8)
    );
    assert_eq!((r[1].min, r[1].max, r[1].absmax), (-113.0, -10.0, 113.0));
    assert_eq!((r[2].min, r[2].max), (20.0, 123.0));
    assert_eq!(s.absmax(), vec![103.0, 113.0, 123.0]);
    assert!(s.channel(3).is_none());

    // Axis 0 (output channels of a weight) and the last axis.
    let mut s0 = ChannelStats::new(2, 0);
    s0.observe(&data, &shape).unwrap();
    assert_eq!(s0.absmax(), vec![23.0, 123.0]);
    let mut s3 = ChannelStats::new(2, 3);
    s3.observe(&data, &shape).unwrap();
    assert_eq!(s3.absmax(), vec![122.0, 123.0]);
    // ndarray of a permuted layout gives the same as its standard-layout copy.
    let arr = ndarray::Array4::from_shape_vec(shape, data.clone()).unwrap();
    let perm = arr.clone().permuted_axes([0, 1, 3, 2]);
    let mut sp = ChannelStats::new(3, 1);
    sp.observe_array(&perm).unwrap();
    assert_eq!(sp, s);
    let mut ts = TensorStats::new();
    ts.observe_array(&perm).unwrap();
    assert_eq!(ts, stats_of(&data));

    // Merge and mismatches.
    let mut m = ChannelStats::new(3, 1);
    m.merge(&s).unwrap();
    assert_eq!(m, s);
    assert!(matches!(
        m.merge(&s0),
        Err(CalibError::ChannelMismatch { .. })
    ));
    assert!(matches!(
        s.observe(&data, &[2, 4, 3, 1]),
        Err(CalibError::ChannelMismatch { .. })
    ));
    assert!(matches!(
        s.observe(&data[1..], &shape),
        Err(CalibError::ShapeMismatch { .. })
    ));
    assert!(matches!(
        s.observe(&data, &[24]),
        Err(CalibError::AxisOutOfRange { axis: 1, rank: 1 })
    ));
    // Zero-sized tensors are fine and change nothing.
    let before = s.clone();
    s.observe(&[], &[0, 3, 2, 2]).unwrap();
    assert_eq!(s, before);
}
