//! Hardware profiles: the figures the IP evaluator's cost model runs on, kept as data.
//!
//! Every figure in a concrete profile (`profile.rs`) carries its source: \[DOC\] Kneron's public
//! documentation, \[USER\] a user's evaluator report, \[DERIVED\] arithmetic on documented figures,
//! \[GUESS\] an engineering assumption where nothing public exists, \[FIT\] calibrated jointly
//! against the published simulated FPS of five networks (`calibration.rs`). `EVALUATOR.md` explains each one.

use serde::{Deserialize, Serialize};

/// Geometry of the MAC array: `ic × oc × px` multipliers work in one cycle on `ic` input
/// channels of `px` output pixels (along W) for `oc` output channels.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MacArray {
    /// Input-channel lanes (one SRAM entry of 16 channels feeds them on the 1W16C platforms).
    pub ic: u32,
    /// Output-channel lanes.
    pub oc: u32,
    /// Output-pixel lanes along the row.
    pub px: u32,
}

impl MacArray {
    /// 8-bit MACs per cycle.
    pub const fn macs_per_cycle(&self) -> u32 {
        self.ic * self.oc * self.px
    }
}

/// Feature-map layout in SRAM and DDR, which decides how many bytes a tensor occupies.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FmLayout {
    /// Channels are padded to a multiple of this (16 for 1W16C8B).
    pub c_align: u32,
    /// Row length in bytes is padded to a multiple of this (16 for 16W1C8B on the 520).
    pub row_align_bytes: u32,
}

/// The SoC CPU that runs CPU nodes (reported separately: FPS is NPU-only, as in the original).
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct CpuProfile {
    /// Human-readable core description.
    pub core: &'static str,
    /// Sustained float operations per microsecond on CPU-node kernels.
    pub flops_per_us: f64,
}

/// One NPU's hardware profile (static data: serializable for reports).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct HwProfile {
    /// NPU clock.
    pub clock_mhz: f64,
    /// MAC array geometry (8-bit operands) as a convolution with a kernel window (k > 1) maps
    /// onto it.
    pub mac: MacArray,
    /// The lanes a pointwise layer (1x1 Conv, Gemm, MatMul) keeps: without a window to reuse, the
    /// input feed limits the pixel lanes (`px` of `mac` halved on the platforms where that fits
    /// the published figures).
    pub mac_pointwise: MacArray,
    /// Spatial axes along which a strided convolution still visits every input position (the
    /// array slides its window at stride 1 and the output stage drops the positions the stride
    /// skips): 0 = strides are free, 1 = along rows only (cost x s), 2 = both (cost x s^2).
    pub stride_waste_axes: u8,
    /// 16-bit MAC throughput relative to 8-bit when one operand is 16-bit (both: squared).
    pub mac16_rate: f64,
    /// int4-weight MAC throughput relative to int8 weights (1.0 where int4 only saves bytes).
    pub int4_rate: f64,
    /// Sustained fraction of the array's (utilisation-adjusted) peak that conv/Gemm layers
    /// reach: pipeline fills, SRAM bank conflicts, partial-sum write-back. \[FIT\] per platform.
    pub mac_efficiency: f64,
    /// Depthwise convolutions reduce over the kernel window on the input-channel lanes (a 3x3
    /// window uses 9 of 16 lanes) instead of leaving all but one lane idle.
    pub dw_window_on_ic: bool,
    /// Input-channel lanes the first layer packs when it reads the 4W4C8B model-input layout
    /// (4 channels of 4 pixels per SRAM entry), instead of `mac.ic`.
    pub first_layer_ic: u32,
    /// Fixed cost of issuing one NPU node (command fetch, setup, drain), in NPU cycles.
    pub node_overhead_cycles: f64,
    /// Extra fixed cost per additional feature-map band of a tiled node, in NPU cycles.
    pub band_overhead_cycles: f64,
    /// On-chip SRAM for feature maps and weights.
    pub sram_bytes: u64,
    /// Weight buffer: a layer whose weights fit in half of it has them prefetched while the
    /// previous layer runs (weight loading overlaps compute); a larger layer's weights stream
    /// through it while the layer runs, cannot be prefetched (their load adds to the layer's
    /// time), and are fetched again for every feature-map band the layer is split into.
    pub weight_buffer_bytes: u64,
    /// Effective peak DDR->SRAM feature-map read bandwidth (RDMA), GB/s (1e9 B/s).
    pub rdma_gbps: f64,
    /// Effective peak SRAM->DDR write bandwidth (WDMA), GB/s.
    pub wdma_gbps: f64,
    /// Effective peak weight-load bandwidth (GETW), GB/s.
    pub getw_gbps: f64,
    /// Output rows the DMA streams per step when a node is not tiled (pipeline granularity:
    /// with `n` steps, `1/n` of the DMA cannot overlap compute).
    pub stripe_rows: u32,
    /// Bytes per cycle of the elementwise / activation unit (CFUNC).
    pub cfunc_bytes_per_cycle: f64,
    /// Bytes per cycle of the pooling / layout unit (PFUNC).
    pub pfunc_bytes_per_cycle: f64,
    /// Layout of intermediate feature maps.
    pub layout: FmLayout,
    /// Layout of model inputs with at most 4 channels (4W4C8B).
    pub input_layout: FmLayout,
    /// The CPU that runs CPU nodes.
    pub cpu: CpuProfile,
}

impl HwProfile {
    /// Peak 8-bit MACs per second.
    pub fn peak_macs_per_s(&self) -> f64 {
        self.mac.macs_per_cycle() as f64 * self.clock_mhz * 1e6
    }

    /// Peak 8-bit TOPS (2 ops per MAC), the figure datasheets quote.
    pub fn peak_tops(&self) -> f64 {
        2.0 * self.peak_macs_per_s() / 1e12
    }

    /// Milliseconds for `cycles` NPU cycles.
    pub fn cycles_to_ms(&self, cycles: f64) -> f64 {
        cycles / (self.clock_mhz * 1e3)
    }

    /// Milliseconds to move `bytes` at `gbps` GB/s.
    pub fn dma_ms(bytes: u64, gbps: f64) -> f64 {
        if gbps <= 0.0 {
            0.0
        } else {
            bytes as f64 / (gbps * 1e6)
        }
    }
}
