//! Integer kernels of the fast engine: the dispatch from a [`QKernel`] to its kernel (this
//! file, with the small elementwise kernels written inline: Add, Mul, Lut, PRelu, GlobalAvg,
//! Concat), and one module per op family.

mod acc;
mod bounds;
mod conv;
mod depthwise;
mod elementwise;
mod gemm;
mod layout;
mod matmul;
mod pool;
mod resize;

use radix_ir::qmodel::{QKernel, QTensor, saturate};
use radix_ir::{Graph, Node, Op};
use rayon::prelude::*;

use super::{Operand, epilogue};
use crate::SimError;
use acc::Epilogue;
pub(super) use bounds::MacPrep;
use conv::{conv, conv_transpose};
use elementwise::broadcast2;
use gemm::gemm;
use layout::{concat_blocks, passthrough};
use matmul::matmul;
use pool::avg_pool;
use resize::resize;

type Input<'a> = dyn Fn(usize) -> Result<Operand<'a>, SimError> + 'a;

fn one(shape: &[usize], data: Vec<i32>) -> Result<Vec<QTensor>, SimError> {
    Ok(vec![QTensor {
        shape: shape.to_vec(),
        data,
    }])
}

/// Runs a kernel written for one item (axis 0 of length 1) on every item of axis 0: a graph may
/// stack items inside the model (a Concat on axis 0 before a Conv).
fn per_item(
    x: Operand<'_>,
    out: &[usize],
    f: impl Fn(Operand<'_>, &[usize]) -> Result<Vec<i32>, String>,
) -> Result<Vec<i32>, String> {
    let n = x.shape.first().copied().unwrap_or(1);
    if n <= 1 || out.first() != Some(&n) {
        return f(x, out);
    }
    let (mut xs, mut os) = (x.shape.to_vec(), out.to_vec());
    xs[0] = 1;
    os[0] = 1;
    let (in_len, out_len): (usize, usize) = (xs.iter().product(), os.iter().product());
    if x.data.len() != n * in_len {
        return Err("input length does not match its shape".into());
    }
    let mut y = Vec::with_capacity(n * out_len);
    for i in 0..n {
        let xi = Operand {
            shape: &xs,
            data: &x.data[i * in_len..(i + 1) * in_len],
        };
        y.extend(f(xi, &os)?);
    }
    Ok(y)
}

#[allow(clippy::too_many_arguments)]
pub(super) fn exec<'a>(
    node: &Node,
    kernel: &QKernel,
    prep: Option<&MacPrep>,
    input: &Input<'a>,
    out_shape: &[usize],
    bits: u8,
    g: &Graph,
) -> Result<Vec<QTensor>, SimError> {
    let bad = |msg: &str| SimError::node(node, msg.to_string());
    match (kernel, &node.op) {
        (
            QKernel::Mac {
                weights,
                bias,
                requant,
                requant_neg,
                act_min,
                act_max,
                ..
            },
            op,
        ) => {
            let x = input(0)?;
            let oc = requant.len();
            if bias.len() != oc || requant_neg.as_ref().is_some_and(|r| r.len() != oc) {
                return Err(bad("per-channel parameter lengths differ"));
            }
            let ep = Epilogue {
                bias,
                requant,
                requant_neg: requant_neg.as_deref(),
                lo: *act_min,
                hi: *act_max,
                bits,
            };
            let data = match op {
                Op::Conv(a) => per_item(x, out_shape, |xi, oi| conv(xi, weights, prep, a, oi, &ep))
                    .map_err(|m| bad(&m))?,
                Op::ConvTranspose(a) => per_item(x, out_shape, |xi, oi| {
                    conv_transpose(xi, weights, a, oi, &ep)
                })
                .map_err(|m| bad(&m))?,
                Op::Gemm { .. } => gemm(x, weights, prep, out_shape, &ep).map_err(|m| bad(&m))?,
                _ => return Err(bad("Mac kernel on a non-MAC op")),
            };
            one(out_shape, data)
        }
        (QKernel::Add { rq }, _) => {
            let (a, b) = (input(0)?, input(1)?);
            if a.shape == out_shape && b.shape == out_shape && (1..=62).contains(&rq.shift) {
                let q = radix_ir::qmodel::qmax(bits) as i64;
                let mut out = vec![0i32; a.data.len()];
                const CHUNK: usize = 1 << 13;
                out.par_chunks_mut(CHUNK)
                    .zip(a.data.par_chunks(CHUNK).zip(b.data.par_chunks(CHUNK)))
                    .for_each(|(o, (x, y))| {
                        let (ma, mb, s) = (rq.ma as i64, rq.mb as i64, rq.shift as u32);
                        epilogue::add_rows(x, y, ma, mb, s, q, o)
                    });
                return one(out_shape, out);
            }
            one(
                out_shape,
                broadcast2(&a, &b, out_shape, |x, y| {
                    saturate(rq.apply(x as i64, y as i64), bits)
                })
                .map_err(|m| bad(&m))?,
            )
        }
        (QKernel::Mul { requant }, _) => {
            let (a, b) = (input(0)?, input(1)?);
            one(
                out_shape,
                broadcast2(&a, &b, out_shape, |x, y| {
                    saturate(requant.apply(x as i64 * y as i64), bits)
                })
                .map_err(|m| bad(&m))?,
            )
        }
        (QKernel::Lut { table }, _) => {
            let x = input(0)?;
            let half = (table.len() / 2) as i32; // table covers [-qmax, qmax]
            let mut out = Vec::with_capacity(x.data.len());
            for &q in x.data {
                let idx = (q + half) as usize;
                out.push(
                    *table
                        .get(idx)
                        .ok_or_else(|| bad("input outside the lookup table"))?,
                );
            }
            one(out_shape, out)
        }
        (QKernel::PRelu { pos, neg }, _) => {
            let x = input(0)?;
            let c = x.shape.get(1).copied().unwrap_or(1);
            if neg.len() != c {
                return Err(bad("PRelu slope count differs from channels"));
            }
            let inner: usize = x.shape.get(2..).map(|s| s.iter().product()).unwrap_or(1);
            let mut out = vec![0i32; x.data.len()];
            out.par_chunks_mut(inner.max(1))
                .zip(x.data.par_chunks(inner.max(1)))
                .enumerate()
                .for_each(|(i, (o, src))| {
                    let n = &neg[i % c];
                    for (o, &q) in o.iter_mut().zip(src) {
                        *o = saturate(
                            if q >= 0 {
                                pos.apply(q as i64)
                            } else {
                                n.apply(q as i64)
                            },
                            bits,
                        );
                    }
                });
            one(out_shape, out)
        }
        (QKernel::AvgPool { requant }, Op::AveragePool(a)) => {
            let x = input(0)?;
            one(
                out_shape,
                avg_pool(x, a, out_shape, requant, bits).map_err(|m| bad(&m))?,
            )
        }
        (QKernel::GlobalAvg { requant }, _) => {
            let x = input(0)?;
            let hw: usize = x.shape[2..].iter().product();
            let out = x
                .data
                .chunks(hw.max(1))
                .map(|p| saturate(requant.apply(p.iter().map(|&v| v as i64).sum()), bits))
                .collect();
            one(out_shape, out)
        }
        (QKernel::Concat { requant }, Op::Concat { axis }) => {
            let mut parts: Vec<(usize, std::borrow::Cow<'_, [i32]>)> =
                Vec::with_capacity(requant.len());
            for (k, rq) in requant.iter().enumerate() {
                let x = input(k)?;
                if x.shape.len() != out_shape.len() || *axis >= out_shape.len() {
                    return Err(bad("Concat input rank differs from the output's"));
                }
                let data = match rq {
                    None => std::borrow::Cow::Borrowed(x.data),
                    Some(r) => x
                        .data
                        .iter()
                        .map(|&q| saturate(r.apply(q as i64), bits))
                        .collect::<Vec<i32>>()
                        .into(),
                };
                parts.push((x.shape[*axis], data));
            }
            one(
                out_shape,
                concat_blocks(&parts, *axis, out_shape).map_err(|m| bad(&m))?,
            )
        }
        (
            QKernel::Resize {
                rows,
                cols,
                requant,
            },
            _,
        ) => {
            let x = input(0)?;
            one(
                out_shape,
                resize(x, rows, cols, requant, out_shape, bits).map_err(|m| bad(&m))?,
            )
        }
        (QKernel::MatMul { requant }, _) => {
            let (a, b) = (input(0)?, input(1)?);
            one(
                out_shape,
                matmul(&a, &b, out_shape, requant, bits).map_err(|m| bad(&m))?,
            )
        }
        (QKernel::PassThrough { pad_value }, op) => {
            passthrough(node, op, input, out_shape, *pad_value, g)
        }
        (QKernel::Cpu, _) => Err(bad("CPU node reached the integer kernels")),
        (k, op) => Err(bad(&format!(
            "kernel {k:?} does not fit op {}",
            op.type_name()
        ))),
    }
}
