#!/usr/bin/env python3
"""Writes the ONNX node conformance cases Radix is tested on: fixtures/onnx_node/.

The cases come from the generators shipped in the `onnx` wheel
(`onnx.backend.test.case.node.collect_testcases`): each is a one-node model, its inputs and the
expected outputs computed by onnx's reference implementation. This script selects

  * non-expanded cases (names ending `_expanded` / `_expanded_ver*` are function expansions into
    other ops, not tests of the op itself),
  * of the ops Radix imports today or will import (OPS below),
  * whose data inputs are all float32,

turns every input that the op's semantics make a parameter (Conv W/B, Gemm B/C, Reshape shape,
Slice starts, Resize scales, Pad pads, Clip min/max, ... : every input but the data inputs, see
`data_inputs`) into an initializer, converts models of opset > 18 down with
`onnx.version_converter` (to the lowest opset in 18..21 that converts and still reproduces the
expected outputs under onnxruntime) and writes

  fixtures/onnx_node/<case>/model.onnx
  fixtures/onnx_node/<case>/input_<i>.npy     (data inputs, graph-input order, float32)
  fixtures/onnx_node/<case>/output_<i>.npy    (expected outputs, float32; integer/bool outputs
                                               converted to float32 and flagged in the index)
  fixtures/onnx_node/INDEX.json               (every selected case: written, or why not)

Usage: python3 tools/onnx_node_cases.py [--out fixtures/onnx_node] [--max-case-bytes 262144]
(two 3-D pooling cases, LARGE_CASES, may take up to 1 MiB)
Tested with onnx 1.23.0, onnxruntime 1.32.0, numpy 2.x. Deterministic: running it again
rewrites identical files (the generators are seeded).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import warnings
from pathlib import Path

import numpy as np
import onnx
from onnx import helper, numpy_helper, version_converter

# Ops radix-onnx imports today (its translate match in crates/radix-onnx/src/lib.rs).
OPS_TODAY = """Conv ConvTranspose Gemm MatMul BatchNormalization Relu Sigmoid Tanh Exp HardSwish
HardSigmoid LeakyRelu PRelu Clip Add Sub Mul Div MaxPool AveragePool GlobalAveragePool
GlobalMaxPool Concat Split Slice Reshape Flatten Transpose Squeeze Unsqueeze Resize Upsample Pad
Softmax ReduceMean Gather Identity Dropout Cast Shape Constant ConstantOfShape Floor Ceil Neg Sqrt
Reciprocal Abs""".split()
# Ops being added (1-D pools are MaxPool / AveragePool cases).
OPS_PLANNED = """LRN Sum Mean Max Min Elu Selu Softplus Gelu Erf Sqrt Pow Reciprocal Abs Neg Log
ReduceSum ReduceMax ReduceMin ReduceProd ReduceL1 ReduceL2 ReduceLogSum ReduceLogSumExp
ReduceSumSquare ArgMax DepthToSpace SpaceToDepth InstanceNormalization LayerNormalization Upsample
Tile Expand""".split()
OPS = sorted(set(OPS_TODAY) | set(OPS_PLANNED))

# Ops every input of which is data (activations); for every other op only input 0 is.
ALL_DATA = {"Add", "Sub", "Mul", "Div", "Sum", "Mean", "Max", "Min", "Concat"}

TARGET_OPSETS = (18, 19, 20, 21)

# Cases allowed past --max-case-bytes (up to LARGE_CASE_BYTES): the only 3-D pooling cases
# with default attributes, whose 32x32x32 input makes them larger than the budget.
LARGE_CASES = {"test_averagepool_3d_default", "test_maxpool_3d_default"}
LARGE_CASE_BYTES = 1024 * 1024


def data_inputs(op: str, n: int) -> set[int]:
    return set(range(n)) if op in ALL_DATA else {0}


def is_expanded(name: str) -> bool:
    return name.endswith("_expanded") or "_expanded_ver" in name


def opset_of(model: onnx.ModelProto) -> int:
    return next(
        (o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0
    )


def ort_outputs(model: onnx.ModelProto, feeds: dict) -> list | None:
    """onnxruntime's outputs, or None when it cannot run the model."""
    try:
        import onnxruntime as ort

        so = ort.SessionOptions()
        so.intra_op_num_threads = 1
        so.log_severity_level = 3
        s = ort.InferenceSession(
            model.SerializeToString(), so, providers=["CPUExecutionProvider"]
        )
        return s.run(None, feeds)
    except Exception:  # noqa: BLE001 - any failure means "cannot check"
        return None


def close(got: list, expected: list, rtol: float, atol: float) -> bool:
    if len(got) != len(expected):
        return False
    for g, e in zip(got, expected):
        g, e = np.asarray(g), np.asarray(e)
        if g.shape != e.shape:
            return False
        if e.dtype.kind == "f":
            if not np.allclose(
                g.astype(np.float64), e.astype(np.float64), rtol=rtol, atol=atol, equal_nan=True
            ):
                return False
        elif not np.array_equal(g, e):
            return False
    return True


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=str(Path(__file__).resolve().parent.parent / "fixtures/onnx_node"))
    ap.add_argument("--max-case-bytes", type=int, default=256 * 1024)
    args = ap.parse_args()
    out = Path(args.out)

    warnings.simplefilter("ignore")
    from onnx.backend.test.case.node import collect_testcases

    cases = sorted(collect_testcases(None), key=lambda c: c.name)
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)

    index = {
        "generator": f"onnx {onnx.__version__} onnx.backend.test.case.node.collect_testcases",
        "ops": OPS,
        "total_cases": len(cases),
        "cases": [],
        "excluded": [],
    }
    written_bytes = 0
    for c in cases:
        if is_expanded(c.name):
            continue
        g = c.model.graph
        if len(g.node) != 1 or g.node[0].op_type not in OPS or g.node[0].domain not in ("", "ai.onnx"):
            continue
        node = g.node[0]
        op = node.op_type
        inputs, outputs = c.data_sets[0]
        inputs = [np.asarray(v) for v in inputs]
        outputs = [np.asarray(v) for v in outputs]
        entry = {"name": c.name, "op": op, "opset": opset_of(c.model)}
        index["cases"].append(entry)

        names = [vi.name for vi in g.input]
        values = dict(zip(names, inputs))
        node_inputs = list(node.input)
        data = {node_inputs[i] for i in data_inputs(op, len(node_inputs)) if i < len(node_inputs) and node_inputs[i]}
        data_names = [n for n in names if n in data]
        bad = [n for n in data_names if values[n].dtype != np.float32]
        if not data_names:
            entry["status"] = "not written: no data input (every input is a parameter)"
            continue
        if bad:
            index["cases"].pop()
            index["excluded"].append(entry)
            entry["status"] = (
                "excluded: data input "
                + ", ".join(f"`{n}` is {values[n].dtype}" for n in bad)
                + " (float32 only)"
            )
            continue

        model = onnx.ModelProto()
        model.CopyFrom(c.model)
        feeds = {n: values[n] for n in data_names}
        if entry["opset"] > 18:
            converted = None
            errors = []
            for target in TARGET_OPSETS:
                if target >= entry["opset"]:
                    break
                try:
                    m = version_converter.convert_version(model, target)
                    onnx.checker.check_model(m)
                except Exception as e:  # noqa: BLE001
                    errors.append(f"{target}: {str(e).splitlines()[0][:120]}")
                    continue
                got = ort_outputs(m, {n: values[n] for n in names})
                if got is not None and not close(got, outputs, max(c.rtol, 1e-4), max(c.atol, 1e-6)):
                    errors.append(f"{target}: converted model disagrees with the expected outputs")
                    continue
                converted = (m, target)
                break
            if converted is None and entry["opset"] > 21:
                # Opset bumps that only widen types (e.g. 22: bfloat16) have no adapter: relabel
                # the model, accepted only if onnxruntime still reproduces the expected outputs.
                for target in reversed(TARGET_OPSETS):
                    m = onnx.ModelProto()
                    m.CopyFrom(model)
                    for o in m.opset_import:
                        if o.domain in ("", "ai.onnx"):
                            o.version = target
                    try:
                        onnx.checker.check_model(m)
                    except Exception:  # noqa: BLE001
                        continue
                    got = ort_outputs(m, {n: values[n] for n in names})
                    if got is not None and close(got, outputs, max(c.rtol, 1e-4), max(c.atol, 1e-6)):
                        converted = (m, target)
                        entry["note"] = f"relabelled opset {entry['opset']} -> {target} (no adapter; onnxruntime reproduces the expected outputs)"
                        break
            if converted is None:
                if entry["opset"] > 21:
                    entry["status"] = (
                        f"not written: opset {entry['opset']} and no conversion to 18..21 "
                        f"reproduces it ({'; '.join(errors) or 'op newer than opset 21'})"
                    )
                    continue
                entry["note"] = f"kept at opset {entry['opset']} (conversion failed: {'; '.join(errors)})"
            else:
                model, entry["converted_to"] = converted

        # Parameters become initializers.
        g = model.graph
        keep = [vi for vi in g.input if vi.name in data]
        for vi in g.input:
            if vi.name not in data:
                g.initializer.append(numpy_helper.from_array(values[vi.name], vi.name))
        del g.input[:]
        g.input.extend(keep)
        try:
            onnx.checker.check_model(model)
        except Exception as e:  # noqa: BLE001
            entry["status"] = f"not written: checker after making parameters initializers: {str(e).splitlines()[0]}"
            continue
        ort_got = ort_outputs(model, feeds)
        entry["onnxruntime"] = (
            "cannot run"
            if ort_got is None
            else ("agrees" if close(ort_got, outputs, max(c.rtol, 1e-4), max(c.atol, 1e-6)) else "DISAGREES")
        )
        entry["inputs"] = [{"name": n, "shape": list(values[n].shape)} for n in data_names]
        entry["outputs"] = []
        for vi, v in zip(g.output, outputs):
            entry["outputs"].append(
                {"name": vi.name, "shape": list(v.shape), "dtype": str(v.dtype), "integer": v.dtype.kind != "f"}
            )
        size = len(model.SerializeToString()) + sum(v.nbytes for v in feeds.values()) + sum(
            v.size * 4 for v in outputs
        )
        budget = LARGE_CASE_BYTES if c.name in LARGE_CASES else args.max_case_bytes
        if size > budget:
            entry["status"] = f"not written: {size} bytes > {budget} (fixture size budget)"
            del entry["inputs"], entry["outputs"], entry["onnxruntime"]
            continue
        d = out / c.name
        d.mkdir()
        onnx.save(model, d / "model.onnx")
        for i, n in enumerate(data_names):
            np.save(d / f"input_{i}.npy", values[n])
        for i, v in enumerate(outputs):
            np.save(d / f"output_{i}.npy", v.astype(np.float32))
        written_bytes += sum(f.stat().st_size for f in d.iterdir())
        entry["status"] = "written"

    sel = index["cases"]
    written = [e for e in sel if e["status"] == "written"]
    index["selected"] = len(sel)
    index["written"] = len(written)
    index["written_bytes"] = written_bytes
    (out / "INDEX.json").write_text(json.dumps(index, indent=1) + "\n")
    print(
        f"{len(sel)} selected, {len(written)} written ({written_bytes / 1e6:.2f} MB); "
        f"{len(index['excluded'])} cases of these ops excluded (non-float32 data inputs)"
    )
    reasons: dict[str, int] = {}
    for e in sel:
        if e["status"] != "written":
            key = e["status"].split(" (")[0][:90]
            reasons[key] = reasons.get(key, 0) + 1
    for r, n in sorted(reasons.items(), key=lambda x: -x[1]):
        print(f"  {n:4}  {r}")
    dis = [e["name"] for e in written if e.get("onnxruntime") == "DISAGREES"]
    if dis:
        print(f"  onnxruntime disagrees with the expected outputs on {len(dis)}: {', '.join(dis)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
