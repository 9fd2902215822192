//! `cargo xtask`: Radix on the command line (quantize, infer, evaluate, radix, bench, btm,
//! regress).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

mod bars;
mod btm;
mod regress;
mod tradeoff;

use clap::{Args, Parser, Subcommand};
use ndarray::{Array4, ArrayD, Axis, IxDyn};
use radix::{AnalysisOptions, InputMapping, Model, ModelConfig};

#[derive(Parser)]
#[command(
    name = "cargo xtask",
    about = "Radix: quantize ONNX models for Kneron-class NPUs"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Quantize a model (analysis modes 1-3). With no arguments: the bundled MobileNetV2 on the
    /// bundled photos, for KL720, in mode 2 (bit-true match and SNR on the first photo).
    Quantize(Box<QuantizeArgs>),
    /// Run a model (ONNX: float; BIE: fixed point) and write one .npy per output.
    Infer(InferArgs),
    /// Estimate NPU performance only (analysis mode 0).
    Evaluate(EvaluateArgs),
    /// Print the input radix of arrays (ktc.get_radix).
    Radix {
        /// Arrays (.npy, float32) whose values set the radix; repeatable.
        #[arg(long)]
        inputs: Vec<PathBuf>,
    },
    /// Bit-true match of the fast and reference fixed-point engines on every tensor of every
    /// fixture model (KL520 int8, KL720 int8 and int16).
    Btm {
        /// Inputs per model (from its fixture data).
        #[arg(long, default_value_t = 2)]
        inputs: usize,
        /// Only this fixture (mobilenetv2, ppocrv4_det, mtcnn_pnet, mtcnn_rnet, mtcnn_onet).
        #[arg(long)]
        model: Option<String>,
        /// Print the fast engine's slowest nodes on the first input.
        #[arg(long)]
        profile: bool,
    },
    /// Writes generated random graphs as ONNX models with their inputs (`<out>/<seed>/model.onnx`,
    /// `input<k>.npy`), for float references from onnxruntime (tools/random_graph_refs.py).
    RandomGraphs {
        /// Number of graphs.
        #[arg(long, default_value_t = 200)]
        count: u64,
        /// First seed.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Output folder.
        #[arg(long, default_value = "fixtures/random_graphs")]
        out: PathBuf,
    },
    /// The real-model regression set (fixtures/models/regression): float vs onnxruntime, KL520
    /// int8 and KL720 int8/int16 with bit-true match, SNR and BIE round trip; writes a markdown
    /// table.
    Regress {
        /// Only this model (a folder name under fixtures/models/regression, or a light model).
        #[arg(long)]
        model: Option<String>,
        /// Also the onnx wheel's light models (fixtures/models/light).
        #[arg(long)]
        light: bool,
        /// Where to write the markdown table.
        #[arg(long, default_value = "target/regress.md")]
        markdown: PathBuf,
    },
    /// Benchmarks beside onnxruntime (needs /tmp/ortvenv, see docs/BENCHMARKS.md).
    Bench(BenchArgs),
    /// Accuracy vs speed of the bitwidth modes (int8, mix light, mixbw at several flops_ratio,
    /// mix balance, int16) on the bundled MobileNetV2: calibrated on the even photos, SNR on the
    /// odd ones, FPS from the IP evaluator.
    Tradeoff {
        /// mobilenetv2 | ppocrv4_det | mtcnn_onet.
        #[arg(long, default_value = "mobilenetv2")]
        model: String,
        /// Target NPU (one with mixed modes: 530, 630, 720, 730).
        #[arg(long, default_value_t = 720)]
        platform: u32,
        /// The flops_ratio values mixbw is run with.
        #[arg(long, value_delimiter = ',', default_value = "0.05,0.1,0.2,0.4")]
        ratios: Vec<f64>,
    },
}

#[derive(Args)]
struct InputArgs {
    /// `X.npy` (a batch [N, ...] for the single input), `NAME=X.npy` (repeatable) or a folder of images.
    #[arg(long)]
    inputs: Vec<String>,
    /// Preprocessing for a folder of images: imagenet | pm1 | zero-one | raw | mtcnn.
    #[arg(long, default_value = "imagenet")]
    preprocess: String,
    /// Image size HxW (or one number) for a folder of images; default: the model input's.
    #[arg(long)]
    size: Option<String>,
    /// rgb | bgr: channel order of a folder of images.
    #[arg(long, default_value = "rgb")]
    channel_order: String,
    /// Fix an input shape: NAME=1,3,64,64 (for dynamic dimensions).
    #[arg(long)]
    input_shape: Vec<String>,
}

#[derive(Args)]
struct QuantizeArgs {
    /// Float ONNX model to quantize (default: the bundled MobileNetV2, with the bundled photos).
    #[arg(long)]
    model: Option<PathBuf>,
    #[command(flatten)]
    input: InputArgs,
    /// Target NPU: 520, 530, 630, 720 or 730.
    #[arg(long, default_value_t = 720)]
    platform: u32,
    /// Folder for the BIE and the reports (created if missing).
    #[arg(long, default_value = "out")]
    output_dir: PathBuf,
    /// Worker threads (results do not depend on it).
    #[arg(long, default_value_t = 4)]
    threads: usize,
    /// default | post_sigmoid (output ranges chosen for accuracy after a removed final sigmoid).
    #[arg(long, default_value = "default")]
    quantize_mode: String,
    /// percentage | mmse: how each tensor's range is chosen from its statistics.
    #[arg(long, default_value = "percentage")]
    datapath_range_method: String,
    /// Fraction of |x| kept for 8-bit tensors (percentage method; 1.0 = min/max).
    #[arg(long, default_value_t = 0.999)]
    percentage: f64,
    /// Fraction of |x| kept for 16-bit tensors (percentage method).
    #[arg(long, default_value_t = 0.999999)]
    percentage_16b: f64,
    /// Top fraction of |x| the mmse method searches its clipping threshold in.
    #[arg(long, default_value_t = 0.001)]
    percentile: f64,
    /// Widening of the mmse range (>= 1).
    #[arg(long, default_value_t = 1.0)]
    outlier_factor: f64,
    /// int8 | int16: every datapath tensor.
    #[arg(long, default_value = "int8")]
    datapath_bitwidth_mode: String,
    /// int4 | int8 | int16: every weight.
    #[arg(long, default_value = "int8")]
    weight_bitwidth_mode: String,
    /// int8 | int16: the model inputs.
    #[arg(long, default_value = "int8")]
    model_in_bitwidth_mode: String,
    /// int8 | int16: the model outputs.
    #[arg(long, default_value = "int8")]
    model_out_bitwidth_mode: String,
    /// int8 | int16: the tensors around CPU (float) nodes.
    #[arg(long, default_value = "int8")]
    cpu_node_bitwidth_mode: String,
    /// Extra 16-bit FLOPs allowed by mixbw, as a fraction of the model's.
    #[arg(long, default_value_t = 0.2)]
    flops_ratio: f64,
    /// Beyond ktc: mixbw spends an estimated-speed budget instead of flops_ratio, e.g.
    /// `fps=550` (the best predicted SNR at >= 550 estimated FPS).
    #[arg(long)]
    mixbw_budget: Option<String>,
    /// default | deep_search: feature-map tiling of the performance estimate.
    #[arg(long, default_value = "default")]
    compiler_tiling: String,
    /// Deprecated: the older name of --compiler-tiling (ktc's `fm_cut`).
    #[arg(long)]
    fm_cut: Option<String>,
    /// 0 evaluate, 1 quantize, 2 + bit-true match and SNR on one input, 3 + per-layer SNR on
    /// every input. Default 1, or 2 for the bundled example (so its summary shows SNR and btm).
    #[arg(long)]
    mode: Option<u8>,
    /// 0 none; 1 bias adjust, layers in parallel; 2 = 1 + deep-search tiling; 3 bias adjust,
    /// sequential (slower, one pass per layer depth); 4 = 3 + deep-search tiling.
    #[arg(long, default_value_t = 0)]
    optimize: u8,
    /// BIE key file (32 bytes); default: RADIX_BIE_KEY, else the per-user key.
    #[arg(long)]
    key_file: Option<PathBuf>,
}

#[derive(Args)]
struct InferArgs {
    /// An ONNX model (runs in float) or a BIE (runs in fixed point).
    #[arg(long)]
    model: PathBuf,
    #[command(flatten)]
    input: InputArgs,
    /// Folder for the outputs, one .npy per model output.
    #[arg(long)]
    out: PathBuf,
    /// Worker threads.
    #[arg(long, default_value_t = 4)]
    threads: usize,
    /// The platform the BIE must be for (as ktc's `kneron_inference(..., platform=720)`); a
    /// BIE made for another platform is refused. Ignored for ONNX models.
    #[arg(long)]
    platform: Option<u32>,
    /// BIE key file (32 bytes); default: RADIX_BIE_KEY, else the per-user key.
    #[arg(long)]
    key_file: Option<PathBuf>,
}

#[derive(Args)]
struct EvaluateArgs {
    /// Float ONNX model.
    #[arg(long)]
    model: PathBuf,
    /// Target NPU: 520, 530, 630, 720 or 730.
    #[arg(long, default_value_t = 720)]
    platform: u32,
    /// Folder for the reports.
    #[arg(long, default_value = "out")]
    output_dir: PathBuf,
    /// default | deep_search: feature-map tiling.
    #[arg(long, default_value = "default")]
    compiler_tiling: String,
    /// Deprecated: the older name of --compiler-tiling (ktc's `fm_cut`).
    #[arg(long)]
    fm_cut: Option<String>,
    /// int8 | int16: the datapath bitwidth the estimate assumes.
    #[arg(long, default_value = "int8")]
    datapath_bitwidth_mode: String,
    /// Fix an input shape: NAME=1,3,64,64 (for dynamic dimensions).
    #[arg(long)]
    input_shape: Vec<String>,
}

#[derive(Args)]
struct BenchArgs {
    /// Threads for both Radix and onnxruntime.
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// Timed runs per measurement (the median is reported).
    #[arg(long, default_value_t = 30)]
    runs: usize,
    /// Python with onnxruntime for the side-by-side peer measurement.
    #[arg(long, default_value = "/tmp/ortvenv/bin/python")]
    python: PathBuf,
}

/// Fixed mmap threshold for calibration: tensors above 128 KiB are returned to the OS when freed
/// instead of fragmenting glibc's heap, which keeps peak memory flat however many inputs stream
/// through. Only `quantize` sets it: it makes every large allocation a fresh mapping (page
/// faults on each run), which costs inference latency (MobileNetV2 float 6.3 -> 8.8 ms).
fn flat_memory_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes a malloc tuning parameter.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 128 * 1024);
    }
}

/// For latency (inference, benchmarks): large blocks stay in glibc's heap and are reused from
/// one run to the next instead of being mapped afresh (and page-faulted in) on every run.
fn latency_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes malloc tuning parameters.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 256 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 512 << 20);
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let r = match cli.cmd {
        Cmd::Quantize(a) => quantize(*a),
        Cmd::Infer(a) => infer(a),
        Cmd::Evaluate(a) => evaluate(a),
        Cmd::Radix { inputs } => radix_cmd(&inputs),
        Cmd::Bench(a) => bench(a),
        Cmd::Btm {
            inputs,
            model,
            profile,
        } => btm::btm(inputs, model.as_deref(), profile),
        Cmd::RandomGraphs { count, seed, out } => random_graphs(count, seed, &out),
        Cmd::Regress {
            model,
            light,
            markdown,
        } => regress::regress(model.as_deref(), light, &markdown),
        Cmd::Tradeoff {
            model,
            platform,
            ratios,
        } => tradeoff::tradeoff(&model, platform, &ratios),
    };
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", e.replace('\n', " "));
            ExitCode::FAILURE
        }
    }
}

type R<T> = Result<T, String>;

fn random_graphs(count: u64, first: u64, out: &Path) -> R<()> {
    let cfg = radix_graphgen::GenConfig::default();
    let mut written = 0;
    for seed in first..first + count {
        let case = radix_graphgen::generate(seed, &cfg);
        let bytes = match radix_onnx::export::to_bytes(&case.graph) {
            Ok(b) => b,
            Err(e) => {
                eprintln!("seed {seed}: not written: {e}");
                continue;
            }
        };
        let dir = out.join(format!("{seed}"));
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        std::fs::write(dir.join("model.onnx"), bytes).map_err(|e| e.to_string())?;
        // The first item only: the float check needs one input per graph.
        for (k, a) in case.items[0].iter().enumerate() {
            ndarray_npy::write_npy(dir.join(format!("input{k}.npy")), a)
                .map_err(|e| e.to_string())?;
        }
        written += 1;
    }
    println!("{written} graphs written to {}", out.display());
    Ok(())
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

fn import_opts(shapes: &[String]) -> R<radix_onnx::ImportOptions> {
    let mut o = radix_onnx::ImportOptions::default();
    for s in shapes {
        let (n, d) = s
            .split_once('=')
            .ok_or_else(|| format!("--input-shape `{s}`: expected NAME=d0,d1,..."))?;
        let dims = d
            .split(',')
            .map(|x| {
                x.trim()
                    .parse::<usize>()
                    .map_err(|_| format!("--input-shape `{s}`: `{x}` is not a dimension"))
            })
            .collect::<R<Vec<_>>>()?;
        o.input_shapes.insert(n.to_string(), dims);
    }
    Ok(o)
}

fn read_npy_f32(path: &Path) -> R<ArrayD<f32>> {
    if let Ok(a) = ndarray_npy::read_npy::<_, ArrayD<f32>>(path) {
        return Ok(a);
    }
    if let Ok(a) = ndarray_npy::read_npy::<_, ArrayD<u8>>(path) {
        return Ok(a.mapv(|v| v as f32));
    }
    if let Ok(a) = ndarray_npy::read_npy::<_, ArrayD<f64>>(path) {
        return Ok(a.mapv(|v| v as f32));
    }
    Err(format!(
        "cannot read `{}` as a float32/float64/uint8 .npy file",
        path.display()
    ))
}

/// Images in a folder → preprocessed NCHW arrays of the model input's size.
fn read_image_folder(dir: &Path, shape: &[usize], a: &InputArgs) -> R<Vec<ArrayD<f32>>> {
    let (h, w) = match &a.size {
        Some(s) => {
            let p: Vec<usize> = s.split(['x', ',']).filter_map(|v| v.parse().ok()).collect();
            match p.as_slice() {
                [n] => (*n, *n),
                [h, w] => (*h, *w),
                _ => return Err(format!("--size `{s}`: expected H or HxW")),
            }
        }
        None if shape.len() == 4 => (shape[2], shape[3]),
        None => return Err("the model input is not NCHW; give --size".into()),
    };
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| format!("cannot read folder `{}`: {e}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.extension().is_some_and(|x| {
                ["png", "jpg", "jpeg", "bmp"].contains(&x.to_string_lossy().to_lowercase().as_str())
            })
        })
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(format!("no images (png/jpg/bmp) in `{}`", dir.display()));
    }
    let bgr = match a.channel_order.as_str() {
        "rgb" => false,
        "bgr" => true,
        o => return Err(format!("--channel-order `{o}`: expected rgb or bgr")),
    };
    let mut out = Vec::with_capacity(files.len());
    for f in files {
        let img = image::open(&f)
            .map_err(|e| format!("cannot read image `{}`: {e}", f.display()))?
            .to_rgb8();
        let img = image::imageops::resize(
            &img,
            w as u32,
            h as u32,
            image::imageops::FilterType::Triangle,
        );
        let arr = Array4::from_shape_fn((1, 3, h, w), |(_, c, y, x)| {
            let ch = if bgr { 2 - c } else { c };
            let v = img.get_pixel(x as u32, y as u32)[ch] as f32;
            match a.preprocess.as_str() {
                "imagenet" => {
                    let (m, s) = ([0.485, 0.456, 0.406][ch], [0.229, 0.224, 0.225][ch]);
                    (v / 255.0 - m) / s
                }
                "pm1" => (v / 255.0 - 0.5) / 0.5,
                "zero-one" => v / 255.0,
                "mtcnn" => (v - 127.5) / 128.0,
                _ => v,
            }
        });
        out.push(arr.into_dyn());
    }
    if !["imagenet", "pm1", "zero-one", "raw", "mtcnn"].contains(&a.preprocess.as_str()) {
        return Err(format!(
            "--preprocess `{}`: expected imagenet, pm1, zero-one, mtcnn or raw",
            a.preprocess
        ));
    }
    Ok(out)
}

/// Builds the input mapping (one array per item, with batch axis 1) from the --inputs flags.
fn read_inputs(graph: &radix::Graph, a: &InputArgs) -> R<InputMapping> {
    let mut m = InputMapping::new();
    for spec in &a.inputs {
        let (name, path) = match spec.split_once('=') {
            Some((n, p)) => (n.to_string(), PathBuf::from(p)),
            None => {
                if graph.inputs.len() != 1 {
                    return Err(format!(
                        "the model has {} inputs: use --inputs NAME=FILE",
                        graph.inputs.len()
                    ));
                }
                (
                    graph.value(graph.inputs[0]).name.clone(),
                    PathBuf::from(spec),
                )
            }
        };
        let shape = graph
            .value_by_name(&name)
            .map(|v| graph.shape(v).to_vec())
            .unwrap_or_default();
        let arrays = if path.is_dir() {
            read_image_folder(&path, &shape, a)?
        } else {
            let arr = read_npy_f32(&path)?;
            let n = arr.shape().first().copied().unwrap_or(0);
            (0..n)
                .map(|i| arr.index_axis(Axis(0), i).insert_axis(Axis(0)).to_owned())
                .collect()
        };
        m.insert(name, arrays);
    }
    Ok(m)
}

/// The bundled photos, preprocessed for MobileNetV2 (ImageNet mean/std, NCHW).
fn bundled_photos() -> R<Vec<ArrayD<f32>>> {
    let path = workspace_root().join("fixtures/images/photos_224_uint8_nhwc.npy");
    let raw: ndarray::Array4<u8> = ndarray_npy::read_npy(&path)
        .map_err(|e| format!("cannot read `{}`: {e}", path.display()))?;
    let (mean, std) = ([0.485f32, 0.456, 0.406], [0.229f32, 0.224, 0.225]);
    Ok(raw
        .axis_iter(Axis(0))
        .map(|img| {
            Array4::from_shape_fn((1, 3, 224, 224), |(_, c, y, x)| {
                (img[[y, x, c]] as f32 / 255.0 - mean[c]) / std[c]
            })
            .into_dyn()
        })
        .collect())
}

/// An option value in ktc's spelling, parsed into its typed form; the error names the option.
fn opt<T: std::str::FromStr>(option: &str, value: &str) -> R<T>
where
    T::Err: std::fmt::Display,
{
    value.parse().map_err(|e| format!("option `{option}`: {e}"))
}

fn quantize(a: QuantizeArgs) -> R<()> {
    flat_memory_allocator();
    let bundled = a.model.is_none();
    let model_path = a
        .model
        .clone()
        .unwrap_or_else(|| workspace_root().join("fixtures/models/mobilenetv2.onnx"));
    let km =
        ModelConfig::from_onnx_with(&model_path, a.platform, &import_opts(&a.input.input_shape)?)
            .map_err(|e| e.to_string())?;
    let opts = AnalysisOptions {
        output_dir: a.output_dir.clone(),
        threads: a.threads,
        quantize_mode: opt("quantize_mode", &a.quantize_mode)?,
        datapath_range_method: opt("datapath_range_method", &a.datapath_range_method)?,
        percentage: a.percentage,
        percentage_16b: a.percentage_16b,
        percentile: a.percentile,
        outlier_factor: a.outlier_factor,
        datapath_bitwidth_mode: opt("datapath_bitwidth_mode", &a.datapath_bitwidth_mode)?,
        weight_bitwidth_mode: opt("weight_bitwidth_mode", &a.weight_bitwidth_mode)?,
        model_in_bitwidth_mode: opt("model_in_bitwidth_mode", &a.model_in_bitwidth_mode)?,
        model_out_bitwidth_mode: opt("model_out_bitwidth_mode", &a.model_out_bitwidth_mode)?,
        cpu_node_bitwidth_mode: opt("cpu_node_bitwidth_mode", &a.cpu_node_bitwidth_mode)?,
        flops_ratio: a.flops_ratio,
        mixbw_budget: a
            .mixbw_budget
            .as_deref()
            .map(|v| opt("mixbw_budget", v))
            .transpose()?,
        compiler_tiling: opt("compiler_tiling", &a.compiler_tiling)?,
        fm_cut: a.fm_cut.as_deref().map(|v| opt("fm_cut", v)).transpose()?,
        mode: a.mode.unwrap_or(if bundled { 2 } else { 1 }),
        optimize: a.optimize,
        key_file: a.key_file,
        progress: radix::ProgressSink::new(bars::Bars::default()),
    };
    // Options first: a wrong combination fails before any input is read.
    opts.resolve(km.platform).map_err(|e| e.to_string())?;
    let mapping = if bundled && a.input.inputs.is_empty() {
        let mut m = InputMapping::new();
        m.insert("input", bundled_photos()?);
        m
    } else {
        read_inputs(km.graph(), &a.input)?
    };
    let t = Instant::now();
    let out = km.analysis(&mapping, &opts).map_err(|e| e.to_string())?;
    for w in &out.warnings {
        eprintln!("warning: {w}");
    }
    for f in &out.findings {
        let level = match f.level {
            radix::FindingLevel::Error => "error",
            radix::FindingLevel::Warning => "warning",
        };
        eprintln!("{level}: {}", f.message);
    }
    let fmt = |v: Option<f64>, unit: &str| {
        v.map(|x| format!("{x:.2}{unit}"))
            .unwrap_or_else(|| "n/a".into())
    };
    println!(
        "{} on KL{}: {:.1}s, SNR {}, btm {}, est. {} fps",
        km.name,
        a.platform,
        t.elapsed().as_secs_f64(),
        fmt(out.snr_db, " dB"),
        out.btm
            .map(|b| b.to_string())
            .unwrap_or_else(|| "not run".into()),
        fmt(out.fps, "")
    );
    if let Some(b) = &out.bie_path {
        println!("  bie:    {}", b.display());
    }
    println!("  report: {}", out.report_html.display());
    println!("  json:   {}", out.report_json.display());
    if out.has_errors() {
        return Err(
            "the fixed-point result failed verification (see the findings above and the report)"
                .into(),
        );
    }
    Ok(())
}

fn infer(a: InferArgs) -> R<()> {
    latency_allocator();
    let is_bie = a.model.extension().is_some_and(|e| e == "bie");
    let km = if is_bie {
        let km =
            ModelConfig::from_bie(&a.model, a.key_file.as_deref()).map_err(|e| e.to_string())?;
        if let Some(p) = a.platform {
            km.expect_platform(p).map_err(|e| e.to_string())?;
        }
        km
    } else {
        ModelConfig::from_onnx_with(&a.model, 720, &import_opts(&a.input.input_shape)?)
            .map_err(|e| e.to_string())?
    };
    let g = km.graph();
    let mapping = read_inputs(g, &a.input)?;
    let mut batches = Vec::with_capacity(g.inputs.len());
    for &id in &g.inputs {
        let name = &g.value(id).name;
        let arrays = mapping.get(name).ok_or_else(|| {
            format!("no data for model input `{name}` (use --inputs {name}=FILE.npy)")
        })?;
        if arrays.is_empty() {
            return Err(format!("model input `{name}`: the batch is empty"));
        }
        let views: Vec<_> = arrays.iter().map(|x| x.view()).collect();
        batches.push(
            ndarray::concatenate(Axis(0), &views)
                .map_err(|e| format!("model input `{name}`: {e}"))?,
        );
    }
    let model = match &km.source {
        radix::ModelSource::Bie { model, .. } => Model::Bie(model),
        radix::ModelSource::Onnx { graph, .. } => Model::Onnx(graph),
    };
    let t = Instant::now();
    let outs = radix::inference(&batches, model, &[], a.threads).map_err(|e| e.to_string())?;
    std::fs::create_dir_all(&a.out)
        .map_err(|e| format!("cannot create `{}`: {e}", a.out.display()))?;
    for (o, &id) in outs.iter().zip(&g.outputs) {
        let name = g.value(id).name.replace(['/', '\\', ':'], "_");
        let p = a.out.join(format!("{name}.npy"));
        ndarray_npy::write_npy(&p, o)
            .map_err(|e| format!("cannot write `{}`: {e}", p.display()))?;
        println!("{} {:?} -> {}", g.value(id).name, o.shape(), p.display());
    }
    eprintln!(
        "{} item(s) in {:.3}s",
        batches.first().map(|b| b.shape()[0]).unwrap_or(0),
        t.elapsed().as_secs_f64()
    );
    Ok(())
}

fn evaluate(a: EvaluateArgs) -> R<()> {
    let km = ModelConfig::from_onnx_with(&a.model, a.platform, &import_opts(&a.input_shape)?)
        .map_err(|e| e.to_string())?;
    let opts = AnalysisOptions {
        output_dir: a.output_dir,
        mode: 0,
        compiler_tiling: opt("compiler_tiling", &a.compiler_tiling)?,
        fm_cut: a.fm_cut.as_deref().map(|v| opt("fm_cut", v)).transpose()?,
        datapath_bitwidth_mode: opt("datapath_bitwidth_mode", &a.datapath_bitwidth_mode)?,
        ..Default::default()
    };
    let out = km
        .analysis(&InputMapping::new(), &opts)
        .map_err(|e| e.to_string())?;
    for w in &out.warnings {
        eprintln!("warning: {w}");
    }
    println!(
        "{} on KL{}: est. {:.1} fps; report {}",
        km.name,
        a.platform,
        out.fps.unwrap_or(0.0),
        out.report_html.display()
    );
    Ok(())
}

fn radix_cmd(inputs: &[PathBuf]) -> R<()> {
    if inputs.is_empty() {
        return Err("give at least one --inputs X.npy".into());
    }
    let arrays = inputs
        .iter()
        .map(|p| read_npy_f32(p))
        .collect::<R<Vec<_>>>()?;
    let r = radix::get_radix(&arrays).map_err(|e| e.to_string())?;
    println!("{r}");
    Ok(())
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn bench(a: BenchArgs) -> R<()> {
    latency_allocator();
    let root = workspace_root();
    let model = root.join("fixtures/models/mobilenetv2.onnx");
    let km = ModelConfig::from_onnx(&model, 720).map_err(|e| e.to_string())?;
    let g = km.graph();
    let photos = bundled_photos()?;
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(a.threads)
        .build()
        .map_err(|e| e.to_string())?;
    // Float engine latency, one image at a time.
    let engine = radix_sim::FloatEngine::new(g).map_err(|e| e.to_string())?;
    let mut times = Vec::new();
    pool.install(|| -> R<()> {
        engine
            .run(std::slice::from_ref(&photos[0]))
            .map_err(|e| e.to_string())?;
        for i in 0..a.runs {
            let t = Instant::now();
            engine
                .run(std::slice::from_ref(&photos[i % photos.len()]))
                .map_err(|e| e.to_string())?;
            times.push(t.elapsed().as_secs_f64() * 1e3);
        }
        Ok(())
    })?;
    let float_ms = median(&mut times);
    println!(
        "radix_float_ms_per_input_median {float_ms:.3} (threads={}, n={})",
        a.threads, a.runs
    );
    // Calibration (prepare, statistics gathering, ranges) on the 22 photos, MinMax and MMSE.
    let items: Vec<Vec<ArrayD<f32>>> = photos.iter().map(|p| vec![p.clone()]).collect();
    let calibrate = || {
        pool.install(|| radix_quant::Calibrated::new(g, &items, &radix_quant::Silent))
            .map_err(|e| e.to_string())
    };
    let mut calib_s = Vec::new();
    let mut mmse_s = Vec::new();
    for _ in 0..3 {
        let mut cfg = radix_quant::QuantConfig::int8(radix_target::Platform::Kl720);
        for (range, times) in [
            (
                radix_quant::RangeChoice::Percentage {
                    percentage: 1.0,
                    percentage_16b: 1.0,
                },
                &mut calib_s,
            ),
            (
                radix_quant::RangeChoice::Mmse {
                    percentile: 0.001,
                    outlier_factor: 1.0,
                },
                &mut mmse_s,
            ),
        ] {
            let t = Instant::now();
            cfg.range = range;
            calibrate()?.quantize(&cfg).map_err(|e| e.to_string())?;
            times.push(t.elapsed().as_secs_f64());
        }
    }
    println!(
        "radix_calibrate_quantize_s {:.3} (minmax, n=22, threads={})",
        median(&mut calib_s),
        a.threads
    );
    println!(
        "radix_calibrate_quantize_mmse_s {:.3} (mmse, n=22, threads={})",
        median(&mut mmse_s),
        a.threads
    );
    // Fixed-point engine latency (720 int8).
    let q = calibrate()?
        .quantize(&radix_quant::QuantConfig::int8(
            radix_target::Platform::Kl720,
        ))
        .map_err(|e| e.to_string())?;
    let fixed = radix_sim::FixedEngine::new(&q.model).map_err(|e| e.to_string())?;
    let mut ftimes = Vec::new();
    pool.install(|| -> R<()> {
        for i in 0..a.runs.min(20) {
            let t = Instant::now();
            fixed
                .run(std::slice::from_ref(&photos[i % photos.len()]))
                .map_err(|e| e.to_string())?;
            ftimes.push(t.elapsed().as_secs_f64() * 1e3);
        }
        Ok(())
    })?;
    println!(
        "radix_fixed_ms_per_input_median {:.3} (720 int8, threads={})",
        median(&mut ftimes),
        a.threads
    );
    // The peer, same inputs, same threads, same run.
    if !a.python.exists() {
        println!(
            "onnxruntime: {} not found; set it up with `python3 -m venv /tmp/ortvenv && /tmp/ortvenv/bin/pip install onnxruntime onnx numpy`",
            a.python.display()
        );
        return Ok(());
    }
    let tmp = std::env::temp_dir().join("radix-bench-inputs.npy");
    let views: Vec<_> = photos.iter().map(|p| p.view()).collect();
    let batch = ndarray::concatenate(Axis(0), &views).map_err(|e| e.to_string())?;
    ndarray_npy::write_npy(
        &tmp,
        &batch
            .into_dimensionality::<IxDyn>()
            .map_err(|e| e.to_string())?,
    )
    .map_err(|e| e.to_string())?;
    let script = root.join("tools/ort_baseline.py");
    for args in [
        vec!["infer".to_string()],
        vec!["quantize".into(), "--method".into(), "minmax".into()],
    ] {
        let out = std::process::Command::new(&a.python)
            .arg(&script)
            .args(&args[..1])
            .arg(&model)
            .arg(&tmp)
            .args(&args[1..])
            .args(["--threads", &a.threads.to_string()])
            .output()
            .map_err(|e| format!("cannot run {}: {e}", a.python.display()))?;
        print!("{}", String::from_utf8_lossy(&out.stdout));
        if !out.status.success() {
            eprintln!("{}", String::from_utf8_lossy(&out.stderr));
        }
    }
    Ok(())
}
