//! Shape inference of the ops added for vision-model coverage, valid and invalid, and that the
//! float semantics give the inferred shapes.

use ndarray::{ArrayD, Dimension, IxDyn};
use radix_ir::Op;
use radix_ir::eval::eval_light;
use radix_ir::shape::infer;

fn one(op: &Op, ins: &[&[usize]]) -> Vec<usize> {
    let out = infer(op, ins).unwrap_or_else(|e| panic!("{op:?} {ins:?}: {e}"));
    assert_eq!(out.len(), 1);
    // The float semantics agree with the inferred shape.
    let arrays: Vec<ArrayD<f32>> = ins
        .iter()
        .map(|s| ArrayD::from_shape_fn(IxDyn(s), |i| i.as_array_view().sum() as f32 + 1.0))
        .collect();
    let refs: Vec<&ArrayD<f32>> = arrays.iter().collect();
    let y = eval_light(op, &refs, &out).expect("light op").unwrap();
    assert_eq!(y[0].shape(), out[0].as_slice(), "{op:?}");
    out[0].clone()
}

fn fails(op: &Op, ins: &[&[usize]]) {
    assert!(infer(op, ins).is_err(), "{op:?} {ins:?} should fail");
}

#[test]
fn unary_and_normalization_ops_keep_the_shape() {
    let x: &[usize] = &[1, 3, 4, 5];
    for op in [
        Op::Elu { alpha: 1.0 },
        Op::Selu {
            alpha: 1.67,
            gamma: 1.05,
        },
        Op::Softplus,
        Op::Gelu { tanh: false },
        Op::Gelu { tanh: true },
        Op::Erf,
        Op::Sqrt,
        Op::Reciprocal,
        Op::Abs,
        Op::Neg,
        Op::Log,
        Op::Lrn {
            size: 3,
            alpha: 1e-4,
            beta: 0.75,
            bias: 1.0,
        },
    ] {
        assert_eq!(one(&op, &[x]), x);
    }
    assert_eq!(
        one(&Op::InstanceNorm { epsilon: 1e-5 }, &[x, &[3], &[3]]),
        x
    );
    fails(&Op::InstanceNorm { epsilon: 1e-5 }, &[x, &[4], &[3]]);
    fails(&Op::InstanceNorm { epsilon: 1e-5 }, &[&[2, 3], &[3], &[3]]);
    let ln = |axis| Op::LayerNorm {
        axis,
        epsilon: 1e-5,
    };
    assert_eq!(one(&ln(3), &[x, &[5], &[5]]), x);
    assert_eq!(one(&ln(2), &[x, &[4, 5]]), x);
    assert_eq!(one(&ln(1), &[x, &[1, 5]]), x);
    fails(&ln(3), &[x, &[4]]);
    fails(&ln(4), &[x, &[5]]);
    fails(
        &Op::Lrn {
            size: 0,
            alpha: 1.0,
            beta: 1.0,
            bias: 1.0,
        },
        &[x],
    );
}

#[test]
fn variadic_and_pow_broadcast() {
    for op in [Op::Sum, Op::Mean, Op::Max, Op::Min] {
        assert_eq!(one(&op, &[&[1, 3, 4, 5], &[5], &[3, 1, 1]]), [1, 3, 4, 5]);
        assert_eq!(one(&op, &[&[2, 1]]), [2, 1]);
        fails(&op, &[&[1, 3], &[4]]);
    }
    assert_eq!(one(&Op::Pow, &[&[2, 3], &[3]]), [2, 3]);
    assert_eq!(one(&Op::Pow, &[&[3], &[2, 1]]), [2, 3]);
    fails(&Op::Pow, &[&[2, 3]]);
}

#[test]
fn reductions_every_keepdims_and_axes() {
    let x: &[usize] = &[2, 3, 4, 5];
    for keepdims in [true, false] {
        let ops = |axes: Vec<usize>| {
            [
                Op::ReduceMean {
                    axes: axes.clone(),
                    keepdims,
                },
                Op::ReduceMax {
                    axes: axes.clone(),
                    keepdims,
                },
                Op::ReduceMin {
                    axes: axes.clone(),
                    keepdims,
                },
                Op::ReduceSum { axes, keepdims },
            ]
        };
        for op in ops(vec![1, 3]) {
            let want: &[usize] = if keepdims { &[2, 1, 4, 1] } else { &[2, 4] };
            assert_eq!(one(&op, &[x]), want);
        }
        for op in ops(vec![0, 1, 2, 3]) {
            let want: &[usize] = if keepdims { &[1, 1, 1, 1] } else { &[] };
            assert_eq!(one(&op, &[x]), want);
        }
        // No axes: the identity (noop_with_empty_axes).
        for op in ops(vec![]) {
            assert_eq!(one(&op, &[x]), x);
        }
        for op in ops(vec![4]) {
            fails(&op, &[x]);
        }
        for op in ops(vec![2, 1]) {
            fails(&op, &[x]);
        }
    }
}

#[test]
fn argmax_layout_and_broadcast_ops() {
    let x: &[usize] = &[2, 3, 4, 5];
    let am = |axis, keepdims| Op::ArgMax {
        axis,
        keepdims,
        select_last_index: false,
    };
    assert_eq!(one(&am(1, true), &[x]), [2, 1, 4, 5]);
    assert_eq!(one(&am(3, false), &[x]), [2, 3, 4]);
    fails(&am(4, true), &[x]);

    let d2s = |crd| Op::DepthToSpace { blocksize: 2, crd };
    assert_eq!(one(&d2s(false), &[&[1, 8, 2, 3]]), [1, 2, 4, 6]);
    assert_eq!(one(&d2s(true), &[&[1, 8, 2, 3]]), [1, 2, 4, 6]);
    fails(&d2s(false), &[&[1, 6, 2, 3]]);
    fails(&d2s(false), &[&[8, 2, 3]]);
    let s2d = Op::SpaceToDepth { blocksize: 2 };
    assert_eq!(one(&s2d, &[&[1, 2, 4, 6]]), [1, 8, 2, 3]);
    fails(&s2d, &[&[1, 2, 3, 6]]);

    assert_eq!(
        one(
            &Op::Tile {
                repeats: vec![1, 2, 3]
            },
            &[&[2, 3, 1]]
        ),
        [2, 6, 3]
    );
    fails(
        &Op::Tile {
            repeats: vec![1, 2],
        },
        &[&[2, 3, 1]],
    );
    fails(
        &Op::Tile {
            repeats: vec![1, 0, 1],
        },
        &[&[2, 3, 1]],
    );
    assert_eq!(
        one(
            &Op::Expand {
                shape: vec![2, 3, 4]
            },
            &[&[3, 1]]
        ),
        [2, 3, 4]
    );
    fails(
        &Op::Expand {
            shape: vec![2, 4, 4],
        },
        &[&[3, 1]],
    );
}

#[test]
fn depth_space_round_trip_and_tile_values() {
    let x = ArrayD::from_shape_fn(IxDyn(&[1, 8, 2, 3]), |i| {
        (i[1] * 100 + i[2] * 10 + i[3]) as f32
    });
    for crd in [false, true] {
        let d = eval_light(
            &Op::DepthToSpace { blocksize: 2, crd },
            &[&x],
            &[vec![1, 2, 4, 6]],
        )
        .unwrap()
        .unwrap();
        if !crd {
            // DCR is the inverse of SpaceToDepth.
            let back = eval_light(
                &Op::SpaceToDepth { blocksize: 2 },
                &[&d[0]],
                &[vec![1, 8, 2, 3]],
            )
            .unwrap()
            .unwrap();
            assert_eq!(back[0], x);
        }
        // Output (0, c, 2h + i, 2w + j) comes from channel (i*2 + j)*2 + c (DCR) or c*4 + i*2 + j (CRD).
        for c in 0..2 {
            for (i, j) in [(0, 0), (0, 1), (1, 0), (1, 1)] {
                let src = if crd {
                    c * 4 + i * 2 + j
                } else {
                    (i * 2 + j) * 2 + c
                };
                assert_eq!(d[0][[0, c, 2 + i, 2 + j]], x[[0, src, 1, 1]]);
            }
        }
    }
    let t = eval_light(
        &Op::Tile {
            repeats: vec![2, 3],
        },
        &[&ArrayD::from_shape_vec(IxDyn(&[1, 2]), vec![1.0, 2.0]).unwrap()],
        &[vec![2, 6]],
    )
    .unwrap()
    .unwrap();
    assert_eq!(
        t[0].iter().copied().collect::<Vec<_>>(),
        [1., 2., 1., 2., 1., 2., 1., 2., 1., 2., 1., 2.]
    );
}

#[test]
fn erf_is_accurate_to_f32() {
    // Reference values: Python math.erf (double precision).
    for (x, want) in [
        (0.0f32, 0.0f64),
        (1e-4, 1.128_379_163_334_248_9e-4),
        (0.3, 0.328_626_759_459_127_4),
        (0.5, 0.520_499_877_813_046_5),
        (1.0, 0.842_700_792_949_714_9),
        (2.0, 0.995_322_265_018_952_7),
        (-1.5, -0.966_105_146_475_310_7),
        (4.0, 0.999_999_984_582_742_1),
    ] {
        let got = radix_ir::eval::erf(x) as f64;
        assert!(
            (got - want).abs() <= 2e-7 * want.abs().max(1e-3),
            "erf({x}) = {got}, want {want}"
        );
    }
}

/// Every output of a multi-output op: inferred shapes, and the float semantics give them.
fn many(op: &Op, ins: &[&[usize]]) -> Vec<Vec<usize>> {
    let out = infer(op, ins).unwrap_or_else(|e| panic!("{op:?} {ins:?}: {e}"));
    let arrays: Vec<ArrayD<f32>> = ins
        .iter()
        .map(|s| ArrayD::from_shape_fn(IxDyn(s), |i| i.as_array_view().sum() as f32 + 1.0))
        .collect();
    let refs: Vec<&ArrayD<f32>> = arrays.iter().collect();
    let y = eval_light(op, &refs, &out).expect("light op").unwrap();
    assert_eq!(y.len(), out.len(), "{op:?}");
    for (a, s) in y.iter().zip(&out) {
        assert_eq!(a.shape(), s.as_slice(), "{op:?}");
    }
    out
}

#[test]
fn float_only_ops_of_full_onnx_coverage() {
    use radix_ir::op::{PoolNdAttrs, ReduceKind, ResizeNdAttrs, ResizeNdCoord, ResizeNdMode};
    let x: &[usize] = &[2, 3, 4, 5];
    for kind in [
        ReduceKind::Prod,
        ReduceKind::L1,
        ReduceKind::L2,
        ReduceKind::SumSquare,
        ReduceKind::LogSum,
        ReduceKind::LogSumExp,
    ] {
        let op = |axes: Vec<usize>, keepdims| Op::Reduce {
            kind,
            axes,
            keepdims,
        };
        assert_eq!(one(&op(vec![1, 3], true), &[x]), vec![2, 1, 4, 1]);
        assert_eq!(one(&op(vec![0, 2], false), &[x]), vec![3, 5]);
        assert_eq!(one(&op(vec![], false), &[x]), x.to_vec());
        fails(&op(vec![4], true), &[x]);
    }
    assert_eq!(one(&Op::Floor, &[x]), x.to_vec());
    assert_eq!(
        many(
            &Op::LayerNormStats {
                axis: 2,
                epsilon: 1e-5
            },
            &[x, &[4, 5]]
        ),
        vec![x.to_vec(), vec![2, 3, 1, 1], vec![2, 3, 1, 1]]
    );
    assert_eq!(
        many(
            &Op::BatchNormTrain {
                epsilon: 1e-5,
                momentum: 0.9
            },
            &[x, &[3], &[3], &[3], &[3]]
        ),
        vec![x.to_vec(), vec![3], vec![3]]
    );
    let pool = PoolNdAttrs {
        max: true,
        kernel: vec![2, 2, 2],
        strides: vec![1, 2, 1],
        pads: vec![(0, 0), (1, 0), (0, 1)],
        dilations: vec![1, 1, 2],
        ceil_mode: false,
        count_include_pad: false,
        indices: Some(false),
    };
    let x5: &[usize] = &[1, 2, 4, 5, 6];
    assert_eq!(
        many(&Op::PoolNd(pool.clone()), &[x5]),
        vec![vec![1, 2, 3, 3, 5]; 2]
    );
    let avg = PoolNdAttrs {
        max: false,
        indices: None,
        ..pool.clone()
    };
    assert_eq!(one(&Op::PoolNd(avg), &[x5]), vec![1, 2, 3, 3, 5]);
    fails(&Op::PoolNd(pool), &[x]);
    let resize = ResizeNdAttrs {
        mode: ResizeNdMode::Cubic { a: -0.75 },
        coord: ResizeNdCoord::HalfPixel,
        scales: vec![1.0, 2.0, 0.5, 1.5],
        out_shape: vec![2, 6, 2, 7],
        roi: vec![(0.0, 1.0); 4],
        antialias: true,
        exclude_outside: false,
        extrapolation: 0.0,
    };
    assert_eq!(one(&Op::ResizeNd(resize.clone()), &[x]), vec![2, 6, 2, 7]);
    fails(&Op::ResizeNd(resize), &[&[2, 3, 4]]);
}
