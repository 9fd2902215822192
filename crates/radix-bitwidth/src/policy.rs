//! The policies and the sensitivity seam.

use radix_ir::Graph;
use serde::{Deserialize, Serialize};

use crate::{BitAssignment, BitwidthError, Unit, knapsack, units};

/// Measures models with given bitwidths. `radix-bitwidth` sits below the quantizer and the
/// engines, so the facade implements this with them (quantize with the assignment, run the
/// fast engine, SNR against float) and may measure in parallel.
pub trait Sensitivity: Sync {
    /// The model-output SNR (dB against float, the worst output) of the model quantized with
    /// each assignment, in order.
    fn output_snr_db(&self, assignments: &[BitAssignment]) -> Vec<Result<f64, String>>;
}

/// One MAC layer's measured sensitivity (mixbw).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct UnitSensitivity {
    /// The node.
    pub name: String,
    /// Its MACs per inference.
    pub macs: u64,
    /// Model-output SNR (dB) with only this layer at 8 bits, the rest at 16.
    pub snr_db_alone_at_8: f64,
    /// Model-output SNR (dB) predicted for the chosen mix with this layer flipped (the
    /// reference toolchain's `MIXBW_DEBUG` figure).
    pub predicted_snr_db_flipped: f64,
    /// The layer is 16-bit in the chosen mix.
    pub chosen_16: bool,
}

/// What a policy decided.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Allocation {
    /// Bits per tensor and per weight, for the quantizer.
    pub assignment: BitAssignment,
    /// The MAC layers, and the bits each got.
    pub units: Vec<Unit>,
    /// Per unit: 8 or 16.
    pub unit_bits: Vec<u8>,
    /// mixbw: every layer's measured sensitivity.
    pub sensitivity: Vec<UnitSensitivity>,
    /// mixbw: model-output SNR predicted for the chosen mix (dB).
    pub predicted_snr_db: Option<f64>,
    /// mixbw: measured model-output SNR with every layer at 16 bits (dB).
    pub all_16_snr_db: Option<f64>,
}

impl Allocation {
    fn from_unit_bits(graph: &Graph, units: Vec<Unit>, unit_bits: Vec<u8>, input_bits: u8) -> Self {
        Allocation {
            assignment: BitAssignment::from_units(graph, &units, &unit_bits, input_bits),
            units,
            unit_bits,
            ..Default::default()
        }
    }

    /// Share of the MAC layers' compute whose weights are 16-bit (0 to 1).
    pub fn sixteen_bit_mac_share(&self) -> f64 {
        self.assignment.sixteen_bit_mac_share(&self.units)
    }
}

/// Decides the bits of every datapath tensor and weight of a (prepared) graph.
pub trait BitwidthPolicy: Sync + std::fmt::Debug {
    /// The mode's name as the options spell it ("int8", "mix light", "mixbw", ...).
    fn name(&self) -> String;
    /// The allocation; `sensitivity` is needed by the policies that measure (mixbw).
    fn assign(
        &self,
        graph: &Graph,
        sensitivity: Option<&dyn Sensitivity>,
    ) -> Result<Allocation, BitwidthError>;
}

/// One width for every datapath tensor and every weight.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Uniform {
    /// Bits of computed tensors.
    pub activation_bits: u8,
    /// Bits of weights.
    pub weight_bits: u8,
}

impl BitwidthPolicy for Uniform {
    fn name(&self) -> String {
        format!("int{}", self.activation_bits)
    }
    fn assign(
        &self,
        graph: &Graph,
        _: Option<&dyn Sensitivity>,
    ) -> Result<Allocation, BitwidthError> {
        let units = units(graph);
        Ok(Allocation {
            assignment: BitAssignment::uniform(graph, self.activation_bits, self.weight_bits),
            unit_bits: vec![self.weight_bits; units.len()],
            units,
            ..Default::default()
        })
    }
}

/// int8, with small-channel convolutions in 16-bit.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MixLight;

impl MixLight {
    /// A convolution with at most this many input channels per group is "small-channel": the
    /// first layer of an image model, depthwise convolutions, a standalone BatchNormalization.
    pub const SMALL_CHANNELS: usize = 8;
}

impl BitwidthPolicy for MixLight {
    fn name(&self) -> String {
        "mix light".into()
    }
    fn assign(
        &self,
        graph: &Graph,
        _: Option<&dyn Sensitivity>,
    ) -> Result<Allocation, BitwidthError> {
        let units = units(graph);
        let bits = units
            .iter()
            .map(|u| {
                if u.channels_per_group <= Self::SMALL_CHANNELS {
                    16
                } else {
                    8
                }
            })
            .collect();
        Ok(Allocation::from_unit_bits(graph, units, bits, 8))
    }
}

/// int16, with the most expensive convolutions (half of the MACs) in 8-bit.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MixBalance;

impl BitwidthPolicy for MixBalance {
    fn name(&self) -> String {
        "mix balance".into()
    }
    fn assign(
        &self,
        graph: &Graph,
        _: Option<&dyn Sensitivity>,
    ) -> Result<Allocation, BitwidthError> {
        let units = units(graph);
        let total: u64 = units.iter().map(|u| u.macs).sum();
        let mut order: Vec<usize> = (0..units.len()).collect();
        // Heaviest first; ties in graph order.
        order.sort_by(|&a, &b| units[b].macs.cmp(&units[a].macs).then(a.cmp(&b)));
        let mut bits = vec![16u8; units.len()];
        let mut at_8 = 0u64;
        for k in order {
            if 2 * at_8 >= total {
                break;
            }
            bits[k] = 8;
            at_8 += units[k].macs;
        }
        Ok(Allocation::from_unit_bits(graph, units, bits, 16))
    }
}

/// What mixbw may spend on 16-bit layers.
#[derive(Clone, Debug, PartialEq)]
pub enum Budget {
    /// At most this share (0, 1] of the MAC layers' compute in 16-bit (the reference toolchain's
    /// `flops_ratio`).
    FlopsRatio(f64),
    /// A cost per unit when it is 16-bit (e.g. extra estimated latency, ms) and the most the
    /// 16-bit units may cost together; `option` names the option that set it.
    Cost {
        /// The option, for messages (e.g. `mixbw_budget`).
        option: String,
        /// Per unit (in `units(graph)` order): its extra cost at 16 bits.
        per_unit: Vec<f64>,
        /// The most the chosen units may cost together.
        capacity: f64,
    },
}

/// The most sensitive layers in 16-bit within a budget.
#[derive(Clone, Debug, PartialEq)]
pub struct MixBw {
    /// What the 16-bit layers may cost.
    pub budget: Budget,
}

/// Resolution of the knapsack's costs: the budget is cut into this many steps, each unit's cost
/// rounded up to whole steps (so the chosen mix never exceeds the budget).
const GRID: u64 = 4000;

fn noise(snr_db: f64) -> f64 {
    10f64.powf(-snr_db / 10.0)
}

fn snr_of_noise(n: f64) -> f64 {
    if n > 0.0 {
        -10.0 * n.log10()
    } else {
        f64::INFINITY
    }
}

impl MixBw {
    /// Knapsack costs and capacity in grid steps.
    fn costs(&self, units: &[Unit]) -> Result<(Vec<u64>, u64), BitwidthError> {
        let steps = |x: f64, per_step: f64| (x / per_step).ceil().max(0.0) as u64;
        match &self.budget {
            Budget::FlopsRatio(r) => {
                if !(*r > 0.0 && *r <= 1.0) {
                    return Err(BitwidthError::Budget {
                        option: "flops_ratio".into(),
                        msg: format!("{r} is not in (0, 1]"),
                    });
                }
                let total: u64 = units.iter().map(|u| u.macs).sum::<u64>().max(1);
                let per_step = total as f64 / GRID as f64;
                let costs = units
                    .iter()
                    .map(|u| steps(u.macs as f64, per_step))
                    .collect();
                Ok((costs, (r * GRID as f64).floor() as u64))
            }
            Budget::Cost {
                option,
                per_unit,
                capacity,
            } => {
                if per_unit.len() != units.len() || !(capacity.is_finite() && *capacity >= 0.0) {
                    return Err(BitwidthError::Budget {
                        option: option.clone(),
                        msg: format!(
                            "{} costs for {} layers, capacity {capacity}",
                            per_unit.len(),
                            units.len()
                        ),
                    });
                }
                if *capacity == 0.0 {
                    return Ok((vec![1; units.len()], 0));
                }
                let per_step = capacity / GRID as f64;
                Ok((per_unit.iter().map(|&c| steps(c, per_step)).collect(), GRID))
            }
        }
    }
}

/// mixbw's measurement: every MAC layer's model-output SNR alone at 8 bits, and the all-16-bit
/// baseline. One measurement serves any number of budgets ([`MixBw::choose`]).
#[derive(Clone, Debug, PartialEq)]
pub struct MixBwMeasurement {
    /// The MAC layers.
    pub units: Vec<Unit>,
    /// Model-output SNR (dB) with every layer at 16 bits.
    pub all_16_snr_db: f64,
    /// Per unit: model-output SNR (dB) with only it at 8 bits.
    pub alone_at_8_snr_db: Vec<f64>,
}

impl MixBw {
    /// Measures every MAC layer of `graph` (one baseline and one model per layer).
    pub fn measure(
        graph: &Graph,
        sensitivity: &dyn Sensitivity,
    ) -> Result<MixBwMeasurement, BitwidthError> {
        let units = units(graph);
        let all_16 = vec![16u8; units.len()];
        let mut candidates = vec![BitAssignment::from_units(graph, &units, &all_16, 16)];
        for k in 0..units.len() {
            let mut bits = all_16.clone();
            bits[k] = 8;
            candidates.push(BitAssignment::from_units(graph, &units, &bits, 16));
        }
        let snrs: Vec<f64> = sensitivity
            .output_snr_db(&candidates)
            .into_iter()
            .enumerate()
            .map(|(k, r)| {
                r.map_err(|msg| BitwidthError::Sensitivity {
                    unit: if k == 0 {
                        "all 16-bit".into()
                    } else {
                        units[k - 1].name.clone()
                    },
                    msg,
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(MixBwMeasurement {
            units,
            all_16_snr_db: snrs[0],
            alone_at_8_snr_db: snrs[1..].to_vec(),
        })
    }

    /// The 16-bit layers within this budget that maximise the predicted output SNR: output noise
    /// powers add (independent rounding errors), so each layer at 8 bits adds
    /// `noise(alone at 8) - noise(all 16)`, and the exact knapsack keeps the most noise away.
    pub fn choose(&self, graph: &Graph, m: &MixBwMeasurement) -> Result<Allocation, BitwidthError> {
        let units = &m.units;
        let (costs, capacity) = self.costs(units)?;
        let base = noise(m.all_16_snr_db);
        let extra: Vec<f64> = m
            .alone_at_8_snr_db
            .iter()
            .map(|&s| (noise(s) - base).max(0.0))
            .collect();
        let choice = knapsack(&extra, &costs, capacity);
        let unit_bits: Vec<u8> = choice
            .chosen
            .iter()
            .map(|&c| if c { 16 } else { 8 })
            .collect();
        let chosen_noise = base
            + extra
                .iter()
                .zip(&choice.chosen)
                .filter(|(_, c)| !**c)
                .map(|(e, _)| e)
                .sum::<f64>();
        let sensitivity = units
            .iter()
            .enumerate()
            .map(|(k, u)| {
                let flipped = if choice.chosen[k] {
                    chosen_noise + extra[k]
                } else {
                    chosen_noise - extra[k]
                };
                UnitSensitivity {
                    name: u.name.clone(),
                    macs: u.macs,
                    snr_db_alone_at_8: m.alone_at_8_snr_db[k],
                    predicted_snr_db_flipped: snr_of_noise(flipped.max(base)),
                    chosen_16: choice.chosen[k],
                }
            })
            .collect();
        let mut a = Allocation::from_unit_bits(graph, units.clone(), unit_bits, 16);
        a.sensitivity = sensitivity;
        a.predicted_snr_db = Some(snr_of_noise(chosen_noise));
        a.all_16_snr_db = Some(m.all_16_snr_db);
        Ok(a)
    }
}

impl BitwidthPolicy for MixBw {
    fn name(&self) -> String {
        "mixbw".into()
    }

    fn assign(
        &self,
        graph: &Graph,
        sensitivity: Option<&dyn Sensitivity>,
    ) -> Result<Allocation, BitwidthError> {
        // A bad budget fails before anything is measured.
        self.costs(&units(graph))?;
        let Some(measure) = sensitivity else {
            return Err(BitwidthError::Sensitivity {
                unit: "all 16-bit".into(),
                msg: "mixbw needs a sensitivity measurement".into(),
            });
        };
        let m = Self::measure(graph, measure)?;
        self.choose(graph, &m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use radix_ir::{Activation, Node, Op};

    /// A chain of Gemm layers with the given widths (MACs = in x out each).
    fn chain(widths: &[usize]) -> Graph {
        let mut g = Graph::new("chain");
        let mut x = g.add_value("x", vec![1, widths[0]]);
        g.inputs.push(x);
        for (k, w) in widths.windows(2).enumerate() {
            let weight = g.add_const(
                format!("w{k}"),
                ndarray::ArrayD::zeros(ndarray::IxDyn(&[w[0], w[1]])),
            );
            let y = g.add_value(format!("y{k}"), vec![1, w[1]]);
            g.nodes.push(Node {
                name: format!("gemm{k}"),
                op: Op::Gemm {
                    activation: Activation::None,
                },
                inputs: vec![x, weight],
                outputs: vec![y],
                origin: vec![],
            });
            x = y;
        }
        g.outputs.push(x);
        g
    }

    /// Output noise = 1e-5 per layer at 8 bits, times the layer's weight in `sensitivities`.
    struct Fake(Vec<f64>);

    impl Sensitivity for Fake {
        fn output_snr_db(&self, assignments: &[BitAssignment]) -> Vec<Result<f64, String>> {
            assignments
                .iter()
                .map(|a| {
                    let n: f64 = a
                        .weight
                        .iter()
                        .zip(&self.0)
                        .map(|(b, s)| if *b == Some(8) { 1e-5 * s } else { 0.0 })
                        .sum::<f64>()
                        + 1e-9;
                    Ok(-10.0 * n.log10())
                })
                .collect()
        }
    }

    #[test]
    fn mixbw_spends_the_budget_on_the_most_sensitive_layers() {
        // Four layers of equal MACs; sensitivities 1, 50, 5, 20.
        let g = chain(&[16, 16, 16, 16, 16]);
        let fake = Fake(vec![1.0, 50.0, 5.0, 20.0]);
        let mut last = f64::NEG_INFINITY;
        for (ratio, want) in [
            (0.25, vec![8, 16, 8, 8]),
            (0.5, vec![8, 16, 8, 16]),
            (0.75, vec![8, 16, 16, 16]),
            (1.0, vec![16; 4]),
        ] {
            let a = MixBw {
                budget: Budget::FlopsRatio(ratio),
            }
            .assign(&g, Some(&fake))
            .unwrap();
            assert_eq!(a.unit_bits, want, "flops_ratio {ratio}");
            assert!(a.sixteen_bit_mac_share() <= ratio + 1e-12);
            let p = a.predicted_snr_db.unwrap();
            assert!(p > last, "predicted SNR must rise with the budget");
            last = p;
        }
        // Out-of-range budgets fail before measuring.
        for r in [0.0, 1.5, f64::NAN] {
            let e = MixBw {
                budget: Budget::FlopsRatio(r),
            }
            .assign(&g, None)
            .unwrap_err();
            assert!(e.to_string().contains("flops_ratio"), "{e}");
        }
    }

    #[test]
    fn mix_light_and_balance_follow_their_rules() {
        // Layer widths: the first layer has 3 input channels (small), the last is the heaviest.
        let g = chain(&[3, 32, 32, 256]);
        let light = MixLight.assign(&g, None).unwrap();
        assert_eq!(light.unit_bits, vec![16, 8, 8]);
        let balance = MixBalance.assign(&g, None).unwrap();
        // 96 + 1024 + 8192 MACs: the heaviest alone holds more than half.
        assert_eq!(balance.unit_bits, vec![16, 16, 8]);
        // Non-MAC tensors take the widest input; weights follow their unit.
        assert_eq!(light.assignment.weight[0], Some(16));
        assert_eq!(light.assignment.weight[1], Some(8));
    }
}
