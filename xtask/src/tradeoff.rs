//! `cargo xtask tradeoff`: the accuracy / speed trade-off of the bitwidth modes, measured on
//! inputs the calibration did not see (calibrated on the even items, measured on the odd ones):
//! output SNR against float, FPS from the IP evaluator, the share of MACs at 16 bits, and for
//! the text detector the IoU of its binarized probability map (> 0.3) with float's. Models: the
//! bundled MobileNetV2 (22 photos), PP-OCRv4 det (the bundled text page in 16 tiles of 160x160)
//! and MTCNN O-Net (40 LFW face crops). Modes: int8, mix light, mixbw at several
//! flops_ratio, mix balance, int16.

use std::time::Instant;

use ndarray::{Array3, Array4, ArrayD, Axis};
use radix::{
    AnalysisOptions, BitwidthMode, CompilerTiling, InputMapping, Model, ModelConfig, Runner,
};

use crate::R;

/// A model and its inputs (one array per item; the model has one input).
struct Subject {
    file: &'static str,
    shape: Option<(&'static str, Vec<usize>)>,
    items: Vec<ArrayD<f32>>,
    /// Also the IoU of the binarized output map (a text detector).
    iou: bool,
}

fn subject(name: &str) -> R<Subject> {
    let root = crate::workspace_root();
    let photos = || crate::bundled_photos();
    Ok(match name {
        "mobilenetv2" => Subject {
            file: "mobilenetv2.onnx",
            shape: None,
            items: photos()?,
            iou: false,
        },
        "ppocrv4_det" => {
            // The bundled text page cut into 16 tiles of 160x160 (BGR, as PaddleOCR normalises).
            let path = root.join("fixtures/reference/ppocr_page_rgb_u8.npy");
            let page: Array3<u8> = ndarray_npy::read_npy(&path).map_err(|e| e.to_string())?;
            let mut items = Vec::new();
            for ty in 0..4 {
                for tx in 0..4 {
                    items.push(
                        Array4::from_shape_fn((1, 3, 160, 160), |(_, c, y, x)| {
                            (page[[ty * 160 + y, tx * 160 + x, 2 - c]] as f32 / 255.0 - 0.5) / 0.5
                        })
                        .into_dyn(),
                    );
                }
            }
            Subject {
                file: "ppocrv4_det.onnx",
                shape: Some(("x", vec![1, 3, 160, 160])),
                items,
                iou: true,
            }
        }
        "mtcnn_onet" => {
            let path = root.join("fixtures/reference/mtcnn_lfw48_u8.npy");
            let u: Array3<u8> = ndarray_npy::read_npy(&path).map_err(|e| e.to_string())?;
            let items = u
                .axis_iter(Axis(0))
                .step_by(5)
                .take(40)
                .map(|p| {
                    Array4::from_shape_fn((1, 3, 48, 48), |(_, _, y, x)| {
                        (p[[y, x]] as f32 - 127.5) / 128.0
                    })
                    .into_dyn()
                })
                .collect();
            Subject {
                file: "mtcnn_onet.onnx",
                shape: None,
                items,
                iou: false,
            }
        }
        other => {
            return Err(format!(
                "unknown model `{other}`; expected mobilenetv2, ppocrv4_det or mtcnn_onet"
            ));
        }
    })
}

/// IoU of the maps above 0.3 (the first output), fixed vs float, over every item.
fn map_iou(float: &[Vec<ArrayD<f32>>], fixed: &[Vec<ArrayD<f32>>]) -> f64 {
    let (mut inter, mut union) = (0usize, 0usize);
    for (a, b) in float.iter().zip(fixed) {
        for (&x, &y) in a[0].iter().zip(b[0].iter()) {
            let (p, q) = (x > 0.3, y > 0.3);
            inter += usize::from(p && q);
            union += usize::from(p || q);
        }
    }
    if union == 0 {
        1.0
    } else {
        inter as f64 / union as f64
    }
}

/// One row of the table.
struct Row {
    mode: String,
    snr_db: f64,
    iou: Option<f64>,
    fps: f64,
    share_16: f64,
    seconds: f64,
}

fn options(data: BitwidthMode, weight: BitwidthMode, flops_ratio: f64) -> AnalysisOptions {
    let mut o = AnalysisOptions {
        datapath_bitwidth_mode: data,
        weight_bitwidth_mode: weight,
        flops_ratio,
        threads: 2,
        ..Default::default()
    };
    if data == BitwidthMode::Int16 {
        o.model_in_bitwidth_mode = BitwidthMode::Int16;
        o.model_out_bitwidth_mode = BitwidthMode::Int16;
        o.cpu_node_bitwidth_mode = BitwidthMode::Int16;
    }
    o
}

/// Worst output SNR (dB) of `runner` against the float outputs over `items`, and the outputs.
fn held_out_snr(
    runner: &Runner,
    items: &[ArrayD<f32>],
    float: &[Vec<ArrayD<f32>>],
) -> R<(f64, Vec<Vec<ArrayD<f32>>>)> {
    let fixed: Vec<Vec<ArrayD<f32>>> = items
        .iter()
        .map(|x| {
            runner
                .run(std::slice::from_ref(x), &[])
                .map_err(|e| e.to_string())
        })
        .collect::<R<_>>()?;
    let snr = (0..float[0].len())
        .map(|k| radix_calib::output_sqnr_db(float, &fixed, k))
        .fold(f64::INFINITY, f64::min);
    Ok((snr, fixed))
}

pub(crate) fn tradeoff(model: &str, platform: u32, ratios: &[f64]) -> R<()> {
    let root = crate::workspace_root();
    let subject = subject(model)?;
    let mut import = radix::ImportOptions::default();
    if let Some((name, shape)) = &subject.shape {
        import
            .input_shapes
            .insert((*name).to_string(), shape.clone());
    }
    let km = ModelConfig::from_onnx_with(
        root.join("fixtures/models").join(subject.file),
        platform,
        &import,
    )
    .map_err(|e| e.to_string())?;
    let input = km.graph().value(km.graph().inputs[0]).name.clone();
    let (even, odd): (Vec<_>, Vec<_>) = subject
        .items
        .into_iter()
        .enumerate()
        .partition(|(i, _)| i % 2 == 0);
    let calib: Vec<ArrayD<f32>> = even.into_iter().map(|(_, x)| x).collect();
    let held_out: Vec<ArrayD<f32>> = odd.into_iter().map(|(_, x)| x).collect();
    let mut mapping = InputMapping::new();
    mapping.insert(input, calib);
    let float_runner = Runner::new(Model::Onnx(km.graph()), 2).map_err(|e| e.to_string())?;
    let float: Vec<Vec<ArrayD<f32>>> = held_out
        .iter()
        .map(|x| {
            float_runner
                .run(std::slice::from_ref(x), &[])
                .map_err(|e| e.to_string())
        })
        .collect::<R<_>>()?;
    use BitwidthMode::*;
    let mut configs = vec![("int8".to_string(), options(Int8, Int8, 0.2))];
    configs.push(("mix light".into(), options(MixLight, MixLight, 0.2)));
    for &r in ratios {
        configs.push((format!("mixbw {r}"), options(Mixbw, Mixbw, r)));
    }
    configs.push(("mix balance".into(), options(MixBalance, MixBalance, 0.2)));
    configs.push(("int16".into(), options(Int16, Int16, 0.2)));
    let mut rows = Vec::new();
    for (mode, opts) in configs {
        let t = Instant::now();
        let q = km
            .quantize(&mapping, &opts)
            .map_err(|e| format!("{mode}: {e}"))?;
        let seconds = t.elapsed().as_secs_f64();
        let runner = Runner::new(Model::Bie(&q.model), 2).map_err(|e| e.to_string())?;
        let (snr_db, fixed) = held_out_snr(&runner, &held_out, &float)?;
        let iou = subject.iou.then(|| map_iou(&float, &fixed));
        let eval = radix::estimate(&q.model, km.platform, CompilerTiling::Default)
            .map_err(|e| e.to_string())?;
        let share_16 = match (&q.mixed, opts.datapath_bitwidth_mode) {
            (Some(m), _) => m.allocation.sixteen_bit_mac_share(),
            (None, Int16) => 1.0,
            (None, _) => 0.0,
        };
        println!(
            "{mode:<12} SNR {snr_db:6.2} dB  {}{:7.1} fps  16-bit MACs {:5.1}%  ({seconds:.1} s)",
            iou.map(|v| format!("IoU {v:.4}  ")).unwrap_or_default(),
            eval.total.fps,
            100.0 * share_16
        );
        rows.push(Row {
            mode,
            snr_db,
            iou,
            fps: eval.total.fps,
            share_16,
            seconds,
        });
    }
    println!(
        "\n{model} on KL{platform}\n| mode | held-out SNR (dB) | map IoU | est. FPS | 16-bit MAC share | quantize time (s) |"
    );
    println!("|---|---|---|---|---|---|");
    for r in &rows {
        println!(
            "| {} | {:.2} | {} | {:.1} | {:.1}% | {:.1} |",
            r.mode,
            r.snr_db,
            r.iou
                .map(|v| format!("{v:.4}"))
                .unwrap_or_else(|| "-".into()),
            r.fps,
            100.0 * r.share_16,
            r.seconds
        );
    }
    Ok(())
}
