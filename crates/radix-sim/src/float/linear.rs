//! Gemm (`y = act(x · Wᵀ + b)`, constant or dynamic W) and numpy-style batched MatMul.

use std::borrow::Cow;

use radix_ir::Activation;
use rayon::prelude::*;

use crate::float::conv::apply_activation;
use crate::gemm::{MatRef, par_sgemm, sgemm};

/// Gemm bias, broadcast against `[M, N]` at plan time.
#[derive(Debug)]
pub(crate) enum GemmBias<'g> {
    None,
    /// One value per output column.
    Col(Cow<'g, [f32]>),
    /// A full `[M, N]` matrix.
    Full(Vec<f32>),
}

#[derive(Debug)]
pub(crate) struct GemmPlan<'g> {
    pub m: usize,
    pub k: usize,
    pub n: usize,
    pub act: Activation,
    /// `Wᵀ` packed `[K, N]` when W is constant.
    pub weights_t: Option<Vec<f32>>,
    pub bias: GemmBias<'g>,
}

impl<'g> GemmPlan<'g> {
    pub fn new(
        m: usize,
        k: usize,
        n: usize,
        act: Activation,
        w: Option<&[f32]>,
        bias: GemmBias<'g>,
    ) -> Self {
        let mut p = GemmPlan {
            m,
            k,
            n,
            act,
            weights_t: None,
            bias,
        };
        p.weights_t = w.map(|w| p.pack(w));
        p
    }

    /// `W [N, K]` -> `Wᵀ [K, N]`.
    pub fn pack(&self, w: &[f32]) -> Vec<f32> {
        let (k, n) = (self.k, self.n);
        let mut t = vec![0.0; k * n];
        for (j, row) in w.chunks_exact(k.max(1)).take(n).enumerate() {
            for (p, &v) in row.iter().enumerate() {
                t[p * n + j] = v;
            }
        }
        t
    }

    pub fn run(&self, x: &[f32], wt: &[f32], out: &mut [f32]) {
        let (m, k, n) = (self.m, self.k, self.n);
        let act = self.act;
        let bias = &self.bias;
        let epi = move |r: usize, c0: usize, v: &mut [f32]| {
            match bias {
                GemmBias::None => {}
                GemmBias::Col(b) => v.iter_mut().zip(&b[c0..]).for_each(|(o, b)| *o += b),
                GemmBias::Full(b) => v
                    .iter_mut()
                    .zip(&b[r * n + c0..])
                    .for_each(|(o, b)| *o += b),
            }
            apply_activation(act, v);
        };
        par_sgemm(
            MatRef::row_major(x, m, k),
            MatRef::row_major(wt, k, n),
            out,
            n,
            Some(&epi),
        );
    }
}

/// numpy `matmul` of standard-layout `a` and `b` (1-D operands promoted and the promoted axis
/// dropped from the result). Returns the values in row-major order of the result shape, or an
/// error when shapes do not match.
pub(crate) fn matmul(
    a: &[f32],
    ash: &[usize],
    b: &[f32],
    bsh: &[usize],
    out: &mut [f32],
) -> Result<(), String> {
    if ash.is_empty() || bsh.is_empty() {
        return Err("MatMul of a scalar".into());
    }
    let a2: Vec<usize> = if ash.len() == 1 {
        vec![1, ash[0]]
    } else {
        ash.to_vec()
    };
    let b2: Vec<usize> = if bsh.len() == 1 {
        vec![bsh[0], 1]
    } else {
        bsh.to_vec()
    };
    let (m, k) = (a2[a2.len() - 2], a2[a2.len() - 1]);
    let (k2, n) = (b2[b2.len() - 2], b2[b2.len() - 1]);
    if k != k2 {
        return Err(format!("inner dimensions differ: {ash:?} x {bsh:?}"));
    }
    let (ab, bb) = (&a2[..a2.len() - 2], &b2[..b2.len() - 2]);
    let batch = radix_ir::shape::broadcast(ab, bb)
        .ok_or_else(|| format!("batch dimensions of {ash:?} and {bsh:?} do not broadcast"))?;
    let batches: usize = batch.iter().product();
    if out.len() != batches * m * n {
        return Err(format!(
            "output has {} values, expected {}",
            out.len(),
            batches * m * n
        ));
    }
    // Element strides of each operand's batch axes, aligned to `batch` (0 where broadcast).
    let strides = |sh: &[usize], mat: usize| -> Vec<usize> {
        let mut st = vec![0; batch.len()];
        let mut acc = mat;
        for (i, &d) in sh.iter().enumerate().rev() {
            let bi = batch.len() - sh.len() + i;
            st[bi] = if d == 1 { 0 } else { acc };
            acc *= d;
        }
        st
    };
    let (sa, sb) = (strides(ab, m * k), strides(bb, k * n));
    let offsets = |mut idx: usize| -> (usize, usize) {
        let (mut oa, mut ob) = (0, 0);
        for ax in (0..batch.len()).rev() {
            let i = idx % batch[ax];
            idx /= batch[ax];
            oa += i * sa[ax];
            ob += i * sb[ax];
        }
        (oa, ob)
    };
    if m * n == 0 {
        return Ok(());
    }
    if batches == 1 {
        par_sgemm(
            MatRef::row_major(&a[..m * k], m, k),
            MatRef::row_major(&b[..k * n], k, n),
            out,
            n,
            None,
        );
    } else {
        let min_len = (65536 / (m * n * k.max(1))).max(1);
        out.par_chunks_mut(m * n)
            .enumerate()
            .with_min_len(min_len)
            .for_each(|(i, c)| {
                let (oa, ob) = offsets(i);
                sgemm(
                    MatRef::row_major(&a[oa..oa + m * k], m, k),
                    MatRef::row_major(&b[ob..ob + k * n], k, n),
                    c,
                    n,
                    false,
                );
            });
    }
    Ok(())
}
