//! Peak memory of calibration vs the number of inputs (issue 3):
//! `cargo run --release -p radix-quant --example calib_mem -- 22` and `-- 220`.
//! Inputs are produced on demand from the bundled photos (item i = photo i % 22, shifted by
//! i / 22 pixels), so the process holds only the items in flight; prints VmHWM (max RSS).
use ndarray::{Array4, Axis};
use radix_quant::*;

fn main() {
    // Same allocator setting as `cargo xtask` (see xtask/src/main.rs): fixed mmap threshold, so
    // large tensors go back to the OS instead of fragmenting the heap.
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes a malloc tuning parameter.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 128 * 1024);
    }
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(22);
    let threads: usize = std::env::args()
        .nth(2)
        .and_then(|s| s.parse().ok())
        .unwrap_or(2);
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures");
    let mut g = radix_onnx::import_path(&root.join("models/mobilenetv2.onnx")).expect("model");
    radix_ir::passes::optimize(&mut g).expect("optimize");
    prepare(&mut g);
    let raw: ndarray::Array4<u8> =
        ndarray_npy::read_npy(root.join("images/photos_224_uint8_nhwc.npy")).expect("photos");
    let (mean, std) = ([0.485f32, 0.456, 0.406], [0.229f32, 0.224, 0.225]);
    let get = |i: usize| -> Result<Vec<ndarray::ArrayD<f32>>, QuantError> {
        let img = raw.index_axis(Axis(0), i % 22);
        let shift = i / 22;
        Ok(vec![
            Array4::from_shape_fn((1, 3, 224, 224), |(_, c, y, x)| {
                (img[[y, (x + shift) % 224, c]] as f32 / 255.0 - mean[c]) / std[c]
            })
            .into_dyn(),
        ])
    };
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("pool");
    let t = std::time::Instant::now();
    let calib = pool
        .install(|| calibrate_with(&g, n, &get, &radix_quant::Silent))
        .expect("calibrate");
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let hwm = status
        .lines()
        .find(|l| l.starts_with("VmHWM"))
        .unwrap_or("VmHWM: ?");
    println!(
        "inputs {n}: {:.2}s, {} tensors, {hwm}",
        t.elapsed().as_secs_f64(),
        calib.stats.iter().flatten().count()
    );
}
