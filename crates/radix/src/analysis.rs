//! `ModelConfig::analysis`: calibrate, quantize, verify, evaluate, seal, report.

use std::path::{Path, PathBuf};
use std::time::Instant;

use ndarray::ArrayD;
use radix_ir::qmodel::{Placement, QKernel, QTensor, QuantModel};
use radix_ir::{Graph, Node, ValueId};
use radix_report::{EvaluatorSummary, NodeRow, RangeHistogram, Report, Summary};
use radix_target::{EvalReport, NodeBits};

use crate::{AnalysisOptions, Error, InputMapping, ModelConfig, ModelSource, Result};

/// What `analysis` produced.
#[derive(Clone, Debug)]
pub struct AnalysisOutput {
    /// The BIE (None in mode 0).
    pub bie_path: Option<PathBuf>,
    pub report_html: PathBuf,
    pub report_json: PathBuf,
    /// Output SNR of fixed vs float in dB (modes 2 and 3).
    pub snr_db: Option<f64>,
    /// Bit-true match of the fast and reference engines (modes 2 and 3).
    pub btm: Option<bool>,
    pub fps: Option<f64>,
    pub warnings: Vec<String>,
}

fn bits_name(b: u8) -> String {
    format!("int{b}")
}

impl ModelConfig {
    /// Runs the analysis per `opts.mode` (0: evaluator only; 1: quantize; 2: + verify one
    /// input; 3: + verify every input with per-layer SNR) and writes into `opts.output_dir`.
    pub fn analysis(
        &self,
        inputs: &InputMapping,
        opts: &AnalysisOptions,
    ) -> Result<AnalysisOutput> {
        let started = Instant::now();
        let ModelSource::Onnx {
            path: onnx_path,
            graph,
            sha256,
        } = &self.source
        else {
            return Err(Error::Other(format!(
                "`{}` is already quantized (BIE); analysis needs the float ONNX model",
                self.name
            )));
        };
        let (cfg, tiling) = opts.resolve(self.platform)?;
        prepare_output_dir(&opts.output_dir)?;
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(opts.threads)
            .build()
            .map_err(|e| Error::Other(e.to_string()))?;
        let mut warnings = Vec::new();
        let mut summary = Summary {
            model_name: self.name.clone(),
            platform: self.platform.number(),
            toolchain_version: env!("CARGO_PKG_VERSION").to_string(),
            mode: opts.mode,
            input_bitwidth: bits_name(cfg.model_in_bits),
            output_bitwidth: bits_name(cfg.model_out_bits),
            datapath_bitwidth: bits_name(cfg.datapath_bits),
            weight_bitwidth: bits_name(cfg.weight_bits),
            cpu_node_bitwidth: bits_name(cfg.cpu_node_bits),
            range_method: opts.datapath_range_method.clone(),
            optimize: opts.optimize,
            onnx_file: onnx_path.display().to_string(),
            ..Default::default()
        };
        let mut g = graph.clone();
        radix_quant::prepare(&mut g);
        // Mode 0: the evaluator only.
        if opts.mode == 0 {
            let eval = radix_target::evaluate(
                &g,
                self.platform,
                &|_| NodeBits::uniform(cfg.datapath_bits),
                tiling,
            )?;
            let nodes = node_rows(&g, None, &eval, None);
            fill_eval(&mut summary, &eval);
            summary.elapsed_s = started.elapsed().as_secs_f64();
            let report = Report {
                summary,
                nodes,
                histograms: Vec::new(),
                evaluator: Some(eval_summary(&eval, tiling)),
            };
            let paths = radix_report::write_report(&report, &opts.output_dir)?;
            return Ok(AnalysisOutput {
                bie_path: None,
                report_html: paths.html,
                report_json: paths.json,
                snr_db: None,
                btm: None,
                fps: Some(eval.total.fps),
                warnings,
            });
        }
        let items = radix_quant::validate_inputs(&g, inputs)?;
        let (quantized, calib) = pool.install(|| -> Result<_> {
            let calib = radix_quant::calibrate(&g, &items, opts.progress)?;
            Ok((radix_quant::quantize(&g, &calib, &cfg)?, calib))
        })?;
        warnings.extend(quantized.warnings.iter().cloned());
        let mut model = quantized.model;
        if let Some(how) = radix_quant::BiasAdjust::from_optimize(opts.optimize) {
            let pb = if opts.progress {
                radix_quant::calibrate::progress(1, "bias adjust")
            } else {
                indicatif_hidden()
            };
            let done = pool.install(|| {
                radix_quant::adjust_bias(&mut model, &items, how, &mut |k, total| {
                    pb.set_length(total as u64);
                    pb.set_position(k as u64);
                })
            })?;
            pb.finish_and_clear();
            summary.bias_adjusted_nodes = Some(done.nodes);
        }
        summary.num_calibration_inputs = items.len();
        // Verification.
        let verify_n = match opts.mode {
            2 => 1,
            3 => items.len(),
            _ => 0,
        };
        let mut layer_snr: Option<Vec<Option<f64>>> = None;
        if verify_n > 0 {
            let v =
                pool.install(|| verify(&model, &items[..verify_n], opts.mode == 3, opts.progress))?;
            summary.btm = Some(v.mismatches.is_empty());
            summary.btm_detail = Some(if v.mismatches.is_empty() {
                format!(
                    "fast and reference engines agree bit for bit on every tensor of {verify_n} input(s)"
                )
            } else {
                format!(
                    "{} tensor(s) differ, first: {}",
                    v.mismatches.len(),
                    v.mismatches[0]
                )
            });
            summary.output_snr_db = v.output_snr.clone();
            summary.snr_db = v.output_snr.iter().map(|(_, s)| *s).reduce(f64::min);
            summary.num_verified_inputs = verify_n;
            if opts.mode == 3 {
                layer_snr = Some(v.layer_snr);
            }
        }
        let bits = |n: &Node| -> NodeBits {
            let i = model.graph.nodes.iter().position(|m| m.name == n.name);
            node_bits(&model, i)
        };
        let eval = radix_target::evaluate(&model.graph, self.platform, &bits, tiling)?;
        fill_eval(&mut summary, &eval);
        // Seal.
        let bie_name = format!("{}.kdp{}.scaled.bie", self.name, self.platform.number());
        let bie_path = opts.output_dir.join(&bie_name);
        let (key, source) = radix_bie::BieKey::resolve(opts.key_file.as_deref())?;
        if let radix_bie::KeySource::UserFile {
            path,
            created: true,
        } = &source
        {
            eprintln!(
                "radix: created a BIE key at {} (keep it to read your BIE files)",
                path.display()
            );
        }
        let header = radix_bie::BieHeader {
            platform: self.platform.number(),
            toolchain_version: format!("radix {}", env!("CARGO_PKG_VERSION")),
            model_name: self.name.clone(),
            options_json: serde_json::to_string(opts).unwrap_or_default(),
            source_sha256: *sha256,
        };
        // Verified: `write_bie` reads the file back, decodes it and compares it with what was
        // sealed before it replaces anything, so a BIE that cannot be read is an error here
        // (`BieError::ReadBack*`, naming the path), never a success.
        radix_bie::write_bie(&bie_path, &header, &model, &key)?;
        summary.bie_file = Some(bie_name);
        summary.warnings = warnings.clone();
        summary.elapsed_s = started.elapsed().as_secs_f64();
        let nodes = node_rows(&model.graph, Some(&model), &eval, layer_snr.as_deref());
        let histograms = histograms(&model, &calib, layer_snr.as_deref());
        let report = Report {
            summary: summary.clone(),
            nodes,
            histograms,
            evaluator: Some(eval_summary(&eval, tiling)),
        };
        let paths = radix_report::write_report(&report, &opts.output_dir)?;
        Ok(AnalysisOutput {
            bie_path: Some(bie_path),
            report_html: paths.html,
            report_json: paths.json,
            snr_db: summary.snr_db,
            btm: summary.btm,
            fps: Some(eval.total.fps),
            warnings,
        })
    }
}

fn prepare_output_dir(dir: &Path) -> Result<()> {
    let err = |msg: String| Error::OutputDir {
        path: dir.display().to_string(),
        msg,
    };
    std::fs::create_dir_all(dir).map_err(|e| err(format!("cannot create it: {e}")))?;
    let probe = dir.join(format!(".radix-write-test-{}", std::process::id()));
    std::fs::write(&probe, b"").map_err(|e| err(format!("not writable: {e}")))?;
    let _ = std::fs::remove_file(&probe);
    Ok(())
}

fn node_bits(model: &QuantModel, i: Option<usize>) -> NodeBits {
    let Some(i) = i else {
        return NodeBits::default();
    };
    let n = &model.graph.nodes[i];
    let in_bits = n
        .inputs
        .first()
        .and_then(|&v| model.params(v))
        .map(|p| p.bits)
        .unwrap_or(8);
    let out_bits = model.params(n.outputs[0]).map(|p| p.bits).unwrap_or(8);
    let weight_bits = match &model.nodes[i].kernel {
        QKernel::Mac { weight_params, .. } => weight_params.first().map(|p| p.bits).unwrap_or(8),
        _ => out_bits,
    };
    NodeBits {
        in_bits,
        out_bits,
        weight_bits,
    }
}

struct Verification {
    mismatches: Vec<String>,
    output_snr: Vec<(String, f64)>,
    layer_snr: Vec<Option<f64>>,
}

/// Runs the fast and the reference engines on `items`, compares every tensor bit for bit, and
/// measures SNR of fixed vs float per output (and per layer when `per_layer`).
fn verify(
    model: &QuantModel,
    items: &[Vec<ArrayD<f32>>],
    per_layer: bool,
    progress: bool,
) -> Result<Verification> {
    let g = &model.graph;
    let fast = radix_sim::FixedEngine::new(model)?;
    let float = radix_sim::FloatEngine::new(g)?;
    let nv = g.values.len();
    let (mut sig, mut err) = (vec![0f64; nv], vec![0f64; nv]);
    let mut mismatches = Vec::new();
    let pb = if progress {
        radix_quant::calibrate::progress(items.len(), "verifying")
    } else {
        indicatif_hidden()
    };
    for (k, item) in items.iter().enumerate() {
        let mut fast_t: Vec<Option<QTensor>> = vec![None; nv];
        let mut obs = |id: ValueId, t: &QTensor| fast_t[id.0] = Some(t.clone());
        fast.run_observed(item, Some(&mut obs))?;
        let mut ref_t: Vec<Option<QTensor>> = vec![None; nv];
        radix_sim::reference::run_reference(model, item, &mut |id: ValueId, t: &QTensor| {
            ref_t[id.0] = Some(t.clone())
        })
        .map_err(|e| Error::Other(format!("reference engine: {e}")))?;
        for (i, (a, b)) in fast_t.iter().zip(&ref_t).enumerate() {
            if let (Some(a), Some(b)) = (a, b)
                && a != b
            {
                let n = a.data.iter().zip(&b.data).filter(|(x, y)| x != y).count();
                mismatches.push(format!(
                    "input {k}, tensor `{}`: {n} of {} values differ",
                    g.value(ValueId(i)).name,
                    a.data.len()
                ));
            }
        }
        let wanted: Vec<bool> = (0..nv)
            .map(|i| per_layer || g.outputs.contains(&ValueId(i)))
            .collect();
        float.run_observed(item, &mut |id: ValueId, f: &ArrayD<f32>| {
            if !wanted[id.0] {
                return;
            }
            if let (Some(q), Some(p)) = (&fast_t[id.0], model.params(id)) {
                for (&x, &qv) in f.iter().zip(&q.data) {
                    let d = p.dequantize(qv) as f64;
                    sig[id.0] += (x as f64) * (x as f64);
                    err[id.0] += (x as f64 - d) * (x as f64 - d);
                }
            }
        })?;
        pb.inc(1);
    }
    pb.finish_and_clear();
    let snr = |i: usize| -> Option<f64> {
        if sig[i] == 0.0 && err[i] == 0.0 {
            return None;
        }
        Some(if err[i] == 0.0 {
            f64::INFINITY
        } else {
            10.0 * (sig[i] / err[i]).log10()
        })
    };
    let output_snr = g
        .outputs
        .iter()
        .filter_map(|&o| snr(o.0).map(|s| (g.value(o).name.clone(), s)))
        .collect();
    let layer_snr = (0..nv).map(snr).collect();
    Ok(Verification {
        mismatches,
        output_snr,
        layer_snr,
    })
}

fn indicatif_hidden() -> radix_quant::calibrate::ProgressBar {
    radix_quant::calibrate::ProgressBar::hidden()
}

fn fill_eval(s: &mut Summary, e: &EvalReport) {
    s.fps = Some(e.total.fps);
    s.itc_ms = Some(e.total.itc_ms);
    s.rdma_gbps = Some(e.total.rdma_used_gbps);
    s.wdma_gbps = Some(e.total.wdma_used_gbps);
    s.getw_gbps = Some(e.total.getw_used_gbps);
    s.rv_mb = Some(e.total.rv_mb);
    s.wv_mb = Some(e.total.wv_mb);
    s.cpu_nodes = e.total.cpu_nodes.clone();
}

fn eval_summary(e: &EvalReport, tiling: radix_target::CompilerTiling) -> EvaluatorSummary {
    EvaluatorSummary {
        compiler_tiling: tiling.as_str().to_string(),
        total_macs: e.total.total_macs,
        npu_nodes: e.total.npu_nodes.len(),
        cpu_nodes: e.total.cpu_nodes.len(),
        notes: vec!["Estimated by Radix's open cost model (crates/radix-target/EVALUATOR.md); not a hardware measurement.".into()],
    }
}

fn node_rows(
    g: &Graph,
    model: Option<&QuantModel>,
    eval: &EvalReport,
    layer_snr: Option<&[Option<f64>]>,
) -> Vec<NodeRow> {
    g.nodes
        .iter()
        .enumerate()
        .map(|(i, n)| {
            let out = n.outputs[0];
            let c = eval.node(&n.name);
            let q = model.map(|m| (m, &m.nodes[i]));
            let params = model.and_then(|m| m.params(out));
            let cpu = q
                .map(|(_, qn)| qn.placement == Placement::Cpu)
                .unwrap_or(c.map(|c| c.kind == "CPU").unwrap_or(false));
            NodeRow {
                name: n.name.clone(),
                origin: n.origin.clone(),
                node_type: if cpu {
                    "CPU".into()
                } else if n.is_fused() {
                    "FUSED".into()
                } else {
                    "NPU".into()
                },
                op: n.op.type_name().into(),
                backend: Some(if cpu {
                    "cpu-float".into()
                } else {
                    "npu-fixed".into()
                }),
                bw_in: n
                    .inputs
                    .iter()
                    .filter_map(|&v| model.and_then(|m| m.params(v)).map(|p| p.bits as u32))
                    .collect(),
                bw_out: params.map(|p| p.bits as u32).unwrap_or(0),
                bw_weight: q.and_then(|(_, qn)| match &qn.kernel {
                    QKernel::Mac { weight_params, .. } => {
                        weight_params.first().map(|p| p.bits as u32)
                    }
                    _ => None,
                }),
                snr_db: layer_snr.and_then(|s| s.get(out.0).copied().flatten()),
                range: params.map(|p| (-p.range(), p.range())),
                radix: params.map(|p| p.radix),
                scale: params.map(|p| p.scale),
                macs: c.map(|c| c.macs),
                mac_cycles: c.map(|c| c.mac_cycles as u64),
                mac_runtime_ms: c.map(|c| c.mac_runtime_ms),
                rdma_bytes: c.map(|c| c.rdma_bytes),
                wdma_bytes: c.map(|c| c.wdma_bytes),
                rdma_runtime_ms: c.map(|c| c.rdma_runtime_ms),
                wdma_runtime_ms: c.map(|c| c.wdma_runtime_ms),
                weight_bytes: c.map(|c| c.weight_bytes),
                cfunc_runtime_ms: c.map(|c| c.cfunc_runtime_ms),
                pfunc_runtime_ms: c.map(|c| c.pfunc_runtime_ms),
                runtime_ms: c.map(|c| c.runtime_ms),
                sync_runtime_ms: c.map(|c| c.sync_runtime_ms),
            }
        })
        .collect()
}

/// Range histograms of the worst layers (by SNR when measured, else the first layers).
fn histograms(
    model: &QuantModel,
    calib: &radix_quant::Calibration,
    layer_snr: Option<&[Option<f64>]>,
) -> Vec<RangeHistogram> {
    let g = &model.graph;
    let mut outs: Vec<ValueId> = g.nodes.iter().map(|n| n.outputs[0]).collect();
    if let Some(s) = layer_snr {
        outs.sort_by(|a, b| {
            s[a.0]
                .unwrap_or(f64::INFINITY)
                .total_cmp(&s[b.0].unwrap_or(f64::INFINITY))
        });
    }
    outs.into_iter()
        .take(8)
        .filter_map(|v| {
            let st = calib.stats.get(v.0)?.as_ref()?;
            let p = model.params(v)?;
            // A histogram of |x| (the statistics are of magnitudes): bins over [0, max|x|].
            let max = st.max_abs()?;
            let nb = 48;
            let mut bins = vec![0u64; nb];
            let width = (max as f64 / nb as f64).max(f64::MIN_POSITIVE);
            for b in st.bins() {
                let centre = (b.lo as f64 + b.hi as f64) / 2.0;
                let k = ((centre / width) as usize).min(nb - 1);
                bins[k] += b.count;
            }
            Some(RangeHistogram {
                tensor: format!("|{}|", g.value(v).name),
                min: 0.0,
                max,
                clip_low: 0.0,
                clip_high: p.range(),
                bins,
                snr_db: layer_snr.and_then(|s| s[v.0]),
            })
        })
        .collect()
}
