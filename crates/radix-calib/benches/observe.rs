//! Throughput of `TensorStats::observe` (values/s) on activation-like data, plus the cost of the
//! range methods on the resulting statistics.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use radix_calib::{Mmse, Percentage, RangeMethod, TensorStats};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const N: usize = 1 << 20;

/// Roughly Gaussian values (sum of 4 uniforms), optionally ReLU'd (half zeros).
fn data(relu: bool) -> Vec<f32> {
    let mut rng = StdRng::seed_from_u64(7);
    (0..N)
        .map(|_| {
            let v: f32 = (0..4).map(|_| rng.random::<f32>() - 0.5).sum::<f32>() * 3.0;
            if relu { v.max(0.0) } else { v }
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("observe");
    g.throughput(Throughput::Elements(N as u64));
    for (name, relu) in [("gaussian", false), ("relu", true)] {
        let d = data(relu);
        let mut stats = TensorStats::from_slice(&d).expect("finite");
        g.bench_function(name, |b| {
            b.iter(|| stats.observe(black_box(&d)).expect("finite"))
        });
    }
    g.finish();

    let stats = TensorStats::from_slice(&data(false)).expect("finite");
    c.bench_function("percentage_absmax", |b| {
        b.iter(|| Percentage::default().absmax(black_box(&stats), 8))
    });
    c.bench_function("mmse_absmax_int8", |b| {
        b.iter(|| Mmse::default().absmax(black_box(&stats), 8))
    });
    c.bench_function("mmse_absmax_int16", |b| {
        b.iter(|| Mmse::default().absmax(black_box(&stats), 16))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
