//! Layout ops: DepthToSpace / SpaceToDepth, Tile and Pad.

use ndarray::{ArrayD, Axis, IxDyn};

use crate::op::PadMode;

/// Reshape + transpose + reshape, the way ONNX defines DepthToSpace / SpaceToDepth.
fn shuffle(
    x: &ArrayD<f32>,
    split: &[usize],
    perm: &[usize],
    out: &[usize],
) -> Result<ArrayD<f32>, String> {
    x.as_standard_layout()
        .into_owned()
        .into_shape_with_order(IxDyn(split))
        .map_err(|e| e.to_string())?
        .permuted_axes(IxDyn(perm))
        .as_standard_layout()
        .into_owned()
        .into_shape_with_order(IxDyn(out))
        .map_err(|e| e.to_string())
}

pub(super) fn depth_to_space(x: &ArrayD<f32>, b: usize, crd: bool) -> Result<ArrayD<f32>, String> {
    let &[n, c, h, w] = x.shape() else {
        return Err(format!("DepthToSpace needs NCHW, got {:?}", x.shape()));
    };
    if b == 0 || !c.is_multiple_of(b * b) {
        return Err(format!(
            "{c} channels are not a multiple of blocksize² ({b}²)"
        ));
    }
    let oc = c / (b * b);
    let out = [n, oc, h * b, w * b];
    if crd {
        shuffle(x, &[n, oc, b, b, h, w], &[0, 1, 4, 2, 5, 3], &out)
    } else {
        shuffle(x, &[n, b, b, oc, h, w], &[0, 3, 4, 1, 5, 2], &out)
    }
}

pub(super) fn space_to_depth(x: &ArrayD<f32>, b: usize) -> Result<ArrayD<f32>, String> {
    let &[n, c, h, w] = x.shape() else {
        return Err(format!("SpaceToDepth needs NCHW, got {:?}", x.shape()));
    };
    if b == 0 || !h.is_multiple_of(b) || !w.is_multiple_of(b) {
        return Err(format!("blocksize {b} does not divide {h}x{w}"));
    }
    shuffle(
        x,
        &[n, c, h / b, b, w / b, b],
        &[0, 3, 5, 1, 2, 4],
        &[n, c * b * b, h / b, w / b],
    )
}

pub(super) fn tile(x: &ArrayD<f32>, repeats: &[usize]) -> Result<ArrayD<f32>, String> {
    if repeats.len() != x.ndim() {
        return Err(format!("{} repeats for rank {}", repeats.len(), x.ndim()));
    }
    let mut cur = x.clone();
    for (ax, &r) in repeats.iter().enumerate() {
        if r != 1 {
            let views = vec![cur.view(); r];
            cur = ndarray::concatenate(Axis(ax), &views).map_err(|e| e.to_string())?;
        }
    }
    Ok(cur)
}

pub(super) fn pad(
    x: &ArrayD<f32>,
    pads: &[(usize, usize)],
    mode: PadMode,
    value: f32,
) -> Result<ArrayD<f32>, String> {
    let out_shape: Vec<usize> = x
        .shape()
        .iter()
        .zip(pads)
        .map(|(d, (a, b))| d + a + b)
        .collect();
    let mut out = ArrayD::from_elem(IxDyn(&out_shape), value);
    let rank = x.ndim();
    let mut src = vec![0usize; rank];
    for (idx, o) in out.indexed_iter_mut() {
        let mut inside = true;
        for ax in 0..rank {
            let p = idx[ax] as i64 - pads[ax].0 as i64;
            let d = x.shape()[ax] as i64;
            let s = match mode {
                PadMode::Constant => {
                    if p < 0 || p >= d {
                        inside = false;
                        break;
                    }
                    p
                }
                PadMode::Edge => p.clamp(0, d - 1),
                PadMode::Reflect => {
                    if d == 1 {
                        0
                    } else {
                        let period = 2 * (d - 1);
                        let m = p.rem_euclid(period);
                        if m >= d { period - m } else { m }
                    }
                }
            };
            src[ax] = s as usize;
        }
        if inside {
            *o = x[IxDyn(&src)];
        }
    }
    Ok(out)
}
