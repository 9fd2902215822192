//! Resize and Upsample, over every opset: the NCHW spatial `Resize` the NPU runs when the
//! attributes allow it, else the general float `ResizeNd`.

use radix_ir::op::{ResizeNdAttrs, ResizeNdCoord, ResizeNdMode};
use radix_ir::{Op, ResizeAttrs, ResizeCoord, ResizeMode, ResizeNearest};

use super::{NodeCtx, Translated};
use crate::OnnxError;
use crate::attr::{attr, norm_axis};

/// Resize's scales, sizes and roi as given (absent or empty: `None`).
type ResizeInputs = (Option<Vec<f32>>, Option<Vec<i64>>, Option<Vec<f32>>);

impl NodeCtx<'_> {
    pub(super) fn resize(&self) -> Result<Translated, OnnxError> {
        let x = self.shape(0)?.to_vec();
        let rank = x.len();
        let opset = self.imp.opset;
        let upsample = self.n.op_type == "Upsample";
        let modern = !upsample && opset >= 11;
        let v18 = !upsample && opset >= 18;
        let mode_s = self.attr_s("mode", "nearest");
        let (scales, sizes, roi): ResizeInputs = if upsample && opset < 9 {
            let sc = attr(self.n, "scales")
                .map(|a| a.floats.clone())
                .ok_or_else(|| {
                    self.err("attribute scales is required (Upsample before opset 9)")
                })?;
            (Some(sc), None, None)
        } else if !modern {
            let what = if upsample {
                "Upsample scales"
            } else {
                "Resize scales"
            };
            (
                Some(self.konst(1, what)?.iter().copied().collect()),
                None,
                None,
            )
        } else {
            let roi = self
                .opt_konst(1, "Resize roi")?
                .filter(|a| !a.is_empty())
                .map(|a| a.iter().copied().collect());
            let sc = self
                .opt_konst(2, "Resize scales")?
                .filter(|a| !a.is_empty())
                .map(|a| a.iter().copied().collect());
            let sz = self
                .opt_konst(3, "Resize sizes")?
                .filter(|a| !a.is_empty())
                .map(|a| a.iter().map(|&v| v as i64).collect());
            (sc, sz, roi)
        };
        // The axes scales / sizes / roi refer to (opset 18: `axes`), in that order.
        let axes: Vec<usize> = match self.attr_ints("axes").filter(|_| v18) {
            Some(a) => {
                let axes = a
                    .iter()
                    .map(|&v| norm_axis(v, rank))
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| self.err(e))?;
                let mut sorted = axes.clone();
                sorted.sort_unstable();
                sorted.dedup();
                if sorted.len() != axes.len() {
                    return Err(self.err(format!("axes {a:?} repeat an axis")));
                }
                axes
            }
            None => (0..rank).collect(),
        };
        let policy = if v18 {
            self.attr_s("keep_aspect_ratio_policy", "stretch")
        } else {
            "stretch".to_string()
        };
        let mut full_scales = vec![1f64; rank];
        let mut out: Vec<usize> = x.clone();
        match (sizes, scales) {
            (Some(sz), _) => {
                if sz.len() != axes.len() || sz.iter().any(|&v| v < 1) {
                    return Err(self.err(format!(
                        "sizes {sz:?}: need {} positive values (one per resized axis)",
                        axes.len()
                    )));
                }
                for (&ax, &n) in axes.iter().zip(&sz) {
                    full_scales[ax] = n as f64 / x[ax] as f64;
                    out[ax] = n as usize;
                }
                if policy != "stretch" {
                    let it = axes.iter().map(|&a| full_scales[a]);
                    let s = match policy.as_str() {
                        "not_larger" => it.fold(f64::INFINITY, f64::min),
                        "not_smaller" => it.fold(0.0, f64::max),
                        p => {
                            return Err(
                                self.err(format!("keep_aspect_ratio_policy `{p}` is not known"))
                            );
                        }
                    };
                    for &ax in &axes {
                        full_scales[ax] = s;
                        out[ax] = (s * x[ax] as f64 + 0.5) as usize;
                    }
                }
            }
            (None, Some(sc)) => {
                if sc.len() != axes.len() || sc.iter().any(|&v| !(v > 0.0 && v.is_finite())) {
                    return Err(self.err(format!(
                        "scales {sc:?}: need {} positive values (one per resized axis)",
                        axes.len()
                    )));
                }
                for (&ax, &v) in axes.iter().zip(&sc) {
                    full_scales[ax] = v as f64;
                    out[ax] = (v as f64 * x[ax] as f64) as usize;
                }
            }
            (None, None) => return Err(self.err("needs scales or sizes")),
        }
        if x.contains(&0) || out.contains(&0) {
            return Err(self.err(format!("resize from {x:?} to {out:?}: empty tensor")));
        }
        let mut full_roi = vec![(0f32, 1f32); rank];
        if let Some(r) = &roi {
            if r.len() != 2 * axes.len() {
                return Err(self.err(format!(
                    "roi {r:?}: need {} values (start and end per resized axis)",
                    2 * axes.len()
                )));
            }
            for (i, &ax) in axes.iter().enumerate() {
                full_roi[ax] = (r[i], r[axes.len() + i]);
            }
        }
        let coord_s = if modern {
            self.attr_s("coordinate_transformation_mode", "half_pixel")
        } else {
            "asymmetric".to_string()
        };
        let coord = match coord_s.as_str() {
            "half_pixel" => ResizeNdCoord::HalfPixel,
            "half_pixel_symmetric" if v18 => ResizeNdCoord::HalfPixelSymmetric,
            "pytorch_half_pixel" => ResizeNdCoord::PytorchHalfPixel,
            "align_corners" => ResizeNdCoord::AlignCorners,
            "asymmetric" => ResizeNdCoord::Asymmetric,
            "tf_half_pixel_for_nearest" => ResizeNdCoord::TfHalfPixelForNearest,
            "tf_crop_and_resize" => ResizeNdCoord::TfCropAndResize,
            m => {
                return Err(self.err(format!(
                    "coordinate_transformation_mode `{m}` is not supported"
                )));
            }
        };
        if coord == ResizeNdCoord::TfCropAndResize && roi.is_none() {
            return Err(self.err("tf_crop_and_resize needs a roi input"));
        }
        let nearest = if modern {
            match self.attr_s("nearest_mode", "round_prefer_floor").as_str() {
                "round_prefer_floor" => ResizeNearest::RoundPreferFloor,
                "round_prefer_ceil" => ResizeNearest::RoundPreferCeil,
                "floor" => ResizeNearest::Floor,
                "ceil" => ResizeNearest::Ceil,
                m => return Err(self.err(format!("nearest_mode `{m}` is not supported"))),
            }
        } else {
            ResizeNearest::Floor
        };
        let mode = match mode_s.as_str() {
            "nearest" => ResizeNdMode::Nearest(nearest),
            "linear" | "bilinear" => ResizeNdMode::Linear,
            "cubic" if modern => ResizeNdMode::Cubic {
                a: self.attr_f("cubic_coeff_a", -0.75),
            },
            m => return Err(self.err(format!("resize mode `{m}` is not supported"))),
        };
        let antialias = v18 && self.attr_i("antialias", 0) != 0;
        if antialias && matches!(mode, ResizeNdMode::Nearest(_)) {
            return Err(self.err("antialias = 1 is not defined for nearest resize"));
        }
        let exclude_outside = modern && self.attr_i("exclude_outside", 0) != 0;
        // Before opset 19, align_corners divides by the output length; from 19 on by the
        // unrounded scaled length (in * scale - 1), which the general op uses.
        if opset < 19 && coord == ResizeNdCoord::AlignCorners {
            for ax in 0..rank {
                full_scales[ax] = out[ax] as f64 / x[ax] as f64;
            }
        }
        let spatial_only = rank == 4 && out[..2] == x[..2] && full_scales[..2] == [1.0, 1.0];
        let old_coord = match coord {
            ResizeNdCoord::HalfPixel => Some(ResizeCoord::HalfPixel),
            ResizeNdCoord::PytorchHalfPixel => Some(ResizeCoord::PytorchHalfPixel),
            ResizeNdCoord::AlignCorners => Some(ResizeCoord::AlignCorners),
            ResizeNdCoord::Asymmetric => Some(ResizeCoord::Asymmetric),
            ResizeNdCoord::TfHalfPixelForNearest => Some(ResizeCoord::TfHalfPixelForNearest),
            ResizeNdCoord::HalfPixelSymmetric | ResizeNdCoord::TfCropAndResize => None,
        };
        let old_mode = match mode {
            ResizeNdMode::Nearest(_) if !exclude_outside => Some(ResizeMode::Nearest),
            ResizeNdMode::Linear => Some(ResizeMode::Linear),
            _ => None,
        };
        let scaled_len_integral = opset < 19
            || coord != ResizeNdCoord::AlignCorners
            || (0..rank).all(|i| full_scales[i] * x[i] as f64 == out[i] as f64);
        if let (true, Some(coord), Some(mode), false, true) = (
            spatial_only,
            old_coord,
            old_mode,
            antialias,
            scaled_len_integral,
        ) {
            // The NCHW spatial resize the NPU runs (f32 coordinates).
            let scales = [full_scales[2] as f32, full_scales[3] as f32];
            return Ok(Translated::Op(
                Op::Resize(ResizeAttrs {
                    mode,
                    coord,
                    nearest,
                    scales,
                    out_hw: [out[2], out[3]],
                }),
                vec![self.input(0)?],
            ));
        }
        Ok(Translated::Op(
            Op::ResizeNd(ResizeNdAttrs {
                mode,
                coord,
                scales: full_scales,
                out_shape: out,
                roi: full_roi,
                antialias,
                exclude_outside,
                extrapolation: self.attr_f("extrapolation_value", 0.0),
            }),
            vec![self.input(0)?],
        ))
    }
}
