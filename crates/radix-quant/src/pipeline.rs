//! The one composition of the quantization steps, for every caller (the facade's
//! `ModelConfig::quantize`, `xtask btm` / `regress` / `bench`, the random-graph check):
//! an optimized float graph is prepared and calibrated once ([`Calibrated::new`]), then quantized
//! for as many configurations as needed ([`Calibrated::quantize`]). Bias adjust
//! ([`crate::adjust_bias`]) is a further, optional step on the result.

use ndarray::ArrayD;
use radix_ir::Graph;

use crate::{Calibration, Progress, QuantConfig, QuantError, Quantized};

/// A float graph ready to quantize: `prepare`d, with calibration statistics of every tensor.
#[derive(Clone, Debug)]
pub struct Calibrated {
    /// The prepared graph the statistics and every quantized model refer to.
    pub graph: Graph,
    /// Statistics of every tensor over the calibration items.
    pub calibration: Calibration,
}

impl Calibrated {
    /// Prepares a copy of `graph` (already through `radix_ir::passes::optimize`, as every
    /// importer leaves it) and calibrates it on `items` (arrays in graph input order, batch axis
    /// included), reporting each item to `progress`.
    pub fn new(
        graph: &Graph,
        items: &[Vec<ArrayD<f32>>],
        progress: &dyn Progress,
    ) -> Result<Self, QuantError> {
        let mut graph = graph.clone();
        crate::prepare(&mut graph);
        let calibration =
            crate::calibrate_with(&graph, items.len(), &|i| Ok(items[i].clone()), progress)?;
        Ok(Calibrated { graph, calibration })
    }

    /// Quantizes the graph for `cfg`.
    pub fn quantize(&self, cfg: &QuantConfig) -> Result<Quantized, QuantError> {
        crate::quantize(&self.graph, &self.calibration, cfg)
    }
}
