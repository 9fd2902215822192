//! MatMul of two computed tensors (numpy semantics, batch axes broadcast), exact i64 sums.

use radix_ir::qmodel::{Requant, saturate};
use rayon::prelude::*;

use crate::fixed::Operand;

pub(super) fn matmul(
    a: &Operand<'_>,
    b: &Operand<'_>,
    out: &[usize],
    rq: &Requant,
    bits: u8,
) -> Result<Vec<i32>, String> {
    // numpy semantics: a 1-D a is a row [1, k], a 1-D b a column [k, 1]; batch axes broadcast.
    if a.shape.is_empty() || b.shape.is_empty() {
        return Err("MatMul of a scalar".into());
    }
    let a2: Vec<usize> = if a.shape.len() == 1 {
        vec![1, a.shape[0]]
    } else {
        a.shape.to_vec()
    };
    let b2: Vec<usize> = if b.shape.len() == 1 {
        vec![b.shape[0], 1]
    } else {
        b.shape.to_vec()
    };
    let (ra, rb) = (a2.len(), b2.len());
    let (m, k, n) = (a2[ra - 2], a2[ra - 1], b2[rb - 1]);
    if b2[rb - 2] != k {
        return Err("MatMul inner dimensions differ".into());
    }
    let rank = (ra - 2).max(rb - 2);
    // Batch dims right-aligned, with each operand's element stride per batch axis (0: broadcast).
    let mut batch = vec![1usize; rank];
    let (mut sa, mut sb) = (vec![0usize; rank], vec![0usize; rank]);
    let (mut stride_a, mut stride_b) = (m * k, k * n);
    for i in (0..rank).rev() {
        let da = (i + ra - 2).checked_sub(rank).map(|j| a2[j]).unwrap_or(1);
        let db = (i + rb - 2).checked_sub(rank).map(|j| b2[j]).unwrap_or(1);
        batch[i] = match (da, db) {
            (x, y) if x == y => x,
            (1, y) => y,
            (x, 1) => x,
            _ => return Err("MatMul batch axes do not broadcast".into()),
        };
        if da > 1 {
            sa[i] = stride_a;
        }
        if db > 1 {
            sb[i] = stride_b;
        }
        stride_a *= da;
        stride_b *= db;
    }
    let batches: usize = batch.iter().product();
    if out.iter().product::<usize>() != batches * m * n
        || a.data.len() != stride_a
        || b.data.len() != stride_b
    {
        return Err("MatMul shapes do not match".into());
    }
    let mut o = vec![0i32; batches * m * n];
    o.par_chunks_mut((m * n).max(1))
        .enumerate()
        .for_each(|(bi, block)| {
            let (mut rem, mut oa, mut ob) = (bi, 0, 0);
            for i in (0..rank).rev() {
                let idx = rem % batch[i];
                rem /= batch[i];
                oa += idx * sa[i];
                ob += idx * sb[i];
            }
            let (ad, bd) = (&a.data[oa..oa + m * k], &b.data[ob..ob + k * n]);
            for (r, orow) in block.chunks_mut(n.max(1)).enumerate() {
                for (c, v) in orow.iter_mut().enumerate() {
                    let acc: i64 = (0..k)
                        .map(|kk| ad[r * k + kk] as i64 * bd[kk * n + c] as i64)
                        .sum();
                    *v = saturate(rq.apply(acc), bits);
                }
            }
        });
    Ok(o)
}
