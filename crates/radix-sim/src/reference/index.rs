//! Row-major index arithmetic and the geometry of windowed ops (Conv, ConvTranspose, pooling,
//! MatMul, broadcasting), shared by the integer kernels and the float CPU ops of the reference
//! engine. Everything here only computes *where* values come from; the arithmetic on the values
//! lives in `int.rs` (integers) and `cpu.rs` (floats).

use radix_ir::op::{ConvAttrs, PoolAttrs};
use radix_ir::semantics::pool::divisor;
use radix_ir::shape;

/// Number of elements of a shape.
pub fn numel(shape: &[usize]) -> usize {
    shape.iter().product()
}

/// Row-major strides of a shape.
pub fn strides(shape: &[usize]) -> Vec<usize> {
    let mut s = vec![1; shape.len()];
    for i in (0..shape.len().saturating_sub(1)).rev() {
        s[i] = s[i + 1] * shape[i + 1];
    }
    s
}

/// Multi-index of the row-major flat index `flat` in `shape` (written into `idx`).
pub fn unravel(mut flat: usize, shape: &[usize], idx: &mut [usize]) {
    for i in (0..shape.len()).rev() {
        let d = shape[i].max(1);
        idx[i] = flat % d;
        flat /= d;
    }
}

/// Flat index of a multi-index.
pub fn ravel(idx: &[usize], strides: &[usize]) -> usize {
    idx.iter().zip(strides).map(|(i, s)| i * s).sum()
}

/// Checks that `data` holds exactly `numel(shape)` values.
pub fn check_len(what: &str, shape: &[usize], len: usize) -> Result<(), String> {
    if numel(shape) != len {
        return Err(format!(
            "{what} has {len} values but shape {shape:?} needs {}",
            numel(shape)
        ));
    }
    Ok(())
}

/// numpy broadcasting of two operands to an output shape: for every output element, the flat
/// offsets of the two operand elements it reads.
pub struct Broadcast {
    out: Vec<usize>,
    a: (Vec<usize>, Vec<usize>),
    b: (Vec<usize>, Vec<usize>),
}

impl Broadcast {
    pub fn new(a: &[usize], b: &[usize], out: &[usize]) -> Result<Broadcast, String> {
        match shape::broadcast(a, b) {
            Some(s) if s == out => {}
            Some(s) => {
                return Err(format!(
                    "shapes {a:?} and {b:?} broadcast to {s:?}, but the output is {out:?}"
                ));
            }
            None => return Err(format!("shapes {a:?} and {b:?} do not broadcast")),
        }
        Ok(Broadcast {
            out: out.to_vec(),
            a: (a.to_vec(), strides(a)),
            b: (b.to_vec(), strides(b)),
        })
    }

    pub fn out_len(&self) -> usize {
        numel(&self.out)
    }

    /// Offsets in `a` and `b` of output element `flat`.
    pub fn offsets(&self, flat: usize, idx: &mut Vec<usize>) -> (usize, usize) {
        idx.resize(self.out.len(), 0);
        unravel(flat, &self.out, idx);
        (
            offset_in(idx, &self.a.0, &self.a.1),
            offset_in(idx, &self.b.0, &self.b.1),
        )
    }
}

/// Offset in an operand of shape `shape` (right-aligned against the output index `out_idx`,
/// size-1 axes broadcast).
fn offset_in(out_idx: &[usize], shape: &[usize], strides: &[usize]) -> usize {
    let skip = out_idx.len() - shape.len();
    let mut off = 0;
    for j in 0..shape.len() {
        if shape[j] != 1 {
            off += out_idx[skip + j] * strides[j];
        }
    }
    off
}

fn check_window(
    kernel: [usize; 2],
    strides: [usize; 2],
    dilations: [usize; 2],
) -> Result<(), String> {
    if kernel.contains(&0) || strides.contains(&0) || dilations.contains(&0) {
        return Err(format!(
            "kernel {kernel:?}, strides {strides:?} and dilations {dilations:?} must all be >= 1"
        ));
    }
    Ok(())
}

fn nchw(what: &str, s: &[usize]) -> Result<[usize; 4], String> {
    match s {
        [n, c, h, w] => Ok([*n, *c, *h, *w]),
        _ => Err(format!("{what} must be NCHW (rank 4), got shape {s:?}")),
    }
}

/// Geometry of a 2-D Conv (`transpose == false`, weight `[Cout, Cin/g, kh, kw]`) or
/// ConvTranspose (`transpose == true`, weight `[Cin, Cout/g, kh, kw]`, output channel
/// `g * (Cout/g) + j`), NCHW.
#[derive(Clone, Debug)]
pub struct ConvGeom {
    pub x: [usize; 4],
    pub out: [usize; 4],
    pub kernel: [usize; 2],
    pub strides: [usize; 2],
    pub dilations: [usize; 2],
    /// top, left
    pub pad: [usize; 2],
    pub group: usize,
    pub transpose: bool,
}

impl ConvGeom {
    /// Checks the shapes against each other and against the attributes (the output shape must be
    /// the one ONNX defines).
    pub fn new(
        a: &ConvAttrs,
        x: &[usize],
        w: &[usize],
        out: &[usize],
        transpose: bool,
    ) -> Result<ConvGeom, String> {
        check_window(a.kernel, a.strides, a.dilations)?;
        let xs = nchw("input", x)?;
        let os = nchw("output", out)?;
        let ws = nchw("weight", w)?;
        if [ws[2], ws[3]] != a.kernel {
            return Err(format!(
                "weight shape {w:?} does not match kernel {:?}",
                a.kernel
            ));
        }
        if xs[2] == 0 || xs[3] == 0 {
            return Err(format!("empty spatial input {x:?}"));
        }
        let want = if transpose {
            shape::conv_transpose_out(x, w, a)?
        } else {
            shape::conv_out(x, w, a)?
        };
        if want != out {
            return Err(format!(
                "output shape {out:?} differs from the {want:?} the attributes give"
            ));
        }
        Ok(ConvGeom {
            x: xs,
            out: os,
            kernel: a.kernel,
            strides: a.strides,
            dilations: a.dilations,
            pad: [a.pads[0], a.pads[1]],
            group: a.group,
            transpose,
        })
    }

    pub fn out_len(&self) -> usize {
        numel(&self.out)
    }

    /// Number of weights the layout needs.
    pub fn weight_len(&self) -> usize {
        let per_group = if self.transpose {
            self.out[1] / self.group
        } else {
            self.x[1] / self.group
        };
        let lead = if self.transpose {
            self.x[1]
        } else {
            self.out[1]
        };
        lead * per_group * self.kernel[0] * self.kernel[1]
    }

    /// Output channel of output element `flat`.
    pub fn channel(&self, flat: usize) -> usize {
        (flat / (self.out[2] * self.out[3])) % self.out[1]
    }

    /// Fills `taps` with the (input offset, weight offset) pairs whose products sum into output
    /// element `flat` (row-major over `[N, Cout, OH, OW]`); padding cells contribute nothing.
    pub fn taps(&self, flat: usize, taps: &mut Vec<(usize, usize)>) {
        taps.clear();
        let [_, cin, h, w] = self.x;
        let [_, cout, oh, ow] = self.out;
        let ox = flat % ow;
        let oy = (flat / ow) % oh;
        let oc = (flat / (ow * oh)) % cout;
        let b = flat / (ow * oh * cout);
        let [kh, kw] = self.kernel;
        let (cin_g, cout_g) = (cin / self.group, cout / self.group);
        let grp = oc / cout_g;
        for ic in 0..cin_g {
            let c = grp * cin_g + ic;
            for ky in 0..kh {
                let Some(iy) = self.source(0, oy, ky, h) else {
                    continue;
                };
                for kx in 0..kw {
                    let Some(ix) = self.source(1, ox, kx, w) else {
                        continue;
                    };
                    let x_off = ((b * cin + c) * h + iy) * w + ix;
                    let w_off = if self.transpose {
                        // weight [Cin, Cout/g, kh, kw]; j = oc - grp * cout_g
                        ((c * cout_g + (oc - grp * cout_g)) * kh + ky) * kw + kx
                    } else {
                        // weight [Cout, Cin/g, kh, kw]
                        ((oc * cin_g + ic) * kh + ky) * kw + kx
                    };
                    taps.push((x_off, w_off));
                }
            }
        }
    }

    /// Input coordinate along spatial axis `ax` read by output coordinate `o` through kernel tap
    /// `k`, or None when it falls in the padding (or, for ConvTranspose, between strides).
    fn source(&self, ax: usize, o: usize, k: usize, len: usize) -> Option<usize> {
        let (s, d, p) = (
            self.strides[ax] as i64,
            self.dilations[ax] as i64,
            self.pad[ax] as i64,
        );
        let (o, k) = (o as i64, k as i64);
        let i = if self.transpose {
            // o = i * s + k * d - p  =>  i = (o + p - k * d) / s when divisible
            let t = o + p - k * d;
            if t < 0 || t % s != 0 {
                return None;
            }
            t / s
        } else {
            o * s + k * d - p
        };
        if i < 0 || i >= len as i64 {
            None
        } else {
            Some(i as usize)
        }
    }
}

/// Geometry of 2-D MaxPool / AveragePool (NCHW, ceil_mode handled by the output shape).
#[derive(Clone, Debug)]
pub struct PoolGeom {
    pub x: [usize; 4],
    pub out: [usize; 4],
    pub a: PoolAttrs,
}

impl PoolGeom {
    pub fn new(a: &PoolAttrs, x: &[usize], out: &[usize]) -> Result<PoolGeom, String> {
        check_window(a.kernel, a.strides, a.dilations)?;
        let xs = nchw("input", x)?;
        let os = nchw("output", out)?;
        let want = shape::pool_out(x, a)?;
        if want != out {
            return Err(format!(
                "output shape {out:?} differs from the {want:?} the attributes give"
            ));
        }
        Ok(PoolGeom {
            x: xs,
            out: os,
            a: a.clone(),
        })
    }

    pub fn out_len(&self) -> usize {
        numel(&self.out)
    }

    /// Fills `cells` with the input offsets of the window of output element `flat` that lie
    /// inside the input (padding cells are never read) and returns the AveragePool divisor:
    /// with `count_include_pad`, every kernel cell inside the *padded* input (cells a ceil_mode
    /// window puts beyond the bottom/right padding do not count); otherwise the in-input cells.
    pub fn cells(&self, flat: usize, cells: &mut Vec<usize>) -> usize {
        cells.clear();
        let [_, _, h, w] = self.x;
        let [_, _, oh, ow] = self.out;
        let ox = flat % ow;
        let oy = (flat / ow) % oh;
        let plane = flat / (ow * oh); // b * C + ch
        let a = &self.a;
        // The windows along H and W (radix_ir::semantics::pool).
        let wy = a.axis_geom(0, h).window(oy);
        let wx = a.axis_geom(1, w).window(ox);
        for ky in 0..wy.inside {
            let iy = wy.first + ky * a.dilations[0];
            for kx in 0..wx.inside {
                let ix = wx.first + kx * a.dilations[1];
                cells.push((plane * h + iy) * w + ix);
            }
        }
        divisor(a.count_include_pad, [&wy, &wx])
    }
}

/// Geometry of a numpy `matmul`: 1-D operands promoted (`[k]` -> `[1, k]` for a, `[k, 1]` for b,
/// the promoted axis dropped from the output), batch axes broadcast.
#[derive(Clone, Debug)]
pub struct MatMulGeom {
    pub m: usize,
    pub k: usize,
    pub n: usize,
    batch: Vec<usize>,
    a_batch: (Vec<usize>, Vec<usize>),
    b_batch: (Vec<usize>, Vec<usize>),
    out_len: usize,
}

impl MatMulGeom {
    pub fn new(a: &[usize], b: &[usize], out: &[usize]) -> Result<MatMulGeom, String> {
        if a.is_empty() || b.is_empty() {
            return Err("MatMul of a scalar".into());
        }
        let a2: Vec<usize> = if a.len() == 1 {
            vec![1, a[0]]
        } else {
            a.to_vec()
        };
        let b2: Vec<usize> = if b.len() == 1 {
            vec![b[0], 1]
        } else {
            b.to_vec()
        };
        let (m, k) = (a2[a2.len() - 2], a2[a2.len() - 1]);
        let (k2, n) = (b2[b2.len() - 2], b2[b2.len() - 1]);
        if k != k2 {
            return Err(format!("MatMul inner dimensions differ: {a:?} x {b:?}"));
        }
        let ab = a2[..a2.len() - 2].to_vec();
        let bb = b2[..b2.len() - 2].to_vec();
        let batch = shape::broadcast(&ab, &bb)
            .ok_or_else(|| format!("MatMul batch axes of {a:?} and {b:?} do not broadcast"))?;
        let mut want = batch.clone();
        if a.len() > 1 {
            want.push(m);
        }
        if b.len() > 1 {
            want.push(n);
        }
        if want != out {
            return Err(format!(
                "output shape {out:?} differs from the MatMul shape {want:?}"
            ));
        }
        let (sa, sb) = (strides(&ab), strides(&bb));
        Ok(MatMulGeom {
            m,
            k,
            n,
            out_len: numel(&want),
            batch,
            a_batch: (ab, sa),
            b_batch: (bb, sb),
        })
    }

    pub fn out_len(&self) -> usize {
        self.out_len
    }

    /// For output element `flat` (row-major over `batch, m, n`): the offset of `a[.., i, 0]` and of
    /// `b[.., 0, j]`; term `t` of the dot product is `a[ao + t] * b[bo + t * n]`.
    pub fn bases(&self, flat: usize, idx: &mut Vec<usize>) -> (usize, usize) {
        let (m, k, n) = (self.m, self.k, self.n);
        let j = flat % n.max(1);
        let i = (flat / n.max(1)) % m.max(1);
        let bflat = flat / (m * n).max(1);
        idx.resize(self.batch.len(), 0);
        unravel(bflat, &self.batch, idx);
        let ab = offset_in(idx, &self.a_batch.0, &self.a_batch.1);
        let bb = offset_in(idx, &self.b_batch.0, &self.b_batch.1);
        (ab * m * k + i * k, bb * k * n + j)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unravel_ravel_round_trip() {
        let shape = [2, 3, 4];
        let st = strides(&shape);
        assert_eq!(st, vec![12, 4, 1]);
        let mut idx = [0; 3];
        for f in 0..24 {
            unravel(f, &shape, &mut idx);
            assert_eq!(ravel(&idx, &st), f);
        }
    }

    #[test]
    fn broadcast_offsets() {
        // a [2, 3], b [3]: out (1, 2) reads a[5], b[2].
        let bc = Broadcast::new(&[2, 3], &[3], &[2, 3]).unwrap_or_else(|e| panic!("{e}"));
        let mut idx = Vec::new();
        assert_eq!(bc.offsets(5, &mut idx), (5, 2));
        // a [2, 1], b [1, 3]: out (1, 0) reads a[1], b[0].
        let bc = Broadcast::new(&[2, 1], &[1, 3], &[2, 3]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(bc.offsets(3, &mut idx), (1, 0));
        assert!(Broadcast::new(&[2, 3], &[2], &[2, 3]).is_err());
    }
}
