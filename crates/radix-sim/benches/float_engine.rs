//! Float engine latency on MobileNetV2 (one 224x224 photo, batch 1) with a 2-thread rayon pool,
//! the setting compared against onnxruntime in docs/BENCHMARKS.md.

use std::path::PathBuf;

use criterion::{Criterion, criterion_group, criterion_main};
use ndarray::{Array4, ArrayD, s};
use radix_sim::FloatEngine;

fn fixture(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures")
        .join(rel)
}

fn first_photo() -> ArrayD<f32> {
    const MEAN: [f32; 3] = [0.485, 0.456, 0.406];
    const STD: [f32; 3] = [0.229, 0.224, 0.225];
    let photos: Array4<u8> =
        ndarray_npy::read_npy(fixture("images/photos_224_uint8_nhwc.npy")).expect("photos");
    let p = photos.slice(s![0..1, .., .., ..]);
    let (n, h, w, _) = p.dim();
    let mut x = Array4::<f32>::zeros((n, 3, h, w));
    for ((i, y, xx, c), &v) in p.indexed_iter() {
        x[[i, c, y, xx]] = (v as f32 / 255.0 - MEAN[c]) / STD[c];
    }
    x.into_dyn()
}

fn mobilenetv2(c: &mut Criterion) {
    let mut graph = radix_onnx::import_path(&fixture("models/mobilenetv2.onnx")).expect("import");
    radix_ir::passes::optimize(&mut graph).expect("optimize");
    let engine = FloatEngine::new(&graph).expect("engine");
    let x = [first_photo()];
    for threads in [2, 1] {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .expect("pool");
        c.bench_function(
            &format!("float_engine/mobilenetv2_224/threads_{threads}"),
            |b| b.iter(|| pool.install(|| engine.run(&x)).expect("run")),
        );
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30);
    targets = mobilenetv2
}
criterion_main!(benches);
