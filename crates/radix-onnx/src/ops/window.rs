//! Window attributes shared by convolution and pooling: two-value pairs, `auto_pad`, and the
//! explicit pads they give.

use radix_ir::AutoPad;

use super::NodeCtx;
use crate::OnnxError;

impl NodeCtx<'_> {
    /// A two-value attribute (`None`: `default` twice).
    pub(super) fn pair(
        &self,
        v: Option<Vec<i64>>,
        default: usize,
        what: &str,
    ) -> Result<[usize; 2], OnnxError> {
        match v {
            None => Ok([default, default]),
            Some(v) if v.len() == 2 && v.iter().all(|&x| x >= 0) => {
                Ok([v[0] as usize, v[1] as usize])
            }
            Some(v) => Err(self.err(format!(
                "{what} {v:?}: only 2-D (two non-negative values) is supported"
            ))),
        }
    }

    /// The `auto_pad` attribute.
    pub(super) fn auto_pad(&self) -> Result<AutoPad, OnnxError> {
        Ok(match self.attr_s("auto_pad", "NOTSET").as_str() {
            "NOTSET" | "" => AutoPad::NotSet,
            "SAME_UPPER" => AutoPad::SameUpper,
            "SAME_LOWER" => AutoPad::SameLower,
            "VALID" => AutoPad::Valid,
            other => return Err(self.err(format!("unknown auto_pad `{other}`"))),
        })
    }

    /// Explicit pads (top, left, bottom, right) from `pads` / `auto_pad`.
    pub(super) fn pads(
        &self,
        in_hw: &[usize],
        kernel: [usize; 2],
        strides: [usize; 2],
        dil: [usize; 2],
    ) -> Result<[usize; 4], OnnxError> {
        match self.auto_pad()? {
            AutoPad::NotSet => match self.attr_ints("pads") {
                None => Ok([0; 4]),
                // A 1-D window lifted to [1, L]: (begin, end) along L.
                Some(p)
                    if in_hw[0] == 1
                        && kernel[0] == 1
                        && p.len() == 2
                        && p.iter().all(|&x| x >= 0)
                        && self.shape(0).is_ok_and(|s| s.len() == 3) =>
                {
                    Ok([0, p[0] as usize, 0, p[1] as usize])
                }
                Some(p) if p.len() == 4 && p.iter().all(|&x| x >= 0) => {
                    Ok([p[0] as usize, p[1] as usize, p[2] as usize, p[3] as usize])
                }
                Some(p) => {
                    Err(self.err(format!("pads {p:?}: need four non-negative values (2-D)")))
                }
            },
            AutoPad::Valid => Ok([0; 4]),
            mode => {
                let mut pads = [0; 4];
                for i in 0..2 {
                    let out = in_hw[i].div_ceil(strides[i]);
                    let eff = (kernel[i] - 1) * dil[i] + 1;
                    let total = ((out - 1) * strides[i] + eff).saturating_sub(in_hw[i]);
                    let (lo, hi) = if mode == AutoPad::SameUpper {
                        (total / 2, total - total / 2)
                    } else {
                        (total - total / 2, total / 2)
                    };
                    pads[i] = lo;
                    pads[i + 2] = hi;
                }
                Ok(pads)
            }
        }
    }
}
