#!/usr/bin/env python3
"""Writes the single-op test models and their onnxruntime outputs under fixtures/ops/ (dev tool;
tests never run it).

Setup once:  python3 -m venv /tmp/ortvenv && /tmp/ortvenv/bin/pip install onnxruntime onnx numpy
Usage:       /tmp/ortvenv/bin/python tools/make_op_fixtures.py [--out fixtures/ops]

For every case: `<case>.onnx` (one op, or a small chain for decompositions such as Gelu written with
Erf), and an entry in `expected.json`: the opset, the float32 inputs (graph input order) and the
onnxruntime CPU float32 outputs, each as {"shape": [...], "data": [...]} with every value written
as the exact decimal of its float32. Inputs come from a fixed seed. The Rust test
(`crates/radix-quant/tests/ops.rs`) imports each model, runs the float engine against these
outputs, then quantizes it to int16 and checks the fast fixed engine against the reference engine
bit for bit.
"""
import argparse
import json
import os

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

RNG = np.random.default_rng(12)


def randn(*shape, scale=2.0):
    return (RNG.standard_normal(shape) * scale).astype(np.float32)


def positive(*shape):
    return (np.abs(RNG.standard_normal(shape)) * 2.0 + 0.1).astype(np.float32)


def away_from_zero(*shape):
    x = randn(*shape)
    return (np.sign(x) * np.maximum(np.abs(x), 0.25)).astype(np.float32)


def ties(*shape):
    return RNG.integers(0, 3, size=shape).astype(np.float32)


def model(nodes, inputs, out_shape, opset, inits=(), out_name="y"):
    """inputs: list of (name, array); inits: list of (name, array) constants."""
    g = helper.make_graph(
        nodes,
        "op",
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, a.shape) for n, a in inputs],
        [helper.make_tensor_value_info(out_name, TensorProto.FLOAT, out_shape)],
        initializer=[numpy_helper.from_array(a, n) for n, a in inits],
    )
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 8
    return m


CASES = {}


def case(name, nodes, inputs, opset, inits=(), int_output=False):
    CASES[name] = (nodes, inputs, opset, list(inits), int_output)


def node(op, ins, outs=("y",), **attrs):
    return helper.make_node(op, list(ins), list(outs), name=f"{op.lower()}_node", **attrs)


X = randn(1, 3, 4, 5)

# Unary elementwise.
case("elu", [node("Elu", ["x"], alpha=0.7)], [("x", X)], 13)
case("selu", [node("Selu", ["x"])], [("x", X)], 13)
case("softplus", [node("Softplus", ["x"])], [("x", X)], 13)
case("gelu", [node("Gelu", ["x"])], [("x", X)], 20)
case("gelu_tanh", [node("Gelu", ["x"], approximate="tanh")], [("x", X)], 20)
case("erf", [node("Erf", ["x"])], [("x", X)], 13)
case("sqrt", [node("Sqrt", ["x"])], [("x", positive(1, 3, 4, 5))], 13)
case("reciprocal", [node("Reciprocal", ["x"])], [("x", away_from_zero(1, 3, 4, 5))], 13)
case("abs", [node("Abs", ["x"])], [("x", X)], 13)
case("neg", [node("Neg", ["x"])], [("x", X)], 13)
case("log", [node("Log", ["x"])], [("x", positive(1, 3, 4, 5))], 13)
case("exp", [node("Exp", ["x"])], [("x", X)], 13)
# Gelu as exported before opset 20: x * 0.5 * (1 + erf(x / sqrt(2))).
case(
    "gelu_erf_decomposition",
    [
        helper.make_node("Div", ["x", "sqrt2"], ["d"], name="div"),
        helper.make_node("Erf", ["d"], ["e"], name="erf"),
        helper.make_node("Add", ["e", "one"], ["a"], name="add"),
        helper.make_node("Mul", ["x", "a"], ["m"], name="mul"),
        helper.make_node("Mul", ["m", "half"], ["y"], name="mul_half"),
    ],
    [("x", X)],
    13,
    inits=[
        ("sqrt2", np.array(np.sqrt(2.0), np.float32)),
        ("one", np.array(1.0, np.float32)),
        ("half", np.array(0.5, np.float32)),
    ],
)
case("pow_const2", [node("Pow", ["x", "e"])], [("x", X)], 13, inits=[("e", np.array(2.0, np.float32))])
case("pow_const_half", [node("Pow", ["x", "e"])], [("x", positive(1, 3, 4, 5))], 13,
     inits=[("e", np.array([0.5], np.float32))])
case("pow_tensor", [node("Pow", ["x", "e"])], [("x", positive(1, 3, 4, 5)), ("e", randn(5, scale=1.0))], 13)

# Variadic (broadcasting).
A, B, C = randn(1, 3, 4, 5), randn(5), randn(3, 1, 1)
for op in ["Sum", "Mean", "Max", "Min"]:
    case(f"{op.lower()}3", [node(op, ["a", "b", "c"])], [("a", A), ("b", B), ("c", C)], 13)
    case(f"{op.lower()}2", [node(op, ["a", "b"])], [("a", A), ("b", B)], 13)
    case(f"{op.lower()}1", [node(op, ["a"])], [("a", A)], 13)
case("sum2_opset9", [node("Sum", ["a", "b"])], [("a", A), ("b", randn(1, 3, 4, 5))], 9)

# LRN (odd and even sizes).
case("lrn", [node("LRN", ["x"], size=5, alpha=0.01, beta=0.75, bias=2.0)], [("x", randn(1, 7, 3, 4))], 13)
case("lrn_size3_defaults", [node("LRN", ["x"], size=3)], [("x", randn(1, 6, 3, 3, scale=20.0))], 9)

# Reductions: axes as attribute (opset 11; ReduceSum too), as input (opset 18; ReduceSum 13).
R = randn(2, 3, 4, 5)
for op in ["ReduceMax", "ReduceMin", "ReduceSum", "ReduceMean"]:
    k = op[6:].lower()
    case(f"reduce{k}_axis1_keep", [node(op, ["x"], axes=[1], keepdims=1)], [("x", R)], 11)
    case(f"reduce{k}_axes13_nokeep", [node(op, ["x"], axes=[1, 3], keepdims=0)], [("x", R)], 11)
    case(f"reduce{k}_all_nokeep", [node(op, ["x"], keepdims=0)], [("x", R)], 11)
    case(f"reduce{k}_all_keep", [node(op, ["x"])], [("x", R)], 11)
    case(f"reduce{k}_neg_axis_attr", [node(op, ["x"], axes=[-1, 0], keepdims=1)], [("x", R)], 11)
    new = 13 if op == "ReduceSum" else 18
    case(f"reduce{k}_input_axes_keep", [node(op, ["x", "axes"], keepdims=1)], [("x", R)], new,
         inits=[("axes", np.array([-1], np.int64))])
    case(f"reduce{k}_input_axes_nokeep", [node(op, ["x", "axes"], keepdims=0)], [("x", R)], new,
         inits=[("axes", np.array([0, 2], np.int64))])
    case(f"reduce{k}_noop_empty", [node(op, ["x"], keepdims=1, noop_with_empty_axes=1)], [("x", R)], new)
    case(f"reduce{k}_empty_all", [node(op, ["x"], keepdims=0)], [("x", R)], new)

# ArgMax.
T = ties(2, 3, 4, 5)
case("argmax_axis1_keep", [node("ArgMax", ["x"], axis=1, keepdims=1)], [("x", R)], 13, int_output=True)
case("argmax_last_nokeep", [node("ArgMax", ["x"], axis=-1, keepdims=0)], [("x", R)], 13, int_output=True)
case("argmax_ties_first", [node("ArgMax", ["x"], axis=2)], [("x", T)], 13, int_output=True)
case("argmax_ties_last", [node("ArgMax", ["x"], axis=2, select_last_index=1)], [("x", T)], 13,
     int_output=True)

# DepthToSpace / SpaceToDepth.
case("depth_to_space_dcr", [node("DepthToSpace", ["x"], blocksize=2)], [("x", randn(1, 8, 2, 3))], 13)
case("depth_to_space_crd", [node("DepthToSpace", ["x"], blocksize=2, mode="CRD")],
     [("x", randn(1, 8, 2, 3))], 13)
case("space_to_depth", [node("SpaceToDepth", ["x"], blocksize=2)], [("x", randn(1, 2, 4, 6))], 13)

# Normalizations.
case("instance_norm", [node("InstanceNormalization", ["x", "s", "b"], epsilon=1e-3)],
     [("x", randn(2, 3, 4, 5))], 13, inits=[("s", randn(3)), ("b", randn(3))])
case("instance_norm_1d", [node("InstanceNormalization", ["x", "s", "b"])],
     [("x", randn(1, 4, 7))], 13, inits=[("s", randn(4)), ("b", randn(4))])
case("layer_norm_last", [node("LayerNormalization", ["x", "s", "b"])],
     [("x", randn(2, 3, 6))], 17, inits=[("s", randn(6)), ("b", randn(6))])
case("layer_norm_axis1_nobias", [node("LayerNormalization", ["x", "s"], axis=1, epsilon=1e-3)],
     [("x", randn(2, 3, 4))], 17, inits=[("s", randn(3, 4))])
case("batchnorm_opset9", [node("BatchNormalization", ["x", "s", "b", "m", "v"], epsilon=1e-3)],
     [("x", randn(1, 3, 4, 5))], 9,
     inits=[("s", randn(3)), ("b", randn(3)), ("m", randn(3)), ("v", positive(3))])
case("batchnorm_opset7_rank2", [node("BatchNormalization", ["x", "s", "b", "m", "v"])],
     [("x", randn(2, 3))], 7,
     inits=[("s", randn(3)), ("b", randn(3)), ("m", randn(3)), ("v", positive(3))])

# Upsample.
U = randn(1, 2, 3, 4)
case("upsample7_nearest", [node("Upsample", ["x"], scales=[1.0, 1.0, 2.0, 3.0])], [("x", U)], 7)
case("upsample7_linear", [node("Upsample", ["x"], scales=[1.0, 1.0, 2.0, 2.0], mode="linear")],
     [("x", U)], 7)
case("upsample9_nearest", [node("Upsample", ["x", "s"])], [("x", U)], 9,
     inits=[("s", np.array([1, 1, 2, 2], np.float32))])
case("upsample9_linear", [node("Upsample", ["x", "s"], mode="linear")], [("x", U)], 9,
     inits=[("s", np.array([1, 1, 2, 3], np.float32))])

# Tile / Expand.
case("tile", [node("Tile", ["x", "r"])], [("x", randn(1, 2, 3, 2))], 13,
     inits=[("r", np.array([1, 2, 1, 3], np.int64))])
case("expand", [node("Expand", ["x", "s"])], [("x", randn(3, 1))], 13,
     inits=[("s", np.array([2, 1, 4], np.int64))])
case("expand_same_rank", [node("Expand", ["x", "s"])], [("x", randn(1, 3, 1, 1))], 13,
     inits=[("s", np.array([1, 3, 2, 2], np.int64))])

# 1-D pools and global pools on rank 3.
L = randn(1, 3, 10)
case("maxpool1d", [node("MaxPool", ["x"], kernel_shape=[3], strides=[2], pads=[1, 1])], [("x", L)], 13)
case("maxpool1d_ceil", [node("MaxPool", ["x"], kernel_shape=[3], strides=[2], ceil_mode=1)],
     [("x", L)], 13)
case("avgpool1d", [node("AveragePool", ["x"], kernel_shape=[3], pads=[1, 1])], [("x", L)], 13)
case("avgpool1d_include_pad", [node("AveragePool", ["x"], kernel_shape=[4], strides=[3], pads=[2, 1],
                                    count_include_pad=1)], [("x", L)], 13)
case("avgpool1d_same_upper", [node("AveragePool", ["x"], kernel_shape=[3], strides=[2],
                                   auto_pad="SAME_UPPER")], [("x", L)], 13)
case("global_avgpool_1d", [node("GlobalAveragePool", ["x"])], [("x", L)], 13)
case("global_maxpool_1d", [node("GlobalMaxPool", ["x"])], [("x", L)], 13)


def tensor_json(a):
    a = np.asarray(a, dtype=np.float32)
    return {"shape": list(a.shape), "data": [float(v) for v in a.reshape(-1)]}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "fixtures", "ops"))
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    expected = {}
    for name, (nodes, inputs, opset, inits, int_output) in CASES.items():
        # Output shape: let onnxruntime tell (declared without dims here, fixed below).
        m = model(nodes, inputs, None, opset, inits)
        m.graph.output[0].type.tensor_type.elem_type = TensorProto.INT64 if int_output else TensorProto.FLOAT
        sess = ort.InferenceSession(m.SerializeToString(), so, providers=["CPUExecutionProvider"])
        (y,) = sess.run(None, {n: a for n, a in inputs})
        del m.graph.output[0].type.tensor_type.shape.dim[:]
        for d in y.shape:
            m.graph.output[0].type.tensor_type.shape.dim.add().dim_value = d
        onnx.checker.check_model(m)
        onnx.save(m, os.path.join(args.out, f"{name}.onnx"))
        expected[name] = {
            "opset": opset,
            "inputs": [tensor_json(a) for _, a in inputs],
            "outputs": [tensor_json(y)],
        }
    with open(os.path.join(args.out, "expected.json"), "w") as f:
        json.dump(expected, f, indent=None, separators=(",", ":"))
        f.write("\n")
    print(f"{len(expected)} cases written to {args.out}")


if __name__ == "__main__":
    main()
