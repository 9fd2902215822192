//! Platforms, their capabilities (docs/USER_GUIDE.md, Platforms) and the validation of bitwidth requests.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::TargetError;

/// A Kneron-class NPU.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Platform {
    /// KL520: no int16 or mixed modes; power-of-two scales only.
    Kl520,
    /// KL530.
    Kl530,
    /// KL630.
    Kl630,
    /// KL720: no int4 weights.
    Kl720,
    /// KL730.
    Kl730,
}

impl Platform {
    /// Every platform, in ascending number.
    pub const ALL: [Platform; 5] = [
        Platform::Kl520,
        Platform::Kl530,
        Platform::Kl630,
        Platform::Kl720,
        Platform::Kl730,
    ];

    /// The platform with this number (520, 530, 630, 720, 730).
    pub fn from_number(n: u32) -> Result<Platform, TargetError> {
        match n {
            520 => Ok(Platform::Kl520),
            530 => Ok(Platform::Kl530),
            630 => Ok(Platform::Kl630),
            720 => Ok(Platform::Kl720),
            730 => Ok(Platform::Kl730),
            _ => Err(TargetError::UnknownPlatform(n.to_string())),
        }
    }

    /// The platform number, e.g. 720.
    pub fn number(self) -> u32 {
        match self {
            Platform::Kl520 => 520,
            Platform::Kl530 => 530,
            Platform::Kl630 => 630,
            Platform::Kl720 => 720,
            Platform::Kl730 => 730,
        }
    }

    /// Capabilities (bitwidths, scale, per-channel weights, inputs) of this platform.
    pub fn capabilities(self) -> &'static Capabilities {
        &crate::profile::PlatformProfile::get(self).caps
    }

    /// Fails when this platform cannot serve `value` for the analysis option `option`
    /// (`datapath_bitwidth_mode`, `weight_bitwidth_mode`, `model_in_bitwidth_mode`,
    /// `model_out_bitwidth_mode`, `cpu_node_bitwidth_mode`). The error names both.
    pub fn check_bitwidth_request(self, option: &str, value: &str) -> Result<(), TargetError> {
        self.capabilities()
            .check_bitwidth_request(self, option, value)
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KL{}", self.number())
    }
}

impl FromStr for Platform {
    type Err = TargetError;

    /// Accepts "520", "kl520", "KL520", "kdp520" (surrounding blanks ignored).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim().to_ascii_lowercase();
        let digits = t
            .strip_prefix("kl")
            .or_else(|| t.strip_prefix("kdp"))
            .unwrap_or(&t);
        match digits.parse::<u32>() {
            Ok(n) => Platform::from_number(n).map_err(|_| TargetError::UnknownPlatform(s.into())),
            Err(_) => Err(TargetError::UnknownPlatform(s.into())),
        }
    }
}

/// A bitwidth mode as written in the analysis options.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum BitwidthMode {
    /// "int4": 4-bit weights (`weight_bitwidth_mode` only).
    Int4,
    /// "int8".
    Int8,
    /// "int16".
    Int16,
    /// "mix light": a mixed-precision mode (the analysis options refuse mixed modes until
    /// they are implemented, docs/USER_GUIDE.md).
    MixLight,
    /// "mix balance": a mixed-precision mode (refused by the options, like the others).
    MixBalance,
    /// "mixbw": mixed precision within `flops_ratio` extra 16-bit FLOPs (refused by the options).
    MixBw,
}

impl BitwidthMode {
    /// The spelling used by the options ("mix light", not "mix_light").
    pub fn as_str(self) -> &'static str {
        match self {
            BitwidthMode::Int4 => "int4",
            BitwidthMode::Int8 => "int8",
            BitwidthMode::Int16 => "int16",
            BitwidthMode::MixLight => "mix light",
            BitwidthMode::MixBalance => "mix balance",
            BitwidthMode::MixBw => "mixbw",
        }
    }

    /// True for the mixed modes ("mix light", "mix balance", "mixbw").
    pub fn is_mix(self) -> bool {
        matches!(
            self,
            BitwidthMode::MixLight | BitwidthMode::MixBalance | BitwidthMode::MixBw
        )
    }
}

impl fmt::Display for BitwidthMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for BitwidthMode {
    type Err = TargetError;

    /// "int8", "int16", "int4", "mix light" (also "mix_light", "mixlight"), "mix balance",
    /// "mixbw"; case-insensitive.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t: String = s
            .trim()
            .to_ascii_lowercase()
            .chars()
            .filter(|c| !matches!(c, ' ' | '_' | '-'))
            .collect();
        match t.as_str() {
            "int4" => Ok(BitwidthMode::Int4),
            "int8" => Ok(BitwidthMode::Int8),
            "int16" => Ok(BitwidthMode::Int16),
            "mixlight" => Ok(BitwidthMode::MixLight),
            "mixbalance" => Ok(BitwidthMode::MixBalance),
            "mixbw" => Ok(BitwidthMode::MixBw),
            _ => Err(TargetError::InvalidOptionValue {
                option: "a bitwidth mode".into(),
                value: s.into(),
                allowed: "\"int4\", \"int8\", \"int16\", \"mix light\", \"mix balance\", \"mixbw\""
                    .into(),
            }),
        }
    }
}

/// The bitwidth options of `analysis` that a platform validates.
pub const BITWIDTH_OPTIONS: [&str; 5] = [
    "datapath_bitwidth_mode",
    "weight_bitwidth_mode",
    "model_in_bitwidth_mode",
    "model_out_bitwidth_mode",
    "cpu_node_bitwidth_mode",
];

/// The values each bitwidth option accepts, whatever the platform (seed §4.1).
pub fn allowed_values(option: &str) -> Option<&'static [BitwidthMode]> {
    use BitwidthMode::*;
    match option {
        "datapath_bitwidth_mode" => Some(&[Int8, Int16, MixBalance, MixLight, MixBw]),
        "weight_bitwidth_mode" => Some(&[Int8, Int16, Int4, MixBalance, MixLight, MixBw]),
        "model_in_bitwidth_mode" | "model_out_bitwidth_mode" | "cpu_node_bitwidth_mode" => {
            Some(&[Int8, Int16])
        }
        _ => None,
    }
}

/// What a platform can do (the table of docs/USER_GUIDE.md, Platforms).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Capabilities {
    /// int16 datapath and int16 weights. \[DOC\] not on 520.
    pub int16: bool,
    /// int4 weights. \[DOC\] not on 720.
    pub int4_weights: bool,
    /// "mix light", "mix balance" and "mixbw". \[DOC\] not on 520.
    pub mix_modes: bool,
    /// Non-power-of-two scale (docs/FIXED_POINT.md): 520 is pure power of two (scale = 1).
    pub non_pow2_scale: bool,
    /// Per-output-channel weight parameters. \[SRC\] 520 keeps a per-channel radix; all have it.
    pub per_channel_weights: bool,
    /// At most this many model inputs. \[DOC\] 5.
    pub max_model_inputs: usize,
}

impl Capabilities {
    fn supports(&self, mode: BitwidthMode) -> bool {
        match mode {
            BitwidthMode::Int8 => true,
            BitwidthMode::Int16 => self.int16,
            BitwidthMode::Int4 => self.int4_weights,
            BitwidthMode::MixLight | BitwidthMode::MixBalance | BitwidthMode::MixBw => {
                self.mix_modes
            }
        }
    }

    /// See [`Platform::check_bitwidth_request`].
    pub fn check_bitwidth_request(
        &self,
        platform: Platform,
        option: &str,
        value: &str,
    ) -> Result<(), TargetError> {
        let allowed = allowed_values(option).ok_or_else(|| TargetError::UnknownOption {
            option: option.into(),
            known: BITWIDTH_OPTIONS.join(", "),
        })?;
        let list = || {
            allowed
                .iter()
                .map(|m| format!("\"{m}\""))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let mode = value
            .parse::<BitwidthMode>()
            .ok()
            .filter(|m| allowed.contains(m))
            .ok_or_else(|| TargetError::InvalidOptionValue {
                option: option.into(),
                value: value.into(),
                allowed: list(),
            })?;
        if self.supports(mode) {
            Ok(())
        } else {
            Err(TargetError::UnsupportedBitwidth {
                platform: platform.to_string(),
                option: option.into(),
                value: mode.as_str().into(),
            })
        }
    }

    /// Fails when a model has more inputs than the platform accepts.
    pub fn check_model_inputs(&self, platform: Platform, n: usize) -> Result<(), TargetError> {
        if n > self.max_model_inputs {
            Err(TargetError::TooManyInputs {
                platform: platform.to_string(),
                count: n,
                max: self.max_model_inputs,
            })
        } else {
            Ok(())
        }
    }
}
