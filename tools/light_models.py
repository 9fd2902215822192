#!/usr/bin/env python3
"""Copies the nine `light` models of the onnx wheel into fixtures/models/light/.

The onnx wheel ships, in onnx/backend/test/data/light/, nine reduced classic CNNs (opset 9,
weights replaced by constants, 4-600 KB each) and for each one expected output
`light_<name>_output_0.pb`. onnx's backend test runner feeds them a deterministic input
(`generate_dummy_data(..., random=False)` in onnx/backend/test/runner/__init__.py):

    x = (np.arange(n).reshape(shape) / n).astype(np.float32)    # n = prod(shape), float64 divide

and compares with that .pb. This script copies each model, converts its expected output to
`light_<name>_output_0.npy` (float32), checks that onnxruntime reproduces it on that input, and
writes fixtures/models/light/INDEX.json (input name and shape, output name and shape, the
onnxruntime check). The input is not stored: tests rebuild it with the same formula
(`(i as f64 / n as f64) as f32`, bit-identical to numpy's).

Usage: python3 tools/light_models.py   (onnx 1.23.0, onnxruntime 1.32.0)
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnx import numpy_helper

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "fixtures/models/light"


def main() -> int:
    src = Path(onnx.__file__).parent / "backend/test/data/light"
    OUT.mkdir(parents=True, exist_ok=True)
    index = {"source": f"onnx {onnx.__version__} wheel, onnx/backend/test/data/light", "models": []}
    for f in sorted(src.glob("light_*.onnx")):
        name = f.stem
        model = onnx.load(f)
        inits = {i.name for i in model.graph.initializer}
        (inp,) = [i for i in model.graph.input if i.name not in inits]
        shape = [d.dim_value if d.HasField("dim_value") else 1 for d in inp.type.tensor_type.shape.dim]
        n = int(np.prod(shape))
        x = (np.arange(n).reshape(shape) / n).astype(np.float32)
        t = onnx.TensorProto()
        t.ParseFromString((src / f"{name}_output_0.pb").read_bytes())
        want = numpy_helper.to_array(t).astype(np.float32)
        so = ort.SessionOptions()
        so.intra_op_num_threads = 1
        got = ort.InferenceSession(str(f), so, providers=["CPUExecutionProvider"]).run(None, {inp.name: x})[0]
        err = float(np.abs(got - want).max())
        shutil.copy(f, OUT / f.name)
        np.save(OUT / f"{name}_output_0.npy", want)
        index["models"].append(
            {
                "name": name,
                "opset": next(o.version for o in model.opset_import if o.domain in ("", "ai.onnx")),
                "input": {"name": inp.name, "shape": shape},
                "output": {"name": model.graph.output[0].name, "shape": list(want.shape)},
                "onnxruntime_max_abs_err": err,
                "max_abs_expected": float(np.abs(want).max()),
            }
        )
        print(f"{name:22} input {inp.name} {shape}  output {list(want.shape)}  ort max|err| {err:.2e}")
    (OUT / "INDEX.json").write_text(json.dumps(index, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
