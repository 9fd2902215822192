//! The five platform profiles, as data, and the [`Target`] trait the rest of Radix programs
//! against. Sources of every figure: see the field comments and `EVALUATOR.md`.
//!
//! Source tags: \[DOC\] Kneron documentation (toolchain manual / SDK docs in the public
//! `kneron/document_center` repository); \[USER\] evaluator reports users published;
//! \[DATASHEET\] Kneron product pages as quoted publicly; \[DERIVED\] arithmetic on the above;
//! \[GUESS\] an assumption where nothing public exists; \[FIT\] calibrated jointly to the
//! published simulated FPS of five networks (`calibration.rs`; a test re-derives every \[FIT\]
//! value).

use radix_ir::{Graph, Node};
use serde::Serialize;

use crate::TargetError;
use crate::hw::{CpuProfile, FmLayout, HwProfile, MacArray};
use crate::ops::{self, ConvLimits, NpuOpSet, OpTable, Placement};
use crate::platform::{Capabilities, Platform};

/// Everything Radix knows about one platform (static data: serializable for reports).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PlatformProfile {
    /// The chip this profile describes.
    pub platform: Platform,
    /// Bitwidths, scale format and input limit it serves.
    pub caps: Capabilities,
    /// Its operator table (`OPS.md`): NPU operator set and conditions.
    pub ops: OpTable,
    /// The figures of the evaluator's cost model (`EVALUATOR.md`).
    pub hw: HwProfile,
}

/// A hardware target: the seam the quantizer (bitwidths, scale format, placement), the
/// evaluator (hardware profile) and the reports go through. [`PlatformProfile`] implements it
/// for the five Kneron platforms; a new NPU is one more profile value (or one more
/// implementation of this trait).
pub trait Target: Sync {
    /// Display name, e.g. "KL720".
    fn name(&self) -> String;
    /// Bitwidths, scale formats and input limits the target serves.
    fn capabilities(&self) -> &Capabilities;
    /// The hardware profile the evaluator's cost model reads.
    fn hw(&self) -> &HwProfile;
    /// Where `node` of `graph` runs (`None`: nothing on this target runs it).
    fn placement(&self, graph: &Graph, node: &Node) -> Option<Placement>;
    /// Why `node` is not on the NPU (`None` when it is).
    fn npu_reason(&self, graph: &Graph, node: &Node) -> Option<String>;
    /// Places every node, failing on the first one nothing can run (the toolchain's
    /// `undefined CPU op` error).
    fn check_graph(&self, graph: &Graph) -> Result<Vec<Placement>, TargetError> {
        graph
            .nodes
            .iter()
            .map(|n| {
                self.placement(graph, n)
                    .ok_or_else(|| TargetError::UndefinedCpuOp {
                        op: n.op.type_name().to_string(),
                        node: n.name.clone(),
                    })
            })
            .collect()
    }
}

impl Target for PlatformProfile {
    fn name(&self) -> String {
        self.platform.to_string()
    }
    fn capabilities(&self) -> &Capabilities {
        &self.caps
    }
    fn hw(&self) -> &HwProfile {
        &self.hw
    }
    fn placement(&self, graph: &Graph, node: &Node) -> Option<Placement> {
        ops::placement(&self.ops, graph, node)
    }
    fn npu_reason(&self, graph: &Graph, node: &Node) -> Option<String> {
        ops::npu_check(&self.ops, graph, node).err()
    }
}

impl PlatformProfile {
    /// The built-in profile of `p`.
    pub fn get(p: Platform) -> &'static PlatformProfile {
        match p {
            Platform::Kl520 => &KL520,
            Platform::Kl530 => &KL530,
            Platform::Kl630 => &KL630,
            Platform::Kl720 => &KL720,
            Platform::Kl730 => &KL730,
        }
    }
}

impl Platform {
    /// The built-in profile.
    pub fn profile(self) -> &'static PlatformProfile {
        PlatformProfile::get(self)
    }

    /// Where `node` runs on this platform (`None`: nothing runs it).
    pub fn placement(self, graph: &Graph, node: &Node) -> Option<Placement> {
        self.profile().placement(graph, node)
    }
}

const NO_CONV_LIMITS: ConvLimits = ConvLimits {
    max_kernel: None,
    max_stride_w: None,
    max_stride_h: None,
};

/// 16 channels per 128-bit SRAM entry: \[DOC\] 1W16C8B layout (KL720/630/730 data-layout pages).
const LAYOUT_1W16C: FmLayout = FmLayout {
    c_align: 16,
    row_align_bytes: 1,
};

/// \[DOC\] 4W4C8B model-input layout (4 pixels x 4 channels per 16-byte entry, rows aligned to
/// 16 bytes) on every platform.
const LAYOUT_4W4C: FmLayout = FmLayout {
    c_align: 4,
    row_align_bytes: 16,
};

const CAPS_FULL: Capabilities = Capabilities {
    int16: true,
    int4_weights: true,
    mix_modes: true,
    non_pow2_scale: true,
    per_channel_weights: true,
    max_model_inputs: 5,
};

/// Extra issue cost of each additional row band. \[GUESS\]
const BAND_OVERHEAD_GUESS: f64 = 200.0;
/// Output rows the DMA streams per pipeline step of an untiled node. \[GUESS\] a small line
/// buffer.
const STRIPE_ROWS_GUESS: u32 = 4;
/// PFUNC bytes per cycle. \[GUESS\] one 128-bit SRAM entry per cycle; the entry width is
/// \[DOC\] (every documented NPU layout packs 16 bytes per entry).
const UNIT_BYTES_PER_CYCLE: f64 = 16.0;

/// KL520.
pub static KL520: PlatformProfile = PlatformProfile {
    platform: Platform::Kl520,
    // [DOC] no int16, no mix modes; int4 weights yes; power-of-two scale only (docs/USER_GUIDE.md, Platforms).
    caps: Capabilities {
        int16: false,
        int4_weights: true,
        mix_modes: false,
        non_pow2_scale: false,
        per_channel_weights: true,
        max_model_inputs: 5,
    },
    ops: OpTable {
        npu: NpuOpSet::Kl520,
        // [DOC] Conv kernel <= 12, stride_w <= 16, stride_h <= 4.
        conv: ConvLimits {
            max_kernel: Some(12),
            max_stride_w: Some(16),
            max_stride_h: Some(4),
        },
        // [DOC] GlobalAveragePool if H*W <= 256.
        gap_max_hw: Some(256),
        // [DOC] Resize nearest with floor only.
        resize_linear: false,
        conv_transpose_strides: &[],
        cpu_fallback: true,
    },
    hw: HwProfile {
        // [DERIVED] Kneron quotes the KL520 at 0.3 TOPS / 345 GOPS: 576 MACs x 2 x 300 MHz.
        clock_mhz: 300.0,
        // [DERIVED] 576 MACs. Split [FIT] (16x36x1 or 16x18x2, calibration.rs); 16 input-channel
        // lanes with depthwise convs on one lane also match Kneron's published "total theoretical
        // convolution time" of MobileNetV2 on the 520 (3.816 ms).
        mac: MacArray {
            ic: 16,
            oc: 36,
            px: 1,
        },
        // [FIT] pointwise mapping (1x1 convs, Gemm): see EVALUATOR.md.
        mac_pointwise: MacArray {
            ic: 16,
            oc: 18,
            px: 1,
        },
        // [FIT] strided convs pay the skipped positions along rows and columns.
        stride_waste_axes: 2,
        // No int16 on the 520; kept for completeness. [GUESS]
        mac16_rate: 0.5,
        // [GUESS] quoted without an int4 figure: int4 weights only save bytes.
        int4_rate: 1.0,
        // [FIT] jointly to the five published networks (calibration.rs).
        mac_efficiency: 0.875,
        // [FIT] depthwise convs leave 15 of 16 input lanes idle.
        dw_window_on_ic: false,
        // [DOC] 4W4C8B input layout: the first conv reads 4 channels x 4 pixels per entry.
        first_layer_ic: 4,
        // [FIT]
        node_overhead_cycles: 0.0,
        band_overhead_cycles: BAND_OVERHEAD_GUESS,
        // [FIT] among 128 KiB .. 1 MiB.
        weight_buffer_bytes: 256 * 1024,
        // [USER] 520 SRAM 512 KiB.
        sram_bytes: 512 * 1024,
        // [USER] evaluator reports: RDMA / WDMA / weight 0.8 GB/s.
        rdma_gbps: 0.8,
        wdma_gbps: 0.8,
        getw_gbps: 0.8,
        stripe_rows: STRIPE_ROWS_GUESS,
        // [FIT] among 4 / 8 / 16.
        cfunc_bytes_per_cycle: 4.0,
        pfunc_bytes_per_cycle: UNIT_BYTES_PER_CYCLE,
        // [DOC] 520 output layout 16W1C8B: one channel per row, rows aligned to 16 bytes.
        layout: FmLayout {
            c_align: 1,
            row_align_bytes: 16,
        },
        input_layout: LAYOUT_4W4C,
        // [DOC] two Cortex-M4 cores (SCPU / NCPU); sustained float rate [GUESS].
        cpu: CpuProfile {
            core: "Cortex-M4 (NCPU)",
            flops_per_us: 50.0,
        },
    },
};

/// KL720.
pub static KL720: PlatformProfile = PlatformProfile {
    platform: Platform::Kl720,
    // [DOC] int16 yes, int4 no, mix modes yes, scale yes.
    caps: Capabilities {
        int4_weights: false,
        ..CAPS_FULL
    },
    ops: OpTable {
        npu: NpuOpSet::Kl720,
        conv: NO_CONV_LIMITS,
        gap_max_hw: None,
        resize_linear: true,
        // [DOC] ConvTranspose (stride 2).
        conv_transpose_strides: &[2],
        cpu_fallback: true,
    },
    hw: HwProfile {
        // [DOC] KL720 SDK: NPU_MHZ 700 (200-700 configurable).
        clock_mhz: 700.0,
        // [DERIVED] 1.4 TOPS / (2 x 700 MHz) = 1000 -> 1024 MACs. Split [GUESS] 16 x 16 x 4.
        mac: MacArray {
            ic: 16,
            oc: 16,
            px: 4,
        },
        // [FIT] pointwise mapping (1x1 convs, Gemm): see EVALUATOR.md.
        mac_pointwise: MacArray {
            ic: 16,
            oc: 16,
            px: 2,
        },
        // [FIT] strided convs pay the skipped positions along rows and columns.
        stride_waste_axes: 2,
        // [GUESS] a 16-bit operand halves the rate.
        mac16_rate: 0.5,
        // [DOC] no int4 on the 720.
        int4_rate: 1.0,
        // [FIT] jointly to the five published networks (calibration.rs); at the top of the
        // grid: the 720 runs the big 3x3 convs of Tiny YOLOv3 at its full nominal rate.
        mac_efficiency: 1.0,
        // [FIT] the published 720 runs MobileNetV2 1.58x faster than MobileNetV1, which a
        // one-lane depthwise conv cannot reproduce.
        dw_window_on_ic: true,
        first_layer_ic: 4,
        // [FIT]
        node_overhead_cycles: 0.0,
        band_overhead_cycles: BAND_OVERHEAD_GUESS,
        // [FIT] among 128 KiB .. 1 MiB.
        weight_buffer_bytes: 1024 * 1024,
        // [GUESS]
        sram_bytes: 1024 * 1024,
        // [GUESS] the evaluator defaults documented for the 530 (8 GB/s) and reported for the
        // 730. The chip's DDR runs at 533 MHz [DOC] (4.3 GB/s if 32-bit); at 4 GB/s no
        // efficiency <= 1 reaches the published MobileNetV2 figure.
        rdma_gbps: 8.0,
        wdma_gbps: 8.0,
        getw_gbps: 8.0,
        stripe_rows: STRIPE_ROWS_GUESS,
        // [FIT] among 4 / 8 / 16.
        cfunc_bytes_per_cycle: 4.0,
        pfunc_bytes_per_cycle: UNIT_BYTES_PER_CYCLE,
        layout: LAYOUT_1W16C,
        input_layout: LAYOUT_4W4C,
        // [DOC] KL720 SDK: Vision DSP at 500 MHz next to the Cortex-M4 SCPU. Rate [GUESS].
        cpu: CpuProfile {
            core: "Cortex-M4 + Vision DSP",
            flops_per_us: 500.0,
        },
    },
};

/// KL530.
pub static KL530: PlatformProfile = PlatformProfile {
    platform: Platform::Kl530,
    caps: CAPS_FULL,
    ops: OpTable {
        npu: NpuOpSet::Kl530,
        conv: NO_CONV_LIMITS,
        gap_max_hw: None,
        resize_linear: true,
        conv_transpose_strides: &[2],
        cpu_fallback: true,
    },
    hw: HwProfile {
        // [DOC] evaluator configuration printed for platform 530: "Frequency = 500 Mhz".
        clock_mhz: 500.0,
        // [DOC] "MAC# = 512". Split [GUESS] 16 x 16 x 2.
        mac: MacArray {
            ic: 16,
            oc: 16,
            px: 2,
        },
        // [FIT] pointwise mapping (1x1 convs, Gemm): see EVALUATOR.md.
        mac_pointwise: MacArray {
            ic: 16,
            oc: 16,
            px: 2,
        },
        // [FIT] strided convs pay the skipped positions along rows.
        stride_waste_axes: 1,
        mac16_rate: 0.5,
        // [DATASHEET] 1 TOPS int4 = 2 x the 0.512 TOPS int8 of 512 MACs at 500 MHz.
        int4_rate: 2.0,
        // [FIT] jointly to the five published networks (calibration.rs).
        mac_efficiency: 0.975,
        dw_window_on_ic: true,
        first_layer_ic: 4,
        // [FIT]
        node_overhead_cycles: 8000.0,
        band_overhead_cycles: BAND_OVERHEAD_GUESS,
        // [FIT] among 128 KiB .. 1 MiB.
        weight_buffer_bytes: 256 * 1024,
        // [GUESS]
        sram_bytes: 1024 * 1024,
        // [DOC] "RDMA/WDMA/GETW_bandwidth_GBPs = 8 GB/s".
        rdma_gbps: 8.0,
        wdma_gbps: 8.0,
        getw_gbps: 8.0,
        stripe_rows: STRIPE_ROWS_GUESS,
        // [FIT] among 4 / 8 / 16.
        cfunc_bytes_per_cycle: 8.0,
        pfunc_bytes_per_cycle: UNIT_BYTES_PER_CYCLE,
        layout: LAYOUT_1W16C,
        input_layout: LAYOUT_4W4C,
        // [GUESS]
        cpu: CpuProfile {
            core: "Cortex-M4",
            flops_per_us: 100.0,
        },
    },
};

/// KL630.
pub static KL630: PlatformProfile = PlatformProfile {
    platform: Platform::Kl630,
    caps: CAPS_FULL,
    ops: OpTable {
        npu: NpuOpSet::Kl530,
        conv: NO_CONV_LIMITS,
        gap_max_hw: None,
        resize_linear: true,
        conv_transpose_strides: &[2],
        cpu_fallback: true,
    },
    hw: HwProfile {
        // [DERIVED] Kneron quotes 0.5 TOPS int8 / 1 TOPS int4, the 530's figures: same clock
        // assumed.
        clock_mhz: 500.0,
        // [FIT] 16x16x4 = 1024 MACs, against the 512 the quoted TOPS imply: the published 630
        // runs Tiny YOLOv3's 2.67 GMAC of 3x3 convs in 9.96 ms, above 512 MACs x 500 MHz even
        // at 100% efficiency. What the 630 really has is not public.
        mac: MacArray {
            ic: 16,
            oc: 16,
            px: 4,
        },
        // [FIT] pointwise mapping (1x1 convs, Gemm): see EVALUATOR.md.
        mac_pointwise: MacArray {
            ic: 16,
            oc: 16,
            px: 2,
        },
        // [FIT] strided convs pay the skipped positions along rows and columns.
        stride_waste_axes: 2,
        mac16_rate: 0.5,
        int4_rate: 2.0,
        // [FIT] jointly to the five published networks (calibration.rs).
        mac_efficiency: 0.70,
        dw_window_on_ic: true,
        first_layer_ic: 4,
        // [FIT]
        node_overhead_cycles: 24000.0,
        band_overhead_cycles: BAND_OVERHEAD_GUESS,
        // [FIT] among 128 KiB .. 1 MiB.
        weight_buffer_bytes: 512 * 1024,
        // [GUESS] larger than the 530's: the published 630 beats the 530 on the
        // feature-map-heavy networks (Tiny YOLOv3, UNet) while losing on the others.
        sram_bytes: 2 * 1024 * 1024,
        // [GUESS] as the 530.
        rdma_gbps: 8.0,
        wdma_gbps: 8.0,
        getw_gbps: 8.0,
        stripe_rows: STRIPE_ROWS_GUESS,
        // [FIT] among 4 / 8 / 16.
        cfunc_bytes_per_cycle: 4.0,
        pfunc_bytes_per_cycle: UNIT_BYTES_PER_CYCLE,
        layout: LAYOUT_1W16C,
        input_layout: LAYOUT_4W4C,
        // [GUESS]
        cpu: CpuProfile {
            core: "Cortex-A5",
            flops_per_us: 500.0,
        },
    },
};

/// KL730.
pub static KL730: PlatformProfile = PlatformProfile {
    platform: Platform::Kl730,
    caps: CAPS_FULL,
    ops: OpTable {
        npu: NpuOpSet::Kl730,
        conv: NO_CONV_LIMITS,
        gap_max_hw: None,
        resize_linear: true,
        conv_transpose_strides: &[2],
        cpu_fallback: true,
    },
    hw: HwProfile {
        // [DATASHEET] "up to 3.6 eTOPS @ int8 / 7.2 eTOPS @ int4" = 2048 MACs x 2 x 880 MHz
        // [DERIVED]; the clock / array split is a [GUESS].
        clock_mhz: 880.0,
        mac: MacArray {
            ic: 16,
            oc: 32,
            px: 4,
        },
        // [FIT] pointwise mapping (1x1 convs, Gemm): see EVALUATOR.md.
        mac_pointwise: MacArray {
            ic: 16,
            oc: 32,
            px: 4,
        },
        // [FIT] strided convs pay the skipped positions along rows and columns.
        stride_waste_axes: 2,
        mac16_rate: 0.5,
        // [DATASHEET] int4 = 2 x int8.
        int4_rate: 2.0,
        // [FIT] jointly to the five published networks (calibration.rs). Below 1: "eTOPS" are
        // "equivalent" TOPS, the physical datapath is likely smaller or slower.
        mac_efficiency: 0.75,
        dw_window_on_ic: true,
        first_layer_ic: 4,
        // [FIT]
        node_overhead_cycles: 4000.0,
        band_overhead_cycles: BAND_OVERHEAD_GUESS,
        // [FIT] among 128 KiB .. 1 MiB.
        weight_buffer_bytes: 128 * 1024,
        // [GUESS]
        sram_bytes: 2 * 1024 * 1024,
        // [USER] 730 evaluator: RDMA 8, WDMA 8, weight 4.5 GB/s.
        rdma_gbps: 8.0,
        wdma_gbps: 8.0,
        getw_gbps: 4.5,
        stripe_rows: STRIPE_ROWS_GUESS,
        // [FIT] among 4 / 8 / 16.
        cfunc_bytes_per_cycle: 4.0,
        pfunc_bytes_per_cycle: UNIT_BYTES_PER_CYCLE,
        layout: LAYOUT_1W16C,
        input_layout: LAYOUT_4W4C,
        // [DATASHEET] quad Cortex-A55. Rate [GUESS].
        cpu: CpuProfile {
            core: "Cortex-A55 x4",
            flops_per_us: 4000.0,
        },
    },
};
