//! The exact 0/1 knapsack mixbw's choice is: the subset of items with the largest total value
//! whose total cost stays within the capacity.

/// A chosen subset.
#[derive(Clone, Debug, PartialEq)]
pub struct Choice {
    /// Per item: chosen.
    pub chosen: Vec<bool>,
    /// Sum of the chosen values.
    pub value: f64,
    /// Sum of the chosen costs (at most the capacity).
    pub cost: u64,
}

/// The subset of items maximising the summed `values` with summed `costs` <= `capacity`, by
/// dynamic programming over the capacity (O(items x capacity) time and bits; exact for integer
/// costs). Items of negative or non-finite value are never chosen; ties keep the earlier items.
pub fn knapsack(values: &[f64], costs: &[u64], capacity: u64) -> Choice {
    let n = values.len().min(costs.len());
    let cap = usize::try_from(capacity).unwrap_or(usize::MAX).min(1 << 24);
    // best[c]: the best value with cost <= c over the items seen so far.
    let mut best = vec![0f64; cap + 1];
    // take[i][c]: item i improves best[c] when it is seen.
    let mut take = vec![vec![false; cap + 1]; n];
    for i in 0..n {
        let (v, w) = (values[i], costs[i]);
        if !(v.is_finite() && v > 0.0) {
            continue;
        }
        let Ok(w) = usize::try_from(w) else { continue };
        if w > cap {
            continue;
        }
        for c in (w..=cap).rev() {
            let with = best[c - w] + v;
            if with > best[c] {
                best[c] = with;
                take[i][c] = true;
            }
        }
    }
    let mut chosen = vec![false; values.len()];
    let mut c = cap;
    for i in (0..n).rev() {
        if take[i][c] {
            chosen[i] = true;
            c -= costs[i] as usize;
        }
    }
    let value = (0..n).filter(|&i| chosen[i]).map(|i| values[i]).sum();
    let cost = (0..n).filter(|&i| chosen[i]).map(|i| costs[i]).sum();
    Choice {
        chosen,
        value,
        cost,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Every subset, the slow and obviously correct way.
    fn brute(values: &[f64], costs: &[u64], capacity: u64) -> f64 {
        let n = values.len();
        (0u32..1 << n)
            .filter_map(|m| {
                let items = (0..n).filter(|&i| m >> i & 1 == 1);
                let cost: u64 = items.clone().map(|i| costs[i]).sum();
                let value: f64 = items.map(|i| values[i].max(0.0)).sum();
                (cost <= capacity).then_some(value)
            })
            .fold(0.0, f64::max)
    }

    proptest! {
        #[test]
        fn matches_every_subset(
            items in prop::collection::vec((0.0f64..10.0, 0u64..20), 0..11),
            capacity in 0u64..60,
        ) {
            let (values, costs): (Vec<f64>, Vec<u64>) = items.into_iter().unzip();
            let c = knapsack(&values, &costs, capacity);
            prop_assert!(c.cost <= capacity);
            let want = brute(&values, &costs, capacity);
            prop_assert!((c.value - want).abs() <= 1e-9 * want.max(1.0), "{} vs {want}", c.value);
            let recomputed: f64 = c.chosen.iter().zip(&values).filter(|(t, _)| **t).map(|(_, v)| v).sum();
            prop_assert!((recomputed - c.value).abs() <= 1e-9);
        }
    }
}
