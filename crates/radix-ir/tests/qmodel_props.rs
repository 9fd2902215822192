//! Property tests of the integer primitives in `radix_ir::qmodel` (issue 4): every primitive is
//! checked against a slow reference written here from `docs/FIXED_POINT.md`, using exact i128
//! arithmetic (integers) or exact bit-level decomposition (floats), on random values and
//! parameters with extra weight on the edges (ties, 0, ±1, i64/i32 extremes, huge shifts).

use proptest::prelude::*;
use radix_ir::qmodel::{
    AddRequant, QParams, REQUANT_BITS, Requant, qmax, qmin, round_shift, saturate,
};

/// Cases per property; every property is a few integer operations, so this stays well under a
/// second in the test profile.
const CASES: u32 = 2048;

// ---------------------------------------------------------------------------------------------
// Slow references.

/// `n / 2^s` rounded half away from zero, exactly: quotient and remainder of `|n|`, round up
/// when twice the remainder reaches the divisor, restore the sign.
fn ref_div_pow2(n: i128, s: u32) -> i128 {
    if s >= 127 {
        // |n| < 2^127 <= 2^s / 2 ... only n = 0 gets here in practice; |n| / 2^s < 1/2.
        return 0;
    }
    let d = 1i128 << s;
    let (a, neg) = (n.unsigned_abs(), n < 0);
    let d = d as u128;
    let mut q = a / d;
    if 2 * (a % d) >= d {
        q += 1;
    }
    let q = q as i128;
    if neg { -q } else { q }
}

/// Clamp an exact value to i64.
fn sat_i64(n: i128) -> i64 {
    n.clamp(i64::MIN as i128, i64::MAX as i128) as i64
}

/// `round_shift` as FIXED_POINT.md defines it: `v / 2^s` rounded half away from zero for
/// `s > 0`, `v * 2^-s` saturated to i64 for `s <= 0`.
fn ref_round_shift(v: i64, s: i32) -> i64 {
    let v = v as i128;
    if s > 0 {
        sat_i64(ref_div_pow2(v, s as u32))
    } else {
        let k = -(s as i64); // 0..=2^31
        if v == 0 {
            0
        } else if k >= 64 {
            if v > 0 { i64::MAX } else { i64::MIN }
        } else {
            sat_i64(v * (1i128 << k))
        }
    }
}

/// Clamp to the symmetric range of a bitwidth, `±(2^(b-1) - 1)`, computed in i128.
fn ref_saturate(v: i128, bits: u8) -> i128 {
    let m = (1i128 << (bits - 1)) - 1;
    v.clamp(-m, m)
}

/// An f32 as `m * 2^e` exactly (`m` signed integer); `None` for NaN and infinities.
fn decompose_f32(x: f32) -> Option<(i128, i32)> {
    if !x.is_finite() {
        return None;
    }
    let b = x.to_bits();
    let exp = ((b >> 23) & 0xff) as i32;
    let frac = (b & 0x7f_ffff) as i128;
    let (m, e) = if exp == 0 {
        (frac, -149)
    } else {
        (frac | 0x80_0000, exp - 150)
    };
    Some((if b >> 31 == 1 { -m } else { m }, e))
}

/// FIXED_POINT.md "Float to fixed": `saturate(round_half_away(x * scale * 2^radix))`, with the
/// product formed exactly from the bit patterns of `x` and `scale`. NaN gives 0, ±inf ±qmax.
fn ref_quantize(x: f32, p: &QParams) -> i32 {
    let qm = qmax(p.bits) as i128;
    if x.is_nan() {
        return 0;
    }
    if x.is_infinite() {
        return if x > 0.0 { qm as i32 } else { -qm as i32 };
    }
    let (mx, ex) = decompose_f32(x).unwrap();
    let (ms, es) = decompose_f32(p.scale).unwrap();
    let m = mx * ms; // < 2^48 in magnitude
    let e = ex + es + p.radix;
    let v = if m == 0 {
        0
    } else if e >= 0 {
        if e > 60 {
            m.signum() * (qm + 1) // far beyond any range: saturates
        } else {
            m << e
        }
    } else {
        ref_div_pow2(m, (-e) as u32)
    };
    ref_saturate(v, p.bits) as i32
}

// ---------------------------------------------------------------------------------------------
// Strategies.

/// i64 values with weight on the edges: full range, small, extremes, powers of two ± 1.
fn wide_i64() -> impl Strategy<Value = i64> {
    prop_oneof![
        3 => any::<i64>(),
        2 => -70_000i64..=70_000,
        1 => prop::sample::select(vec![
            0,
            1,
            -1,
            i64::MIN,
            i64::MIN + 1,
            i64::MAX,
            i64::MAX - 1,
            i32::MIN as i64,
            i32::MAX as i64,
        ]),
        2 => (0u32..63, -2i64..=2, any::<bool>()).prop_map(|(k, d, neg)| {
            let v = (1i64 << k).saturating_add(d);
            if neg { v.saturating_neg() } else { v }
        }),
    ]
}

/// Shifts: the useful range, beyond i64's width both ways, and any i32.
fn wide_shift() -> impl Strategy<Value = i32> {
    prop_oneof![
        4 => -3i32..=40,
        3 => -70i32..=70,
        1 => any::<i32>(),
        1 => prop::sample::select(vec![0, 1, 62, 63, 64, 65, -62, -63, -64, i32::MIN, i32::MAX]),
    ]
}

/// `(v, s)` exactly at or one off a rounding tie: `v = ±(q * 2^s + 2^(s-1) + d)`, d ∈ {-1, 0, 1}.
fn near_tie() -> impl Strategy<Value = (i64, i32)> {
    (1i32..=63, any::<u64>(), -1i128..=1, any::<bool>()).prop_filter_map(
        "fits i64",
        |(s, q, d, neg)| {
            let q = (q as i128) % (1i128 << (63 - s));
            let v = q * (1i128 << s) + (1i128 << (s - 1)) + d;
            let v = if neg { -v } else { v };
            i64::try_from(v).ok().map(|v| (v, s))
        },
    )
}

/// Positive factors from 2^-60 to 2^60, mantissas uniform in [1, 2).
fn factor() -> impl Strategy<Value = f64> {
    (1.0f64..2.0, -60i32..=60).prop_map(|(m, e)| m * 2f64.powi(e))
}

/// Bitwidths the formats use; `saturate` is also checked on every width 2..=31.
fn bits() -> impl Strategy<Value = u8> {
    prop::sample::select(vec![4u8, 8, 16])
}

fn qparams() -> impl Strategy<Value = QParams> {
    (bits(), -40i32..=40, 1.0f32..2.0, any::<bool>()).prop_map(|(bits, radix, scale, pow2)| {
        QParams {
            bits,
            radix,
            scale: if pow2 { 1.0 } else { scale },
        }
    })
}

fn requant_params() -> impl Strategy<Value = Requant> {
    // Any mantissa up to 15 bits and sign, any shift the builders can produce (and negative).
    (-(1i32 << 15) + 1..(1i32 << 15), -20i32..=62).prop_map(|(mult, shift)| Requant { mult, shift })
}

// ---------------------------------------------------------------------------------------------
// Properties.

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    /// `round_shift` equals exact half-away-from-zero division (s > 0) and saturating
    /// multiplication (s <= 0), for any i64 and any shift.
    #[test]
    fn round_shift_matches_exact(v in wide_i64(), s in wide_shift()) {
        prop_assert_eq!(round_shift(v, s), ref_round_shift(v, s), "v={} s={}", v, s);
    }

    /// Ties (and their neighbours) round away from zero, symmetrically in sign.
    #[test]
    fn round_shift_ties_away_from_zero((v, s) in near_tie()) {
        let r = round_shift(v, s);
        prop_assert_eq!(r, ref_round_shift(v, s), "v={} s={}", v, s);
        if v != i64::MIN {
            prop_assert_eq!(round_shift(-v, s), -r, "odd symmetry, v={} s={}", v, s);
        }
    }

    /// `saturate` clamps to `±(2^(b-1) - 1)` on every bitwidth 2..=31.
    #[test]
    fn saturate_matches_clamp(v in wide_i64(), bits in 2u8..=31) {
        let r = saturate(v, bits);
        prop_assert_eq!(r as i128, ref_saturate(v as i128, bits));
        prop_assert_eq!(qmin(bits), -qmax(bits));
        prop_assert!(r >= qmin(bits) && r <= qmax(bits));
    }

    /// `Requant::apply` equals the exact `round_half_away(v * mult / 2^shift)` (the product in
    /// i128, FIXED_POINT.md "Requantization") saturated to i64, for any i64; saturated to a
    /// bitwidth it equals the exact clamped result.
    #[test]
    fn requant_apply_matches_exact(rq in requant_params(), v in wide_i64(), bits in bits()) {
        let got = rq.apply(v);
        let prod = v as i128 * rq.mult as i128;
        let exact = if rq.shift > 0 {
            ref_div_pow2(prod, rq.shift as u32)
        } else {
            prod << (-rq.shift)
        };
        prop_assert_eq!(got as i128, exact.clamp(i64::MIN as i128, i64::MAX as i128), "rq={:?} v={}", rq, v);
        prop_assert_eq!(saturate(got, bits) as i128, ref_saturate(exact, bits));
    }

    /// `Requant::from_factor`: the nearest `mult / 2^shift` with `mult ∈ [2^14, 2^15)` and
    /// `shift <= 62`, so the relative error is at most 2^-15; negative factors negate `mult`.
    #[test]
    fn requant_from_factor_is_nearest_15_bit(f in factor(), neg in any::<bool>()) {
        let r = Requant::from_factor(if neg { -f } else { f });
        let m = r.mult.unsigned_abs() as i64;
        prop_assert_eq!(r.mult < 0, neg && r.mult != 0);
        if f >= 2f64.powi(-48) {
            prop_assert!(r.mult != 0, "f={} gave zero", f);
        }
        if r.mult == 0 {
            prop_assert!(f < 2f64.powi(-48), "f={} gave zero", f);
            prop_assert_eq!(r.shift, 0);
        } else {
            prop_assert!((1 << (REQUANT_BITS - 1)..1 << REQUANT_BITS).contains(&m), "{:?}", r);
            prop_assert!(r.shift <= 62, "{:?}", r);
            // f * 2^shift is exact in f64 (a power-of-two scaling): mult is its nearest integer.
            let target = f * 2f64.powi(r.shift);
            prop_assert!((m as f64 - target).abs() <= 0.5, "f={} {:?}", f, r);
            let rel = (r.factor().abs() - f).abs() / f;
            prop_assert!(rel <= 2f64.powi(-REQUANT_BITS), "f={} {:?} rel={}", f, r, rel);
        }
    }

    /// Any positive finite f64 (subnormal to f64::MAX) gives a valid multiplier or zero.
    #[test]
    fn requant_from_any_positive_f64(f in prop::num::f64::POSITIVE | prop::num::f64::SUBNORMAL) {
        let r = Requant::from_factor(f);
        if r.mult != 0 {
            prop_assert!((1 << 14..1 << 15).contains(&r.mult), "f={} {:?}", f, r);
            prop_assert!(r.shift <= 62);
            let rel = (r.factor() - f).abs() / f;
            prop_assert!(rel <= 2f64.powi(-15), "f={} {:?}", f, r);
        } else {
            prop_assert!(f < 2f64.powi(-48), "f={} gave zero", f);
        }
    }

    /// End to end: requantizing an int16 x int16 product by `from_factor(f)` lands within
    /// half a step plus the 2^-15 relative multiplier error of the real `v * f`.
    #[test]
    fn requant_apply_approximates_real_product(
        v in -(1i64 << 30)..(1i64 << 30),
        // Factors whose multiplier is not 0 (shift <= 62) and whose product with v stays below
        // 2^62 (beyond it `apply` saturates; checked by requant_apply_matches_exact). Drawing
        // from all of `factor()` rejected a third of the cases, and 2048 cases then went over
        // proptest's limit of 1024 rejects about half the time.
        f in (1.0f64..2.0, -48i32..=30).prop_map(|(m, e)| m * 2f64.powi(e)),
    ) {
        let r = Requant::from_factor(f);
        prop_assume!(r.mult != 0);
        let real = v as f64 * f;
        // Beyond i64 `apply` saturates (checked exactly by requant_apply_matches_exact).
        prop_assume!(real.abs() < 2f64.powi(62));
        let err = (r.apply(v) as f64 - real).abs();
        let bound = 0.5 + real.abs() * 2f64.powi(-15) + real.abs() * 1e-15;
        prop_assert!(err <= bound, "v={} f={} {:?} err={} bound={}", v, f, r, err, bound);
    }

    /// `AddRequant::apply` equals the exact `round_half_away((a*ma + b*mb) / 2^shift)` on i32
    /// operands (the codes it sees are int4/8/16; i32 leaves the i64 sum far from overflow).
    #[test]
    fn add_requant_apply_matches_exact(
        a in any::<i32>(),
        b in any::<i32>(),
        ma in -(1i32 << 15) + 1..(1i32 << 15),
        mb in -(1i32 << 15) + 1..(1i32 << 15),
        shift in -10i32..=62,
        bits in bits(),
    ) {
        let rq = AddRequant { ma, mb, shift };
        let (a, b) = (a as i64, b as i64);
        let sum = a as i128 * ma as i128 + b as i128 * mb as i128;
        let exact = if shift > 0 { ref_div_pow2(sum, shift as u32) } else { sum << (-shift) };
        let got = rq.apply(a, b);
        prop_assert_eq!(got as i128, exact, "{:?} a={} b={}", rq, a, b);
        prop_assert_eq!(saturate(got, bits) as i128, ref_saturate(exact, bits));
    }

    /// `AddRequant::from_factors`: one shared shift, the larger mantissa in [2^14, 2^15) (unless
    /// the shift is capped at 62), each mantissa the nearest integer to `f * 2^shift`, so each
    /// factor is within `max(|fa|, |fb|) * 2^-15`; signs follow the factors (Sub).
    #[test]
    fn add_requant_from_factors_is_nearest(
        fa in factor(),
        fb in factor(),
        na in any::<bool>(),
        nb in any::<bool>(),
        za in prop::bool::weighted(0.05),
    ) {
        let fa = if za { 0.0 } else if na { -fa } else { fa };
        let fb = if nb { -fb } else { fb };
        let rq = AddRequant::from_factors(fa, fb);
        let big = fa.abs().max(fb.abs());
        let top = rq.ma.unsigned_abs().max(rq.mb.unsigned_abs());
        prop_assert!(rq.shift <= 62, "{:?}", rq);
        prop_assert!(top < 1 << REQUANT_BITS, "{:?}", rq);
        if rq.shift < 62 {
            prop_assert!(top >= 1 << (REQUANT_BITS - 1), "fa={} fb={} {:?}", fa, fb, rq);
        }
        for (f, m) in [(fa, rq.ma), (fb, rq.mb)] {
            let target = f * 2f64.powi(rq.shift);
            prop_assert!((m as f64 - target).abs() <= 0.5, "fa={} fb={} {:?}", fa, fb, rq);
            prop_assert!(m == 0 || (m < 0) == (f < 0.0));
            if rq.shift < 62 {
                let err = (m as f64 * 2f64.powi(-rq.shift) - f).abs();
                prop_assert!(err <= big * 2f64.powi(-REQUANT_BITS), "fa={} fb={} {:?}", fa, fb, rq);
            }
        }
    }

    /// `QParams::quantize` equals the exact `saturate(round_half_away(x * scale * 2^radix))` for
    /// every f32 (NaN -> 0, ±inf -> ±qmax, subnormals, huge values).
    #[test]
    fn quantize_matches_exact(p in qparams(), x in any::<f32>(), k in -40_000i32..=40_000) {
        prop_assert_eq!(p.quantize(x), ref_quantize(x, &p), "x={} {:?}", x, p);
        // Values near the code grid, including exact ties k/2 steps.
        let y = (k as f64 / 2.0 / p.multiplier()) as f32;
        prop_assert_eq!(p.quantize(y), ref_quantize(y, &p), "y={} {:?}", y, p);
        prop_assert_eq!(p.quantize(-y), -p.quantize(y));
    }

    /// Dequantize then quantize gives the code back; quantize then dequantize is within half a
    /// step (plus the f32 rounding of the result) inside the range, and saturates outside.
    #[test]
    fn dequantize_round_trip(p in qparams(), q in -32767i32..=32767, t in -1.5f64..1.5) {
        let q = q.clamp(p.qmin(), p.qmax());
        prop_assert_eq!(p.quantize(p.dequantize(q)), q, "q={} {:?}", q, p);

        let x = (t * p.range() as f64) as f32;
        let d = p.dequantize(p.quantize(x)) as f64;
        let step = 1.0 / p.multiplier();
        if x.abs() <= p.range() {
            let bound = 0.5 * step * (1.0 + 1e-12) + d.abs() * 2f64.powi(-24);
            prop_assert!((d - x as f64).abs() <= bound, "x={} d={} {:?}", x, d, p);
        } else {
            prop_assert_eq!(p.quantize(x), if x > 0.0 { p.qmax() } else { p.qmin() });
        }
    }

    /// `QParams::from_absmax` (FIXED_POINT.md "Number format"): scale in [1, 2) (exactly 1 for
    /// pow2), radix from `(b-1) - ceil(log2(absmax))` (one lower when the scale is bumped), and
    /// absmax lands on qmax.
    #[test]
    fn from_absmax_covers_range(
        m in 1.0f32..2.0,
        e in -60i32..=60,
        bits in bits(),
        pow2 in any::<bool>(),
    ) {
        let absmax = m * 2f32.powi(e);
        prop_assume!(absmax.is_normal());
        let p = QParams::from_absmax(absmax, bits, pow2);
        let r0 = (bits as i32 - 1) - (absmax as f64).log2().ceil() as i32;
        prop_assert_eq!(p.bits, bits);
        let real = absmax as f64 * p.multiplier();
        if pow2 {
            prop_assert_eq!(p.scale, 1.0);
            prop_assert_eq!(p.radix, r0);
            // absmax * 2^radix in (2^(b-2), 2^(b-1)]: at most one step lost to the symmetric range.
            prop_assert!(real > (1u32 << (bits - 2)) as f64 && real <= (1u32 << (bits - 1)) as f64);
        } else {
            prop_assert!(p.scale >= 1.0 && p.scale < 2.0, "absmax={} {:?}", absmax, p);
            prop_assert!(p.radix == r0 || p.radix == r0 - 1, "absmax={} {:?}", absmax, p);
            prop_assert_eq!(p.quantize(absmax), p.qmax(), "absmax={} {:?}", absmax, p);
            prop_assert_eq!(p.quantize(-absmax), p.qmin());
            let rel = (real - p.qmax() as f64).abs() / p.qmax() as f64;
            prop_assert!(rel <= 2f64.powi(-23), "absmax={} {:?} rel={}", absmax, p, rel);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Fixed cases: the documented edges, spelled out.

#[test]
fn documented_edges() {
    // Ties away from zero.
    assert_eq!(round_shift(1, 1), 1);
    assert_eq!(round_shift(-1, 1), -1);
    assert_eq!(round_shift(3, 1), 2);
    assert_eq!(round_shift(-3, 1), -2);
    assert_eq!(round_shift(5, 2), 1); // 1.25
    assert_eq!(round_shift(-6, 2), -2); // -1.5
    // s = 0 is the identity, s < 0 multiplies and saturates.
    assert_eq!(round_shift(i64::MIN, 0), i64::MIN);
    assert_eq!(round_shift(3, -2), 12);
    assert_eq!(round_shift(1 << 62, -1), i64::MAX);
    assert_eq!(round_shift(-(1 << 62), -1), i64::MIN);
    // Bitwidth ranges are symmetric.
    assert_eq!((qmin(4), qmax(4)), (-7, 7));
    assert_eq!((qmin(8), qmax(8)), (-127, 127));
    assert_eq!((qmin(16), qmax(16)), (-32767, 32767));
    assert_eq!(saturate(i64::MIN, 8), -127);
    assert_eq!(saturate(-128, 8), -127);
    // Degenerate factors.
    for f in [0.0, -0.0, f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
        assert_eq!(Requant::from_factor(f), Requant { mult: 0, shift: 0 });
        assert_eq!(
            AddRequant::from_factors(f, f),
            AddRequant {
                ma: 0,
                mb: 0,
                shift: 0
            }
        );
    }
    assert_eq!(
        Requant::from_factor(1.0),
        Requant {
            mult: 1 << 14,
            shift: 14
        }
    );
    // quantize: NaN -> 0, infinities saturate, half a step rounds away from zero.
    let p = QParams {
        bits: 8,
        radix: 0,
        scale: 1.0,
    };
    assert_eq!(p.quantize(f32::NAN), 0);
    assert_eq!(p.quantize(f32::INFINITY), 127);
    assert_eq!(p.quantize(f32::NEG_INFINITY), -127);
    assert_eq!(p.quantize(2.5), 3);
    assert_eq!(p.quantize(-2.5), -3);
    assert_eq!(p.quantize(-1000.0), -127);
    // Degenerate ranges quantize as absmax 1.
    assert_eq!(
        QParams::from_absmax(0.0, 8, false),
        QParams::from_absmax(1.0, 8, false)
    );
    assert_eq!(
        QParams::from_absmax(f32::NAN, 8, true),
        QParams::from_absmax(1.0, 8, true)
    );
}

proptest! {
    /// Packed codes (the BIE layout of Mac weights and quantized constants) round-trip exactly,
    /// at the narrowest width that holds them.
    #[test]
    fn packed_codes_round_trip(codes in prop::collection::vec(any::<i32>().prop_map(|c| c >> (c as u32 % 31)), 0..64)) {
        let q = radix_ir::qmodel::QConst {
            params: QParams::from_absmax(1.0, 8, false),
            data: codes.clone(),
        };
        let json = serde_json::to_string(&q).unwrap();
        let back: radix_ir::qmodel::QConst = serde_json::from_str(&json).unwrap();
        prop_assert_eq!(back.data, codes);
    }
}
