//! The integer kernels of the reference engine, one plain loop per output element, i64
//! accumulators, rounding and saturation only through the `radix_ir::qmodel` primitives
//! (`Requant::apply`, `AddRequant::apply`, `saturate`). See docs/FIXED_POINT.md.
//!
//! Every kernel validates what it reads (lengths, shapes, index ranges, magnitudes) first, so a
//! malformed model gives an error, never a panic or an overflow.

use radix_ir::op::PadMode;
use radix_ir::qmodel::{AddRequant, AxisPlan, QKernel, QParams, Requant, saturate};
use radix_ir::{Graph, Node, Op};

use super::index::{Broadcast, ConvGeom, MatMulGeom, PoolGeom, check_len, numel};
use super::layout::{self, View};

/// An integer operand: a node's activation or a quantized constant (`QuantModel::consts`).
#[derive(Clone, Copy, Debug)]
pub struct Operand<'a> {
    pub shape: &'a [usize],
    pub data: &'a [i32],
    pub params: QParams,
}

impl<'a> Operand<'a> {
    fn view(&self) -> View<'a, i32> {
        View {
            shape: self.shape,
            data: self.data,
        }
    }
}

/// Largest magnitude a weight code may have (int16).
const MAX_WEIGHT: i64 = 32767;
/// Largest magnitude of a Resize plan weight (valid plans stay within `2^RESIZE_FRAC_BITS`).
const MAX_RESIZE_WEIGHT: i64 = 1 << 16;
/// Bound on every accumulator before requantization (leaves headroom in i64).
const MAX_ACC: i128 = 1 << 62;

/// Requantization as docs/FIXED_POINT.md defines it: the exact product `v * mult` (i128), divided
/// by `2^shift` rounding half away from zero (a negative shift multiplies), saturated to i64.
pub fn apply_rq(rq: &Requant, v: i64) -> Result<i64, String> {
    if rq.mult.unsigned_abs() >= 1 << 15 {
        return Err(format!(
            "multiplier {} of {rq:?} is outside the 15-bit mantissa range",
            rq.mult
        ));
    }
    let p = v as i128 * rq.mult as i128;
    let r: i128 = if rq.shift > 0 {
        if rq.shift >= 100 {
            0 // |p| < 2^94: below one half
        } else {
            let d = 1i128 << rq.shift;
            let q = p.abs() / d;
            let rem = p.abs() % d;
            let q = if 2 * rem >= d { q + 1 } else { q };
            if p < 0 { -q } else { q }
        }
    } else {
        let k = (-rq.shift) as u32;
        if k >= 64 {
            p.signum() * (i64::MAX as i128 + 1)
        } else {
            p * (1i128 << k)
        }
    };
    Ok(r.clamp(i64::MIN as i128, i64::MAX as i128) as i64)
}

/// `rq.apply(a, b)`, after the same overflow check.
pub fn apply_add(rq: &AddRequant, a: i64, b: i64) -> Result<i64, String> {
    let half = if rq.shift > 0 && rq.shift < 63 {
        1i128 << (rq.shift - 1)
    } else {
        0
    };
    let s = a as i128 * rq.ma as i128 + b as i128 * rq.mb as i128;
    if s.abs() + half > i64::MAX as i128 {
        return Err(format!(
            "Add requantization of ({a}, {b}) by {rq:?} overflows i64"
        ));
    }
    Ok(rq.apply(a, b))
}

/// The per-output-channel part of a Mac kernel, validated.
struct Mac<'k> {
    weights: &'k [i32],
    bias: &'k [i64],
    requant: &'k [Requant],
    requant_neg: Option<&'k [Requant]>,
    act_min: i32,
    act_max: i32,
    out_bits: u8,
}

impl<'k> Mac<'k> {
    /// Checks the kernel against `channels` output channels and `weight_len` weights, and that
    /// no accumulator can leave i64: `Σ|w| * qmax(x) + max|bias| < 2^62`.
    fn new(
        kernel: &'k QKernel,
        channels: usize,
        weight_len: usize,
        x: QParams,
        y: QParams,
    ) -> Result<Mac<'k>, String> {
        let QKernel::Mac {
            weights,
            bias,
            requant,
            requant_neg,
            act_min,
            act_max,
            ..
        } = kernel
        else {
            return Err("not a Mac kernel".into());
        };
        if weights.len() != weight_len {
            return Err(format!(
                "kernel has {} weights, the weight shape needs {weight_len}",
                weights.len()
            ));
        }
        if bias.len() != channels || requant.len() != channels {
            return Err(format!(
                "kernel has {} biases and {} requantizers for {channels} output channels",
                bias.len(),
                requant.len()
            ));
        }
        if let Some(neg) = requant_neg
            && neg.len() != channels
        {
            return Err(format!(
                "kernel has {} negative requantizers for {channels} output channels",
                neg.len()
            ));
        }
        let (lo, hi) = (y.qmin(), y.qmax());
        if !(lo <= *act_min && act_min <= act_max && *act_max <= hi) {
            return Err(format!(
                "activation range [{act_min}, {act_max}] is not inside [{lo}, {hi}]"
            ));
        }
        let mut sum_w: i128 = 0;
        for &w in weights {
            if (w as i64).abs() > MAX_WEIGHT {
                return Err(format!("weight code {w} exceeds 16 bits"));
            }
            sum_w += (w as i64).abs() as i128;
        }
        let max_b = bias.iter().map(|b| (*b as i128).abs()).max().unwrap_or(0);
        if sum_w * x.qmax() as i128 + max_b >= MAX_ACC {
            return Err("accumulator bound exceeds 2^62".into());
        }
        Ok(Mac {
            weights,
            bias,
            requant,
            requant_neg: requant_neg.as_deref(),
            act_min: *act_min,
            act_max: *act_max,
            out_bits: y.bits,
        })
    }

    /// `y = acc >= 0 || no requant_neg ? requant[c](acc) : requant_neg[c](acc)`, saturated to the
    /// output bits, then clamped to the activation range.
    fn finish(&self, c: usize, acc: i64) -> Result<i32, String> {
        let rq = match self.requant_neg {
            Some(neg) if acc < 0 => &neg[c],
            _ => &self.requant[c],
        };
        let y = saturate(apply_rq(rq, acc)?, self.out_bits);
        Ok(y.max(self.act_min).min(self.act_max))
    }
}

/// Conv / ConvTranspose: `acc = bias[c] + Σ x * w` over the taps of each output element.
fn conv(g: &ConvGeom, x: &Operand, mac: &Mac) -> Result<Vec<i32>, String> {
    check_len("input", &g.x, x.data.len())?;
    let mut taps = Vec::new();
    let mut y = Vec::with_capacity(g.out_len());
    for flat in 0..g.out_len() {
        let c = g.channel(flat);
        g.taps(flat, &mut taps);
        let mut acc: i64 = mac.bias[c];
        for &(xo, wo) in &taps {
            acc += x.data[xo] as i64 * mac.weights[wo] as i64;
        }
        y.push(mac.finish(c, acc)?);
    }
    Ok(y)
}

/// Gemm: x `[M, K]`, weights `[N, K]`: `acc[m, n] = bias[n] + Σ_k x[m, k] * w[n, k]`.
fn gemm(x: &Operand, m: usize, k: usize, n: usize, mac: &Mac) -> Result<Vec<i32>, String> {
    let mut y = Vec::with_capacity(m * n);
    for i in 0..m {
        for j in 0..n {
            let mut acc: i64 = mac.bias[j];
            for t in 0..k {
                acc += x.data[i * k + t] as i64 * mac.weights[j * k + t] as i64;
            }
            y.push(mac.finish(j, acc)?);
        }
    }
    Ok(y)
}

/// Checks that an operand's codes fit its bitwidth (so every product below is bounded).
fn check_codes(what: &str, o: &Operand) -> Result<(), String> {
    check_len(what, o.shape, o.data.len())?;
    let m = o.params.qmax();
    if let Some(q) = o.data.iter().find(|q| q.abs() > m) {
        return Err(format!(
            "{what} holds code {q} outside the {}-bit range",
            o.params.bits
        ));
    }
    Ok(())
}

/// Input `k` of a node as a validated integer operand.
fn input<'a>(ins: &[Option<Operand<'a>>], k: usize) -> Result<Operand<'a>, String> {
    match ins.get(k) {
        Some(Some(o)) => {
            check_codes(&format!("input {k}"), o)?;
            Ok(*o)
        }
        Some(None) => Err(format!("input {k} is a constant without quantized data")),
        None => Err(format!("missing input {k}")),
    }
}

/// Runs one integer kernel. `ins[k]` is input k as an integer operand (None: a constant without
/// quantized data, e.g. Conv weights, which live in the kernel); `outs` are the output shapes and
/// parameters. Returns the output codes.
pub fn run(
    graph: &Graph,
    node: &Node,
    kernel: &QKernel,
    ins: &[Option<Operand<'_>>],
    outs: &[(Vec<usize>, QParams)],
) -> Result<Vec<Vec<i32>>, String> {
    let input = |k: usize| input(ins, k);
    if !matches!(node.op, Op::Split { .. }) && outs.len() != 1 {
        return Err(format!("expected one output, got {}", outs.len()));
    }
    let Some((out, py)) = outs.first() else {
        return Err("node has no outputs".into());
    };
    let (out, py) = (out.as_slice(), *py);
    let one = |v: Vec<i32>| Ok(vec![v]);
    match kernel {
        QKernel::Mac { .. } => {
            let x = input(0)?;
            let w_shape = node
                .inputs
                .get(1)
                .map(|&w| graph.shape(w))
                .ok_or("missing weight input")?;
            match &node.op {
                Op::Conv(a) | Op::ConvTranspose(a) => {
                    let g = ConvGeom::new(
                        a,
                        x.shape,
                        w_shape,
                        out,
                        matches!(node.op, Op::ConvTranspose(_)),
                    )?;
                    let mac = Mac::new(kernel, g.out[1], g.weight_len(), x.params, py)?;
                    one(conv(&g, &x, &mac)?)
                }
                Op::Gemm { .. } => {
                    let (&[m, k], &[n, k2], &[m2, n2]) = (x.shape, w_shape, out) else {
                        return Err(format!(
                            "Gemm shapes {:?} x {w_shape:?}ᵀ -> {out:?} are not 2-D",
                            x.shape
                        ));
                    };
                    if k != k2 || m != m2 || n != n2 {
                        return Err(format!(
                            "Gemm shapes {:?} x {w_shape:?}ᵀ -> {out:?} do not match",
                            x.shape
                        ));
                    }
                    let mac = Mac::new(kernel, n, n * k, x.params, py)?;
                    one(gemm(&x, m, k, n, &mac)?)
                }
                other => Err(format!("a Mac kernel cannot run {}", other.type_name())),
            }
        }
        QKernel::Add { rq } => {
            let (a, b) = (input(0)?, input(1)?);
            let bc = Broadcast::new(a.shape, b.shape, out)?;
            let mut idx = Vec::new();
            let mut y = Vec::with_capacity(bc.out_len());
            for flat in 0..bc.out_len() {
                let (ia, ib) = bc.offsets(flat, &mut idx);
                y.push(saturate(
                    apply_add(rq, a.data[ia] as i64, b.data[ib] as i64)?,
                    py.bits,
                ));
            }
            one(y)
        }
        QKernel::Mul { requant } => {
            let (a, b) = (input(0)?, input(1)?);
            let bc = Broadcast::new(a.shape, b.shape, out)?;
            let mut idx = Vec::new();
            let mut y = Vec::with_capacity(bc.out_len());
            for flat in 0..bc.out_len() {
                let (ia, ib) = bc.offsets(flat, &mut idx);
                let prod = a.data[ia] as i64 * b.data[ib] as i64;
                y.push(saturate(apply_rq(requant, prod)?, py.bits));
            }
            one(y)
        }
        QKernel::MatMul { requant } => {
            let (a, b) = (input(0)?, input(1)?);
            let g = MatMulGeom::new(a.shape, b.shape, out)?;
            let mut idx = Vec::new();
            let mut y = Vec::with_capacity(g.out_len());
            for flat in 0..g.out_len() {
                let (ao, bo) = g.bases(flat, &mut idx);
                let mut acc: i64 = 0;
                for t in 0..g.k {
                    acc += a.data[ao + t] as i64 * b.data[bo + t * g.n] as i64;
                }
                y.push(saturate(apply_rq(requant, acc)?, py.bits));
            }
            one(y)
        }
        QKernel::Lut { table } => {
            let x = input(0)?;
            same_shape(x.shape, out)?;
            let (qmin, qmax) = (x.params.qmin(), x.params.qmax());
            let want = (qmax - qmin + 1) as usize;
            if table.len() != want {
                return Err(format!(
                    "table has {} entries, a {}-bit input needs {want}",
                    table.len(),
                    x.params.bits
                ));
            }
            if let Some(t) = table.iter().find(|t| t.abs() > py.qmax()) {
                return Err(format!(
                    "table entry {t} outside the {}-bit output range",
                    py.bits
                ));
            }
            one(x.data.iter().map(|&q| table[(q - qmin) as usize]).collect())
        }
        QKernel::PRelu { pos, neg } => {
            let x = input(0)?;
            same_shape(x.shape, out)?;
            // Channel axis 1 (a rank-0/1 tensor has a single channel).
            let channels = if x.shape.len() >= 2 { x.shape[1] } else { 1 };
            let inner = if x.shape.len() >= 2 {
                numel(&x.shape[2..])
            } else {
                1
            };
            if neg.len() != channels {
                return Err(format!(
                    "{} negative slopes for {channels} channels",
                    neg.len()
                ));
            }
            let mut y = Vec::with_capacity(x.data.len());
            for (flat, &q) in x.data.iter().enumerate() {
                let c = (flat / inner.max(1)) % channels.max(1);
                let v = if q >= 0 {
                    apply_rq(pos, q as i64)?
                } else {
                    apply_rq(&neg[c], q as i64)?
                };
                y.push(saturate(v, py.bits));
            }
            one(y)
        }
        QKernel::AvgPool { requant } => {
            let Op::AveragePool(a) = &node.op else {
                return Err(format!(
                    "an AvgPool kernel cannot run {}",
                    node.op.type_name()
                ));
            };
            let x = input(0)?;
            let g = PoolGeom::new(a, x.shape, out)?;
            let mut cells = Vec::new();
            let mut y = Vec::with_capacity(g.out_len());
            for flat in 0..g.out_len() {
                let n = g.cells(flat, &mut cells);
                let sum: i64 = cells.iter().map(|&c| x.data[c] as i64).sum();
                let rq = requant.get(n).ok_or_else(|| {
                    format!(
                        "no requantizer for a divisor of {n} cells ({} given)",
                        requant.len()
                    )
                })?;
                y.push(saturate(apply_rq(rq, sum)?, py.bits));
            }
            one(y)
        }
        QKernel::GlobalAvg { requant } => {
            let x = input(0)?;
            let planes = layout::global_planes(x.shape, out)?;
            let hw = numel(&x.shape[2..]);
            let mut y = Vec::with_capacity(planes);
            for p in 0..planes {
                let mut sum: i64 = 0;
                for i in 0..hw {
                    sum += x.data[p * hw + i] as i64;
                }
                y.push(saturate(apply_rq(requant, sum)?, py.bits));
            }
            one(y)
        }
        QKernel::Concat { requant } => {
            let Op::Concat { axis } = &node.op else {
                return Err(format!(
                    "a Concat kernel cannot run {}",
                    node.op.type_name()
                ));
            };
            if requant.len() != node.inputs.len() {
                return Err(format!(
                    "{} requantizers for {} inputs",
                    requant.len(),
                    node.inputs.len()
                ));
            }
            one(concat(
                &(0..node.inputs.len())
                    .map(input)
                    .collect::<Result<Vec<_>, _>>()?,
                requant,
                *axis,
                out,
                py,
            )?)
        }
        QKernel::Resize {
            rows,
            cols,
            requant,
        } => {
            if !matches!(node.op, Op::Resize(_)) {
                return Err(format!(
                    "a Resize kernel cannot run {}",
                    node.op.type_name()
                ));
            }
            one(resize(&input(0)?, rows, cols, requant, out, py)?)
        }
        QKernel::PassThrough { pad_value } => pass_through(graph, node, ins, *pad_value, outs),
        QKernel::Cpu => Err("a Cpu kernel on an NPU node".into()),
    }
}

fn same_shape(x: &[usize], out: &[usize]) -> Result<(), String> {
    if x != out {
        return Err(format!(
            "output shape {out:?} differs from input shape {x:?}"
        ));
    }
    Ok(())
}

/// Concat: input i copied when its requantizer is None (its parameters must then equal the
/// output's), else `saturate(requant[i].apply(q))`.
fn concat(
    ins: &[Operand],
    requant: &[Option<Requant>],
    axis: usize,
    out: &[usize],
    py: QParams,
) -> Result<Vec<i32>, String> {
    let mut rescaled = Vec::with_capacity(ins.len());
    for (k, (x, rq)) in ins.iter().zip(requant).enumerate() {
        rescaled.push(match rq {
            None => {
                if x.params != py {
                    return Err(format!("input {k} is copied, but its parameters {:?} differ from the output's {py:?}", x.params));
                }
                x.data.to_vec()
            }
            Some(rq) => x.data.iter().map(|&q| Ok(saturate(apply_rq(rq, q as i64)?, py.bits))).collect::<Result<Vec<_>, String>>()?,
        });
    }
    let views: Vec<View<i32>> = ins
        .iter()
        .zip(&rescaled)
        .map(|(x, d)| View {
            shape: x.shape,
            data: d,
        })
        .collect();
    layout::concat(&views, axis, out)
}

/// Checks one axis plan against the output and input lengths.
fn check_plan(name: &str, p: &AxisPlan, out_len: usize, in_len: usize) -> Result<(), String> {
    if [p.i0.len(), p.i1.len(), p.w0.len(), p.w1.len()] != [out_len; 4] {
        return Err(format!(
            "{name} plan has {}/{}/{}/{} entries for {out_len} outputs",
            p.i0.len(),
            p.i1.len(),
            p.w0.len(),
            p.w1.len()
        ));
    }
    if let Some(i) = p.i0.iter().chain(&p.i1).find(|&&i| i as usize >= in_len) {
        return Err(format!("{name} plan reads index {i} of {in_len}"));
    }
    if let Some(w) =
        p.w0.iter()
            .chain(&p.w1)
            .find(|&&w| (w as i64).abs() > MAX_RESIZE_WEIGHT)
    {
        return Err(format!("{name} plan weight {w} is out of range"));
    }
    Ok(())
}

/// Resize: `acc = Σ_{a,b ∈ {0,1}} wy_a * wx_b * q[iy_a][ix_b]`, `y = sat(requant.apply(acc))`.
/// The plans' weights sum to `2^RESIZE_FRAC_BITS` per axis (nearest: one weight of that).
fn resize(
    x: &Operand,
    rows: &AxisPlan,
    cols: &AxisPlan,
    requant: &Requant,
    out: &[usize],
    py: QParams,
) -> Result<Vec<i32>, String> {
    let (&[n, c, h, w], &[n2, c2, oh, ow]) = (x.shape, out) else {
        return Err(format!(
            "Resize needs NCHW input and output, got {:?} -> {out:?}",
            x.shape
        ));
    };
    if n != n2 || c != c2 {
        return Err(format!("Resize changes N or C: {:?} -> {out:?}", x.shape));
    }
    check_plan("row", rows, oh, h)?;
    check_plan("column", cols, ow, w)?;
    let mut y = Vec::with_capacity(n * c * oh * ow);
    for plane in 0..n * c {
        for oy in 0..oh {
            let ys = [
                (rows.i0[oy] as usize, rows.w0[oy] as i64),
                (rows.i1[oy] as usize, rows.w1[oy] as i64),
            ];
            for ox in 0..ow {
                let xs = [
                    (cols.i0[ox] as usize, cols.w0[ox] as i64),
                    (cols.i1[ox] as usize, cols.w1[ox] as i64),
                ];
                let mut acc: i64 = 0;
                for &(iy, wy) in &ys {
                    for &(ix, wx) in &xs {
                        acc += wy * wx * x.data[(plane * h + iy) * w + ix] as i64;
                    }
                }
                y.push(saturate(apply_rq(requant, acc)?, py.bits));
            }
        }
    }
    Ok(y)
}

/// PassThrough: the codes move unchanged (the output parameters must equal the input's).
/// Relu and Clip on an unchanged scale clamp the codes (`max(q, 0)`; `[quantize(min),
/// quantize(max)]` at the output parameters); pad cells take `pad_value`.
fn pass_through(
    graph: &Graph,
    node: &Node,
    ins: &[Option<Operand<'_>>],
    pad_value: i32,
    outs: &[(Vec<usize>, QParams)],
) -> Result<Vec<Vec<i32>>, String> {
    let x = input(ins, 0)?;
    for (k, (_, p)) in outs.iter().enumerate() {
        if *p != x.params {
            return Err(format!(
                "PassThrough output {k} has parameters {p:?}, the input {:?}",
                x.params
            ));
        }
    }
    let (out, py) = match outs.first() {
        Some((o, p)) => (o.as_slice(), *p),
        None => return Err("node has no outputs".into()),
    };
    let one = |v: Vec<i32>| Ok(vec![v]);
    match &node.op {
        Op::Reshape { .. }
        | Op::Flatten { .. }
        | Op::Squeeze { .. }
        | Op::Unsqueeze { .. }
        | Op::Identity
        | Op::Dropout
        | Op::Cast => one(layout::reshape(&node.op, x.view(), out)?),
        Op::Transpose { perm } => one(layout::transpose(x.view(), perm, out)?),
        Op::Slice {
            starts,
            ends,
            steps,
        } => one(layout::slice(x.view(), starts, ends, steps, out)?),
        Op::Split { axis, splits } => {
            let shapes: Vec<Vec<usize>> = outs.iter().map(|(s, _)| s.clone()).collect();
            layout::split(x.view(), *axis, splits, &shapes)
        }
        Op::Gather { axis } => {
            let idx = node
                .inputs
                .get(1)
                .and_then(|&i| graph.const_data(i))
                .ok_or("Gather indices must be constant")?;
            one(layout::gather(x.view(), *axis, idx, out)?)
        }
        Op::Pad { pads, mode, .. } => {
            if *mode == PadMode::Constant && pad_value.abs() > py.qmax() {
                return Err(format!(
                    "pad value {pad_value} outside the {}-bit range",
                    py.bits
                ));
            }
            one(layout::pad(x.view(), pads, *mode, pad_value, out)?)
        }
        Op::Concat { axis } => {
            let all = (0..node.inputs.len())
                .map(|k| input(ins, k))
                .collect::<Result<Vec<_>, _>>()?;
            one(concat(&all, &vec![None; all.len()], *axis, out, py)?)
        }
        Op::MaxPool(a) => one(layout::max_pool(&PoolGeom::new(a, x.shape, out)?, x.data)?),
        Op::GlobalMaxPool => one(layout::global_max(x.view(), out)?),
        Op::Relu => {
            same_shape(x.shape, out)?;
            one(x.data.iter().map(|&q| q.max(0)).collect())
        }
        Op::Clip { min, max } => {
            same_shape(x.shape, out)?;
            let (lo, hi) = (py.quantize(*min), py.quantize(*max));
            one(x.data.iter().map(|&q| q.max(lo).min(hi)).collect())
        }
        other => Err(format!(
            "a PassThrough kernel cannot run {}",
            other.type_name()
        )),
    }
}
