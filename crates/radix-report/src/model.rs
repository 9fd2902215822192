//! The plain data the facade fills in and this crate renders.
//!
//! Every `Option` is `None` when the number is unknown (not measured in this mode, not produced by
//! the evaluator, ...) and serialises as JSON `null`; the renderer shows an empty cell. Nothing here
//! is ever estimated or invented by the report itself.
//!
//! Floats are serialised losslessly: finite values as JSON numbers, and the non-finite values JSON
//! cannot hold as the strings `"inf"`, `"-inf"` and `"nan"` (an exact, bit-identical layer has an
//! SNR of `+inf`; plain serde_json would silently turn it into `null`, i.e. "unknown").

use serde::{Deserialize, Serialize};

/// A complete fixed-point report: `model_fx_report.html` and `model_fx_report.json` are both
/// rendered from one of these.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// Model-level figures.
    pub summary: Summary,
    /// One row per node after fusion, in topological order.
    pub nodes: Vec<NodeRow>,
    /// Per-tensor range histograms gathered during calibration.
    pub histograms: Vec<RangeHistogram>,
    /// The IP evaluator's model-level figures, when it ran.
    pub evaluator: Option<EvaluatorSummary>,
}

/// Model-level figures: what was run, how, and how well it went.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Name of the model.
    pub model_name: String,
    /// Kneron platform number: 520, 530, 630, 720 or 730.
    pub platform: u32,
    /// Version of the Radix toolchain that wrote the report.
    pub toolchain_version: String,
    /// Analysis mode 0..=3 (0: evaluator only; 1: quantize, output SNR on the first input;
    /// 2: + bit-true check on that input; 3: both on every input, with per-layer SNR).
    pub mode: u8,
    /// Bitwidth of the model inputs, e.g. "int8".
    pub input_bitwidth: String,
    /// Bitwidth of the model outputs, e.g. "int8".
    pub output_bitwidth: String,
    /// Bitwidth of the NPU datapath (intermediate tensors), e.g. "int8".
    pub datapath_bitwidth: String,
    /// Bitwidth of the weights, e.g. "int8" or "int4".
    pub weight_bitwidth: String,
    /// Bitwidth of CPU-node outputs, e.g. "int8".
    pub cpu_node_bitwidth: String,
    /// The `datapath_range_method`: "percentage" or "mmse".
    pub range_method: String,
    /// `optimize` level 0..=4 (1-4: bias adjust, see radix-quant's bias_adjust).
    #[serde(default)]
    pub optimize: u8,
    /// MAC nodes whose bias was adjusted (optimize >= 1).
    #[serde(default)]
    pub bias_adjusted_nodes: Option<usize>,
    /// Number of calibration inputs (0 in mode 0).
    pub num_calibration_inputs: usize,
    /// Number of inputs the fixed-point result was verified on (SNR, bit-true check).
    pub num_verified_inputs: usize,
    /// Output SNR of fixed point vs float in dB, the minimum over the outputs.
    #[serde(with = "float_serde::opt_f64")]
    pub snr_db: Option<f64>,
    /// Output SNR per model output (output name, dB).
    #[serde(with = "float_serde::named_f64")]
    pub output_snr_db: Vec<(String, f64)>,
    /// Bit-true match of the fast fixed-point engine against the reference engine on every
    /// tensor of the verified inputs; `None` when not checked (modes 0 and 1).
    pub btm: Option<bool>,
    /// One line about the bit-true check: how many inputs agreed, or the first mismatch.
    pub btm_detail: Option<String>,
    /// Estimated NPU-only frames per second (the evaluator; CPU nodes excluded).
    #[serde(with = "float_serde::opt_f64")]
    pub fps: Option<f64>,
    /// Estimated NPU inference time per image (ms).
    #[serde(with = "float_serde::opt_f64")]
    pub itc_ms: Option<f64>,
    /// Average DDR feature-map read (RDMA) bandwidth over the inference, GB/s.
    #[serde(with = "float_serde::opt_f64")]
    pub rdma_gbps: Option<f64>,
    /// Average DDR write (WDMA) bandwidth over the inference, GB/s.
    #[serde(with = "float_serde::opt_f64")]
    pub wdma_gbps: Option<f64>,
    /// Average weight-load (GETW) bandwidth over the inference, GB/s.
    #[serde(with = "float_serde::opt_f64")]
    pub getw_gbps: Option<f64>,
    /// DDR read per inference without weights (MB).
    #[serde(with = "float_serde::opt_f64")]
    pub rv_mb: Option<f64>,
    /// DDR write per inference (MB).
    #[serde(with = "float_serde::opt_f64")]
    pub wv_mb: Option<f64>,
    /// Names of the nodes that run on the CPU.
    pub cpu_nodes: Vec<String>,
    /// File name of the sealed BIE in the output directory; `None` when none was written.
    pub bie_file: Option<String>,
    /// Path of the float ONNX model analysed.
    pub onnx_file: String,
    /// Wall-clock time of the analysis, seconds.
    #[serde(with = "float_serde::plain_f64")]
    pub elapsed_s: f64,
    /// Warnings of the run (deprecated options, nodes simulated on the CPU, a created key...).
    pub warnings: Vec<String>,
    /// What a user must know about the result's quality: errors (a bit-true mismatch is a bug
    /// in Radix, never the user's fault) and quality warnings (low output SNR, an output whose
    /// parts quantize to nothing). Rendered above the warnings and printed by the CLI.
    #[serde(default)]
    pub findings: Vec<Finding>,
    /// The mixed-precision decision, when a mixed bitwidth mode ran.
    #[serde(default)]
    pub mixed_precision: Option<MixedPrecision>,
}

/// What a mixed bitwidth mode chose and why.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MixedPrecision {
    /// The mode: "mix light", "mix balance" or "mixbw".
    pub mode: String,
    /// The 16-bit compute budget asked (mixbw's `flops_ratio`).
    pub flops_ratio: Option<f64>,
    /// Share of the MAC layers' multiply-accumulates done with 16-bit weights (0 to 1).
    pub sixteen_bit_mac_share: f64,
    /// mixbw: the model-output SNR (dB) the search predicted for its choice.
    pub predicted_snr_db: Option<f64>,
    /// mixbw: the measured model-output SNR (dB) with every MAC layer at 16 bits.
    pub all_16_snr_db: Option<f64>,
    /// Every MAC layer: its bits and, under mixbw, its measured sensitivity (the reference
    /// toolchain's `MIXBW_DEBUG` dump).
    pub layers: Vec<MixedLayer>,
    /// Output SNR against estimated FPS of the other modes next to this run's choice.
    #[serde(default)]
    pub tradeoff: Vec<TradeoffPoint>,
}

/// One mode on the accuracy / speed chart.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TradeoffPoint {
    /// The mode ("int8", "mix light", "mixbw 0.2", ..., "this run").
    pub label: String,
    /// Estimated frames per second (IP evaluator).
    pub fps: f64,
    /// Model-output SNR (dB) against float on the measured inputs.
    pub snr_db: f64,
    /// This run's own choice.
    pub chosen: bool,
}

/// One MAC layer in a mixed-precision model.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MixedLayer {
    /// The node.
    pub name: String,
    /// Multiply-accumulates per inference.
    pub macs: u64,
    /// 8 or 16: its weights and output.
    pub bits: u8,
    /// mixbw: model-output SNR (dB) with only this layer at 8 bits, the rest at 16.
    pub snr_db_alone_at_8: Option<f64>,
    /// mixbw: model-output SNR (dB) predicted for the chosen mix with this layer flipped.
    pub predicted_snr_db_flipped: Option<f64>,
}

/// How serious a [`Finding`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FindingLevel {
    /// The result is wrong (the CLI exits non-zero).
    Error,
    /// The result is valid but may not be good enough; the message says what to try.
    Warning,
}

/// One finding about a run's result, with the advice that goes with it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    /// How serious it is.
    pub level: FindingLevel,
    /// A short machine-readable kind: `btm-mismatch`, `low-snr`, `mixed-range-output`.
    pub kind: String,
    /// The finding and the advice, in plain text for a user.
    pub message: String,
}

/// One node after fusion.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NodeRow {
    /// Node name after fusion.
    pub name: String,
    /// The ONNX nodes this node was made from.
    pub origin: Vec<String>,
    /// `NPU`, `FUSED` or `CPU`.
    pub node_type: String,
    /// ONNX op type.
    pub op: String,
    /// What executes the node, e.g. "npu-fixed" or "cpu-float".
    pub backend: Option<String>,
    /// Bitwidths of the node's quantized inputs, in input order (empty when not quantized).
    pub bw_in: Vec<u32>,
    /// Bitwidth of the node's output (0 when not quantized).
    pub bw_out: u32,
    /// Weight bitwidth of MAC nodes (Conv, Gemm, ...); `None` for the others.
    pub bw_weight: Option<u32>,
    /// Layer SNR fixed vs float in dB; `+inf` when the layer is bit-exact.
    #[serde(with = "float_serde::opt_f64")]
    pub snr_db: Option<f64>,
    /// (min, max) of the node's output range.
    #[serde(with = "float_serde::opt_range")]
    pub range: Option<(f32, f32)>,
    /// Fixed-point radix (fraction bits) of the output (docs/FIXED_POINT.md).
    pub radix: Option<i32>,
    /// Quantisation scale of the output (1.0 on power-of-two platforms).
    #[serde(with = "float_serde::opt_f32")]
    pub scale: Option<f32>,
    /// Multiply-accumulates of one inference.
    pub macs: Option<u64>,
    /// Estimated MAC-array cycles.
    pub mac_cycles: Option<u64>,
    /// Estimated MAC time (ms).
    #[serde(with = "float_serde::opt_f64")]
    pub mac_runtime_ms: Option<f64>,
    /// Feature-map bytes read from DDR.
    pub rdma_bytes: Option<u64>,
    /// Feature-map bytes written to DDR.
    pub wdma_bytes: Option<u64>,
    /// Estimated DDR read time (ms).
    #[serde(with = "float_serde::opt_f64")]
    pub rdma_runtime_ms: Option<f64>,
    /// Estimated DDR write time (ms).
    #[serde(with = "float_serde::opt_f64")]
    pub wdma_runtime_ms: Option<f64>,
    /// Weight and parameter bytes loaded from DDR.
    pub weight_bytes: Option<u64>,
    /// Estimated elementwise / activation unit (CFUNC) time (ms).
    #[serde(with = "float_serde::opt_f64")]
    pub cfunc_runtime_ms: Option<f64>,
    /// Estimated pooling / layout unit (PFUNC) time (ms).
    #[serde(with = "float_serde::opt_f64")]
    pub pfunc_runtime_ms: Option<f64>,
    /// Sum of the unit times, no overlap (ms).
    #[serde(with = "float_serde::opt_f64")]
    pub runtime_ms: Option<f64>,
    /// Time with compute and DMA overlapped: what the node adds to the inference (ms).
    #[serde(with = "float_serde::opt_f64")]
    pub sync_runtime_ms: Option<f64>,
    /// What limits the node in the estimate: "compute", "rdma", "wdma", "weights" or
    /// "overhead" (whichever takes longest); "-" for CPU nodes.
    #[serde(default)]
    pub bound: Option<String>,
}

/// Histogram of one tensor's calibration values.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RangeHistogram {
    /// Name of the tensor (the facade writes `|name|` for a histogram of magnitudes).
    pub tensor: String,
    /// Lower end of the histogram.
    #[serde(with = "float_serde::plain_f32")]
    pub min: f32,
    /// Upper end of the histogram.
    #[serde(with = "float_serde::plain_f32")]
    pub max: f32,
    /// Lower clip threshold chosen by the range method.
    #[serde(with = "float_serde::plain_f32")]
    pub clip_low: f32,
    /// Upper clip threshold chosen by the range method.
    #[serde(with = "float_serde::plain_f32")]
    pub clip_high: f32,
    /// Equal-width bins over `[min, max]`.
    pub bins: Vec<u64>,
    /// Layer SNR of the tensor's node, fixed vs float in dB, when measured.
    #[serde(with = "float_serde::opt_f64")]
    pub snr_db: Option<f64>,
}

/// Model-level figures from the IP evaluator.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EvaluatorSummary {
    /// The tiling strategy evaluated: "default" or "deep_search".
    pub compiler_tiling: String,
    /// MACs of one inference, all nodes.
    pub total_macs: u64,
    /// Number of nodes on the NPU.
    pub npu_nodes: usize,
    /// Number of nodes on the CPU.
    pub cpu_nodes: usize,
    /// Caveats shown with the figures (e.g. that they are estimates, not measurements).
    pub notes: Vec<String>,
}

/// Lossless float (de)serialisation: finite values as numbers, `inf`/`-inf`/`nan` as strings.
pub(crate) mod float_serde {
    use serde::de::{self, Deserializer, Visitor};
    use serde::ser::Serializer;
    use serde::{Deserialize, Serialize};
    use std::fmt;

    /// An f64 that survives JSON.
    pub(crate) struct F64(pub f64);
    /// An f32 that survives JSON (written with f32's shortest representation).
    pub(crate) struct F32(pub f32);

    fn non_finite_name(v: f64) -> &'static str {
        if v.is_nan() {
            "nan"
        } else if v > 0.0 {
            "inf"
        } else {
            "-inf"
        }
    }

    impl Serialize for F64 {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            if self.0.is_finite() {
                s.serialize_f64(self.0)
            } else {
                s.serialize_str(non_finite_name(self.0))
            }
        }
    }

    impl Serialize for F32 {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            if self.0.is_finite() {
                s.serialize_f32(self.0)
            } else {
                s.serialize_str(non_finite_name(f64::from(self.0)))
            }
        }
    }

    struct FloatVisitor;

    impl Visitor<'_> for FloatVisitor {
        type Value = f64;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a number or one of \"inf\", \"-inf\", \"nan\"")
        }

        fn visit_f64<E: de::Error>(self, v: f64) -> Result<f64, E> {
            Ok(v)
        }

        fn visit_i64<E: de::Error>(self, v: i64) -> Result<f64, E> {
            Ok(v as f64)
        }

        fn visit_u64<E: de::Error>(self, v: u64) -> Result<f64, E> {
            Ok(v as f64)
        }

        fn visit_str<E: de::Error>(self, v: &str) -> Result<f64, E> {
            match v {
                "inf" | "+inf" | "Infinity" => Ok(f64::INFINITY),
                "-inf" | "-Infinity" => Ok(f64::NEG_INFINITY),
                "nan" | "NaN" => Ok(f64::NAN),
                other => Err(E::invalid_value(de::Unexpected::Str(other), &self)),
            }
        }
    }

    impl<'de> Deserialize<'de> for F64 {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            d.deserialize_any(FloatVisitor).map(F64)
        }
    }

    impl<'de> Deserialize<'de> for F32 {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            d.deserialize_any(FloatVisitor).map(|v| F32(v as f32))
        }
    }

    pub(crate) mod plain_f64 {
        use super::*;

        pub(crate) fn serialize<S: Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
            F64(*v).serialize(s)
        }

        pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
            F64::deserialize(d).map(|v| v.0)
        }
    }

    pub(crate) mod plain_f32 {
        use super::*;

        pub(crate) fn serialize<S: Serializer>(v: &f32, s: S) -> Result<S::Ok, S::Error> {
            F32(*v).serialize(s)
        }

        pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f32, D::Error> {
            F32::deserialize(d).map(|v| v.0)
        }
    }

    pub(crate) mod opt_f64 {
        use super::*;

        pub(crate) fn serialize<S: Serializer>(v: &Option<f64>, s: S) -> Result<S::Ok, S::Error> {
            v.map(F64).serialize(s)
        }

        pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
            d: D,
        ) -> Result<Option<f64>, D::Error> {
            Ok(Option::<F64>::deserialize(d)?.map(|v| v.0))
        }
    }

    pub(crate) mod opt_f32 {
        use super::*;

        pub(crate) fn serialize<S: Serializer>(v: &Option<f32>, s: S) -> Result<S::Ok, S::Error> {
            v.map(F32).serialize(s)
        }

        pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
            d: D,
        ) -> Result<Option<f32>, D::Error> {
            Ok(Option::<F32>::deserialize(d)?.map(|v| v.0))
        }
    }

    pub(crate) mod opt_range {
        use super::*;

        pub(crate) fn serialize<S: Serializer>(
            v: &Option<(f32, f32)>,
            s: S,
        ) -> Result<S::Ok, S::Error> {
            v.map(|(lo, hi)| (F32(lo), F32(hi))).serialize(s)
        }

        pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
            d: D,
        ) -> Result<Option<(f32, f32)>, D::Error> {
            Ok(Option::<(F32, F32)>::deserialize(d)?.map(|(lo, hi)| (lo.0, hi.0)))
        }
    }

    pub(crate) mod named_f64 {
        use super::*;

        pub(crate) fn serialize<S: Serializer>(
            v: &[(String, f64)],
            s: S,
        ) -> Result<S::Ok, S::Error> {
            s.collect_seq(v.iter().map(|(name, x)| (name, F64(*x))))
        }

        pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
            d: D,
        ) -> Result<Vec<(String, f64)>, D::Error> {
            Ok(Vec::<(String, F64)>::deserialize(d)?
                .into_iter()
                .map(|(name, x)| (name, x.0))
                .collect())
        }
    }
}
