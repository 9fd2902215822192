#![deny(missing_docs)]
//! Radix: the public API (docs/USER_GUIDE.md), an idiomatic mirror of Kneron's `ktc`.
//!
//! Quantize in memory and run the fixed-point model (MTCNN R-Net from the repository's
//! fixtures, calibrated on two synthetic 24x24 patches):
//!
//! ```
//! use ndarray::{Array4, ArrayD};
//! use radix::{AnalysisOptions, InputMapping, Model, ModelConfig};
//!
//! let onnx = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/models/mtcnn_rnet.onnx");
//! let km = ModelConfig::from_onnx(onnx, 720)?;
//! let patch = |k: f32| -> ArrayD<f32> {
//!     Array4::from_shape_fn((1, 3, 24, 24), |(_, c, y, x)| ((x * y + c) as f32 * k).sin()).into_dyn()
//! };
//! let mut inputs = InputMapping::new();
//! inputs.insert("input", vec![patch(0.1), patch(0.37)]);
//! let quantized = km.quantize(&inputs, &AnalysisOptions::default())?;
//! let outputs = radix::inference(&[patch(0.2)], Model::Bie(&quantized.model), &[], 1)?;
//! assert_eq!(outputs.len(), km.graph().outputs.len());
//! # Ok::<(), radix::Error>(())
//! ```
//!
//! [`ModelConfig::analysis`] does all of it the ktc way: quantize, verify, estimate, seal the
//! BIE and write the reports into `output_dir`.

mod analysis;
pub mod bie;
mod mixed;
mod options;

use std::path::{Path, PathBuf};

use ndarray::ArrayD;
pub use radix_bie::{BieError, BieHeader, BieKey, KeySource};
pub use radix_ir::Graph;
pub use radix_ir::qmodel::QuantModel;
pub use radix_onnx::ImportOptions;
pub use radix_quant::InputMapping;
pub use radix_target::{CompilerTiling, EvalReport, Platform};

pub use analysis::{AnalysisOutput, LOW_SNR_DB, Quantized, estimate};
pub use mixed::{MixRequest, Mixed, SENSITIVITY_ITEMS, allocate_bits};
pub use options::{
    AnalysisOptions, BitwidthMode, Bitwidths, MixbwBudget, ParseOptionError, ProgressSink,
    QuantizeMode, RangeMethod, Resolved,
};
pub use radix_bitwidth::{Allocation, BitAssignment, UnitSensitivity};
pub use radix_quant::{Progress, Silent};
pub use radix_report::{Finding, FindingLevel};
pub use radix_sim::{Engine, EngineKind, Observed};

/// Every error the API returns; each names the model, node, input or option at fault.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading or importing the ONNX file.
    #[error(transparent)]
    Onnx(#[from] radix_onnx::OnnxError),
    /// The graph (shapes, passes).
    #[error(transparent)]
    Ir(#[from] radix_ir::IrError),
    /// Calibration inputs or quantization.
    #[error(transparent)]
    Quant(#[from] radix_quant::QuantError),
    /// The platform: an unknown platform or a mode it lacks, an unsupported op.
    #[error(transparent)]
    Target(#[from] radix_target::TargetError),
    /// An engine refused the model or an input.
    #[error(transparent)]
    Sim(#[from] radix_sim::SimError),
    /// Sealing or opening a BIE, or its key.
    #[error(transparent)]
    Bie(#[from] radix_bie::BieError),
    /// Writing the reports.
    #[error(transparent)]
    Report(#[from] radix_report::ReportError),
    /// An analysis option out of range or not allowed with the others.
    #[error("option `{option}`: {msg}")]
    Option {
        /// The option's ktc name.
        option: String,
        /// What is wrong with its value.
        msg: String,
    },
    /// The output folder cannot be created or written.
    #[error("output_dir `{path}`: {msg}")]
    OutputDir {
        /// The folder.
        path: String,
        /// Why.
        msg: String,
    },
    /// A value given to the API (input arrays, names, a platform mismatch).
    #[error("{0}")]
    Value(String),
    /// Anything else (e.g. a thread pool that cannot start).
    #[error("{0}")]
    Other(String),
}

/// The API's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A model to analyse or run: a float ONNX graph, or a quantized model read from a BIE.
pub struct ModelConfig {
    /// The target NPU.
    pub platform: Platform,
    /// The model's name (the file stem), used for the BIE and the report.
    pub name: String,
    /// Where the model came from, and the model itself.
    pub source: ModelSource,
}

/// The model inside a [`ModelConfig`].
pub enum ModelSource {
    /// A float ONNX model, imported and optimized.
    Onnx {
        /// The ONNX file.
        path: PathBuf,
        /// The optimized float graph.
        graph: Graph,
        /// SHA-256 of the ONNX file (recorded in the BIE header).
        sha256: [u8; 32],
    },
    /// A quantized model read from a BIE.
    Bie {
        /// The BIE file.
        path: PathBuf,
        /// The fixed-point model.
        model: Box<QuantModel>,
    },
}

impl ModelConfig {
    /// Imports and optimizes an ONNX model for `platform` (520, 530, 630, 720, 730).
    pub fn from_onnx(path: impl AsRef<Path>, platform: u32) -> Result<Self> {
        Self::from_onnx_with(path, platform, &radix_onnx::ImportOptions::default())
    }

    /// As [`ModelConfig::from_onnx`], with import options (fixed shapes for dynamic inputs).
    pub fn from_onnx_with(
        path: impl AsRef<Path>,
        platform: u32,
        opts: &radix_onnx::ImportOptions,
    ) -> Result<Self> {
        use sha2::Digest;
        let path = path.as_ref();
        let platform = Platform::from_number(platform)?;
        let (name, bytes) = radix_onnx::read_model_file(path)?;
        let mut graph = radix_onnx::import_bytes(&bytes, &name, opts)?;
        radix_ir::passes::optimize(&mut graph)?;
        let sha256: [u8; 32] = sha2::Sha256::digest(&bytes).into();
        Ok(ModelConfig {
            platform,
            name,
            source: ModelSource::Onnx {
                path: path.to_path_buf(),
                graph,
                sha256,
            },
        })
    }

    /// Opens a BIE written by [`ModelConfig::analysis`]. `key`: an explicit key file, else
    /// `RADIX_BIE_KEY`, else the per-user key.
    pub fn from_bie(path: impl AsRef<Path>, key: Option<&Path>) -> Result<Self> {
        let path = path.as_ref();
        let (key, _) = BieKey::resolve(key)?;
        let (header, model) = bie::read(path, &key)?;
        let platform = Platform::from_number(header.platform)?;
        Ok(ModelConfig {
            platform,
            name: header.model_name,
            source: ModelSource::Bie {
                path: path.to_path_buf(),
                model: Box::new(model),
            },
        })
    }

    /// Checks that the model is for `platform` (as ktc's `kneron_inference(..., platform=P)`
    /// does): a BIE quantized for another platform is an error naming both.
    pub fn expect_platform(&self, platform: u32) -> Result<()> {
        let wanted = Platform::from_number(platform)?;
        if wanted != self.platform {
            return Err(Error::Value(format!(
                "`{}` was quantized for KL{}, not for KL{}: quantize the model for KL{} (or run it with --platform {})",
                self.name,
                self.platform.number(),
                wanted.number(),
                wanted.number(),
                self.platform.number()
            )));
        }
        Ok(())
    }

    /// The float graph (for a BIE: the graph inside the quantized model).
    pub fn graph(&self) -> &Graph {
        match &self.source {
            ModelSource::Onnx { graph, .. } => graph,
            ModelSource::Bie { model, .. } => &model.graph,
        }
    }
}

/// Which model [`inference`] runs.
pub enum Model<'a> {
    /// A float graph, run by the float engine.
    Onnx(&'a Graph),
    /// A quantized model, run by the fast fixed-point engine.
    Bie(&'a QuantModel),
}

/// Runs a model end to end: float for ONNX, fixed point for a quantized model (outputs
/// de-quantized to f32). `inputs` follow `input_names` (or the graph's input order when empty);
/// each array holds a batch on axis 0. `threads`: worker threads, 1-1024 (as
/// [`AnalysisOptions::threads`]). To run a model many times, build a [`Runner`] once instead:
/// this prepares the engine (packs the weights) and the thread pool on every call.
pub fn inference(
    inputs: &[ArrayD<f32>],
    model: Model<'_>,
    input_names: &[&str],
    threads: usize,
) -> Result<Vec<ArrayD<f32>>> {
    Runner::new(model, threads)?.run(inputs, input_names)
}

/// A model prepared to run many times: its engine built once (weights packed, plans made) with
/// its own thread pool. Float for [`Model::Onnx`], the fast fixed-point engine for
/// [`Model::Bie`]; [`Runner::engine`] gives the engine itself, to observe every tensor.
pub struct Runner<'m> {
    engine: Box<dyn radix_sim::Engine + 'm>,
    pool: rayon::ThreadPool,
}

impl<'m> Runner<'m> {
    /// Prepares `model` to run with `threads` worker threads (1-1024).
    pub fn new(model: Model<'m>, threads: usize) -> Result<Self> {
        let engine: Box<dyn radix_sim::Engine + 'm> = match model {
            Model::Onnx(g) => Box::new(radix_sim::FloatEngine::new(g)?),
            Model::Bie(m) => Box::new(radix_sim::FixedEngine::new(m)?),
        };
        Ok(Runner {
            engine,
            pool: analysis::thread_pool(threads)?,
        })
    }

    /// Runs the model on `inputs` (in `input_names` order, or the graph's input order when
    /// empty; a batch on axis 0) and returns its outputs in graph-output order.
    pub fn run(&self, inputs: &[ArrayD<f32>], input_names: &[&str]) -> Result<Vec<ArrayD<f32>>> {
        let engine = &*self.engine;
        let ordered = order_inputs(engine.graph(), inputs, input_names)?;
        Ok(self.pool.install(|| engine.run(&ordered))?)
    }

    /// The prepared engine (run it inside your own thread pool, with an observer).
    pub fn engine(&self) -> &dyn radix_sim::Engine {
        &*self.engine
    }
}

fn order_inputs(graph: &Graph, inputs: &[ArrayD<f32>], names: &[&str]) -> Result<Vec<ArrayD<f32>>> {
    if names.is_empty() {
        return Ok(inputs.to_vec());
    }
    if names.len() != inputs.len() {
        return Err(Error::Value(format!(
            "{} input names for {} input arrays",
            names.len(),
            inputs.len()
        )));
    }
    graph
        .inputs
        .iter()
        .map(|&id| {
            let n = &graph.value(id).name;
            let k = names
                .iter()
                .position(|x| x == n)
                .ok_or_else(|| Error::Value(format!("no data given for model input `{n}`")))?;
            Ok(inputs[k].clone())
        })
        .collect()
}

/// `7 - ceil(log2(max|x|))` over all values. Errors on empty, all-zero or non-finite
/// input, and when the radix would be negative (|x| > 128).
pub fn get_radix(inputs: &[ArrayD<f32>]) -> Result<i32> {
    let mut max = 0f32;
    let mut count = 0usize;
    for (i, a) in inputs.iter().enumerate() {
        for (j, &v) in a.iter().enumerate() {
            if !v.is_finite() {
                return Err(Error::Value(format!(
                    "input {i}: value {v} at position {j} is not finite"
                )));
            }
            max = max.max(v.abs());
            count += 1;
        }
    }
    if count == 0 {
        return Err(Error::Value("get_radix: no values given".into()));
    }
    if max == 0.0 {
        return Err(Error::Value(
            "get_radix: all values are zero; the radix is undefined".into(),
        ));
    }
    let radix = 7 - (max as f64).log2().ceil() as i32;
    if radix < 0 {
        return Err(Error::Value(format!(
            "get_radix: max |x| = {max} is out of range (> 128 gives a negative radix {radix})"
        )));
    }
    Ok(radix)
}
