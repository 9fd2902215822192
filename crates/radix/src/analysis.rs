//! `ModelConfig::analysis`: calibrate, quantize, verify, evaluate, seal, report.

use std::path::{Path, PathBuf};
use std::time::Instant;

use ndarray::ArrayD;
use radix_ir::qmodel::{Placement, QKernel, QuantModel};
use radix_ir::{Graph, Node, ValueId};
use radix_report::{
    EvaluatorSummary, Finding, FindingLevel, NodeRow, RangeHistogram, Report, Summary,
};
use radix_target::{CompilerTiling, EvalReport, NodeBits, Platform};

use crate::{AnalysisOptions, Error, InputMapping, ModelConfig, ModelSource, Result};

/// What `analysis` produced.
#[derive(Clone, Debug)]
pub struct AnalysisOutput {
    /// The BIE (None in mode 0).
    pub bie_path: Option<PathBuf>,
    /// `model_fx_report.html` in the output folder.
    pub report_html: PathBuf,
    /// `model_fx_report.json`: the same data.
    pub report_json: PathBuf,
    /// Output SNR of fixed vs float in dB (the minimum over the outputs; modes 1-3, on the first
    /// input in modes 1 and 2, on every input in mode 3).
    pub snr_db: Option<f64>,
    /// Bit-true match of the fast and reference engines (modes 2 and 3).
    pub btm: Option<bool>,
    /// Estimated NPU frames per second (the IP evaluator).
    pub fps: Option<f64>,
    /// What the quantizer and the options noticed (one line each).
    pub warnings: Vec<String>,
    /// Quality findings: a bit-true mismatch (error), low output SNR, mixed-range outputs.
    pub findings: Vec<Finding>,
}

impl AnalysisOutput {
    /// True when a finding says the result is wrong (the CLI then exits non-zero).
    pub fn has_errors(&self) -> bool {
        self.findings.iter().any(|f| f.level == FindingLevel::Error)
    }
}

/// A model quantized in memory by [`ModelConfig::quantize`].
#[derive(Clone, Debug)]
pub struct Quantized {
    /// The fixed-point model: run it with [`crate::inference`], seal it with [`crate::bie`].
    pub model: QuantModel,
    /// The per-tensor statistics its ranges were chosen from.
    pub calibration: radix_quant::Calibration,
    /// What the quantizer noticed (e.g. a tensor that never varied).
    pub warnings: Vec<String>,
    /// Nodes whose biases bias adjust changed (`optimize` 1-4), else `None`.
    pub bias_adjusted_nodes: Option<usize>,
    /// The calibration inputs, validated, in graph input order (one `Vec` per item).
    pub items: Vec<Vec<ArrayD<f32>>>,
    /// The mixed-precision decision and its trade-off (a mixed bitwidth mode), else `None`.
    pub mixed: Option<crate::Mixed>,
}

impl ModelConfig {
    /// Quantizes the float model in memory (prepare, calibrate on `inputs`, quantize, and bias
    /// adjust when `opts.optimize` asks for it) and returns the fixed-point model. Nothing is
    /// written; `opts.output_dir` and `opts.mode` are not used. Verification, the performance
    /// estimate, sealing and reports are separate steps ([`ModelConfig::analysis`] composes
    /// them all).
    pub fn quantize(&self, inputs: &InputMapping, opts: &AnalysisOptions) -> Result<Quantized> {
        let ModelSource::Onnx { graph, .. } = &self.source else {
            return Err(Error::Other(format!(
                "`{}` is already quantized (BIE); quantize needs the float ONNX model",
                self.name
            )));
        };
        let resolved = opts.resolve(self.platform)?;
        let pool = thread_pool(opts.threads)?;
        let mut q = pool.install(|| quantize_graph(graph, inputs, &resolved, opts))?;
        q.warnings.splice(0..0, opts.deprecations());
        Ok(q)
    }
}

/// A rayon pool of `threads` workers (1-1024: the one rule for `analysis`, `quantize` and
/// `inference`).
pub(crate) fn thread_pool(threads: usize) -> Result<rayon::ThreadPool> {
    if !(1..=1024).contains(&threads) {
        return Err(Error::Value(format!(
            "threads: {threads} is not in 1..=1024"
        )));
    }
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .map_err(|e| Error::Other(e.to_string()))
}

/// Prepare, calibrate, quantize and bias adjust an optimized float graph (in the caller's
/// thread pool).
fn quantize_graph(
    graph: &Graph,
    inputs: &InputMapping,
    resolved: &crate::options::Resolved,
    opts: &AnalysisOptions,
) -> Result<Quantized> {
    let items = radix_quant::validate_inputs(graph, inputs)?;
    let progress = opts.progress.get();
    let calibrated = radix_quant::Calibrated::new(graph, &items, progress)?;
    let mut cfg = resolved.cfg.clone();
    let mixed = match resolved.bitwidths {
        Some(bitwidths) => {
            let request = crate::MixRequest {
                bitwidths,
                flops_ratio: opts.flops_ratio,
                budget: opts.mixbw_budget,
                tiling: resolved.tiling,
            };
            let m = crate::mixed::allocate_bits(&calibrated, &cfg, &items, &request, progress)?;
            cfg.assignment = Some(std::sync::Arc::new(m.allocation.assignment.clone()));
            Some(m)
        }
        None => None,
    };
    let quantized = calibrated.quantize(&cfg)?;
    let mut model = quantized.model;
    let mut bias_adjusted_nodes = None;
    if let Some(how) = radix_quant::BiasAdjust::from_optimize(opts.optimize) {
        let done = radix_quant::adjust_bias(&mut model, &items, how, &mut |k, total| {
            progress.update("bias adjust", k, total)
        })?;
        bias_adjusted_nodes = Some(done.nodes);
    }
    Ok(Quantized {
        model,
        calibration: calibrated.calibration,
        warnings: quantized.warnings,
        bias_adjusted_nodes,
        items,
        mixed,
    })
}

/// The IP evaluator's estimate for a quantized model: every node costed at the bits the model
/// gives its input, output and weights (mixed models included).
pub fn estimate(
    model: &QuantModel,
    platform: Platform,
    tiling: CompilerTiling,
) -> Result<radix_target::EvalReport> {
    let bits = |n: &Node| -> NodeBits {
        let i = model.graph.nodes.iter().position(|m| m.name == n.name);
        node_bits(model, i)
    };
    Ok(radix_target::evaluate(
        &model.graph,
        platform,
        &bits,
        tiling,
    )?)
}

/// The report's view of a mixed-precision decision.
fn mixed_summary(m: &crate::Mixed) -> radix_report::MixedPrecision {
    let a = &m.allocation;
    let r = &m.request;
    radix_report::MixedPrecision {
        mode: r.bitwidths.as_str().to_string(),
        flops_ratio: (r.bitwidths == crate::Bitwidths::MixBw && r.budget.is_none())
            .then_some(r.flops_ratio),
        sixteen_bit_mac_share: a.sixteen_bit_mac_share(),
        predicted_snr_db: a.predicted_snr_db,
        all_16_snr_db: a.all_16_snr_db,
        layers: a
            .units
            .iter()
            .zip(&a.unit_bits)
            .enumerate()
            .map(|(k, (u, &bits))| {
                let s = a.sensitivity.get(k);
                radix_report::MixedLayer {
                    name: u.name.clone(),
                    macs: u.macs,
                    bits,
                    snr_db_alone_at_8: s.map(|s| s.snr_db_alone_at_8),
                    predicted_snr_db_flipped: s.map(|s| s.predicted_snr_db_flipped),
                }
            })
            .collect(),
        tradeoff: m.tradeoff.clone(),
    }
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
        let resolved = opts.resolve(self.platform)?;
        let (cfg, tiling) = (&resolved.cfg, resolved.tiling);
        prepare_output_dir(&opts.output_dir)?;
        let pool = thread_pool(opts.threads)?;
        let mut warnings = opts.deprecations();
        let mut summary = Summary {
            model_name: self.name.clone(),
            platform: self.platform.number(),
            toolchain_version: env!("CARGO_PKG_VERSION").to_string(),
            mode: opts.mode,
            input_bitwidth: bits_name(cfg.model_in_bits),
            output_bitwidth: bits_name(cfg.model_out_bits),
            // A mixed mode by its name (the bits are per layer).
            datapath_bitwidth: match resolved.bitwidths {
                Some(_) => opts.datapath_bitwidth_mode.to_string(),
                None => bits_name(cfg.datapath_bits),
            },
            weight_bitwidth: match resolved.bitwidths {
                Some(_) => opts.weight_bitwidth_mode.to_string(),
                None => bits_name(cfg.weight_bits),
            },
            cpu_node_bitwidth: bits_name(cfg.cpu_node_bits),
            range_method: opts.datapath_range_method.to_string(),
            optimize: opts.optimize,
            onnx_file: onnx_path.display().to_string(),
            ..Default::default()
        };
        // Mode 0: the evaluator only (on the graph as the quantizer would prepare it).
        if opts.mode == 0 {
            let mut g = graph.clone();
            radix_quant::prepare(&mut g);
            let eval = radix_target::evaluate(
                &g,
                self.platform,
                &|_| NodeBits::uniform(cfg.datapath_bits),
                tiling,
            )?;
            let nodes = node_rows(&g, None, &eval, None);
            fill_eval(&mut summary, &eval);
            summary.warnings = warnings.clone();
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
                findings: Vec::new(),
            });
        }
        let Quantized {
            mut model,
            calibration: calib,
            warnings: quant_warnings,
            bias_adjusted_nodes,
            items,
            mixed,
        } = pool.install(|| quantize_graph(graph, inputs, &resolved, opts))?;
        warnings.extend(quant_warnings);
        summary.bias_adjusted_nodes = bias_adjusted_nodes;
        summary.mixed_precision = mixed.as_ref().map(mixed_summary);
        summary.num_calibration_inputs = items.len();
        // Verification: every quantizing mode measures the fast engine against float on at least
        // the first input (mode 1 too: milliseconds), modes 2 and 3 also check the fast engine
        // bit for bit against the reference engine.
        let verify_n = match opts.mode {
            3 => items.len(),
            _ => 1,
        };
        let check_btm = opts.mode >= 2;
        let mut layer_snr: Option<Vec<Option<f64>>> = None;
        let v = pool.install(|| {
            verify(
                &model,
                &items[..verify_n],
                opts.mode == 3,
                check_btm,
                opts.progress.get(),
            )
        })?;
        if check_btm {
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
        }
        summary.output_snr_db = v.output_snr.clone();
        summary.snr_db = v.output_snr.iter().map(|(_, s)| *s).reduce(f64::min);
        summary.num_verified_inputs = verify_n;
        summary.findings = findings(&model, &v, cfg);
        if opts.mode == 3 {
            layer_snr = Some(v.layer_snr);
        }
        let eval = estimate(&model, self.platform, tiling)?;
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
            warnings.push(format!(
                "created a BIE key at {} (keep it to read your BIE files)",
                path.display()
            ));
        }
        let header = crate::bie::header(
            &model,
            &self.name,
            serde_json::to_string(opts).unwrap_or_default(),
            *sha256,
        );
        // The BIE holds the fixed-point model: Mac kernels carry their weights as integers, so
        // the float copies are left out (everything that reads them has run).
        model.drop_mac_float_weights();
        // Verified: `write_bie` reads the file back, decodes it and compares it with what was
        // sealed before it replaces anything, so a BIE that cannot be read is an error here
        // (`BieError::ReadBack*`, naming the path), never a success.
        crate::bie::write(&bie_path, &header, &model, &key)?;
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
            findings: summary.findings,
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
    /// Per model output: slices along axis 1 and along the last axis.
    output_slices: Vec<OutputSlices>,
}

/// Per-slice statistics of one model output along one axis: max |float| and SNR sums.
#[derive(Clone, Debug, Default)]
struct SliceStats {
    axis: usize,
    max_abs: Vec<f64>,
    sig: Vec<f64>,
    err: Vec<f64>,
}

#[derive(Clone, Debug, Default)]
struct OutputSlices {
    value: usize,
    by_axis: Vec<SliceStats>,
}

/// Below this output SNR the summary and report carry the FAQ's advice.
pub const LOW_SNR_DB: f64 = 10.0;

/// Runs the fast engine (and, with `check_btm`, the reference engine, comparing every tensor bit
/// for bit) on `items` and measures SNR of fixed vs float per output (and per layer when
/// `per_layer`).
fn verify(
    model: &QuantModel,
    items: &[Vec<ArrayD<f32>>],
    per_layer: bool,
    check_btm: bool,
    progress: &dyn radix_quant::Progress,
) -> Result<Verification> {
    let g = &model.graph;
    let fast = radix_sim::FixedEngine::new(model)?;
    let float = radix_sim::FloatEngine::new(g)?;
    let nv = g.values.len();
    let (mut sig, mut err) = (vec![0f64; nv], vec![0f64; nv]);
    let mut mismatches = Vec::new();
    let mut output_slices: Vec<OutputSlices> = g
        .outputs
        .iter()
        .map(|&o| {
            let s = g.shape(o);
            let mut axes: Vec<usize> = Vec::new();
            if s.len() >= 2 {
                axes.push(1);
                if s.len() > 2 {
                    axes.push(s.len() - 1);
                }
            }
            OutputSlices {
                value: o.0,
                by_axis: axes
                    .into_iter()
                    .filter(|&a| (2..=4096).contains(&s[a]))
                    .map(|axis| SliceStats {
                        axis,
                        max_abs: vec![0.0; s[axis]],
                        sig: vec![0.0; s[axis]],
                        err: vec![0.0; s[axis]],
                    })
                    .collect(),
            }
        })
        .collect();
    let reference = radix_sim::ReferenceEngine::new(model).map_err(radix_sim::SimError::from)?;
    for (k, item) in items.iter().enumerate() {
        let fast_t = if check_btm {
            let c = radix_sim::compare::compare_item(model, &fast, &reference, k, item)?;
            mismatches.extend(c.diffs.iter().map(ToString::to_string));
            c.fast.tensors
        } else {
            radix_sim::compare::record(&fast, item)?.tensors
        };
        let wanted: Vec<bool> = (0..nv)
            .map(|i| per_layer || g.outputs.contains(&ValueId(i)))
            .collect();
        float.run_observed(item, &mut |id: ValueId, f: &ArrayD<f32>| {
            if !wanted[id.0] {
                return;
            }
            let (Some(q), Some(p)) = (&fast_t[id.0], model.params(id)) else {
                return;
            };
            for (&x, &qv) in f.iter().zip(&q.data) {
                let d = p.dequantize(qv) as f64;
                sig[id.0] += (x as f64) * (x as f64);
                err[id.0] += (x as f64 - d) * (x as f64 - d);
            }
            for out in output_slices.iter_mut().filter(|o| o.value == id.0) {
                let shape = f.shape();
                for st in &mut out.by_axis {
                    let inner: usize = shape[st.axis + 1..].iter().product();
                    let len = shape[st.axis];
                    for (flat, (&x, &qv)) in f.iter().zip(&q.data).enumerate() {
                        let c = (flat / inner.max(1)) % len;
                        let (x, d) = (x as f64, p.dequantize(qv) as f64);
                        st.max_abs[c] = st.max_abs[c].max(x.abs());
                        st.sig[c] += x * x;
                        st.err[c] += (x - d) * (x - d);
                    }
                }
            }
        })?;
        progress.update("verifying", k + 1, items.len());
    }
    let snr = |i: usize| -> Option<f64> {
        if sig[i] == 0.0 && err[i] == 0.0 {
            return None;
        }
        Some(snr_of(sig[i], err[i]))
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
        output_slices,
    })
}

fn snr_of(sig: f64, err: f64) -> f64 {
    radix_calib::sqnr_from_energies(sig, err)
}

/// Ranges of consecutive indices, as `a..b` text (`0..4, 9`).
/// Whether `v` is a Concat's output, possibly moved by layout ops (Reshape, Transpose, ...) after it.
fn merged_by_concat(g: &Graph, mut v: ValueId) -> bool {
    loop {
        let Some(node) = g.nodes.iter().find(|n| n.outputs.contains(&v)) else {
            return false;
        };
        match &node.op {
            radix_ir::Op::Concat { .. } => return true,
            op if op.is_layout() && !matches!(op, radix_ir::Op::Split { .. }) => {
                match node.inputs.first() {
                    Some(&x) => v = x,
                    None => return false,
                }
            }
            _ => return false,
        }
    }
}

fn index_ranges(ix: &[usize]) -> String {
    let mut parts = Vec::new();
    let mut i = 0;
    while i < ix.len() {
        let mut j = i;
        while j + 1 < ix.len() && ix[j + 1] == ix[j] + 1 {
            j += 1;
        }
        parts.push(if i == j {
            ix[i].to_string()
        } else {
            format!("{}..={}", ix[i], ix[j])
        });
        i = j + 1;
    }
    parts.join(", ")
}

/// What the user must know about the result: a bit-true mismatch (an error: a bug in Radix),
/// output SNR below [`LOW_SNR_DB`] with the FAQ's advice, and outputs that mix ranges so that
/// part of them quantizes to (almost) nothing.
fn findings(model: &QuantModel, v: &Verification, cfg: &radix_quant::QuantConfig) -> Vec<Finding> {
    let g = &model.graph;
    let mut out = Vec::new();
    if let Some(first) = v.mismatches.first() {
        out.push(Finding {
            level: FindingLevel::Error,
            kind: "btm-mismatch".into(),
            message: format!(
                "the fast fixed-point engine and the reference engine disagree on {} tensor(s) \
                 (first: {first}). This is a bug in Radix, not in your model: the simulated \
                 outputs of this BIE cannot be trusted. Please report it with the model.",
                v.mismatches.len()
            ),
        });
    }
    for (name, snr) in &v.output_snr {
        if *snr < LOW_SNR_DB {
            out.push(Finding {
                level: FindingLevel::Warning,
                kind: "low-snr".into(),
                message: format!(
                    "output `{name}` is at {snr:.2} dB vs float (below {LOW_SNR_DB} dB): the \
                     fixed-point model may have lost too much accuracy. Try: 1. redo the \
                     analysis with more images that are the expected input of the network; \
                     2. check that final nodes cut into post-processing are added there (CPU \
                     nodes at the end of the model); 3. fine-tune the ranges (outlier settings: \
                     --percentage, --datapath-range-method mmse) and the quantize mode \
                     (16-bit datapath, --optimize bias adjust)."
                ),
            });
        }
    }
    for o in &v.output_slices {
        let id = ValueId(o.value);
        // Only tensors a Concat merged (through layout ops only) mix ranges; small slices of
        // any other output (a classifier's unlikely logits, a detector's empty cells) are
        // values near zero, not a second range.
        if !merged_by_concat(g, id) {
            continue;
        }
        let Some(p) = model.params(id) else { continue };
        let step = f64::from(p.range()) / f64::from(p.qmax().max(1));
        // The axis along which the slices' magnitudes differ most.
        let Some(st) = o.by_axis.iter().max_by(|a, b| {
            let spread = |s: &SliceStats| {
                let max = s.max_abs.iter().cloned().fold(0.0, f64::max);
                let min = s.max_abs.iter().cloned().fold(f64::INFINITY, f64::min);
                max / min.max(f64::MIN_POSITIVE)
            };
            spread(a).total_cmp(&spread(b))
        }) else {
            continue;
        };
        let top = st.max_abs.iter().cloned().fold(0.0, f64::max);
        // A slice "quantizes to nothing" when all of its values lie within a few output steps
        // while the tensor's range is set by much larger slices.
        let lost: Vec<usize> = (0..st.max_abs.len())
            .filter(|&c| {
                st.max_abs[c] > 0.0 && st.max_abs[c] < 4.0 * step && top > 16.0 * st.max_abs[c]
            })
            .collect();
        if lost.is_empty() {
            continue;
        }
        let big: Vec<usize> = (0..st.max_abs.len())
            .filter(|&c| st.max_abs[c] >= top / 4.0)
            .collect();
        let (sig, err) = lost
            .iter()
            .fold((0.0, 0.0), |(s, e), &c| (s + st.sig[c], e + st.err[c]));
        let lost_max = lost.iter().map(|&c| st.max_abs[c]).fold(0.0, f64::max);
        out.push(Finding {
            level: FindingLevel::Warning,
            kind: "mixed-range-output".into(),
            message: format!(
                "output `{}` mixes ranges: along axis {}, indices {} stay within ±{lost_max:.3} \
                 while the output's int{} range is ±{:.3} (set by indices {}), so they are \
                 represented by at most {} code(s) (their SNR {:.1} dB). Remedies: a 16-bit \
                 model output (--model-out-bitwidth-mode int16), or cut the final nodes that \
                 merge them (e.g. the last Concat) into post-processing and run them on the host.",
                g.value(id).name,
                st.axis,
                index_ranges(&lost),
                cfg.model_out_bits,
                p.range(),
                index_ranges(&big),
                (lost_max / step).round().max(1.0),
                snr_of(sig, err),
            ),
        });
    }
    out
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
                bound: c.map(|c| c.bound.clone()),
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

#[cfg(test)]
mod tests {
    use super::*;

    fn empty_model() -> QuantModel {
        QuantModel {
            graph: Graph::new("empty"),
            platform: 720,
            tensors: Vec::new(),
            consts: Vec::new(),
            nodes: Vec::new(),
        }
    }

    #[test]
    fn a_mismatch_is_an_error_and_low_snr_a_warning_with_the_faq_advice() {
        let v = Verification {
            mismatches: vec!["input 0, tensor `y`: 3 of 10 values differ".into()],
            output_snr: vec![("y".into(), 6.5), ("z".into(), 31.0)],
            layer_snr: Vec::new(),
            output_slices: Vec::new(),
        };
        let cfg = radix_quant::QuantConfig::int8(radix_target::Platform::Kl720);
        let f = findings(&empty_model(), &v, &cfg);
        assert_eq!(f.len(), 2, "{f:#?}");
        assert_eq!(f[0].level, FindingLevel::Error);
        assert_eq!(f[0].kind, "btm-mismatch");
        assert!(f[0].message.contains("bug in Radix") && f[0].message.contains("`y`"));
        assert_eq!(f[1].level, FindingLevel::Warning);
        assert_eq!(f[1].kind, "low-snr");
        assert!(f[1].message.contains("`y`") && f[1].message.contains("more images"));
        let clean = Verification {
            mismatches: Vec::new(),
            output_snr: vec![("y".into(), 10.0)],
            layer_snr: Vec::new(),
            output_slices: Vec::new(),
        };
        assert!(findings(&empty_model(), &clean, &cfg).is_empty());
    }

    #[test]
    fn index_ranges_are_compact() {
        assert_eq!(index_ranges(&[0, 1, 2, 5, 7, 8]), "0..=2, 5, 7..=8");
        assert_eq!(index_ranges(&[]), "");
    }
}
