//! `cargo xtask regress`: the real-model regression set (fixtures/models/regression, and with
//! `--light` the onnx wheel's light models in fixtures/models/light).
//!
//! For each model: the float engine against the onnxruntime reference outputs (SNR, worst output),
//! then int8 on KL520 and int8 and int16 on KL720 (KL520 has no 16-bit datapath), each calibrated
//! on the model's own inputs: bit-true match of the fast and reference engines on every tensor of
//! every input, output SNR of the fast engine against the float engine (worst output, all inputs
//! pooled), and the quantized model sealed in a BIE, read back and run again (outputs must be
//! identical). Prints one table and writes it as markdown (for docs/BENCHMARKS.md).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

use ndarray::{Array4, ArrayD, Axis, IxDyn};
use radix_ir::qmodel::QuantModel;
use radix_quant::{Calibrated, QuantConfig};
use radix_target::Platform;
use serde_json::Value;

use crate::R;

struct Case {
    name: String,
    path: PathBuf,
    input: (String, Vec<usize>),
    /// Per input item: the graph inputs.
    items: Vec<Vec<ArrayD<f32>>>,
    /// Per input item: the onnxruntime outputs, in graph output order.
    reference: Vec<Vec<ArrayD<f32>>>,
}

fn json(path: &Path) -> R<Value> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
}

fn npy<T: ndarray_npy::ReadableElement>(path: &Path) -> R<ArrayD<T>> {
    ndarray_npy::read_npy(path).map_err(|e| format!("{}: {e}", path.display()))
}

fn shape_of(v: &Value) -> Vec<usize> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|d| d.as_u64())
                .map(|d| d as usize)
                .collect()
        })
        .unwrap_or_default()
}

/// The models of fixtures/models/regression (see its README): inputs rebuilt from the stored
/// uint8 images with the float formula of meta.json.
fn regression_cases(root: &Path) -> R<Vec<Case>> {
    let dir = root.join("fixtures/models/regression");
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("meta.json").exists())
        .collect();
    dirs.sort();
    let mut cases = Vec::new();
    for d in dirs {
        let meta = json(&d.join("meta.json"))?;
        let f = |k: &str| -> Vec<f32> {
            meta[k]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_f64)
                        .map(|v| v as f32)
                        .collect()
                })
                .unwrap_or_default()
        };
        let (mean, std) = (f("mean"), f("std"));
        let scale = meta["scale"].as_f64().unwrap_or(1.0) as f32;
        let shape = shape_of(&meta["input"]["shape"]);
        let u = npy::<u8>(&d.join("inputs_u8.npy"))?;
        if shape.len() != 4 || u.ndim() != 4 || mean.len() != 3 || std.len() != 3 {
            return Err(format!(
                "{}: unexpected meta.json or inputs_u8.npy",
                d.display()
            ));
        }
        let items: Vec<Vec<ArrayD<f32>>> = u
            .axis_iter(Axis(0))
            .map(|img| {
                vec![
                    Array4::from_shape_fn((1, 3, shape[2], shape[3]), |(_, c, y, x)| {
                        (img[[y, x, c]] as f32 * scale - mean[c]) / std[c]
                    })
                    .into_dyn(),
                ]
            })
            .collect();
        let nout = meta["outputs"].as_array().map(Vec::len).unwrap_or(0);
        let outs = (0..nout)
            .map(|k| npy::<f32>(&d.join(format!("output_{k}.npy"))))
            .collect::<R<Vec<_>>>()?;
        let reference = (0..items.len())
            .map(|i| {
                outs.iter()
                    .map(|o| o.index_axis(Axis(0), i).insert_axis(Axis(0)).to_owned())
                    .collect()
            })
            .collect();
        cases.push(Case {
            name: d
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            path: d.join("model.onnx"),
            input: (
                meta["input"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                shape,
            ),
            items,
            reference,
        });
    }
    Ok(cases)
}

/// onnx's backend-test input for the light models: `arange(n).reshape(shape) / n` (float64
/// divide, then float32), bit-identical to numpy.
pub(crate) fn light_input(shape: &[usize]) -> ArrayD<f32> {
    let n: usize = shape.iter().product();
    let v = (0..n).map(|i| (i as f64 / n as f64) as f32).collect();
    ArrayD::from_shape_vec(IxDyn(shape), v).unwrap_or_else(|_| ArrayD::zeros(IxDyn(shape)))
}

fn light_cases(root: &Path) -> R<Vec<Case>> {
    let dir = root.join("fixtures/models/light");
    let index = json(&dir.join("INDEX.json"))?;
    let mut cases = Vec::new();
    for m in index["models"].as_array().cloned().unwrap_or_default() {
        let name = m["name"].as_str().unwrap_or_default().to_string();
        let shape = shape_of(&m["input"]["shape"]);
        let want = npy::<f32>(&dir.join(format!("{name}_output_0.npy")))?;
        cases.push(Case {
            path: dir.join(format!("{name}.onnx")),
            input: (
                m["input"]["name"].as_str().unwrap_or_default().to_string(),
                shape.clone(),
            ),
            items: vec![vec![light_input(&shape)]],
            reference: vec![vec![want]],
            name,
        });
    }
    Ok(cases)
}

/// Worst SNR (dB) over outputs, each output's values pooled over all items.
fn worst_snr(reference: &[Vec<ArrayD<f32>>], test: &[Vec<ArrayD<f32>>]) -> f64 {
    let nout = reference.first().map(Vec::len).unwrap_or(0);
    (0..nout)
        .map(|k| radix_calib::output_sqnr_db(reference, test, k))
        .fold(f64::INFINITY, f64::min)
}

fn db(v: f64) -> String {
    if v.is_infinite() && v > 0.0 {
        "exact".into()
    } else {
        format!("{v:.1}")
    }
}

struct Row {
    model: String,
    float_db: String,
    kl: String,
    bits: String,
    tensors: String,
    btm: String,
    snr: String,
    bie: String,
    secs: String,
}

/// One quantized configuration: (tensors compared, differing lines, SNR vs float, BIE verdict).
fn check_config(
    case: &Case,
    calibrated: &Calibrated,
    float_out: &[Vec<ArrayD<f32>>],
    platform: Platform,
    bits: u8,
) -> R<(usize, Vec<String>, f64, String)> {
    let q = calibrated
        .quantize(&QuantConfig::uniform(platform, bits))
        .map_err(|e| format!("quantize: {e}"))?
        .model;
    let fast = radix_sim::FixedEngine::new(&q).map_err(|e| format!("fast engine: {e}"))?;
    let reference =
        radix_sim::ReferenceEngine::new(&q).map_err(|e| format!("reference engine: {e}"))?;
    let (mut tensors, mut differing, mut fixed_out) = (0, Vec::new(), Vec::new());
    for (k, item) in case.items.iter().enumerate() {
        let c = radix_sim::compare::compare_item(&q, &fast, &reference, k, item)
            .map_err(|e| e.to_string())?;
        tensors += c.compared;
        differing.extend(c.diffs.iter().map(|d| d.describe(&q)));
        fixed_out.push(c.fast.outputs);
    }
    let snr = worst_snr(float_out, &fixed_out);
    let bie = bie_roundtrip(case, &q, &fixed_out)?;
    Ok((tensors, differing, snr, bie))
}

/// Seals the model in a BIE (fixed test key), reads it back and runs the fast engine again.
fn bie_roundtrip(case: &Case, q: &QuantModel, want: &[Vec<ArrayD<f32>>]) -> R<String> {
    let key = radix_bie::BieKey::from_bytes([0x5a; 32]);
    let header = radix::bie::header(q, &case.name, String::new(), [0; 32]);
    // As `analysis` seals it: without the float copies of the Mac weights.
    let mut q = q.clone();
    q.drop_mac_float_weights();
    let bytes = radix::bie::seal(&header, &q, &key).map_err(|e| format!("bie seal: {e}"))?;
    let (h, back) = radix::bie::open(&bytes, &key).map_err(|e| format!("bie open: {e}"))?;
    let engine = radix_sim::FixedEngine::new(&back).map_err(|e| format!("bie engine: {e}"))?;
    for (item, w) in case.items.iter().zip(want) {
        let got = engine.run(item).map_err(|e| format!("bie run: {e}"))?;
        if h != header || got != *w {
            return Ok("DIFFERS".into());
        }
    }
    Ok(format!("identical ({:.1} MB)", bytes.len() as f64 / 1e6))
}

fn run_case(case: &Case, rows: &mut Vec<Row>, failures: &mut Vec<String>) {
    let row = |float_db: &str, kl: &str, bits: &str, rest: [&str; 5]| Row {
        model: case.name.clone(),
        float_db: float_db.into(),
        kl: kl.into(),
        bits: bits.into(),
        tensors: rest[0].into(),
        btm: rest[1].into(),
        snr: rest[2].into(),
        bie: rest[3].into(),
        secs: rest[4].into(),
    };
    let mut opts = radix_onnx::ImportOptions::default();
    opts.input_shapes
        .insert(case.input.0.clone(), case.input.1.clone());
    let model = match radix::ModelConfig::from_onnx_with(&case.path, 720, &opts) {
        Ok(m) => m,
        Err(e) => {
            let msg = format!("import: {e}");
            rows.push(row("-", "-", "-", ["-", &msg, "-", "-", "-"]));
            return;
        }
    };
    let g = model.graph();
    let float_out = radix_sim::FloatEngine::new(g)
        .map_err(|e| format!("float engine: {e}"))
        .and_then(|engine| {
            case.items
                .iter()
                .map(|it| engine.run(it).map_err(|e| format!("float engine: {e}")))
                .collect::<R<Vec<_>>>()
        });
    let float_out = match float_out {
        Ok(o) => o,
        Err(e) => {
            failures.push(format!("{}: {e}", case.name));
            rows.push(row("-", "-", "-", ["-", &e, "-", "-", "-"]));
            return;
        }
    };
    let float_db = db(worst_snr(&case.reference, &float_out));
    let calibrated = match Calibrated::new(g, &case.items, &radix_quant::Silent) {
        Ok(c) => c,
        Err(e) => {
            failures.push(format!("{}: calibrate: {e}", case.name));
            rows.push(row(
                &float_db,
                "-",
                "-",
                ["-", "calibrate failed", "-", "-", "-"],
            ));
            return;
        }
    };
    for (platform, bits) in [
        (Platform::Kl520, 8u8),
        (Platform::Kl720, 8),
        (Platform::Kl720, 16),
    ] {
        let t = Instant::now();
        let kl = platform.number().to_string();
        let b = format!("int{bits}");
        match check_config(case, &calibrated, &float_out, platform, bits) {
            Ok((tensors, differing, snr, bie)) => {
                let btm = if differing.is_empty() {
                    "identical".to_string()
                } else {
                    failures.push(format!(
                        "{} KL{kl} {b}: {} tensors differ",
                        case.name,
                        differing.len()
                    ));
                    for d in differing.iter().take(3) {
                        eprintln!("    {d}");
                    }
                    format!("DIFFER ({})", differing.len())
                };
                if bie == "DIFFERS" {
                    failures.push(format!("{} KL{kl} {b}: BIE round trip differs", case.name));
                }
                let secs = format!("{:.1}", t.elapsed().as_secs_f64());
                rows.push(row(
                    &float_db,
                    &kl,
                    &b,
                    [&tensors.to_string(), &btm, &db(snr), &bie, &secs],
                ));
            }
            Err(e) => {
                if !e.starts_with("quantize:") {
                    failures.push(format!("{} KL{kl} {b}: {e}", case.name));
                }
                rows.push(row(&float_db, &kl, &b, ["-", &e, "-", "-", "-"]));
            }
        }
        let r = rows.last().map(|r| {
            format!(
                "{:<22} {:>8} {:>4} {:>5} {:>8} {:>10} {:>8} {:>18} {:>6}",
                r.model, r.float_db, r.kl, r.bits, r.tensors, r.btm, r.snr, r.bie, r.secs
            )
        });
        println!("{}", r.unwrap_or_default());
    }
}

pub(crate) fn regress(only: Option<&str>, light: bool, markdown: &Path) -> R<()> {
    let root = crate::workspace_root();
    let mut cases = regression_cases(&root)?;
    if light {
        cases.extend(light_cases(&root)?);
    }
    println!(
        "{:<22} {:>8} {:>4} {:>5} {:>8} {:>10} {:>8} {:>18} {:>6}",
        "model", "float dB", "kl", "bits", "tensors", "bit-true", "SNR dB", "BIE", "s"
    );
    let (mut rows, mut failures) = (Vec::new(), Vec::new());
    for case in cases.iter().filter(|c| only.is_none_or(|o| o == c.name)) {
        let before = rows.len();
        run_case(case, &mut rows, &mut failures);
        if rows.len() == before + 1 && rows[before].kl == "-" {
            println!("{:<22} {}", case.name, rows[before].btm);
        }
    }
    let mut md = String::from(
        "| model | float vs onnxruntime (dB) | KL | bits | tensors compared | fast vs reference | output SNR vs float (dB) | BIE round trip | s |\n|---|---|---|---|---|---|---|---|---|\n",
    );
    for r in &rows {
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            r.model,
            r.float_db,
            r.kl,
            r.bits,
            r.tensors,
            r.btm.replace('|', "\\|"),
            r.snr,
            r.bie,
            r.secs
        );
    }
    if let Some(p) = markdown.parent() {
        std::fs::create_dir_all(p).map_err(|e| format!("{}: {e}", p.display()))?;
    }
    std::fs::write(markdown, md).map_err(|e| format!("{}: {e}", markdown.display()))?;
    println!("table written to {}", markdown.display());
    if failures.is_empty() {
        Ok(())
    } else {
        Err(format!("regression failures: {}", failures.join("; ")))
    }
}
