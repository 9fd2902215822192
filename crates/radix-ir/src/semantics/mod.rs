//! Float semantics shared by every engine: the one definition of Resize coordinates
//! ([`resize`]) and of pooling windows ([`pool`]).
//!
//! The float engine, the host-float CPU op of the fixed-point engines, the reference engine,
//! the quantizer's integer Resize plan, `eval` (ResizeNd, PoolNd) and shape inference all call
//! these functions instead of restating the formulas.

pub mod pool;
pub mod resize;
