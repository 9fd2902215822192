//! Every float kernel against a slow, obviously correct loop implementation written here, on
//! random shapes (strides, asymmetric pads, groups, dilation, depthwise, ceil_mode, ...).

mod common;

use common::{Rng, assert_close, one_node, one_node_dynamic, run_portable, run_with_threads};
use ndarray::{ArrayD, Dimension, IxDyn, array};
use radix_ir::{
    Activation, ConvAttrs, Op, PoolAttrs, ResizeAttrs, ResizeCoord, ResizeMode, ResizeNearest,
    shape,
};

const TOL: f32 = 1e-4;

fn act_apply(a: Activation, v: f64) -> f64 {
    a.apply(v as f32) as f64
}

/// Direct definition: y[n, co, oh, ow] = b[co] + Σ_{ci in group, ky, kx} x[n, ci, ih, iw] w[co, ci', ky, kx].
fn naive_conv(
    x: &ArrayD<f32>,
    w: &ArrayD<f32>,
    b: Option<&ArrayD<f32>>,
    a: &ConvAttrs,
) -> ArrayD<f32> {
    let out = shape::conv_out(x.shape(), w.shape(), a).unwrap();
    let (n, cin, h, wd) = (
        x.shape()[0],
        x.shape()[1],
        x.shape()[2] as isize,
        x.shape()[3] as isize,
    );
    let (cout, oh, ow) = (out[1], out[2], out[3]);
    let (cin_g, cout_g) = (cin / a.group, cout / a.group);
    let mut y = ArrayD::zeros(IxDyn(&out));
    for ni in 0..n {
        for co in 0..cout {
            let g = co / cout_g;
            for oy in 0..oh {
                for ox in 0..ow {
                    let mut s = b.map_or(0.0, |b| b[[co]] as f64);
                    for c in 0..cin_g {
                        for ky in 0..a.kernel[0] {
                            for kx in 0..a.kernel[1] {
                                let iy = (oy * a.strides[0] + ky * a.dilations[0]) as isize
                                    - a.pads[0] as isize;
                                let ix = (ox * a.strides[1] + kx * a.dilations[1]) as isize
                                    - a.pads[1] as isize;
                                if iy < 0 || iy >= h || ix < 0 || ix >= wd {
                                    continue;
                                }
                                s += x[[ni, g * cin_g + c, iy as usize, ix as usize]] as f64
                                    * w[[co, c, ky, kx]] as f64;
                            }
                        }
                    }
                    y[[ni, co, oy, ox]] = act_apply(a.activation, s) as f32;
                }
            }
        }
    }
    y
}

/// Scatter definition: each input pixel adds `x * w` to the output pixels its kernel covers.
fn naive_conv_transpose(
    x: &ArrayD<f32>,
    w: &ArrayD<f32>,
    b: Option<&ArrayD<f32>>,
    a: &ConvAttrs,
) -> ArrayD<f32> {
    let out = shape::conv_transpose_out(x.shape(), w.shape(), a).unwrap();
    let (n, cin, h, wd) = (x.shape()[0], x.shape()[1], x.shape()[2], x.shape()[3]);
    let (cout, oh, ow) = (out[1], out[2] as isize, out[3] as isize);
    let (cin_g, cout_g) = (cin / a.group, cout / a.group);
    let mut acc = vec![0.0f64; out.iter().product()];
    let idx = |ni: usize, c: usize, y: usize, x: usize| ((ni * cout + c) * out[2] + y) * out[3] + x;
    for ni in 0..n {
        for ci in 0..cin {
            let g = ci / cin_g;
            for iy in 0..h {
                for ix in 0..wd {
                    for co in 0..cout_g {
                        for ky in 0..a.kernel[0] {
                            for kx in 0..a.kernel[1] {
                                let oy = (iy * a.strides[0] + ky * a.dilations[0]) as isize
                                    - a.pads[0] as isize;
                                let ox = (ix * a.strides[1] + kx * a.dilations[1]) as isize
                                    - a.pads[1] as isize;
                                if oy < 0 || oy >= oh || ox < 0 || ox >= ow {
                                    continue;
                                }
                                acc[idx(ni, g * cout_g + co, oy as usize, ox as usize)] +=
                                    x[[ni, ci, iy, ix]] as f64 * w[[ci, co, ky, kx]] as f64;
                            }
                        }
                    }
                }
            }
        }
    }
    let mut y = ArrayD::zeros(IxDyn(&out));
    for ((ni, co, oy, ox), v) in y
        .indexed_iter_mut()
        .map(|(i, v)| ((i[0], i[1], i[2], i[3]), v))
    {
        let s = acc[idx(ni, co, oy, ox)] + b.map_or(0.0, |b| b[[co]] as f64);
        *v = act_apply(a.activation, s) as f32;
    }
    y
}

fn random_activation(rng: &mut Rng) -> Activation {
    match rng.range(0, 3) {
        0 => Activation::None,
        1 => Activation::Relu,
        2 => Activation::Clip {
            min: -0.3,
            max: 0.5,
        },
        _ => Activation::LeakyRelu { alpha: 0.1 },
    }
}

fn conv_case(
    rng: &mut Rng,
    x_shape: [usize; 4],
    cout: usize,
    a: ConvAttrs,
    bias: bool,
    what: &str,
) {
    let cin_g = x_shape[1] / a.group;
    let x = rng.array(&x_shape);
    let w = rng.array(&[cout, cin_g, a.kernel[0], a.kernel[1]]);
    let b = rng.array(&[cout]);
    let mut consts = vec![w.clone()];
    if bias {
        consts.push(b.clone());
    }
    let g = one_node(Op::Conv(a.clone()), &x_shape, consts);
    let want = naive_conv(&x, &w, bias.then_some(&b), &a);
    for threads in [1, 2] {
        let got = run_with_threads(&g, std::slice::from_ref(&x), threads);
        assert_close(
            &got[0],
            &want,
            TOL,
            &format!("{what} {x_shape:?}->{cout} {a:?} threads {threads}"),
        );
        let got = run_portable(&g, std::slice::from_ref(&x), threads);
        assert_close(
            &got[0],
            &want,
            TOL,
            &format!("{what} {x_shape:?}->{cout} {a:?} threads {threads} portable"),
        );
    }
}

fn attrs(
    k: [usize; 2],
    s: [usize; 2],
    p: [usize; 4],
    d: [usize; 2],
    group: usize,
    act: Activation,
) -> ConvAttrs {
    ConvAttrs {
        kernel: k,
        strides: s,
        pads: p,
        dilations: d,
        group,
        output_padding: [0, 0],
        activation: act,
    }
}

#[test]
fn conv_fixed_cases() {
    let mut rng = Rng::new(1);
    let none = Activation::None;
    // pointwise (straight GEMM)
    conv_case(
        &mut rng,
        [1, 16, 9, 11],
        24,
        attrs([1, 1], [1, 1], [0; 4], [1, 1], 1, Activation::Relu),
        true,
        "pointwise",
    );
    // pointwise, large enough to be tiled over columns and rows
    conv_case(
        &mut rng,
        [1, 32, 40, 40],
        48,
        attrs([1, 1], [1, 1], [0; 4], [1, 1], 1, none),
        true,
        "pointwise big",
    );
    // 1x1 stride 2 (im2col)
    conv_case(
        &mut rng,
        [1, 8, 10, 9],
        12,
        attrs([1, 1], [2, 2], [0; 4], [1, 1], 1, none),
        false,
        "1x1 s2",
    );
    // 3x3 s2 first-layer style, asymmetric pads
    conv_case(
        &mut rng,
        [1, 3, 31, 30],
        16,
        attrs(
            [3, 3],
            [2, 2],
            [0, 1, 1, 0],
            [1, 1],
            1,
            Activation::Clip { min: 0.0, max: 6.0 },
        ),
        true,
        "3x3 s2",
    );
    // grouped
    conv_case(
        &mut rng,
        [2, 12, 13, 14],
        18,
        attrs([3, 3], [1, 1], [1, 1, 1, 1], [1, 1], 3, none),
        true,
        "grouped",
    );
    // dilated
    conv_case(
        &mut rng,
        [1, 5, 17, 15],
        7,
        attrs([3, 3], [1, 1], [2, 2, 2, 2], [2, 2], 1, none),
        true,
        "dilated",
    );
    // depthwise 3x3 s1 / s2, multiplier 1 and 2, non-square
    conv_case(
        &mut rng,
        [1, 8, 20, 23],
        8,
        attrs([3, 3], [1, 1], [1, 1, 1, 1], [1, 1], 8, Activation::Relu),
        true,
        "dw s1",
    );
    conv_case(
        &mut rng,
        [1, 8, 21, 20],
        8,
        attrs([3, 3], [2, 2], [1, 1, 1, 1], [1, 1], 8, none),
        true,
        "dw s2",
    );
    conv_case(
        &mut rng,
        [1, 8, 21, 20],
        8,
        attrs([3, 3], [2, 2], [0, 0, 1, 1], [1, 1], 8, none),
        true,
        "dw s2 tf pads",
    );
    conv_case(
        &mut rng,
        [2, 4, 12, 12],
        8,
        attrs([3, 3], [1, 1], [1, 1, 1, 1], [1, 1], 4, none),
        true,
        "dw x2",
    );
    conv_case(
        &mut rng,
        [1, 6, 19, 18],
        6,
        attrs([5, 5], [2, 1], [2, 1, 2, 3], [1, 2], 6, none),
        false,
        "dw 5x5 dilated",
    );
    conv_case(
        &mut rng,
        [1, 4, 9, 40],
        4,
        attrs([1, 7], [1, 3], [0, 3, 0, 3], [1, 1], 4, none),
        true,
        "dw 1x7 s3",
    );
    conv_case(
        &mut rng,
        [1, 3, 8, 40],
        3,
        attrs([3, 3], [1, 10], [1, 1, 1, 1], [1, 1], 3, none),
        true,
        "dw s10 (strided loop)",
    );
    // packed-kernel tiling: column blocks with remainders, output channels not a multiple of 8
    conv_case(
        &mut rng,
        [1, 20, 37, 29],
        37,
        attrs(
            [1, 1],
            [1, 1],
            [0; 4],
            [1, 1],
            1,
            Activation::LeakyRelu { alpha: 0.1 },
        ),
        true,
        "pointwise odd",
    );
    conv_case(
        &mut rng,
        [1, 7, 30, 31],
        13,
        attrs([3, 3], [2, 2], [1, 1, 1, 1], [1, 1], 1, Activation::Relu),
        true,
        "im2col odd",
    );
    conv_case(
        &mut rng,
        [1, 300, 3, 5],
        123,
        attrs([1, 1], [1, 1], [0; 4], [1, 1], 1, Activation::None),
        true,
        "deep K, few columns",
    );
    conv_case(
        &mut rng,
        [1, 40, 17, 19],
        24,
        attrs([1, 1], [1, 1], [0; 4], [1, 1], 1, Activation::None),
        true,
        "pointwise, packed panels",
    );
    conv_case(
        &mut rng,
        [1, 40, 7, 7],
        64,
        attrs([3, 3], [1, 1], [1, 1, 1, 1], [1, 1], 1, Activation::Relu),
        true,
        "im2col, row split",
    );
    // wide rows: the vectorised stride-2 deinterleave / gather paths
    conv_case(
        &mut rng,
        [1, 3, 9, 75],
        3,
        attrs([3, 3], [2, 2], [1, 1, 1, 1], [1, 1], 3, Activation::Relu),
        true,
        "dw s2 wide",
    );
    conv_case(
        &mut rng,
        [1, 3, 9, 82],
        8,
        attrs([3, 3], [2, 2], [0, 1, 1, 0], [1, 1], 1, Activation::None),
        true,
        "im2col s2 wide",
    );
    // kernel as big as the padded input
    conv_case(
        &mut rng,
        [1, 2, 3, 3],
        3,
        attrs([5, 5], [1, 1], [1, 1, 1, 1], [1, 1], 1, none),
        true,
        "full window",
    );
}

#[test]
fn conv_random_shapes() {
    let mut rng = Rng::new(7);
    for case in 0..40 {
        let depthwise = case % 3 == 0;
        let group = if depthwise {
            rng.range(2, 6)
        } else if rng.bool() {
            1
        } else {
            rng.range(1, 3)
        };
        let cin = if depthwise {
            group
        } else {
            group * rng.range(1, 5)
        };
        let cout = group * rng.range(1, if depthwise { 2 } else { 6 });
        let k = [rng.range(1, 4), rng.range(1, 4)];
        let s = [rng.range(1, 3), rng.range(1, 3)];
        let d = [rng.range(1, 2), rng.range(1, 2)];
        let p = [
            rng.range(0, 2),
            rng.range(0, 2),
            rng.range(0, 2),
            rng.range(0, 2),
        ];
        let x = [
            rng.range(1, 2),
            cin,
            rng.range(k[0] * d[0], 19),
            rng.range(k[1] * d[1], 19),
        ];
        let act = random_activation(&mut rng);
        let bias = rng.bool();
        conv_case(
            &mut rng,
            x,
            cout,
            attrs(k, s, p, d, group, act),
            bias,
            &format!("random #{case}"),
        );
    }
}

fn conv_transpose_case(
    rng: &mut Rng,
    x_shape: [usize; 4],
    cout: usize,
    a: ConvAttrs,
    bias: bool,
    what: &str,
) {
    let cout_g = cout / a.group;
    let x = rng.array(&x_shape);
    let w = rng.array(&[x_shape[1], cout_g, a.kernel[0], a.kernel[1]]);
    let b = rng.array(&[cout]);
    let mut consts = vec![w.clone()];
    if bias {
        consts.push(b.clone());
    }
    let g = one_node(Op::ConvTranspose(a.clone()), &x_shape, consts);
    let want = naive_conv_transpose(&x, &w, bias.then_some(&b), &a);
    for threads in [1, 2] {
        let got = run_with_threads(&g, std::slice::from_ref(&x), threads);
        assert_close(
            &got[0],
            &want,
            TOL,
            &format!("{what} {x_shape:?}->{cout} {a:?} threads {threads}"),
        );
    }
}

#[test]
fn conv_transpose_cases() {
    let mut rng = Rng::new(3);
    let t = |k, s, p, d, g, op: [usize; 2], act| ConvAttrs {
        output_padding: op,
        ..attrs(k, s, p, d, g, act)
    };
    conv_transpose_case(
        &mut rng,
        [1, 8, 7, 9],
        6,
        t([2, 2], [2, 2], [0; 4], [1, 1], 1, [0, 0], Activation::Relu),
        true,
        "2x2 s2",
    );
    conv_transpose_case(
        &mut rng,
        [1, 4, 6, 5],
        5,
        t(
            [3, 3],
            [2, 2],
            [1, 1, 1, 1],
            [1, 1],
            1,
            [1, 1],
            Activation::None,
        ),
        true,
        "3x3 s2 outpad",
    );
    conv_transpose_case(
        &mut rng,
        [2, 6, 5, 6],
        9,
        t(
            [3, 4],
            [2, 3],
            [0, 1, 2, 1],
            [1, 1],
            3,
            [1, 2],
            Activation::None,
        ),
        true,
        "grouped asym",
    );
    conv_transpose_case(
        &mut rng,
        [1, 3, 5, 5],
        2,
        t(
            [3, 3],
            [1, 1],
            [1, 1, 1, 1],
            [2, 2],
            1,
            [0, 0],
            Activation::None,
        ),
        false,
        "dilated",
    );
    conv_transpose_case(
        &mut rng,
        [1, 4, 4, 4],
        4,
        t(
            [4, 4],
            [2, 2],
            [1, 1, 1, 1],
            [1, 1],
            4,
            [0, 0],
            Activation::LeakyRelu { alpha: 0.2 },
        ),
        true,
        "depthwise up",
    );
    for case in 0..15 {
        let group = rng.range(1, 3);
        let (cin, cout) = (group * rng.range(1, 4), group * rng.range(1, 4));
        let k = [rng.range(1, 4), rng.range(1, 4)];
        let s = [rng.range(1, 3), rng.range(1, 3)];
        let d = [rng.range(1, 2), rng.range(1, 2)];
        let op = [rng.range(0, s[0] - 1), rng.range(0, s[1] - 1)];
        let p = [
            rng.range(0, k[0] - 1),
            rng.range(0, k[1] - 1),
            rng.range(0, k[0] - 1),
            rng.range(0, k[1] - 1),
        ];
        let x = [1, cin, rng.range(1, 9), rng.range(1, 9)];
        let a = t(k, s, p, d, group, op, random_activation(&mut rng));
        if shape::conv_transpose_out(&x, &[cin, cout / group, k[0], k[1]], &a).is_err() {
            continue;
        }
        let bias = rng.bool();
        conv_transpose_case(&mut rng, x, cout, a, bias, &format!("random #{case}"));
    }
}

/// Pooling by definition: taps at `o*s - pad + k*d`; max over taps inside the input; average
/// divides by the taps inside the input, or (count_include_pad) inside the padded input.
fn naive_pool(x: &ArrayD<f32>, a: &PoolAttrs, max: bool) -> ArrayD<f32> {
    let out = shape::pool_out(x.shape(), a).unwrap();
    let (h, w) = (x.shape()[2] as isize, x.shape()[3] as isize);
    let mut y = ArrayD::zeros(IxDyn(&out));
    for ((n, c, oy, ox), v) in y
        .indexed_iter_mut()
        .map(|(i, v)| ((i[0], i[1], i[2], i[3]), v))
    {
        let (mut m, mut s, mut inside, mut padded) = (f32::MIN, 0.0f64, 0, 0);
        for ky in 0..a.kernel[0] {
            for kx in 0..a.kernel[1] {
                let iy = (oy * a.strides[0] + ky * a.dilations[0]) as isize - a.pads[0] as isize;
                let ix = (ox * a.strides[1] + kx * a.dilations[1]) as isize - a.pads[1] as isize;
                if iy < h + a.pads[2] as isize && ix < w + a.pads[3] as isize {
                    padded += 1;
                }
                if iy >= 0 && iy < h && ix >= 0 && ix < w {
                    let t = x[[n, c, iy as usize, ix as usize]];
                    m = m.max(t);
                    s += t as f64;
                    inside += 1;
                }
            }
        }
        *v = if max {
            m
        } else {
            (s / if a.count_include_pad { padded } else { inside } as f64) as f32
        };
    }
    y
}

fn pool_attrs(
    k: [usize; 2],
    s: [usize; 2],
    p: [usize; 4],
    d: [usize; 2],
    ceil: bool,
    incl: bool,
) -> PoolAttrs {
    PoolAttrs {
        kernel: k,
        strides: s,
        pads: p,
        dilations: d,
        ceil_mode: ceil,
        count_include_pad: incl,
    }
}

#[test]
fn pool_onnx_examples() {
    // ONNX test cases maxpool_2d_ceil / averagepool_2d_ceil: 4x4 input 1..16, k3 s2 ceil_mode.
    let x =
        ArrayD::from_shape_vec(IxDyn(&[1, 1, 4, 4]), (1..=16).map(|v| v as f32).collect()).unwrap();
    let a = pool_attrs([3, 3], [2, 2], [0; 4], [1, 1], true, false);
    let g = one_node(Op::MaxPool(a.clone()), &[1, 1, 4, 4], vec![]);
    let got = run_with_threads(&g, std::slice::from_ref(&x), 1);
    assert_close(
        &got[0],
        &array![[[[11.0f32, 12.0], [15.0, 16.0]]]].into_dyn(),
        0.0,
        "maxpool ceil",
    );
    let g = one_node(Op::AveragePool(a), &[1, 1, 4, 4], vec![]);
    let got = run_with_threads(&g, std::slice::from_ref(&x), 1);
    assert_close(
        &got[0],
        &array![[[[6.0f32, 7.5], [12.0, 13.5]]]].into_dyn(),
        1e-6,
        "avgpool ceil",
    );
}

#[test]
fn pool_random_shapes() {
    let mut rng = Rng::new(11);
    for case in 0..40 {
        let k = [rng.range(1, 4), rng.range(1, 4)];
        let s = [rng.range(1, 3), rng.range(1, 3)];
        let d = if case % 4 == 0 {
            [rng.range(1, 2), rng.range(1, 2)]
        } else {
            [1, 1]
        };
        let p = [
            rng.range(0, k[0] - 1),
            rng.range(0, k[1] - 1),
            rng.range(0, k[0] - 1),
            rng.range(0, k[1] - 1),
        ];
        let a = pool_attrs(k, s, p, d, rng.bool(), rng.bool());
        let xs = [
            rng.range(1, 2),
            rng.range(1, 4),
            rng.range(k[0] * d[0], 15),
            rng.range(k[1] * d[1], 15),
        ];
        let x = rng.array(&xs);
        for max in [true, false] {
            let op = if max {
                Op::MaxPool(a.clone())
            } else {
                Op::AveragePool(a.clone())
            };
            let g = one_node(op, &xs, vec![]);
            let got = run_with_threads(&g, std::slice::from_ref(&x), 2);
            assert_close(
                &got[0],
                &naive_pool(&x, &a, max),
                1e-5,
                &format!("pool #{case} max={max} {xs:?} {a:?}"),
            );
        }
    }
}

fn resize_attrs(
    mode: ResizeMode,
    coord: ResizeCoord,
    nearest: ResizeNearest,
    scales: [f32; 2],
    out_hw: [usize; 2],
) -> ResizeAttrs {
    ResizeAttrs {
        mode,
        coord,
        nearest,
        scales,
        out_hw,
    }
}

fn run_resize(x: &ArrayD<f32>, a: ResizeAttrs) -> ArrayD<f32> {
    let g = one_node(Op::Resize(a), x.shape(), vec![]);
    run_with_threads(&g, std::slice::from_ref(x), 2).remove(0)
}

#[test]
fn resize_onnx_examples() {
    use ResizeCoord::*;
    use ResizeMode::*;
    use ResizeNearest::*;
    let x = array![[[[1.0f32, 2.0], [3.0, 4.0]]]].into_dyn();
    // resize_upsample_scales_nearest (asymmetric, round_prefer_floor? no: default half_pixel)
    let got = run_resize(
        &x,
        resize_attrs(Nearest, HalfPixel, RoundPreferFloor, [2.0, 3.0], [4, 6]),
    );
    let want = array![[[
        [1.0f32, 1.0, 1.0, 2.0, 2.0, 2.0],
        [1.0, 1.0, 1.0, 2.0, 2.0, 2.0],
        [3.0, 3.0, 3.0, 4.0, 4.0, 4.0],
        [3.0, 3.0, 3.0, 4.0, 4.0, 4.0]
    ]]]
    .into_dyn();
    assert_close(&got, &want, 0.0, "upsample nearest");
    // resize_upsample_scales_linear
    let got = run_resize(
        &x,
        resize_attrs(Linear, HalfPixel, RoundPreferFloor, [2.0, 2.0], [4, 4]),
    );
    let want = array![[[
        [1.0f32, 1.25, 1.75, 2.0],
        [1.5, 1.75, 2.25, 2.5],
        [2.5, 2.75, 3.25, 3.5],
        [3.0, 3.25, 3.75, 4.0]
    ]]]
    .into_dyn();
    assert_close(&got, &want, 1e-6, "upsample linear");
    // resize_upsample_scales_linear_align_corners
    let got = run_resize(
        &x,
        resize_attrs(Linear, AlignCorners, RoundPreferFloor, [2.0, 2.0], [4, 4]),
    );
    let t = 1.0f32 / 3.0;
    let want = array![[[
        [1.0f32, 1.0 + t, 1.0 + 2.0 * t, 2.0],
        [1.0 + 2.0 * t, 2.0, 2.0 + t, 2.0 + 2.0 * t],
        [2.0 + t, 2.0 + 2.0 * t, 3.0, 3.0 + t],
        [3.0, 3.0 + t, 3.0 + 2.0 * t, 4.0]
    ]]]
    .into_dyn();
    assert_close(&got, &want, 1e-6, "upsample linear align_corners");
    // resize_downsample_scales_nearest / _linear: 2x4 input, scales 0.6
    let x = array![[[[1.0f32, 2.0, 3.0, 4.0], [5.0, 6.0, 7.0, 8.0]]]].into_dyn();
    let got = run_resize(
        &x,
        resize_attrs(Nearest, HalfPixel, RoundPreferFloor, [0.6, 0.6], [1, 2]),
    );
    assert_close(
        &got,
        &array![[[[1.0f32, 3.0]]]].into_dyn(),
        0.0,
        "downsample nearest",
    );
    let got = run_resize(
        &x,
        resize_attrs(Linear, HalfPixel, RoundPreferFloor, [0.6, 0.6], [1, 2]),
    );
    assert_close(
        &got,
        &array![[[[2.6666665f32, 4.333_333]]]].into_dyn(),
        1e-6,
        "downsample linear",
    );
    // Nearest modes on exact halves: asymmetric x/2 on 1-D 2 -> 4 is exact; half_pixel 4 -> 2
    // with scale 0.5 lands on 0.5 / 2.5: floor prefers 0 / 2, ceil prefers 1 / 3.
    let x = array![[[[10.0f32, 11.0, 12.0, 13.0]]]].into_dyn();
    for (mode, want) in [
        (RoundPreferFloor, [10.0f32, 12.0]),
        (RoundPreferCeil, [11.0, 13.0]),
        (Floor, [10.0, 12.0]),
        (Ceil, [11.0, 13.0]),
    ] {
        let got = run_resize(
            &x,
            resize_attrs(Nearest, HalfPixel, mode, [1.0, 0.5], [1, 2]),
        );
        assert_close(
            &got,
            &ArrayD::from_shape_vec(IxDyn(&[1, 1, 1, 2]), want.to_vec()).unwrap(),
            0.0,
            &format!("{mode:?}"),
        );
    }
}

/// Resize by the formulas of the ONNX operator description, written independently of the engine.
fn naive_resize(x: &ArrayD<f32>, a: &ResizeAttrs) -> ArrayD<f32> {
    let (n, c, h, w) = (x.shape()[0], x.shape()[1], x.shape()[2], x.shape()[3]);
    let [oh, ow] = a.out_hw;
    let orig = |o: usize, axis: usize| -> f32 {
        let (o, s, li, lo) = (
            o as f32,
            a.scales[axis],
            [h, w][axis] as f32,
            [oh, ow][axis] as f32,
        );
        match a.coord {
            ResizeCoord::HalfPixel => (o + 0.5) / s - 0.5,
            ResizeCoord::PytorchHalfPixel if lo > 1.0 => (o + 0.5) / s - 0.5,
            ResizeCoord::PytorchHalfPixel => 0.0,
            ResizeCoord::AlignCorners if lo > 1.0 => o * (li - 1.0) / (lo - 1.0),
            ResizeCoord::AlignCorners => 0.0,
            ResizeCoord::Asymmetric => o / s,
            ResizeCoord::TfHalfPixelForNearest => (o + 0.5) / s,
        }
    };
    let near = |v: f32, len: usize| -> usize {
        let r = match a.nearest {
            ResizeNearest::RoundPreferFloor if v.fract() == 0.5 => v.floor(),
            ResizeNearest::RoundPreferCeil if v.fract() == 0.5 => v.ceil(),
            ResizeNearest::Floor => v.floor(),
            ResizeNearest::Ceil => v.ceil(),
            _ => v.round(),
        };
        r.clamp(0.0, (len - 1) as f32) as usize
    };
    let mut y = ArrayD::zeros(IxDyn(&[n, c, oh, ow]));
    for ((ni, ci, oy, ox), v) in y
        .indexed_iter_mut()
        .map(|(i, v)| ((i[0], i[1], i[2], i[3]), v))
    {
        let (fy, fx) = (orig(oy, 0), orig(ox, 1));
        *v = match a.mode {
            ResizeMode::Nearest => x[[ni, ci, near(fy, h), near(fx, w)]],
            ResizeMode::Linear => {
                let (fy, fx) = (fy.clamp(0.0, (h - 1) as f32), fx.clamp(0.0, (w - 1) as f32));
                let (y0, x0) = (fy.floor() as usize, fx.floor() as usize);
                let (y1, x1) = ((y0 + 1).min(h - 1), (x0 + 1).min(w - 1));
                let (dy, dx) = (fy - y0 as f32, fx - x0 as f32);
                let p = |yy: usize, xx: usize| x[[ni, ci, yy, xx]];
                let top = p(y0, x0) * (1.0 - dx) + p(y0, x1) * dx;
                let bot = p(y1, x0) * (1.0 - dx) + p(y1, x1) * dx;
                top * (1.0 - dy) + bot * dy
            }
        };
    }
    y
}

#[test]
fn resize_random_modes() {
    let mut rng = Rng::new(5);
    let coords = [
        ResizeCoord::HalfPixel,
        ResizeCoord::PytorchHalfPixel,
        ResizeCoord::AlignCorners,
        ResizeCoord::Asymmetric,
        ResizeCoord::TfHalfPixelForNearest,
    ];
    let nearests = [
        ResizeNearest::RoundPreferFloor,
        ResizeNearest::RoundPreferCeil,
        ResizeNearest::Floor,
        ResizeNearest::Ceil,
    ];
    let factors = [0.5f32, 1.0, 1.5, 2.0, 3.0, 0.75];
    for case in 0..60 {
        let (h, w) = (rng.range(1, 9), rng.range(1, 9));
        let scales = [factors[rng.range(0, 5)], factors[rng.range(0, 5)]];
        let out_hw = [
            ((h as f32 * scales[0]) as usize).max(1),
            ((w as f32 * scales[1]) as usize).max(1),
        ];
        let linear = case % 2 == 0;
        let coord = coords[rng.range(0, if linear { 3 } else { 4 })];
        let a = resize_attrs(
            if linear {
                ResizeMode::Linear
            } else {
                ResizeMode::Nearest
            },
            coord,
            nearests[rng.range(0, 3)],
            scales,
            out_hw,
        );
        let x = rng.array(&[1, 2, h, w]);
        assert_close(
            &run_resize(&x, a.clone()),
            &naive_resize(&x, &a),
            1e-5,
            &format!("resize #{case} {h}x{w} {a:?}"),
        );
    }
}

#[test]
fn gemm_with_bias_and_activation() {
    let mut rng = Rng::new(9);
    for &(m, k, n) in &[(1, 1280, 1000), (3, 17, 5), (8, 64, 33), (1, 1, 1)] {
        let x = rng.array(&[m, k]);
        let w = rng.array(&[n, k]);
        for (bias, act) in [
            (Some(rng.array(&[n])), Activation::Relu),
            (None, Activation::None),
            (
                Some(rng.array(&[m, n])),
                Activation::Clip {
                    min: -1.0,
                    max: 1.0,
                },
            ),
        ] {
            let mut consts = vec![w.clone()];
            if let Some(b) = &bias {
                consts.push(b.clone());
            }
            let g = one_node(Op::Gemm { activation: act }, &[m, k], consts);
            let mut want = ArrayD::zeros(IxDyn(&[m, n]));
            for i in 0..m {
                for j in 0..n {
                    let mut s = match &bias {
                        Some(b) if b.ndim() == 2 => b[[i, j]] as f64,
                        Some(b) => b[[j]] as f64,
                        None => 0.0,
                    };
                    for p in 0..k {
                        s += x[[i, p]] as f64 * w[[j, p]] as f64;
                    }
                    want[[i, j]] = act.apply(s as f32);
                }
            }
            for threads in [1, 2] {
                let got = run_with_threads(&g, std::slice::from_ref(&x), threads);
                assert_close(
                    &got[0],
                    &want,
                    TOL,
                    &format!("gemm {m}x{k}x{n} threads {threads}"),
                );
            }
        }
    }
}

#[test]
fn matmul_numpy_semantics() {
    let mut rng = Rng::new(13);
    let cases: &[(&[usize], &[usize])] = &[
        (&[4, 6], &[6, 5]),
        (&[6], &[6, 5]),
        (&[4, 6], &[6]),
        (&[2, 3, 4, 6], &[6, 5]),
        (&[3, 1, 4, 6], &[2, 6, 5]),
        (&[7], &[2, 7, 3]),
        (&[1, 70, 80], &[80, 90]),
    ];
    for &(ash, bsh) in cases {
        let (a, b) = (rng.array(ash), rng.array(bsh));
        let g = one_node_dynamic(Op::MatMul, &[ash, bsh]);
        let got = run_with_threads(&g, &[a.clone(), b.clone()], 2).remove(0);
        // numpy by definition: promote 1-D, broadcast batch dims, multiply, drop promoted dims.
        let a2 = if ash.len() == 1 {
            a.clone().insert_axis(ndarray::Axis(0))
        } else {
            a.clone()
        };
        let b2 = if bsh.len() == 1 {
            b.clone().insert_axis(ndarray::Axis(1))
        } else {
            b.clone()
        };
        let batch =
            shape::broadcast(&a2.shape()[..a2.ndim() - 2], &b2.shape()[..b2.ndim() - 2]).unwrap();
        let (m, k, n) = (
            a2.shape()[a2.ndim() - 2],
            a2.shape()[a2.ndim() - 1],
            b2.shape()[b2.ndim() - 1],
        );
        let mut full_a = batch.clone();
        full_a.extend([m, k]);
        let mut full_b = batch.clone();
        full_b.extend([k, n]);
        let ab = a2.broadcast(IxDyn(&full_a)).unwrap();
        let bb = b2.broadcast(IxDyn(&full_b)).unwrap();
        let mut out_shape = batch.clone();
        out_shape.extend([m, n]);
        let mut want = ArrayD::<f32>::zeros(IxDyn(&out_shape));
        for (idx, v) in want.indexed_iter_mut() {
            let mut ia: Vec<usize> = idx.slice().to_vec();
            let mut ib = ia.clone();
            let (i, j) = (ia[ia.len() - 2], ia[ia.len() - 1]);
            let mut s = 0.0f64;
            for p in 0..k {
                let l = ia.len();
                ia[l - 2] = i;
                ia[l - 1] = p;
                ib[l - 2] = p;
                ib[l - 1] = j;
                s += ab[IxDyn(&ia)] as f64 * bb[IxDyn(&ib)] as f64;
            }
            *v = s as f32;
        }
        let want = want.into_shape_with_order(IxDyn(got.shape())).unwrap();
        assert_close(&got, &want, TOL, &format!("matmul {ash:?} x {bsh:?}"));
    }
}
