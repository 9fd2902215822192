//! Radix hardware targets: Kneron-class NPU platforms (KL520 / KL530 / KL630 / KL720 / KL730).
//!
//! * [`Platform`] names a chip; [`Capabilities`] says which bitwidths and scale formats it serves
//!   and [`Platform::check_bitwidth_request`] rejects what it cannot (docs/USER_GUIDE.md, Platforms).
//! * [`PlatformProfile`] is the data that describes one platform: capabilities, operator table
//!   ([`OpTable`], see `OPS.md`) and hardware profile ([`HwProfile`], see `EVALUATOR.md`).
//!   Supporting a new NPU means writing one more profile (or implementing [`Target`]).
//! * [`ops::support`] is the one operator table (typed, exhaustive over the IR's ops): which NPU
//!   operator set lists an op, whether the CPU fallback and Radix's integer kernels have it.
//! * [`Target`] is the seam the quantizer, the evaluator and the reports place nodes through:
//!   [`Target::placement`] gives [`Placement::Npu`], [`Placement::Cpu`] or `None` (nothing runs
//!   it), [`Target::check_graph`] turns `None` into the toolchain's
//!   `Invalid program input: undefined CPU op [..] of node [..]` error.
//! * [`evaluate`] is the IP evaluator (`EVALUATOR.md`): a per-node cost model (MACs, MAC cycles with
//!   array utilisation, DMA bytes and times, weight loading, CFUNC/PFUNC, overlap) and model
//!   totals (FPS, ITC, RV/WV, bandwidths, NPU vs CPU nodes), with two compiler tiling
//!   strategies ([`CompilerTiling`]).
//! * [`zoo`] builds shape-faithful reference graphs (MobileNet V1/V2, ResNet-50, Tiny YOLOv3,
//!   YOLOv3) for tests and benchmarks without reading a model file.

#![deny(missing_docs)]

pub mod calibration;
pub mod cost;
pub mod eval;
pub mod hw;
pub mod ops;
pub mod platform;
pub mod profile;
pub mod tiling;
pub mod zoo;

pub use cost::{NodeBits, NodeWork};
pub use eval::{EvalReport, ModelCost, NodeCost, evaluate, evaluate_on, evaluate_uniform};
pub use hw::{CpuProfile, FmLayout, HwProfile, MacArray};
pub use ops::{NpuOpSet, OpSupport, OpTable, Placement, check_graph, placement};
pub use platform::{BitwidthMode, Capabilities, Platform};
pub use profile::{PlatformProfile, Target};
pub use tiling::CompilerTiling;

/// Errors of the target layer. Messages name the platform and the offending option or node.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TargetError {
    /// A platform name or number that is not one of the five (parsing [`Platform`]); carries
    /// the text as given.
    #[error("unknown platform `{0}`; expected one of 520, 530, 630, 720, 730 (or kl520 ... kl730)")]
    UnknownPlatform(String),
    /// [`Platform::check_bitwidth_request`] was asked about an option that is not one of
    /// [`platform::BITWIDTH_OPTIONS`].
    #[error("unknown bitwidth option `{option}`; expected one of {known}")]
    UnknownOption {
        /// The option name as given.
        option: String,
        /// The known option names, comma-separated.
        known: String,
    },
    /// A value the option never accepts, whatever the platform (e.g. `int4` for the datapath,
    /// a node bitwidth other than 4, 8 or 16, an unknown `compiler_tiling` or bitwidth mode).
    #[error("`{value}` is not a valid value for {option}; expected one of {allowed}")]
    InvalidOptionValue {
        /// The option the value was given for.
        option: String,
        /// The rejected value as given.
        value: String,
        /// The accepted spellings, quoted and comma-separated.
        allowed: String,
    },
    /// A valid value this platform cannot serve (int16 or the mix modes on the KL520, int4
    /// weights on the KL720; see [`Capabilities`]).
    #[error("{platform} does not support {value} for {option}")]
    UnsupportedBitwidth {
        /// Display name of the target, e.g. "KL520".
        platform: String,
        /// The option the value was given for.
        option: String,
        /// The value in its canonical spelling, e.g. "int16".
        value: String,
    },
    /// The model has more inputs than [`Capabilities::max_model_inputs`].
    #[error("{platform} accepts at most {max} model inputs; the model has {count}")]
    TooManyInputs {
        /// Display name of the target.
        platform: String,
        /// Number of model inputs.
        count: usize,
        /// The platform's limit.
        max: usize,
    },
    /// The exact message of the original toolchain for an op neither the NPU nor the CPU runs.
    #[error("Invalid program input: undefined CPU op [{op}] of node [{node}]")]
    UndefinedCpuOp {
        /// ONNX op type of the node.
        op: String,
        /// Node name.
        node: String,
    },
    /// A node the evaluator or the [`zoo`] builder cannot handle (no output, shapes that do not
    /// infer).
    #[error("cannot evaluate node `{node}` ({op}): {msg}")]
    Node {
        /// Node name.
        node: String,
        /// ONNX op type of the node.
        op: String,
        /// What is wrong with it.
        msg: String,
    },
    /// The graph fails validation before evaluation; carries the validation message.
    #[error("cannot evaluate graph: {0}")]
    Graph(String),
}
