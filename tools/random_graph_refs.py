#!/usr/bin/env python3
"""Float references from onnxruntime for the random graphs written by `cargo xtask random-graphs`.

For every `<dir>/<seed>/model.onnx` with `input<k>.npy`, runs onnxruntime (CPU, one thread, all
graph optimizations off so that it computes each node as written) and writes `output<k>.npy`.
A graph onnxruntime refuses is removed and listed with the reason in `<dir>/REFUSED.txt`.

Usage: tools/random_graph_refs.py fixtures/random_graphs   (needs numpy, onnxruntime)
"""
import os, shutil, sys
import numpy as np
import onnxruntime as ort


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else "fixtures/random_graphs"
    refused, done = [], 0
    for d in sorted(os.listdir(root), key=lambda s: (len(s), s)):
        path = os.path.join(root, d)
        model = os.path.join(path, "model.onnx")
        if not os.path.isfile(model):
            continue
        try:
            o = ort.SessionOptions()
            o.intra_op_num_threads = 1
            o.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
            s = ort.InferenceSession(model, o, providers=["CPUExecutionProvider"])
            feeds = {}
            for k, i in enumerate(s.get_inputs()):
                feeds[i.name] = np.load(os.path.join(path, f"input{k}.npy"))
            outs = s.run(None, feeds)
        except Exception as e:  # noqa: BLE001 - the reason is recorded
            refused.append(f"{d}: {str(e).splitlines()[0][:300]}")
            shutil.rmtree(path)
            continue
        for k, y in enumerate(outs):
            np.save(os.path.join(path, f"output{k}.npy"), y.astype(np.float32))
        done += 1
    with open(os.path.join(root, "REFUSED.txt"), "w") as f:
        f.write("".join(r + "\n" for r in refused))
    print(f"{done} graphs with references, {len(refused)} refused by onnxruntime")


if __name__ == "__main__":
    main()
