//! Data movement: Concat, Split, Slice, Reshape, Flatten, Transpose, Squeeze, Unsqueeze, Pad,
//! Tile, Expand, Gather, DepthToSpace and SpaceToDepth. Shapes, axes and indices given as inputs
//! must be constants and become attributes.

use radix_ir::Op;
use radix_ir::op::PadMode;

use super::{NodeCtx, Translated};
use crate::OnnxError;
use crate::attr::norm_axis;

impl NodeCtx<'_> {
    pub(super) fn concat(&self) -> Result<Translated, OnnxError> {
        let rank = self.shape(0)?.len();
        let axis = norm_axis(self.attr_i("axis", 1), rank).map_err(|e| self.err(e))?;
        let ins = (0..self.inputs.len())
            .map(|i| self.input(i))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Translated::Op(Op::Concat { axis }, ins))
    }

    pub(super) fn split(&self) -> Result<Translated, OnnxError> {
        let opset = self.imp.opset;
        let s = self.shape(0)?;
        let axis = norm_axis(self.attr_i("axis", 0), s.len()).map_err(|e| self.err(e))?;
        let dim = s[axis];
        let given: Option<Vec<i64>> = if opset < 13 {
            self.attr_ints("split")
        } else {
            self.opt_konst(1, "Split sizes")?
                .map(|a| a.iter().map(|&v| v as i64).collect())
        };
        let splits: Vec<usize> = match given {
            Some(v) if v.iter().all(|&x| x >= 0) => v.iter().map(|&x| x as usize).collect(),
            Some(v) => return Err(self.err(format!("negative split sizes {v:?}"))),
            None => {
                let k = if opset >= 18 {
                    self.attr_i("num_outputs", self.n.output.len() as i64)
                } else {
                    self.n.output.len() as i64
                };
                let k = k.max(1) as usize;
                let chunk = dim.div_ceil(k);
                (0..k)
                    .map(|i| chunk.min(dim.saturating_sub(i * chunk)))
                    .collect()
            }
        };
        Ok(Translated::Op(
            Op::Split { axis, splits },
            vec![self.input(0)?],
        ))
    }

    pub(super) fn slice(&self) -> Result<Translated, OnnxError> {
        let s = self.shape(0)?.to_vec();
        let rank = s.len();
        let (starts, ends, axes, steps) = if self.imp.opset < 10 {
            let st = self
                .attr_ints("starts")
                .ok_or_else(|| self.err("starts are required"))?;
            let en = self
                .attr_ints("ends")
                .ok_or_else(|| self.err("ends are required"))?;
            let ax = self.attr_ints("axes");
            (st, en, ax, None)
        } else {
            let st = self.ints_of(1, "Slice starts")?;
            let en = self.ints_of(2, "Slice ends")?;
            let ax = self
                .opt_konst(3, "Slice axes")?
                .map(|a| a.iter().map(|&v| v as i64).collect());
            let sp: Option<Vec<i64>> = self
                .opt_konst(4, "Slice steps")?
                .map(|a| a.iter().map(|&v| v as i64).collect());
            (st, en, ax, sp)
        };
        let axes: Vec<i64> = axes.unwrap_or_else(|| (0..starts.len() as i64).collect());
        let steps: Vec<i64> = steps.unwrap_or_else(|| vec![1; starts.len()]);
        if ends.len() != starts.len() || axes.len() != starts.len() || steps.len() != starts.len() {
            return Err(self.err("starts, ends, axes and steps differ in length"));
        }
        let mut full_s: Vec<i64> = vec![0; rank];
        let mut full_e: Vec<i64> = s.iter().map(|&d| d as i64).collect();
        let mut full_st: Vec<i64> = vec![1; rank];
        for i in 0..starts.len() {
            let ax = norm_axis(axes[i], rank).map_err(|e| self.err(e))?;
            let d = s[ax] as i64;
            let st = steps[i];
            if st == 0 {
                return Err(self.err("slice step 0"));
            }
            // f32 storage saturates INT64 sentinels; clamp per ONNX.
            let norm = |v: i64| if v < 0 { v + d } else { v };
            let (mut b, mut e) = (norm(starts[i]), norm(ends[i]));
            if st > 0 {
                b = b.clamp(0, d);
                e = e.clamp(0, d);
            } else {
                b = b.clamp(-1, d - 1);
                e = e.clamp(-1, d - 1);
            }
            full_s[ax] = b;
            full_e[ax] = e;
            full_st[ax] = st;
        }
        Ok(Translated::Op(
            Op::Slice {
                starts: full_s,
                ends: full_e,
                steps: full_st,
            },
            vec![self.input(0)?],
        ))
    }

    pub(super) fn reshape(&self) -> Result<Translated, OnnxError> {
        let opset = self.imp.opset;
        let s = self.shape(0)?.to_vec();
        let target = if opset < 5 {
            self.attr_ints("shape").unwrap_or_default()
        } else {
            self.ints_of(1, "the Reshape shape")?
        };
        let allowzero = self.attr_i("allowzero", 0) != 0;
        let total: usize = s.iter().product();
        let mut out: Vec<usize> = Vec::with_capacity(target.len());
        let mut infer_at = None;
        for (i, &d) in target.iter().enumerate() {
            match d {
                -1 if infer_at.is_none() => {
                    infer_at = Some(i);
                    out.push(1);
                }
                0 if !allowzero => out.push(
                    *s.get(i)
                        .ok_or_else(|| self.err("shape 0 refers past the input rank"))?,
                ),
                d if d >= 0 => out.push(d as usize),
                d => return Err(self.err(format!("invalid target dimension {d}"))),
            }
        }
        if let Some(i) = infer_at {
            let known: usize = out.iter().product();
            if known == 0 || !total.is_multiple_of(known) {
                return Err(self.err(format!("cannot reshape {s:?} into {target:?}")));
            }
            out[i] = total / known;
        }
        Ok(Translated::Op(
            Op::Reshape { shape: out },
            vec![self.input(0)?],
        ))
    }

    pub(super) fn flatten(&self) -> Result<Translated, OnnxError> {
        let rank = self.shape(0)?.len();
        let a = self.attr_i("axis", 1);
        let axis = if a < 0 { a + rank as i64 } else { a };
        if axis < 0 || axis > rank as i64 {
            return Err(self.err(format!("axis {a} out of range")));
        }
        self.unary(Op::Flatten {
            axis: axis as usize,
        })
    }

    pub(super) fn transpose(&self) -> Result<Translated, OnnxError> {
        let rank = self.shape(0)?.len();
        let perm = match self.attr_ints("perm") {
            Some(p) => p
                .iter()
                .map(|&v| norm_axis(v, rank))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| self.err(e))?,
            None => (0..rank).rev().collect(),
        };
        self.unary(Op::Transpose { perm })
    }

    pub(super) fn squeeze(&self) -> Result<Translated, OnnxError> {
        let opset = self.imp.opset;
        let s = self.shape(0)?;
        let axes: Option<Vec<i64>> = if opset < 13 {
            self.attr_ints("axes")
        } else {
            self.opt_konst(1, "Squeeze axes")?
                .map(|a| a.iter().map(|&v| v as i64).collect())
        };
        let axes = match axes {
            Some(a) => a
                .iter()
                .map(|&v| norm_axis(v, s.len()))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| self.err(e))?,
            None => s
                .iter()
                .enumerate()
                .filter(|(_, d)| **d == 1)
                .map(|(i, _)| i)
                .collect(),
        };
        self.unary(Op::Squeeze { axes })
    }

    pub(super) fn unsqueeze(&self) -> Result<Translated, OnnxError> {
        let opset = self.imp.opset;
        let rank = self.shape(0)?.len();
        let axes: Vec<i64> = if opset < 13 {
            self.attr_ints("axes")
                .ok_or_else(|| self.err("axes are required"))?
        } else {
            self.ints_of(1, "Unsqueeze axes")?
        };
        let out_rank = rank + axes.len();
        let mut axes = axes
            .iter()
            .map(|&v| norm_axis(v, out_rank))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| self.err(e))?;
        axes.sort_unstable();
        self.unary(Op::Unsqueeze { axes })
    }

    pub(super) fn pad(&self) -> Result<Translated, OnnxError> {
        let opset = self.imp.opset;
        let rank = self.shape(0)?.len();
        let (pads, value) = if opset < 11 {
            (
                self.attr_ints("pads")
                    .ok_or_else(|| self.err("pads are required"))?,
                self.attr_f("value", 0.0),
            )
        } else {
            let p = self.ints_of(1, "Pad pads")?;
            let v = self
                .opt_konst(2, "Pad value")?
                .and_then(|a| a.iter().next().copied())
                .unwrap_or(0.0);
            let p = match self.opt_input(3) {
                None => p,
                Some(_) => {
                    // pads for the listed axes only: begins, then ends.
                    let axes = self
                        .ints_of(3, "Pad axes")?
                        .iter()
                        .map(|&a| norm_axis(a, rank))
                        .collect::<Result<Vec<_>, _>>()
                        .map_err(|e| self.err(e))?;
                    if p.len() != 2 * axes.len() {
                        return Err(self.err(format!(
                            "pads {p:?}: need {} values for axes {axes:?}",
                            2 * axes.len()
                        )));
                    }
                    let mut full = vec![0i64; 2 * rank];
                    for (i, &ax) in axes.iter().enumerate() {
                        full[ax] = p[i];
                        full[rank + ax] = p[axes.len() + i];
                    }
                    full
                }
            };
            (p, v)
        };
        if pads.len() != 2 * rank || pads.iter().any(|&p| p < 0) {
            return Err(self.err(format!(
                "pads {pads:?}: need {} non-negative values",
                2 * rank
            )));
        }
        let mode = match self.attr_s("mode", "constant").as_str() {
            "constant" => PadMode::Constant,
            "reflect" => PadMode::Reflect,
            "edge" => PadMode::Edge,
            m => return Err(self.err(format!("pad mode `{m}` is not supported"))),
        };
        let pairs = (0..rank)
            .map(|i| (pads[i] as usize, pads[i + rank] as usize))
            .collect();
        self.unary(Op::Pad {
            pads: pairs,
            mode,
            value,
        })
    }

    pub(super) fn tile(&self) -> Result<Translated, OnnxError> {
        let reps = self.ints_of(1, "Tile repeats")?;
        if reps.iter().any(|&r| r < 1) {
            return Err(self.err(format!("repeats {reps:?} must be >= 1")));
        }
        self.unary(Op::Tile {
            repeats: reps.iter().map(|&r| r as usize).collect(),
        })
    }

    pub(super) fn expand(&self) -> Result<Translated, OnnxError> {
        let want = self.ints_of(1, "the Expand shape")?;
        if want.iter().any(|&d| d < 0) {
            return Err(self.err(format!("shape {want:?} has a negative dimension")));
        }
        let want: Vec<usize> = want.iter().map(|&d| d as usize).collect();
        let x_shape = self.shape(0)?;
        let shape = radix_ir::shape::broadcast(x_shape, &want).ok_or_else(|| {
            self.err(format!(
                "input {x_shape:?} does not broadcast with {want:?}"
            ))
        })?;
        self.unary(Op::Expand { shape })
    }

    pub(super) fn gather(&self) -> Result<Translated, OnnxError> {
        let rank = self.shape(0)?.len();
        let axis = norm_axis(self.attr_i("axis", 0), rank).map_err(|e| self.err(e))?;
        self.konst(1, "Gather indices")?;
        self.binary(Op::Gather { axis })
    }

    pub(super) fn depth_space(&self, op: &str) -> Result<Translated, OnnxError> {
        let b = self.attr_i("blocksize", 0);
        if b < 1 {
            return Err(self.err(format!("attribute blocksize={b} must be >= 1")));
        }
        let blocksize = b as usize;
        if op == "SpaceToDepth" {
            self.unary(Op::SpaceToDepth { blocksize })
        } else {
            let crd = match self.attr_s("mode", "DCR").as_str() {
                "DCR" => false,
                "CRD" => true,
                m => {
                    return Err(
                        self.err(format!("attribute mode=`{m}` is not supported (DCR, CRD)"))
                    );
                }
            };
            self.unary(Op::DepthToSpace { blocksize, crd })
        }
    }
}
