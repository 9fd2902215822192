//! `analysis` options, with ktc's names and defaults (docs/USER_GUIDE.md, Options), validated up front.

use std::path::PathBuf;
use std::sync::Arc;

use radix_quant::{Progress, Silent};

use radix_quant::{QuantConfig, RangeChoice};
use radix_target::{CompilerTiling, Platform};

use crate::{Error, Result};

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

#[derive(Clone, Debug, serde::Serialize)]
pub struct AnalysisOptions {
    pub output_dir: PathBuf,
    pub threads: usize,
    /// "default" | "post_sigmoid"
    pub quantize_mode: String,
    /// "percentage" | "mmse"
    pub datapath_range_method: String,
    pub percentage: f64,
    pub percentage_16b: f64,
    pub percentile: f64,
    pub outlier_factor: f64,
    pub datapath_bitwidth_mode: String,
    pub weight_bitwidth_mode: String,
    pub model_in_bitwidth_mode: String,
    pub model_out_bitwidth_mode: String,
    pub cpu_node_bitwidth_mode: String,
    pub flops_ratio: f64,
    /// "default" | "deep_search"
    pub compiler_tiling: String,
    /// Deprecated: the older name of `compiler_tiling` (ktc's reference manual still calls
    /// `analysis(..., fm_cut='deep_search')`). When set it stands for `compiler_tiling`, and the
    /// analysis reports a one-line deprecation warning; both set to different values is an error.
    pub fm_cut: Option<String>,
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
            quantize_mode: "default".into(),
            datapath_range_method: "percentage".into(),
            percentage: 0.999,
            percentage_16b: 0.999999,
            percentile: 0.001,
            outlier_factor: 1.0,
            datapath_bitwidth_mode: "int8".into(),
            weight_bitwidth_mode: "int8".into(),
            model_in_bitwidth_mode: "int8".into(),
            model_out_bitwidth_mode: "int8".into(),
            cpu_node_bitwidth_mode: "int8".into(),
            flops_ratio: 0.2,
            compiler_tiling: "default".into(),
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

fn bits_of(option: &str, v: &str, allowed: &[(&str, u8)]) -> Result<u8> {
    allowed
        .iter()
        .find(|(n, _)| *n == v)
        .map(|(_, b)| *b)
        .ok_or_else(|| {
            let names: Vec<&str> = allowed.iter().map(|(n, _)| *n).collect();
            opt_err(option, format!("`{v}` is not one of {}", names.join(", ")))
        })
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
    pub fn resolve(&self, platform: Platform) -> Result<(QuantConfig, CompilerTiling)> {
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
        let post_sigmoid = match self.quantize_mode.as_str() {
            "default" => false,
            "post_sigmoid" => true,
            v => {
                return Err(opt_err(
                    "quantize_mode",
                    format!("`{v}` is not one of default, post_sigmoid"),
                ));
            }
        };
        let range = match self.datapath_range_method.as_str() {
            "percentage" => {
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
            "mmse" => {
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
            v => {
                return Err(opt_err(
                    "datapath_range_method",
                    format!("`{v}` is not one of percentage, mmse"),
                ));
            }
        };
        if !(self.flops_ratio > 0.0 && self.flops_ratio <= 1.0) {
            return Err(opt_err(
                "flops_ratio",
                format!("{} is not in (0, 1]", self.flops_ratio),
            ));
        }
        let (tiling_option, tiling_value) = match &self.fm_cut {
            Some(v) if self.compiler_tiling != "default" && *v != self.compiler_tiling => {
                return Err(opt_err(
                    "fm_cut",
                    format!(
                        "`{v}` disagrees with compiler_tiling `{}` (fm_cut is its older name: set one)",
                        self.compiler_tiling
                    ),
                ));
            }
            Some(v) => ("fm_cut", v),
            None => ("compiler_tiling", &self.compiler_tiling),
        };
        let mut tiling: CompilerTiling = tiling_value.parse().map_err(|_| {
            opt_err(
                tiling_option,
                format!("`{tiling_value}` is not one of default, deep_search"),
            )
        })?;
        // Platform capability first, so "int16 on 520" names both platform and option.
        for (option, value) in [
            ("datapath_bitwidth_mode", &self.datapath_bitwidth_mode),
            ("weight_bitwidth_mode", &self.weight_bitwidth_mode),
            ("model_in_bitwidth_mode", &self.model_in_bitwidth_mode),
            ("model_out_bitwidth_mode", &self.model_out_bitwidth_mode),
            ("cpu_node_bitwidth_mode", &self.cpu_node_bitwidth_mode),
        ] {
            platform.check_bitwidth_request(option, value)?;
        }
        let io = [("int8", 8u8), ("int16", 16)];
        let datapath_bits = match self.datapath_bitwidth_mode.as_str() {
            "mix light" | "mix balance" | "mixbw" => {
                return Err(opt_err(
                    "datapath_bitwidth_mode",
                    format!(
                        "`{}` is not implemented yet in Radix; use int8 or int16",
                        self.datapath_bitwidth_mode
                    ),
                ));
            }
            v => bits_of("datapath_bitwidth_mode", v, &io)?,
        };
        let weight_bits = match self.weight_bitwidth_mode.as_str() {
            "mix light" | "mix balance" | "mixbw" => {
                return Err(opt_err(
                    "weight_bitwidth_mode",
                    format!(
                        "`{}` is not implemented yet in Radix; use int4, int8 or int16",
                        self.weight_bitwidth_mode
                    ),
                ));
            }
            v => bits_of(
                "weight_bitwidth_mode",
                v,
                &[("int4", 4), ("int8", 8), ("int16", 16)],
            )?,
        };
        let cfg = QuantConfig {
            platform,
            datapath_bits,
            weight_bits,
            model_in_bits: bits_of("model_in_bitwidth_mode", &self.model_in_bitwidth_mode, &io)?,
            model_out_bits: bits_of(
                "model_out_bitwidth_mode",
                &self.model_out_bitwidth_mode,
                &io,
            )?,
            cpu_node_bits: bits_of("cpu_node_bitwidth_mode", &self.cpu_node_bitwidth_mode, &io)?,
            range,
            post_sigmoid,
        };
        // optimize 2 and 4 are 1 and 3 plus deep-search tiling.
        if matches!(self.optimize, 2 | 4) {
            tiling = CompilerTiling::DeepSearch;
        }
        Ok((cfg, tiling))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fm_cut_is_the_older_name_of_compiler_tiling() {
        let p = Platform::Kl720;
        let with = |fm_cut: Option<&str>, tiling: &str| AnalysisOptions {
            fm_cut: fm_cut.map(String::from),
            compiler_tiling: tiling.into(),
            ..Default::default()
        };
        let o = with(Some("deep_search"), "default");
        assert_eq!(o.resolve(p).unwrap().1, CompilerTiling::DeepSearch);
        assert_eq!(o.deprecations().len(), 1);
        assert!(with(None, "default").deprecations().is_empty());
        // Both given and equal is fine; different is an error naming both.
        assert!(with(Some("deep_search"), "deep_search").resolve(p).is_ok());
        let e = with(Some("default"), "deep_search").resolve(p).unwrap_err();
        assert!(e.to_string().contains("fm_cut") && e.to_string().contains("deep_search"));
        let e = with(Some("sideways"), "default").resolve(p).unwrap_err();
        assert!(e.to_string().contains("option `fm_cut`"), "{e}");
    }
}
