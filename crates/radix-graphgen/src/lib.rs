//! radix-graphgen: random valid graphs over Radix's op set and the differential checks run on
//! them — a test tool, at the top of the crate stack beside `xtask` (no library crate depends
//! on it).
//!
//! Hand-picked test models only prove the cases someone thought of. The generator draws graphs
//! with random ranks (1-4), shapes, axes and attributes, with branching and merging, and
//! [`check()`] runs each through the real pipeline: graph passes, calibration, quantization for
//! KL520/KL720 at 8 and 16 bits, the fast and reference fixed-point engines compared bit for bit
//! on every tensor, and the 16-bit model compared with float.
//!
//! Every case is reproducible from its seed: a failure found in a long run
//! (`RADIX_GRAPHS=100000 cargo test --release -p radix-graphgen --test differential -- --nocapture`)
//! becomes a regression test by adding its seed to `REGRESSION_SEEDS` in that test.

pub mod check;
pub mod generate;

pub use check::{CheckConfig, Verdict, check, compare_engines};
pub use generate::{Case, GenConfig, Rng, generate};
