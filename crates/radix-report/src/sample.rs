//! A synthetic but realistic report (a MobileNetV2-like network on KL720), for the example, the
//! tests and documentation. Every number is made up; none of it comes from a real run.

use crate::model::{EvaluatorSummary, NodeRow, RangeHistogram, Report, Summary};

/// Deterministic xorshift generator, so the sample is the same on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Roughly normal (sum of uniforms).
    fn normal(&mut self) -> f64 {
        (0..4).map(|_| self.next()).sum::<f64>() - 2.0
    }
}

/// MACs per NPU cycle and clock of the made-up platform.
const MACS_PER_CYCLE: f64 = 1024.0;
const CYCLES_PER_MS: f64 = 700_000.0;
const DDR_BYTES_PER_MS: f64 = 3.2e6;

struct Layer {
    name: String,
    origin: Vec<String>,
    node_type: &'static str,
    op: &'static str,
    macs: u64,
    in_bytes: u64,
    out_bytes: u64,
    weight_bytes: u64,
}

fn layers(n: usize) -> Vec<Layer> {
    let mut out = Vec::with_capacity(n);
    let (mut hw, mut c) = (112u64, 32u64);
    let mut onnx_id = 0usize;
    let mut next_origin = |k: usize, ops: &[&str]| -> Vec<String> {
        let v = (0..k)
            .map(|j| format!("{}_{}", ops[j % ops.len()], onnx_id + j))
            .collect();
        onnx_id += k;
        v
    };
    out.push(Layer {
        name: "input_transpose".into(),
        origin: next_origin(1, &["Transpose"]),
        node_type: "NPU",
        op: "Transpose",
        macs: 0,
        in_bytes: 224 * 224 * 3,
        out_bytes: 224 * 224 * 3,
        weight_bytes: 0,
    });
    out.push(Layer {
        name: "/features/features.0/Conv".into(),
        origin: next_origin(3, &["Conv", "BatchNormalization", "Clip"]),
        node_type: "NPU",
        op: "Conv",
        macs: hw * hw * c * 3 * 9,
        in_bytes: 224 * 224 * 3,
        out_bytes: hw * hw * c,
        weight_bytes: c * 27,
    });
    let tail = 4usize;
    let mut block = 1usize;
    while out.len() + tail < n {
        let expand = c * 6;
        let stride2 = block.is_multiple_of(4) && hw > 7;
        let ohw = if stride2 { hw / 2 } else { hw };
        let oc = if stride2 { (c * 3 / 2).min(320) } else { c };
        let pre = format!("/features/features.{block}/conv");
        let blk = [
            Layer {
                name: format!("{pre}/conv.0/Conv"),
                origin: next_origin(3, &["Conv", "BatchNormalization", "Clip"]),
                node_type: "NPU",
                op: "Conv",
                macs: hw * hw * c * expand,
                in_bytes: hw * hw * c,
                out_bytes: hw * hw * expand,
                weight_bytes: c * expand,
            },
            Layer {
                name: format!("{pre}/conv.1/Conv"),
                origin: next_origin(3, &["Conv", "BatchNormalization", "Clip"]),
                node_type: "NPU",
                op: "DepthwiseConv",
                macs: ohw * ohw * expand * 9,
                in_bytes: hw * hw * expand,
                out_bytes: ohw * ohw * expand,
                weight_bytes: expand * 9,
            },
            Layer {
                name: format!("{pre}/conv.2/Conv"),
                origin: next_origin(2, &["Conv", "BatchNormalization"]),
                node_type: "NPU",
                op: "Conv",
                macs: ohw * ohw * expand * oc,
                in_bytes: ohw * ohw * expand,
                out_bytes: ohw * ohw * oc,
                weight_bytes: expand * oc,
            },
            // The residual add is fused into the projection conv (no add on stride-2 blocks).
            Layer {
                name: format!("/features/features.{block}/Add"),
                origin: next_origin(1, &["Add"]),
                node_type: "FUSED",
                op: "Add",
                macs: 0,
                in_bytes: 0,
                out_bytes: 0,
                weight_bytes: 0,
            },
        ];
        for layer in blk {
            if out.len() + tail >= n {
                break;
            }
            if layer.op == "Add" && stride2 {
                continue;
            }
            out.push(layer);
        }
        hw = ohw;
        c = oc;
        block += 1;
    }
    let head: [(&str, &'static str, &'static str, u64, u64, u64, u64); 4] = [
        (
            "/features/features.18/Conv",
            "NPU",
            "Conv",
            hw * hw * c * 1280,
            hw * hw * c,
            hw * hw * 1280,
            c * 1280,
        ),
        (
            "/GlobalAveragePool",
            "NPU",
            "GlobalAveragePool",
            hw * hw * 1280,
            hw * hw * 1280,
            1280,
            0,
        ),
        // A name that needs escaping, as exported by some frameworks.
        (
            "classifier<fc>&\"logits\"",
            "NPU",
            "Gemm",
            1280 * 1000,
            1280,
            1000,
            1280 * 1000,
        ),
        ("prob/Softmax", "CPU", "Softmax", 0, 0, 0, 0),
    ];
    for (name, node_type, op, macs, in_bytes, out_bytes, weight_bytes) in head {
        out.push(Layer {
            name: name.to_string(),
            origin: next_origin(1, &[op]),
            node_type,
            op,
            macs,
            in_bytes,
            out_bytes,
            weight_bytes,
        });
    }
    out.truncate(n.max(tail));
    out
}

fn histogram(rng: &mut Rng, tensor: &str, lo: f32, hi: f32, snr: Option<f64>) -> RangeHistogram {
    let bins = 64usize;
    // A ReLU-like activation: mass near zero, long right tail, a few outliers on both sides.
    let zero = if lo < 0.0 {
        ((-lo) / (hi - lo) * bins as f32) as usize
    } else {
        0
    };
    let counts = (0..bins)
        .map(|i| {
            let d = i.abs_diff(zero) as f64;
            let base = 40_000.0 * (-d / 5.0).exp() + 30.0 * rng.next();
            if i < zero {
                (base * 0.2) as u64
            } else {
                base as u64
            }
        })
        .collect();
    let span = hi - lo;
    RangeHistogram {
        tensor: tensor.to_string(),
        min: lo,
        max: hi,
        clip_low: if lo < 0.0 { lo + span * 0.1 } else { lo },
        clip_high: hi - span * 0.22,
        bins: counts,
        snr_db: snr,
    }
}

/// What an analysis `mode` (0..=3) would not have measured, removed from [`sample_report`]:
/// mode 0 has no quantisation at all, mode 1 no SNR and no bit-true check, mode 2 only the
/// output SNR. Other values give the full mode-3 report.
pub fn sample_report_for_mode(n: usize, mode: u8) -> Report {
    let mut r = sample_report(n);
    r.summary.mode = mode;
    if mode <= 2 {
        for node in &mut r.nodes {
            node.snr_db = None;
        }
        for h in &mut r.histograms {
            h.snr_db = None;
        }
        r.summary.num_verified_inputs = if mode == 2 { 1 } else { 0 };
        r.summary.btm_detail = (mode == 2).then(|| "1/1 input bit-identical".to_string());
    }
    if mode <= 1 {
        r.summary.snr_db = None;
        r.summary.output_snr_db.clear();
        r.summary.btm = None;
        r.summary.warnings.retain(|w| !w.contains("SNR"));
    }
    if mode == 0 {
        r.histograms.clear();
        r.summary.bie_file = None;
        r.summary.num_calibration_inputs = 0;
        r.summary.range_method = "none (evaluator only)".into();
        for node in &mut r.nodes {
            node.range = None;
            node.radix = None;
            node.scale = None;
        }
    }
    r
}

/// A sample report with `n` nodes (at least 6), including FUSED and CPU nodes, a bit-exact layer
/// (`+inf` SNR), a layer without SNR, a name that needs HTML escaping and a few bad layers.
pub fn sample_report(n: usize) -> Report {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let layers = layers(n.max(6));
    let count = layers.len();
    let mut nodes = Vec::with_capacity(count);
    let mut histograms = Vec::new();
    for (i, l) in layers.into_iter().enumerate() {
        let depth = i as f64 / count as f64;
        let cpu = l.node_type == "CPU";
        let snr = if i == 0 {
            Some(f64::INFINITY)
        } else if l.op == "GlobalAveragePool" {
            None
        } else {
            let mut v = 42.0 - 22.0 * depth + 2.5 * rng.normal();
            if l.op == "DepthwiseConv" {
                v -= 6.0 + 4.0 * rng.next();
            }
            if i == count * 2 / 3 {
                v = 7.4;
            }
            Some((v * 100.0).round() / 100.0)
        };
        let hi = (3.0 + 9.0 * rng.next()) as f32;
        let lo = if l.op == "Conv" && l.origin.len() == 2 {
            -hi * (0.4 + 0.4 * rng.next() as f32)
        } else {
            0.0
        };
        let radix = (7.0 - f64::from(hi).log2().ceil()) as i32;
        let mac_cycles =
            (l.macs > 0).then(|| (l.macs as f64 / (MACS_PER_CYCLE * 0.82)).ceil() as u64);
        let mac_ms = mac_cycles.map(|c| c as f64 / CYCLES_PER_MS);
        let rdma = (!cpu && l.in_bytes > 0).then_some(l.in_bytes);
        let wdma = (!cpu && l.out_bytes > 0).then_some(l.out_bytes);
        let rdma_ms = rdma.map(|b| b as f64 / DDR_BYTES_PER_MS);
        let wdma_ms = wdma.map(|b| b as f64 / DDR_BYTES_PER_MS);
        let cfunc = (!cpu).then(|| 0.002 + l.out_bytes as f64 / 4.0e8);
        let pfunc = (!cpu && l.op == "GlobalAveragePool").then_some(0.004);
        let parts = [mac_ms, rdma_ms, wdma_ms, cfunc, pfunc];
        let runtime = (!cpu && l.node_type != "FUSED").then(|| parts.iter().flatten().sum::<f64>());
        let sync = runtime.map(|r| {
            let longest = parts.iter().flatten().copied().fold(0.0, f64::max);
            longest + 0.25 * (r - longest)
        });
        if !cpu && l.node_type != "FUSED" && i > 0 {
            histograms.push(histogram(&mut rng, &l.name, lo, hi, snr));
        }
        nodes.push(NodeRow {
            name: l.name,
            origin: l.origin,
            node_type: l.node_type.to_string(),
            op: l.op.to_string(),
            backend: (!cpu).then(|| {
                if l.op == "Add" {
                    "npu_eltwise"
                } else {
                    "npu_conv"
                }
                .to_string()
            }),
            bw_in: vec![if cpu { 32 } else { 8 }],
            bw_out: if cpu { 32 } else { 8 },
            bw_weight: (l.weight_bytes > 0).then_some(8),
            snr_db: snr,
            range: Some((lo, hi)),
            radix: (!cpu).then_some(radix),
            scale: (!cpu).then(|| 127.0 / hi.max(-lo)),
            macs: (!cpu).then_some(l.macs),
            mac_cycles,
            mac_runtime_ms: mac_ms,
            rdma_bytes: rdma,
            wdma_bytes: wdma,
            rdma_runtime_ms: rdma_ms,
            wdma_runtime_ms: wdma_ms,
            weight_bytes: (l.weight_bytes > 0).then_some(l.weight_bytes),
            cfunc_runtime_ms: cfunc,
            pfunc_runtime_ms: pfunc,
            runtime_ms: runtime,
            sync_runtime_ms: sync,
            bound: None,
        });
    }
    let itc: f64 = nodes.iter().filter_map(|n| n.sync_runtime_ms).sum();
    let total_macs: u64 = nodes.iter().filter_map(|n| n.macs).sum();
    let rv: u64 = nodes.iter().filter_map(|n| n.rdma_bytes).sum();
    let wv: u64 = nodes.iter().filter_map(|n| n.wdma_bytes).sum();
    let weights: u64 = nodes.iter().filter_map(|n| n.weight_bytes).sum();
    let cpu_nodes: Vec<String> = nodes
        .iter()
        .filter(|n| n.node_type == "CPU")
        .map(|n| n.name.clone())
        .collect();
    let output_snr = nodes
        .iter()
        .rev()
        .find_map(|n| n.snr_db.filter(|v| v.is_finite()))
        .unwrap_or(0.0);
    let summary = Summary {
        model_name: "mobilenetv2".into(),
        platform: 720,
        toolchain_version: env!("CARGO_PKG_VERSION").into(),
        mode: 3,
        input_bitwidth: "int8".into(),
        output_bitwidth: "int8".into(),
        datapath_bitwidth: "int8".into(),
        weight_bitwidth: "int8".into(),
        cpu_node_bitwidth: "float32".into(),
        range_method: "mmse".into(),
        optimize: 0,
        bias_adjusted_nodes: None,
        num_calibration_inputs: 100,
        num_verified_inputs: 100,
        snr_db: Some(output_snr),
        output_snr_db: vec![("prob".into(), output_snr)],
        btm: Some(true),
        btm_detail: Some("100/100 inputs bit-identical (simulator vs hardware model)".into()),
        fps: Some(1000.0 / itc),
        itc_ms: Some(itc),
        rdma_gbps: Some(rv as f64 / itc / 1e6),
        wdma_gbps: Some(wv as f64 / itc / 1e6),
        getw_gbps: Some(weights as f64 / itc / 1e6),
        rv_mb: Some(rv as f64 / 1e6),
        wv_mb: Some(wv as f64 / 1e6),
        cpu_nodes: cpu_nodes.clone(),
        bie_file: Some("mobilenetv2.kdp720.scaled.bie".into()),
        onnx_file: "mobilenetv2.onnx".into(),
        elapsed_s: 41.7,
        warnings: vec![
            "1 layer below 10 dB SNR: consider mixbw or int16 for it".into(),
            "prob/Softmax runs on the CPU in float32".into(),
        ],
        findings: vec![crate::Finding {
            level: crate::FindingLevel::Warning,
            kind: "low-snr".into(),
            message: "output `prob` is at 8.40 dB vs float (below 10 dB): the fixed-point model may have lost too much accuracy.".into(),
        }],
        mixed_precision: None,
    };
    Report {
        summary,
        nodes,
        histograms,
        evaluator: Some(EvaluatorSummary {
            compiler_tiling: "default".into(),
            total_macs,
            npu_nodes: count - cpu_nodes.len(),
            cpu_nodes: cpu_nodes.len(),
            notes: vec!["sample data: every figure in this report is synthetic".into()],
        }),
    }
}
