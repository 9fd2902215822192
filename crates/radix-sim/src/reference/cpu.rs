//! Float ops of CPU nodes (between a dequantize and a quantize), as naive loops. Heavy ops
//! (Conv, ConvTranspose, Gemm, MatMul, pooling, Resize) are written here with f64 accumulation;
//! data movement uses the same generic definitions as the integer PassThrough; every other op
//! runs through `radix_ir::eval::eval_light` after its preconditions are checked (so a malformed
//! node gives an error, not a panic).

use ndarray::{ArrayD, IxDyn};
use radix_ir::eval::eval_light;
use radix_ir::op::{ConvAttrs, ResizeAttrs};
use radix_ir::semantics::resize::Taps;
use radix_ir::{Activation, Node, Op};

use super::index::{ConvGeom, MatMulGeom, PoolGeom, check_len, numel};
use super::layout::{self, View};

/// Runs the float op of `node` on `ins` (dequantized activations, float constants).
pub fn eval(
    graph: &radix_ir::Graph,
    node: &Node,
    ins: &[ArrayD<f32>],
    out_shapes: &[Vec<usize>],
) -> Result<Vec<ArrayD<f32>>, String> {
    let data: Vec<Vec<f32>> = ins.iter().map(|a| a.iter().copied().collect()).collect();
    let view = |k: usize| -> Result<View<'_, f32>, String> {
        match (ins.get(k), data.get(k)) {
            (Some(a), Some(d)) => Ok(View {
                shape: a.shape(),
                data: d,
            }),
            _ => Err(format!("missing input {k}")),
        }
    };
    let out0 = || {
        out_shapes
            .first()
            .map(Vec::as_slice)
            .ok_or("node has no outputs")
    };
    let vecs: Vec<Vec<f32>> = match &node.op {
        Op::Conv(a) | Op::ConvTranspose(a) => {
            vec![conv(
                a,
                view(0)?,
                view(1)?,
                view(2).ok(),
                out0()?,
                matches!(node.op, Op::ConvTranspose(_)),
            )?]
        }
        Op::Gemm { activation } => vec![gemm(
            *activation,
            view(0)?,
            view(1)?,
            view(2).ok(),
            out0()?,
        )?],
        Op::MatMul => vec![matmul(view(0)?, view(1)?, out0()?)?],
        Op::MaxPool(a) => {
            let x = view(0)?;
            vec![layout::max_pool(
                &PoolGeom::new(a, x.shape, out0()?)?,
                x.data,
            )?]
        }
        Op::AveragePool(a) => {
            let x = view(0)?;
            let g = PoolGeom::new(a, x.shape, out0()?)?;
            check_len("input", x.shape, x.data.len())?;
            let mut cells = Vec::new();
            let mut y = Vec::with_capacity(g.out_len());
            for flat in 0..g.out_len() {
                let n = g.cells(flat, &mut cells);
                let sum: f64 = cells.iter().map(|&c| x.data[c] as f64).sum();
                // A window without any counted cell (degenerate) gives 0, as the integer kernel's
                // `requant[0]` does.
                y.push(if n == 0 { 0.0 } else { (sum / n as f64) as f32 });
            }
            vec![y]
        }
        Op::GlobalMaxPool => vec![layout::global_max(view(0)?, out0()?)?],
        Op::Resize(a) => vec![resize(a, view(0)?, out0()?)?],
        Op::Reshape { .. }
        | Op::Flatten { .. }
        | Op::Squeeze { .. }
        | Op::Unsqueeze { .. }
        | Op::Identity
        | Op::Dropout
        | Op::Cast => {
            vec![layout::reshape(&node.op, view(0)?, out0()?)?]
        }
        Op::Transpose { perm } => vec![layout::transpose(view(0)?, perm, out0()?)?],
        Op::Slice {
            starts,
            ends,
            steps,
        } => vec![layout::slice(view(0)?, starts, ends, steps, out0()?)?],
        Op::Split { axis, splits } => layout::split(view(0)?, *axis, splits, out_shapes)?,
        Op::Gather { axis } => {
            let idx = node
                .inputs
                .get(1)
                .and_then(|&i| graph.const_data(i))
                .ok_or("Gather indices must be constant")?;
            vec![layout::gather(view(0)?, *axis, idx, out0()?)?]
        }
        Op::Pad { pads, mode, value } => vec![layout::pad(view(0)?, pads, *mode, *value, out0()?)?],
        Op::Concat { axis } => {
            let views = (0..ins.len()).map(view).collect::<Result<Vec<_>, _>>()?;
            vec![layout::concat(&views, *axis, out0()?)?]
        }
        op => return light(op, ins, out_shapes),
    };
    if vecs.len() != out_shapes.len() {
        return Err(format!(
            "the op gives {} outputs, the node has {}",
            vecs.len(),
            out_shapes.len()
        ));
    }
    vecs.into_iter()
        .zip(out_shapes)
        .map(|(v, s)| {
            ArrayD::from_shape_vec(IxDyn(s), v).map_err(|e| format!("output of shape {s:?}: {e}"))
        })
        .collect()
}

/// The ops `eval_light` defines, with the preconditions it assumes checked first.
fn light(
    op: &Op,
    ins: &[ArrayD<f32>],
    out_shapes: &[Vec<usize>],
) -> Result<Vec<ArrayD<f32>>, String> {
    let x = ins.first().ok_or("missing input 0")?;
    let r = x.ndim();
    let needs = |n: usize| {
        if ins.len() < n {
            Err(format!("expects {n} inputs, got {}", ins.len()))
        } else {
            Ok(())
        }
    };
    match op {
        Op::Add | Op::Sub | Op::Mul | Op::Div | Op::PRelu | Op::Pow => needs(2)?,
        Op::BatchNorm { .. } => needs(5)?,
        Op::InstanceNorm { .. } => needs(3)?,
        Op::LayerNorm { .. } => needs(2)?,
        Op::Softmax { axis, .. } if *axis >= r => {
            return Err(format!("softmax axis {axis} out of range for rank {r}"));
        }
        Op::ReduceMean { axes, .. }
            if axes.windows(2).any(|w| w[0] >= w[1]) || axes.iter().any(|&a| a >= r) =>
        {
            return Err(format!(
                "ReduceMean axes {axes:?} must be increasing and below rank {r}"
            ));
        }
        Op::GlobalAveragePool => {
            layout::global_planes(
                x.shape(),
                out_shapes.first().map(Vec::as_slice).unwrap_or(&[]),
            )?;
        }
        _ => {}
    }
    let refs: Vec<&ArrayD<f32>> = ins.iter().collect();
    let outs = eval_light(op, &refs, out_shapes)
        .ok_or_else(|| format!("no float implementation of {}", op.type_name()))??;
    if outs.len() != out_shapes.len()
        || outs
            .iter()
            .zip(out_shapes)
            .any(|(o, s)| o.shape() != s.as_slice())
    {
        let got: Vec<&[usize]> = outs.iter().map(|o| o.shape()).collect();
        return Err(format!(
            "the op gives shapes {got:?}, the node expects {out_shapes:?}"
        ));
    }
    Ok(outs)
}

/// Conv / ConvTranspose: `y = act(b[c] + Σ x * w)` over the taps of each output element.
fn conv(
    a: &ConvAttrs,
    x: View<f32>,
    w: View<f32>,
    b: Option<View<f32>>,
    out: &[usize],
    transpose: bool,
) -> Result<Vec<f32>, String> {
    let g = ConvGeom::new(a, x.shape, w.shape, out, transpose)?;
    check_len("input", x.shape, x.data.len())?;
    check_len("weight", &[g.weight_len()], w.data.len())?;
    let bias = bias_of(b, g.out[1])?;
    let mut taps = Vec::new();
    let mut y = Vec::with_capacity(g.out_len());
    for flat in 0..g.out_len() {
        let c = g.channel(flat);
        g.taps(flat, &mut taps);
        let mut acc = bias[c] as f64;
        for &(xo, wo) in &taps {
            acc += x.data[xo] as f64 * w.data[wo] as f64;
        }
        y.push(a.activation.apply(acc as f32));
    }
    Ok(y)
}

fn bias_of(b: Option<View<f32>>, channels: usize) -> Result<Vec<f32>, String> {
    match b {
        None => Ok(vec![0.0; channels]),
        Some(b) if b.data.len() == channels => Ok(b.data.to_vec()),
        Some(b) => Err(format!(
            "bias has {} values for {channels} output channels",
            b.data.len()
        )),
    }
}

/// Gemm: x `[M, K]`, w `[N, K]`: `y[m, n] = act(b[n] + Σ_k x[m, k] * w[n, k])`.
fn gemm(
    act: Activation,
    x: View<f32>,
    w: View<f32>,
    b: Option<View<f32>>,
    out: &[usize],
) -> Result<Vec<f32>, String> {
    let (&[m, k], &[n, k2], &[m2, n2]) = (x.shape, w.shape, out) else {
        return Err(format!(
            "Gemm shapes {:?} x {:?}ᵀ -> {out:?} are not 2-D",
            x.shape, w.shape
        ));
    };
    if k != k2 || m != m2 || n != n2 {
        return Err(format!(
            "Gemm shapes {:?} x {:?}ᵀ -> {out:?} do not match",
            x.shape, w.shape
        ));
    }
    check_len("input", x.shape, x.data.len())?;
    check_len("weight", w.shape, w.data.len())?;
    let bias = bias_of(b, n)?;
    let mut y = Vec::with_capacity(m * n);
    for i in 0..m {
        for (j, &bj) in bias.iter().enumerate() {
            let mut acc = bj as f64;
            for t in 0..k {
                acc += x.data[i * k + t] as f64 * w.data[j * k + t] as f64;
            }
            y.push(act.apply(acc as f32));
        }
    }
    Ok(y)
}

/// numpy matmul.
fn matmul(a: View<f32>, b: View<f32>, out: &[usize]) -> Result<Vec<f32>, String> {
    let g = MatMulGeom::new(a.shape, b.shape, out)?;
    check_len("input 0", a.shape, a.data.len())?;
    check_len("input 1", b.shape, b.data.len())?;
    let mut idx = Vec::new();
    let mut y = Vec::with_capacity(g.out_len());
    for flat in 0..g.out_len() {
        let (ao, bo) = g.bases(flat, &mut idx);
        let mut acc = 0f64;
        for t in 0..g.k {
            acc += a.data[ao + t] as f64 * b.data[bo + t * g.n] as f64;
        }
        y.push(acc as f32);
    }
    Ok(y)
}

/// Resize (nearest / bilinear) over H and W of NCHW; bilinear interpolates along W, then H.
fn resize(a: &ResizeAttrs, x: View<f32>, out: &[usize]) -> Result<Vec<f32>, String> {
    let (&[n, c, h, w], &[n2, c2, oh, ow]) = (x.shape, out) else {
        return Err(format!(
            "Resize needs NCHW input and output, got {:?} -> {out:?}",
            x.shape
        ));
    };
    if n != n2 || c != c2 || h == 0 || w == 0 {
        return Err(format!(
            "Resize from {:?} to {out:?} is not supported",
            x.shape
        ));
    }
    check_len("input", x.shape, x.data.len())?;
    // Coordinates and taps: radix_ir::semantics::resize, in f32.
    let rows = a.axis_taps::<f32>(0, h, oh);
    let cols = a.axis_taps::<f32>(1, w, ow);
    let mut y = Vec::with_capacity(numel(out));
    for plane in 0..n * c {
        let at = |iy: usize, ix: usize| x.data[(plane * h + iy) * w + ix];
        for &Taps {
            i0: y0,
            i1: y1,
            frac: fy,
        } in &rows
        {
            for &Taps {
                i0: x0,
                i1: x1,
                frac: fx,
            } in &cols
            {
                let top = (1.0 - fx) * at(y0, x0) + fx * at(y0, x1);
                let bottom = (1.0 - fx) * at(y1, x0) + fx * at(y1, x1);
                y.push((1.0 - fy) * top + fy * bottom);
            }
        }
    }
    Ok(y)
}
