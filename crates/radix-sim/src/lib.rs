#![deny(missing_docs)]
//! radix-sim: the engines that run a Radix graph.
//!
//! * [`engine`]: the seam: the [`Engine`] trait all three engines implement (prepared once, run
//!   many times, an observer of every tensor) and the one input validation they share.
//! * [`float`]: the float engine ([`FloatEngine`]), with an observer that sees every node output
//!   (calibration and per-layer SNR are built on it).
//! * [`compare`]: the bit-true comparison of the fast and reference fixed-point engines (one
//!   rule for `analysis`, `xtask btm` and the tests).
//! * [`gemm`]: the f32 matrix-product helpers shared by the engines (the `gemm` crate underneath,
//!   tiled and parallelised with rayon in the caller's pool).
//!
//! Threads: every heavy kernel parallelises with rayon in the *current* pool; run the engine inside
//! `rayon::ThreadPool::install` to choose the thread count.

pub mod compare;
pub mod engine;
mod error;
pub mod fixed;
pub mod float;
pub mod gemm;
pub mod reference;
mod simd;

pub use engine::{Engine, EngineKind, InputError, Observed};
pub use error::SimError;
pub use fixed::FixedEngine;
pub use float::FloatEngine;
pub use reference::{ReferenceEngine, ReferenceError, run_reference};
