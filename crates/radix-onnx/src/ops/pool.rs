//! Pooling: MaxPool and AveragePool as the 2-D NPU op (1-D lifted), or as the general `PoolNd`
//! over 3+ axes or with MaxPool's Indices; the global pools are one-to-one (in `ops`).

use radix_ir::op::{PoolAttrs, PoolNdAttrs};
use radix_ir::{AutoPad, Op};

use super::{NodeCtx, Translated};
use crate::OnnxError;

impl NodeCtx<'_> {
    /// MaxPool / AveragePool.
    pub(super) fn max_average_pool(&self, op: &str) -> Result<Translated, OnnxError> {
        let max = op == "MaxPool";
        let indices = max && self.n.output.get(1).is_some_and(|o| !o.is_empty());
        if indices || self.shape(0)?.len() > 4 {
            // Pooling over 3+ axes, or MaxPool's Indices: the general float op.
            return self.pool_nd(max, indices);
        }
        // storage_order only changes the Indices.
        let a = self.pool_attrs()?;
        self.pool(if max {
            Op::MaxPool(a)
        } else {
            Op::AveragePool(a)
        })
    }

    /// Pooling attributes; a 1-D pool (input `[N, C, L]`) is lifted to a 2-D window `[1, k]`
    /// over `[N, C, 1, L]`.
    fn pool_attrs(&self) -> Result<PoolAttrs, OnnxError> {
        let x = self.shape(0)?;
        let one_d = x.len() == 3;
        if x.len() != 4 && !one_d {
            return Err(self.err(format!(
                "only 1-D and 2-D pooling are supported (input {x:?})"
            )));
        }
        let lift = |v: Option<Vec<i64>>| -> Option<Vec<i64>> {
            if one_d {
                v.map(|v| if v.len() == 1 { vec![1, v[0]] } else { v })
            } else {
                v
            }
        };
        let kernel = self.pair(
            lift(Some(
                self.attr_ints("kernel_shape")
                    .ok_or_else(|| self.err("kernel_shape is required"))?,
            )),
            1,
            "kernel_shape",
        )?;
        let strides = self.pair(lift(self.attr_ints("strides")), 1, "strides")?;
        let dilations = self.pair(lift(self.attr_ints("dilations")), 1, "dilations")?;
        if strides.contains(&0) || dilations.contains(&0) || kernel.contains(&0) {
            return Err(self.err("strides, dilations and kernel must be positive"));
        }
        let in_hw = if one_d {
            vec![1, x[2]]
        } else {
            x[2..].to_vec()
        };
        let pads = self.pads(&in_hw, kernel, strides, dilations)?;
        Ok(PoolAttrs {
            kernel,
            strides,
            pads,
            dilations,
            ceil_mode: self.attr_i("ceil_mode", 0) != 0,
            count_include_pad: self.attr_i("count_include_pad", 0) != 0,
        })
    }

    /// Pooling over any number of spatial axes (Op::PoolNd), with MaxPool's Indices when
    /// `indices`.
    fn pool_nd(&self, max: bool, indices: bool) -> Result<Translated, OnnxError> {
        let x = self.shape(0)?.to_vec();
        if x.len() < 3 {
            return Err(self.err(format!("pooling needs rank >= 3, got {x:?}")));
        }
        let d = x.len() - 2;
        let per_axis = |name: &str, default: usize| -> Result<Vec<usize>, OnnxError> {
            match self.attr_ints(name) {
                None => Ok(vec![default; d]),
                Some(v) if v.len() == d && v.iter().all(|&s| s > 0) => {
                    Ok(v.iter().map(|&s| s as usize).collect())
                }
                Some(v) => Err(self.err(format!("{name} {v:?}: need {d} positive values"))),
            }
        };
        if self.attr_ints("kernel_shape").is_none() {
            return Err(self.err("kernel_shape is required"));
        }
        let kernel = per_axis("kernel_shape", 1)?;
        let strides = per_axis("strides", 1)?;
        let dilations = per_axis("dilations", 1)?;
        let pads: Vec<(usize, usize)> = match self.auto_pad()? {
            AutoPad::NotSet => match self.attr_ints("pads") {
                None => vec![(0, 0); d],
                Some(p) if p.len() == 2 * d && p.iter().all(|&v| v >= 0) => {
                    (0..d).map(|i| (p[i] as usize, p[d + i] as usize)).collect()
                }
                Some(p) => {
                    return Err(self.err(format!("pads {p:?}: need {} non-negative values", 2 * d)));
                }
            },
            AutoPad::Valid => vec![(0, 0); d],
            mode => (0..d)
                .map(|i| {
                    let out = x[2 + i].div_ceil(strides[i]);
                    let eff = (kernel[i] - 1) * dilations[i] + 1;
                    let total = ((out - 1) * strides[i] + eff).saturating_sub(x[2 + i]);
                    if mode == AutoPad::SameUpper {
                        (total / 2, total - total / 2)
                    } else {
                        (total - total / 2, total / 2)
                    }
                })
                .collect(),
        };
        let storage_order = self.attr_i("storage_order", 0);
        if !(0..=1).contains(&storage_order) {
            return Err(self.err(format!("storage_order={storage_order} must be 0 or 1")));
        }
        let op = Op::PoolNd(PoolNdAttrs {
            max,
            kernel,
            strides,
            pads,
            dilations,
            ceil_mode: self.attr_i("ceil_mode", 0) != 0,
            count_include_pad: self.attr_i("count_include_pad", 0) != 0,
            indices: indices.then_some(storage_order == 1),
        });
        Ok(Translated::Op(op, vec![self.input(0)?]))
    }

    /// A 2-D pool as is; a 1-D pool (rank-3 input) as Unsqueeze → 2-D pool → Squeeze on axis 2
    /// (both unit-axis views, free on every platform).
    fn pool(&self, op: Op) -> Result<Translated, OnnxError> {
        if self.shape(0)?.len() == 3 {
            Ok(Translated::Chain(
                vec![
                    (Op::Unsqueeze { axes: vec![2] }, "to_2d"),
                    (op, ""),
                    (Op::Squeeze { axes: vec![2] }, "to_1d"),
                ],
                vec![self.input(0)?],
            ))
        } else {
            Ok(Translated::Op(op, vec![self.input(0)?]))
        }
    }
}
