//! `cargo xtask btm`: bit-true match of the fast fixed-point engine against the reference engine on
//! every tensor of every fixture model, for KL520 int8 and KL720 int8 and int16 (KL520 has no
//! 16-bit datapath). Each model is calibrated on its own fixture inputs and checked on them.

use std::path::Path;
use std::time::Instant;

use ndarray::{Array3, Array4, ArrayD, Axis};
use radix_ir::ValueId;
use radix_quant::{Calibrated, QuantConfig};
use radix_sim::Engine;
use radix_target::Platform;

use crate::R;

/// Models also checked in the mixed bitwidth modes (mix light, mix balance, mixbw).
const MIXED_MODELS: &[&str] = &["mobilenetv2", "ppocrv4_det"];

struct Fixture {
    name: &'static str,
    file: &'static str,
    /// A fixed input shape for models with dynamic dimensions.
    shape: Option<(&'static str, Vec<usize>)>,
    items: Vec<Vec<ArrayD<f32>>>,
}

fn npy<T: ndarray_npy::ReadableElement, D: ndarray::Dimension>(
    root: &Path,
    rel: &str,
) -> R<ndarray::Array<T, D>> {
    ndarray_npy::read_npy(root.join(rel)).map_err(|e| format!("{rel}: {e}"))
}

/// Fixture inputs, built with the formulas of fixtures/README.md.
fn fixtures(root: &Path, per_model: usize) -> R<Vec<Fixture>> {
    let photos: Vec<Vec<ArrayD<f32>>> = crate::bundled_photos()?
        .into_iter()
        .take(per_model)
        .map(|p| vec![p])
        .collect();
    let page: Array3<u8> = npy(root, "fixtures/reference/ppocr_page_rgb_u8.npy")?;
    let page = Array4::from_shape_fn((1, 3, 640, 640), |(_, c, y, x)| {
        (page[[y, x, 2 - c]] as f32 / 255.0 - 0.5) / 0.5
    });
    let astro: Array3<u8> = npy(root, "fixtures/reference/mtcnn_pnet_astronaut_rgb_u8.npy")?;
    let astro = Array4::from_shape_fn((1, 3, 72, 96), |(_, c, y, x)| {
        (astro[[y, x, c]] as f32 - 127.5) / 128.0
    });
    let lfw = |size: usize| -> R<Vec<Vec<ArrayD<f32>>>> {
        let u: Array3<u8> = npy(root, &format!("fixtures/reference/mtcnn_lfw{size}_u8.npy"))?;
        Ok(u.axis_iter(Axis(0))
            .step_by(200 / per_model.max(1))
            .take(per_model)
            .map(|p| {
                let a = Array4::from_shape_fn((1, 3, size, size), |(_, _, y, x)| {
                    (p[[y, x]] as f32 / 255.0 * 255.0 - 127.5) / 128.0
                });
                vec![a.into_dyn()]
            })
            .collect())
    };
    Ok(vec![
        Fixture {
            name: "mobilenetv2",
            file: "mobilenetv2.onnx",
            shape: None,
            items: photos,
        },
        Fixture {
            name: "ppocrv4_det",
            file: "ppocrv4_det.onnx",
            shape: None,
            items: vec![vec![page.into_dyn()]],
        },
        Fixture {
            name: "mtcnn_pnet",
            file: "mtcnn_pnet.onnx",
            shape: Some(("input", vec![1, 3, 72, 96])),
            items: vec![vec![astro.into_dyn()]],
        },
        Fixture {
            name: "mtcnn_rnet",
            file: "mtcnn_rnet.onnx",
            shape: None,
            items: lfw(24)?,
        },
        Fixture {
            name: "mtcnn_onet",
            file: "mtcnn_onet.onnx",
            shape: None,
            items: lfw(48)?,
        },
    ])
}

/// Runs the check; returns an error naming every configuration that differs.
pub(crate) fn btm(per_model: usize, only: Option<&str>, profile: bool) -> R<()> {
    let root = crate::workspace_root();
    let mut failures = Vec::new();
    println!("bit-true match, fast vs reference engine, every tensor of every input");
    println!(
        "{:<12} {:>4} {:>11} {:>7} {:>10} {:>9} {:>9}  result",
        "model", "kl", "bits", "inputs", "tensors", "fast ms", "ref ms"
    );
    for fx in fixtures(&root, per_model)? {
        if only.is_some_and(|m| m != fx.name) {
            continue;
        }
        let mut opts = radix_onnx::ImportOptions::default();
        if let Some((name, shape)) = &fx.shape {
            opts.input_shapes.insert((*name).to_string(), shape.clone());
        }
        let path = root.join("fixtures/models").join(fx.file);
        let model =
            radix::ModelConfig::from_onnx_with(&path, 720, &opts).map_err(|e| e.to_string())?;
        let calibrated = Calibrated::new(model.graph(), &fx.items, &radix_quant::Silent)
            .map_err(|e| format!("{}: {e}", fx.name))?;
        let mut configs: Vec<(Platform, String, QuantConfig)> = [
            (Platform::Kl520, 8u8),
            (Platform::Kl720, 8),
            (Platform::Kl720, 16),
        ]
        .into_iter()
        .map(|(p, bits)| (p, format!("int{bits}"), QuantConfig::uniform(p, bits)))
        .collect();
        if MIXED_MODELS.contains(&fx.name) {
            // The mixed modes: 8<->16-bit boundaries everywhere the policies put them.
            for (name, mode) in [
                ("mix light", radix::Bitwidths::MixLight),
                ("mix balance", radix::Bitwidths::MixBalance),
                ("mixbw 0.2", radix::Bitwidths::MixBw),
            ] {
                let mut cfg = QuantConfig::uniform(Platform::Kl720, mode.default_bits().0);
                let request = radix::MixRequest {
                    bitwidths: mode,
                    flops_ratio: 0.2,
                    budget: None,
                    tiling: radix::CompilerTiling::Default,
                };
                let m = radix::allocate_bits(
                    &calibrated,
                    &cfg,
                    &fx.items,
                    &request,
                    &radix_quant::Silent,
                )
                .map_err(|e| format!("{} {name}: {e}", fx.name))?;
                cfg.assignment = Some(std::sync::Arc::new(m.allocation.assignment));
                configs.push((Platform::Kl720, name.to_string(), cfg));
            }
        }
        for (platform, label, cfg) in configs {
            let q = calibrated
                .quantize(&cfg)
                .map_err(|e| format!("{}: {e}", fx.name))?
                .model;
            let fast = radix_sim::FixedEngine::new(&q).map_err(|e| e.to_string())?;
            let reference = radix_sim::ReferenceEngine::new(&q).map_err(|e| e.to_string())?;
            let (mut tensors, mut differing) = (0usize, Vec::new());
            let (mut t_fast, mut t_ref) = (0f64, 0f64);
            for (k, item) in fx.items.iter().enumerate() {
                let c = radix_sim::compare::compare_item(&q, &fast, &reference, k, item)
                    .map_err(|e| format!("{}: {e}", fx.name))?;
                t_fast += c.fast.seconds;
                t_ref += c.reference_seconds;
                tensors += c.compared;
                differing.extend(c.diffs.iter().map(|d| d.describe(&q)));
                if profile && k == 0 {
                    print_slowest_nodes(&q, &fast, item)
                        .map_err(|e| format!("{}: {e}", fx.name))?;
                }
            }
            let n = fx.items.len() as f64;
            println!(
                "{:<12} {:>4} {:>11} {:>7} {:>10} {:>9.2} {:>9.1}  {}",
                fx.name,
                platform.number(),
                label,
                fx.items.len(),
                tensors,
                t_fast * 1e3 / n,
                t_ref * 1e3 / n,
                if differing.is_empty() {
                    "identical".to_string()
                } else {
                    format!("DIFFER ({})", differing.len())
                }
            );
            for d in differing.iter().take(5) {
                println!("    {d}");
            }
            if !differing.is_empty() {
                failures.push(format!("{} KL{} {label}", fx.name, platform.number()));
            }
        }
    }
    if failures.is_empty() {
        println!("all identical");
        Ok(())
    } else {
        Err(format!("bit-true match failed: {}", failures.join(", ")))
    }
}

/// Runs `item` once more, timing every node of the fast engine, and prints the slowest eight.
fn print_slowest_nodes(
    q: &radix_ir::qmodel::QuantModel,
    fast: &radix_sim::FixedEngine,
    item: &[ndarray::ArrayD<f32>],
) -> Result<(), radix_sim::SimError> {
    let mut last = Instant::now();
    let mut spent: Vec<(f64, usize)> = Vec::new();
    fast.run_observing(item, &mut |id, _| {
        spent.push((last.elapsed().as_secs_f64() * 1e3, id.0));
        last = Instant::now();
    })?;
    spent.sort_by(|x, y| y.0.total_cmp(&x.0));
    for (ms, v) in spent.iter().take(8) {
        let node = q
            .graph
            .nodes
            .iter()
            .find(|nd| nd.outputs.contains(&ValueId(*v)));
        let desc = node
            .map(|nd| {
                let shapes: Vec<_> = nd
                    .inputs
                    .iter()
                    .map(|&i| q.graph.shape(i).to_vec())
                    .collect();
                format!("{} {shapes:?}", nd.op.type_name())
            })
            .unwrap_or_else(|| "input".into());
        println!("    fast {ms:8.2} ms  {desc}");
    }
    Ok(())
}
