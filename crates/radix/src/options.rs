//! `analysis` options, with ktc's names and defaults (docs/USER_GUIDE.md, Options), validated up front.

use std::path::PathBuf;
use std::sync::Arc;

use radix_quant::{Progress, Silent};

use radix_quant::{QuantConfig, RangeChoice};
use radix_target::{CompilerTiling, Platform};

use crate::{Error, Result};

/// An option value that is not one of the option's spellings.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("`{value}` is not one of {allowed}")]
pub struct ParseOptionError {
    /// The value given.
    pub value: String,
    /// The accepted spellings, comma separated.
    pub allowed: &'static str,
}

macro_rules! option_enum {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident = $spelling:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
        pub enum $name {
            $($(#[$vdoc])* #[serde(rename = $spelling)] $variant),+
        }

        impl $name {
            /// ktc's spelling.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $spelling),+ }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl std::str::FromStr for $name {
            type Err = ParseOptionError;
            /// ktc's spellings, exactly.
            fn from_str(s: &str) -> std::result::Result<Self, ParseOptionError> {
                match s {
                    $($spelling => Ok($name::$variant),)+
                    _ => Err(ParseOptionError {
                        value: s.to_string(),
                        allowed: concat!($($spelling, ", "),+).trim_end_matches(", "),
                    }),
                }
            }
        }
    };
}

option_enum! {
    /// `quantize_mode`.
    QuantizeMode {
        /// Ranges from the calibration statistics.
        Default = "default",
        /// For models whose final sigmoids were cut off: output ranges chosen for accuracy
        /// after a sigmoid.
        PostSigmoid = "post_sigmoid",
    }
}

option_enum! {
    /// `datapath_range_method`.
    RangeMethod {
        /// Keep the `percentage` smallest magnitudes of each tensor.
        Percentage = "percentage",
        /// The clipping threshold with the least quantization error.
        Mmse = "mmse",
    }
}

option_enum! {
    /// `*_bitwidth_mode`: a bitwidth, or a mixed-precision policy.
    BitwidthMode {
        /// 4-bit (weights only).
        Int4 = "int4",
        /// 8-bit.
        Int8 = "int8",
        /// 16-bit.
        Int16 = "int16",
        /// Small-channel convolutions and BatchNorm in 16-bit, the rest 8-bit.
        MixLight = "mix light",
        /// Prefers 16-bit.
        MixBalance = "mix balance",
        /// The most sensitive layers in 16-bit within `flops_ratio`.
        Mixbw = "mixbw",
    }
}

impl BitwidthMode {
    /// The bit count of a plain bitwidth (None for the mixed modes).
    pub fn bits(self) -> Option<u8> {
        match self {
            BitwidthMode::Int4 => Some(4),
            BitwidthMode::Int8 => Some(8),
            BitwidthMode::Int16 => Some(16),
            _ => None,
        }
    }
}

/// A shared [`Progress`] receiver for [`AnalysisOptions::progress`]: stages "calibrating",
/// "bias adjust" and "verifying", each with `done` of `total` steps.
#[derive(Clone, Default)]
pub struct ProgressSink(Option<Arc<dyn Progress + Send>>);

impl ProgressSink {
    /// Reports to `progress`.
    pub fn new(progress: impl Progress + Send + 'static) -> Self {
        ProgressSink(Some(Arc::new(progress)))
    }
    /// The receiver ([`Silent`] when none was given).
    pub fn get(&self) -> &dyn Progress {
        match &self.0 {
            Some(p) => p.as_ref(),
            None => &Silent,
        }
    }
}

impl std::fmt::Debug for ProgressSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() {
            "ProgressSink(..)"
        } else {
            "ProgressSink(none)"
        })
    }
}

/// The options of [`crate::ModelConfig::analysis`] and [`crate::ModelConfig::quantize`], with
/// ktc's names and defaults (docs/USER_GUIDE.md, "Options").
#[derive(Clone, Debug, serde::Serialize)]
pub struct AnalysisOptions {
    /// Where the BIE and the reports go (created if missing).
    pub output_dir: PathBuf,
    /// Worker threads, 1-1024; results do not depend on it.
    pub threads: usize,
    /// How output ranges are chosen (`default` or `post_sigmoid`).
    pub quantize_mode: QuantizeMode,
    /// How each tensor's range is chosen from its statistics.
    pub datapath_range_method: RangeMethod,
    /// Fraction of |x| kept for 8-bit tensors (`percentage` method; 1.0 = min/max).
    pub percentage: f64,
    /// Fraction of |x| kept for 16-bit tensors.
    pub percentage_16b: f64,
    /// Top fraction of |x| the `mmse` method searches its threshold in.
    pub percentile: f64,
    /// Widening of the `mmse` range (>= 1).
    pub outlier_factor: f64,
    /// Every datapath tensor: int8 or int16.
    pub datapath_bitwidth_mode: BitwidthMode,
    /// Every weight: int4, int8 or int16.
    pub weight_bitwidth_mode: BitwidthMode,
    /// The model inputs: int8 or int16.
    pub model_in_bitwidth_mode: BitwidthMode,
    /// The model outputs: int8 or int16.
    pub model_out_bitwidth_mode: BitwidthMode,
    /// Tensors around CPU (float) nodes: int8 or int16.
    pub cpu_node_bitwidth_mode: BitwidthMode,
    /// Extra 16-bit FLOPs `mixbw` may add, as a fraction of the model's.
    pub flops_ratio: f64,
    /// Beyond ktc: spend an estimated-speed budget instead of `flops_ratio` (`fps=550`: the best
    /// predicted SNR whose IP-evaluator estimate is at least 550 FPS). Only with mixbw.
    pub mixbw_budget: Option<MixbwBudget>,
    /// Feature-map tiling of the performance estimate.
    pub compiler_tiling: CompilerTiling,
    /// Deprecated: the older name of `compiler_tiling` (ktc's reference manual still calls
    /// `analysis(..., fm_cut='deep_search')`). When set it stands for `compiler_tiling`, and the
    /// analysis reports a one-line deprecation warning; both set to different values is an error.
    pub fm_cut: Option<CompilerTiling>,
    /// 0 estimate only; 1 quantize; 2 + bit-true check on one input; 3 + on every input with per-layer SNR.
    pub mode: u8,
    /// 0 none; 1 bias adjust (layers in parallel); 2 = 1 + deep-search tiling; 3 bias adjust
    /// (sequential); 4 = 3 + deep-search tiling.
    pub optimize: u8,
    /// Explicit BIE key file (else RADIX_BIE_KEY, else the per-user key).
    #[serde(skip)]
    pub key_file: Option<PathBuf>,
    /// Where long work reports its progress (default: nowhere; the library never prints).
    #[serde(skip)]
    pub progress: ProgressSink,
}

impl Default for AnalysisOptions {
    fn default() -> Self {
        AnalysisOptions {
            output_dir: PathBuf::from("out"),
            threads: 4,
            quantize_mode: QuantizeMode::Default,
            datapath_range_method: RangeMethod::Percentage,
            percentage: 0.999,
            percentage_16b: 0.999999,
            percentile: 0.001,
            outlier_factor: 1.0,
            datapath_bitwidth_mode: BitwidthMode::Int8,
            weight_bitwidth_mode: BitwidthMode::Int8,
            model_in_bitwidth_mode: BitwidthMode::Int8,
            model_out_bitwidth_mode: BitwidthMode::Int8,
            cpu_node_bitwidth_mode: BitwidthMode::Int8,
            flops_ratio: 0.2,
            mixbw_budget: None,
            compiler_tiling: CompilerTiling::Default,
            fm_cut: None,
            mode: 1,
            optimize: 0,
            key_file: None,
            progress: ProgressSink::default(),
        }
    }
}

fn opt_err(option: &str, msg: impl Into<String>) -> Error {
    Error::Option {
        option: option.into(),
        msg: msg.into(),
    }
}

impl AnalysisOptions {
    /// One line per deprecated option in use, naming its replacement.
    pub fn deprecations(&self) -> Vec<String> {
        match &self.fm_cut {
            Some(_) => vec![
                "option `fm_cut` is deprecated: it is the older name of `compiler_tiling`".into(),
            ],
            None => Vec::new(),
        }
    }

    /// Checks every option and turns them into the quantizer's configuration.
    pub fn resolve(&self, platform: Platform) -> Result<Resolved> {
        if self.threads == 0 || self.threads > 1024 {
            return Err(opt_err(
                "threads",
                format!("{} is not in 1..=1024", self.threads),
            ));
        }
        if self.mode > 3 {
            return Err(opt_err("mode", format!("{} is not in 0..=3", self.mode)));
        }
        if self.optimize > 4 {
            return Err(opt_err(
                "optimize",
                format!("{} is not in 0..=4", self.optimize),
            ));
        }
        let post_sigmoid = self.quantize_mode == QuantizeMode::PostSigmoid;
        let range = match self.datapath_range_method {
            RangeMethod::Percentage => {
                for (name, p) in [
                    ("percentage", self.percentage),
                    ("percentage_16b", self.percentage_16b),
                ] {
                    if !(p > 0.0 && p <= 1.0) {
                        return Err(opt_err(name, format!("{p} is not in (0, 1]")));
                    }
                }
                RangeChoice::Percentage {
                    percentage: self.percentage,
                    percentage_16b: self.percentage_16b,
                }
            }
            RangeMethod::Mmse => {
                if !(self.percentile > 0.0 && self.percentile < 1.0) {
                    return Err(opt_err(
                        "percentile",
                        format!("{} is not in (0, 1)", self.percentile),
                    ));
                }
                if !(self.outlier_factor >= 1.0 && self.outlier_factor.is_finite()) {
                    return Err(opt_err(
                        "outlier_factor",
                        format!("{} must be >= 1", self.outlier_factor),
                    ));
                }
                RangeChoice::Mmse {
                    percentile: self.percentile,
                    outlier_factor: self.outlier_factor,
                }
            }
        };
        if !(self.flops_ratio > 0.0 && self.flops_ratio <= 1.0) {
            return Err(opt_err(
                "flops_ratio",
                format!("{} is not in (0, 1]", self.flops_ratio),
            ));
        }
        let mut tiling = match self.fm_cut {
            Some(v)
                if self.compiler_tiling != CompilerTiling::Default && v != self.compiler_tiling =>
            {
                return Err(opt_err(
                    "fm_cut",
                    format!(
                        "`{v}` disagrees with compiler_tiling `{}` (fm_cut is its older name: set one)",
                        self.compiler_tiling
                    ),
                ));
            }
            Some(v) => v,
            None => self.compiler_tiling,
        };
        // Platform capability first, so "int16 on 520" names both platform and option.
        let modes = [
            ("datapath_bitwidth_mode", self.datapath_bitwidth_mode),
            ("weight_bitwidth_mode", self.weight_bitwidth_mode),
            ("model_in_bitwidth_mode", self.model_in_bitwidth_mode),
            ("model_out_bitwidth_mode", self.model_out_bitwidth_mode),
            ("cpu_node_bitwidth_mode", self.cpu_node_bitwidth_mode),
        ];
        for (option, value) in modes {
            platform.check_bitwidth_request(option, value.as_str())?;
        }
        let policy = self.bitwidth_policy()?;
        if self.mixbw_budget.is_some() && policy != Some(Bitwidths::MixBw) {
            return Err(opt_err(
                "mixbw_budget",
                "is only used by mixbw (set datapath_bitwidth_mode and weight_bitwidth_mode to mixbw)"
                    .to_string(),
            ));
        }
        let mix_bits = policy.map(Bitwidths::default_bits);
        // Which plain bitwidths each option takes (a mixed mode sets its own, `mix_bits`).
        let bits = |option: &str, mode: BitwidthMode, allowed: &[u8]| -> Result<u8> {
            let names = || {
                allowed
                    .iter()
                    .map(|b| format!("int{b}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            match mode.bits() {
                Some(b) if allowed.contains(&b) => Ok(b),
                Some(_) => Err(opt_err(
                    option,
                    format!("`{mode}` is not one of {}", names()),
                )),
                None => Err(opt_err(
                    option,
                    format!(
                        "`{mode}` is a mixed mode for datapath_bitwidth_mode and weight_bitwidth_mode; use {}",
                        names()
                    ),
                )),
            }
        };
        // Under mixbw the model's inputs, outputs and CPU nodes are 16-bit whatever they say.
        let mixbw = matches!(policy, Some(Bitwidths::MixBw));
        let boundary = |option: &str, mode: BitwidthMode| -> Result<u8> {
            if mixbw {
                Ok(16)
            } else {
                bits(option, mode, &[8, 16])
            }
        };
        let (datapath_bits, weight_bits) = match mix_bits {
            Some(b) => b,
            None => (
                bits(
                    "datapath_bitwidth_mode",
                    self.datapath_bitwidth_mode,
                    &[8, 16],
                )?,
                bits(
                    "weight_bitwidth_mode",
                    self.weight_bitwidth_mode,
                    &[4, 8, 16],
                )?,
            ),
        };
        let cfg = QuantConfig {
            platform,
            datapath_bits,
            weight_bits,
            model_in_bits: boundary("model_in_bitwidth_mode", self.model_in_bitwidth_mode)?,
            model_out_bits: boundary("model_out_bitwidth_mode", self.model_out_bitwidth_mode)?,
            cpu_node_bits: boundary("cpu_node_bitwidth_mode", self.cpu_node_bitwidth_mode)?,
            range,
            post_sigmoid,
            assignment: None,
        };
        // optimize 2 and 4 are 1 and 3 plus deep-search tiling.
        if matches!(self.optimize, 2 | 4) {
            tiling = CompilerTiling::DeepSearch;
        }
        Ok(Resolved {
            cfg,
            tiling,
            bitwidths: policy,
        })
    }

    /// The mixed-precision policy the two bitwidth options ask for, and the (datapath, weight)
    /// defaults it implies; `None` for plain bitwidths. The reference toolchain's rules: a mixed
    /// mode is set on both options (mixbw also pairs with int16 on the other one).
    fn bitwidth_policy(&self) -> Result<Option<Bitwidths>> {
        use BitwidthMode::*;
        let (data, weight) = (self.datapath_bitwidth_mode, self.weight_bitwidth_mode);
        let both = || {
            opt_err(
                "datapath_bitwidth_mode",
                format!(
                    "`{data}` does not go with weight_bitwidth_mode `{weight}`: set both to the same mixed mode (mixbw also pairs with int16)"
                ),
            )
        };
        Ok(match (data, weight) {
            (MixLight, MixLight) => Some(Bitwidths::MixLight),
            (MixBalance, MixBalance) => Some(Bitwidths::MixBalance),
            (Mixbw, Mixbw) | (Mixbw, Int16) | (Int16, Mixbw) => Some(Bitwidths::MixBw),
            (MixLight | MixBalance | Mixbw, _) | (_, MixLight | MixBalance | Mixbw) => {
                return Err(both());
            }
            _ => None,
        })
    }
}

/// What mixbw may spend on 16-bit layers, beyond ktc's `flops_ratio`.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
#[serde(into = "String")]
pub enum MixbwBudget {
    /// The chosen model's estimated FPS must be at least this.
    Fps(f64),
}

impl From<MixbwBudget> for String {
    fn from(b: MixbwBudget) -> String {
        b.to_string()
    }
}

impl std::fmt::Display for MixbwBudget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MixbwBudget::Fps(n) => write!(f, "fps={n}"),
        }
    }
}

impl std::str::FromStr for MixbwBudget {
    type Err = ParseOptionError;
    /// `fps=<N>` with N > 0.
    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        let bad = || ParseOptionError {
            value: s.to_string(),
            allowed: "fps=<N> (N > 0)",
        };
        match s.trim().split_once('=') {
            Some((k, v)) if k.trim().eq_ignore_ascii_case("fps") => {
                let n: f64 = v.trim().parse().map_err(|_| bad())?;
                if n.is_finite() && n > 0.0 {
                    Ok(MixbwBudget::Fps(n))
                } else {
                    Err(bad())
                }
            }
            _ => Err(bad()),
        }
    }
}

/// The mixed-precision policy the options chose (see `radix_bitwidth`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bitwidths {
    /// `mix light`.
    MixLight,
    /// `mix balance`.
    MixBalance,
    /// `mixbw`, within `flops_ratio`.
    MixBw,
}

impl Bitwidths {
    /// The mode as the options spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            Bitwidths::MixLight => "mix light",
            Bitwidths::MixBalance => "mix balance",
            Bitwidths::MixBw => "mixbw",
        }
    }

    /// (datapath, weight) bits of what the policy does not decide (e.g. elementwise constants).
    pub fn default_bits(self) -> (u8, u8) {
        match self {
            Bitwidths::MixLight => (8, 8),
            Bitwidths::MixBalance | Bitwidths::MixBw => (16, 16),
        }
    }
}

/// The options turned into what the pipeline needs.
#[derive(Clone, Debug)]
pub struct Resolved {
    /// The quantizer's configuration (its `assignment` is filled once the policy has run).
    pub cfg: QuantConfig,
    /// The evaluator's tiling.
    pub tiling: CompilerTiling,
    /// The mixed-precision policy, if a mixed mode was asked for.
    pub bitwidths: Option<Bitwidths>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fm_cut_is_the_older_name_of_compiler_tiling() {
        let p = Platform::Kl720;
        let with = |fm_cut: Option<&str>, tiling: &str| AnalysisOptions {
            fm_cut: fm_cut.map(|v| v.parse().unwrap()),
            compiler_tiling: tiling.parse().unwrap(),
            ..Default::default()
        };
        let o = with(Some("deep_search"), "default");
        assert_eq!(o.resolve(p).unwrap().tiling, CompilerTiling::DeepSearch);
        assert_eq!(o.deprecations().len(), 1);
        assert!(with(None, "default").deprecations().is_empty());
        // Both given and equal is fine; different is an error naming both.
        assert!(with(Some("deep_search"), "deep_search").resolve(p).is_ok());
        let e = with(Some("default"), "deep_search").resolve(p).unwrap_err();
        assert!(e.to_string().contains("fm_cut") && e.to_string().contains("deep_search"));
        assert!("sideways".parse::<CompilerTiling>().is_err());
    }

    #[test]
    fn options_parse_ktc_spellings_and_name_the_allowed_ones() {
        for m in ["int4", "int8", "int16", "mix light", "mix balance", "mixbw"] {
            assert_eq!(m.parse::<BitwidthMode>().unwrap().as_str(), m);
        }
        let e = "int12".parse::<BitwidthMode>().unwrap_err().to_string();
        assert_eq!(
            e,
            "`int12` is not one of int4, int8, int16, mix light, mix balance, mixbw"
        );
        assert_eq!("mmse".parse::<RangeMethod>(), Ok(RangeMethod::Mmse));
        assert_eq!(
            "post_sigmoid".parse::<QuantizeMode>(),
            Ok(QuantizeMode::PostSigmoid)
        );
        // Serialized (the BIE header's options_json) with the same spellings.
        let json = serde_json::to_string(&AnalysisOptions::default()).unwrap();
        assert!(
            json.contains(r#""datapath_bitwidth_mode":"int8""#),
            "{json}"
        );
        // A plain bitwidth an option does not take, and a mixed mode, are errors naming it.
        let o = AnalysisOptions {
            model_in_bitwidth_mode: BitwidthMode::Int4,
            ..Default::default()
        };
        let e = o.resolve(Platform::Kl720).unwrap_err().to_string();
        assert!(
            e.contains("model_in_bitwidth_mode") && e.contains("int4"),
            "{e}"
        );
        // Mixed modes: on both options (mixbw also with int16), never on a model input.
        let mixed = |data: BitwidthMode, weight: BitwidthMode| AnalysisOptions {
            datapath_bitwidth_mode: data,
            weight_bitwidth_mode: weight,
            ..Default::default()
        };
        use BitwidthMode::*;
        for (d, w, want) in [
            (MixLight, MixLight, Some(Bitwidths::MixLight)),
            (MixBalance, MixBalance, Some(Bitwidths::MixBalance)),
            (Mixbw, Mixbw, Some(Bitwidths::MixBw)),
            (Mixbw, Int16, Some(Bitwidths::MixBw)),
            (Int16, Mixbw, Some(Bitwidths::MixBw)),
        ] {
            let r = mixed(d, w).resolve(Platform::Kl720).unwrap();
            assert_eq!(r.bitwidths, want);
            if want == Some(Bitwidths::MixBw) {
                assert_eq!((r.cfg.model_in_bits, r.cfg.model_out_bits), (16, 16));
            }
        }
        for (d, w) in [
            (Mixbw, Int8),
            (MixLight, Int8),
            (Int8, MixBalance),
            (MixLight, Mixbw),
        ] {
            let e = mixed(d, w)
                .resolve(Platform::Kl720)
                .unwrap_err()
                .to_string();
            assert!(
                e.contains("datapath_bitwidth_mode") && e.contains("weight_bitwidth_mode"),
                "{e}"
            );
        }
        let e = mixed(MixLight, MixLight)
            .resolve(Platform::Kl520)
            .unwrap_err()
            .to_string();
        assert!(e.contains("520") || e.contains("KL520"), "{e}");
        let o = AnalysisOptions {
            model_in_bitwidth_mode: Mixbw,
            ..Default::default()
        };
        let e = o.resolve(Platform::Kl720).unwrap_err().to_string();
        assert!(e.contains("model_in_bitwidth_mode"), "{e}");
    }
}
