//! Element-wise generators: activations, binary arithmetic that merges branches or broadcasts
//! constants, and Softmax / reductions.

use ndarray::{ArrayD, IxDyn};
use radix_ir::op::ReduceKind;
use radix_ir::{Op, ValueId};

use super::Builder;

impl Builder {
    pub(super) fn unary(&mut self) -> Option<()> {
        let x = self.operand(|_| true)?;
        let op = match self.rng.range(0, 8) {
            0 => Op::Relu,
            1 => {
                let lo = self.rng.uniform(-2.0, 0.5);
                Op::Clip {
                    min: lo,
                    max: lo + self.rng.uniform(0.5, 6.0),
                }
            }
            2 => Op::LeakyRelu {
                alpha: self.rng.uniform(0.01, 0.3),
            },
            3 => Op::Sigmoid,
            4 => Op::HardSigmoid {
                alpha: 0.2,
                beta: 0.5,
            },
            5 => Op::HardSwish,
            6 => Op::Tanh,
            _ => {
                // Exp of a bounded input (Tanh first) so float stays meaningful.
                let t = self.add(Op::Tanh, vec![x])?[0];
                self.add(Op::Exp, vec![t])?;
                return Some(());
            }
        };
        self.add(op, vec![x]).map(|_| ())
    }

    pub(super) fn binary(&mut self) -> Option<()> {
        let a = self.operand(|_| true)?;
        let sa = self.shape(a);
        let op = match self.rng.range(0, 3) {
            0 => Op::Add,
            1 => Op::Sub,
            _ => Op::Mul,
        };
        let b = match self.rng.range(0, 4) {
            // Another computed tensor of the same shape (a merge of two branches).
            0 | 1 => {
                let sa2 = sa.clone();
                match self.operand(|s| s == sa2.as_slice()) {
                    Some(b) if !(b == a && matches!(op, Op::Sub)) => b,
                    _ => self.scalar_const(),
                }
            }
            // A broadcast constant: per channel (axis 1) or along the last axis.
            2 => {
                let mut s = vec![1; sa.len()];
                if sa.len() >= 2 && self.rng.chance(0.5) {
                    s[1] = sa[1];
                } else if let Some(l) = s.last_mut() {
                    *l = *sa.last().unwrap_or(&1);
                }
                let c = self.rng.array(&s, 1.0);
                self.constant(c)
            }
            _ => self.scalar_const(),
        };
        if self.rng.chance(0.15) && self.g.value(b).is_const() {
            // Division by a constant away from zero.
            let d = self
                .g
                .const_data(b)?
                .mapv(|v| if v.abs() < 0.25 { 0.5 } else { v });
            let d = self.constant(d);
            return self.add(Op::Div, vec![a, d]).map(|_| ());
        }
        let ins = if self.rng.chance(0.3) && !self.g.value(b).is_const() {
            vec![b, a]
        } else {
            vec![a, b]
        };
        self.add(op, ins).map(|_| ())
    }

    fn scalar_const(&mut self) -> ValueId {
        let v = self.rng.normal(1.0);
        let v = if v.abs() < 0.1 { 0.7 } else { v };
        let s = if self.rng.chance(0.5) {
            vec![]
        } else {
            vec![1]
        };
        self.constant(ArrayD::from_shape_vec(IxDyn(&s), vec![v]).expect("scalar"))
    }

    pub(super) fn softmax_or_reduce(&mut self) -> Option<()> {
        let x = self.operand(|_| true)?;
        let r = self.shape(x).len();
        if self.rng.chance(0.5) {
            let axis = self.rng.range(0, r - 1);
            let legacy = self.rng.chance(0.2);
            self.add(Op::Softmax { axis, legacy }, vec![x]).map(|_| ())
        } else {
            let mut axes: Vec<usize> = (0..r).filter(|_| self.rng.chance(0.5)).collect();
            if axes.is_empty() {
                axes.push(r - 1);
            }
            let keepdims = self.rng.chance(0.6);
            // The float-only reductions that stay in range on any input (not Prod, LogSum).
            let kind = match self.rng.range(0, 5) {
                2 => Some(ReduceKind::L1),
                3 => Some(ReduceKind::L2),
                4 => Some(ReduceKind::SumSquare),
                5 => Some(ReduceKind::LogSumExp),
                _ => None,
            };
            let op = match kind {
                Some(kind) => Op::Reduce {
                    kind,
                    axes,
                    keepdims,
                },
                None => Op::ReduceMean { axes, keepdims },
            };
            self.add(op, vec![x]).map(|_| ())
        }
    }
}
