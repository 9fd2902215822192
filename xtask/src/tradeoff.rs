//! `cargo xtask tradeoff`: the accuracy / speed trade-off of the bitwidth modes on the bundled
//! MobileNetV2, measured on photos the calibration did not see: calibrated on the 11 even
//! photos, output SNR against float on the 11 odd ones, FPS from the IP evaluator, and the share
//! of MACs at 16 bits. Modes: int8, mix light, mixbw at several flops_ratio, mix balance, int16.

use std::time::Instant;

use ndarray::ArrayD;
use radix::{
    AnalysisOptions, BitwidthMode, CompilerTiling, InputMapping, Model, ModelConfig, Runner,
};

use crate::R;

/// One row of the table.
struct Row {
    mode: String,
    snr_db: f64,
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

/// Worst output SNR (dB) of `runner` against the float outputs over `items`.
fn held_out_snr(runner: &Runner, items: &[ArrayD<f32>], float: &[Vec<ArrayD<f32>>]) -> R<f64> {
    let fixed: Vec<Vec<ArrayD<f32>>> = items
        .iter()
        .map(|x| {
            runner
                .run(std::slice::from_ref(x), &[])
                .map_err(|e| e.to_string())
        })
        .collect::<R<_>>()?;
    Ok((0..float[0].len())
        .map(|k| radix_calib::output_sqnr_db(float, &fixed, k))
        .fold(f64::INFINITY, f64::min))
}

pub(crate) fn tradeoff(platform: u32, ratios: &[f64]) -> R<()> {
    let root = crate::workspace_root();
    let km = ModelConfig::from_onnx(root.join("fixtures/models/mobilenetv2.onnx"), platform)
        .map_err(|e| e.to_string())?;
    let photos = crate::bundled_photos()?;
    let (even, odd): (Vec<_>, Vec<_>) = photos
        .into_iter()
        .enumerate()
        .partition(|(i, _)| i % 2 == 0);
    let calib: Vec<ArrayD<f32>> = even.into_iter().map(|(_, x)| x).collect();
    let held_out: Vec<ArrayD<f32>> = odd.into_iter().map(|(_, x)| x).collect();
    let mut mapping = InputMapping::new();
    mapping.insert("input", calib);
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
        let snr_db = held_out_snr(&runner, &held_out, &float)?;
        let eval = radix::estimate(&q.model, km.platform, CompilerTiling::Default)
            .map_err(|e| e.to_string())?;
        let share_16 = match (&q.mixed, opts.datapath_bitwidth_mode) {
            (Some(m), _) => m.allocation.sixteen_bit_mac_share(),
            (None, Int16) => 1.0,
            (None, _) => 0.0,
        };
        println!(
            "{mode:<12} SNR {snr_db:6.2} dB  {:7.1} fps  16-bit MACs {:5.1}%  ({seconds:.1} s)",
            eval.total.fps,
            100.0 * share_16
        );
        rows.push(Row {
            mode,
            snr_db,
            fps: eval.total.fps,
            share_16,
            seconds,
        });
    }
    println!("\n| mode | held-out SNR (dB) | est. FPS | 16-bit MAC share | quantize time (s) |");
    println!("|---|---|---|---|---|");
    for r in &rows {
        println!(
            "| {} | {:.2} | {:.1} | {:.1}% | {:.1} |",
            r.mode,
            r.snr_db,
            r.fps,
            100.0 * r.share_16,
            r.seconds
        );
    }
    Ok(())
}
