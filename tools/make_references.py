#!/usr/bin/env python3
"""Regenerates the onnxruntime reference outputs under fixtures/reference/ (dev tool; tests never run it).

Setup once:  python3 -m venv /tmp/ortvenv && /tmp/ortvenv/bin/pip install onnxruntime onnx numpy pillow
Usage:       /tmp/ortvenv/bin/python tools/make_references.py [--fixtures fixtures] [--check]

Every model input is stored as the uint8 image it is computed from, and the float input is rebuilt
from it with a fixed float32 formula that the Rust tests repeat operation for operation (IEEE f32,
so both sides get the same bits). Outputs are onnxruntime CPU float32, one item at a time, one
thread. Written files (all .npy, since the Rust tests read .npy but not .npz):

  ppocr_page_rgb_u8.npy          uint8 [640,640,3]  images/photos/skimage_page.png, PIL bilinear to 640x640, RGB
  ppocr_page_output.npy          f32 [1,1,640,640]  ppocrv4_det on x = ((u[..., ::-1] (BGR) / 255) - 0.5) / 0.5, NCHW
  mtcnn_lfw_labels.npy           uint8 [200]        1 = face (data/skimage_lfw_subset_25x25.npz `labels`)
  mtcnn_lfw24_u8.npy             uint8 [200,24,24]  lfw patches: u = (img*255).astype(uint8) (truncation), PIL bilinear 24x24
  mtcnn_lfw48_u8.npy             uint8 [200,48,48]  the same at 48x48
  mtcnn_rnet_lfw_<out>.npy       f32 [200,k]        RNet on x = ((u/255)*255 - 127.5)/128, gray repeated to 3 channels
  mtcnn_onet_lfw_<out>.npy       f32 [200,k]        ONet, same formula on the 48x48 patches
  mtcnn_pnet_astronaut_rgb_u8.npy uint8 [72,96,3]   images/photos/skimage_astronaut.png, PIL bilinear to 96x72 (WxH), RGB
  mtcnn_pnet_astronaut_<out>.npy f32 [1,k,31,43]    PNet on x = (u - 127.5)/128, NCHW (input fixed to [1,3,72,96])

The lfw preprocessing reproduces data/lfw_subset_mtcnn_float_pface.npz bit for bit (checked here).
"""
import argparse
import os

import numpy as np
import onnxruntime as ort
from PIL import Image


def session(path):
    o = ort.SessionOptions()
    o.intra_op_num_threads = 1
    o.inter_op_num_threads = 1
    return ort.InferenceSession(path, o, providers=["CPUExecutionProvider"])


def run_items(sess, x):
    """Runs a batch one item at a time; returns {output name: concatenated outputs}."""
    name = sess.get_inputs()[0].name
    names = [o.name for o in sess.get_outputs()]
    outs = [sess.run(None, {name: x[i:i + 1]}) for i in range(len(x))]
    return {n: np.concatenate([o[k] for o in outs]).astype(np.float32) for k, n in enumerate(names)}


def save(out_dir, name, arr):
    path = os.path.join(out_dir, name)
    np.save(path, arr)
    print(f"wrote {path}  {arr.dtype} {list(arr.shape)}")


def ppocr(fx, out_dir):
    img = Image.open(os.path.join(fx, "images/photos/skimage_page.png")).convert("RGB")
    u = np.asarray(img.resize((640, 640), Image.BILINEAR), dtype=np.uint8)
    x = (u[..., ::-1].astype(np.float32) / np.float32(255) - np.float32(0.5)) / np.float32(0.5)
    x = np.ascontiguousarray(x.transpose(2, 0, 1)[None], dtype=np.float32)
    y = run_items(session(os.path.join(fx, "models/ppocrv4_det.onnx")), x)
    (out,) = y.values()
    save(out_dir, "ppocr_page_rgb_u8.npy", u)
    save(out_dir, "ppocr_page_output.npy", out)


def lfw_u8(images, size):
    """(img*255) truncated to uint8, then PIL bilinear resize: what produced the p(face) fixture."""
    return np.stack([
        np.asarray(Image.fromarray((im * 255).astype(np.uint8)).resize((size, size), Image.BILINEAR), dtype=np.uint8)
        for im in images
    ])


def lfw_float(u):
    x = u.astype(np.float32) / np.float32(255)
    x = (x * np.float32(255) - np.float32(127.5)) / np.float32(128)
    return np.ascontiguousarray(np.repeat(x[:, None], 3, axis=1), dtype=np.float32)


def mtcnn_lfw(fx, out_dir, check):
    d = np.load(os.path.join(fx, "data/skimage_lfw_subset_25x25.npz"))
    pface = np.load(os.path.join(fx, "data/lfw_subset_mtcnn_float_pface.npz"))
    labels = d["labels"].astype(np.uint8)
    save(out_dir, "mtcnn_lfw_labels.npy", labels)
    for net, size in (("rnet", 24), ("onet", 48)):
        u = lfw_u8(d["images"], size)
        y = run_items(session(os.path.join(fx, f"models/mtcnn_{net}.onnx")), lfw_float(u))
        p = y["face_prob"][:, 1]
        diff = float(np.abs(p - pface[net]).max())
        acc = float(((p > 0.5) == (labels == 1)).mean())
        print(f"{net}: max |p(face) - fixture| = {diff:.3g}, accuracy {acc:.4f}")
        if check and diff != 0.0:
            raise SystemExit(f"{net}: preprocessing does not reproduce lfw_subset_mtcnn_float_pface.npz")
        save(out_dir, f"mtcnn_lfw{size}_u8.npy", u)
        for name, arr in y.items():
            save(out_dir, f"mtcnn_{net}_lfw_{name}.npy", arr)


def mtcnn_pnet(fx, out_dir):
    img = Image.open(os.path.join(fx, "images/photos/skimage_astronaut.png")).convert("RGB")
    u = np.asarray(img.resize((96, 72), Image.BILINEAR), dtype=np.uint8)  # H=72, W=96
    x = (u.astype(np.float32) - np.float32(127.5)) / np.float32(128)
    x = np.ascontiguousarray(x.transpose(2, 0, 1)[None], dtype=np.float32)
    y = run_items(session(os.path.join(fx, "models/mtcnn_pnet.onnx")), x)
    save(out_dir, "mtcnn_pnet_astronaut_rgb_u8.npy", u)
    for name, arr in y.items():
        save(out_dir, f"mtcnn_pnet_astronaut_{name}.npy", arr)


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    p = argparse.ArgumentParser()
    p.add_argument("--fixtures", default=os.path.join(here, "..", "fixtures"))
    p.add_argument("--check", action="store_true", help="fail unless the lfw p(face) fixture is reproduced exactly")
    a = p.parse_args()
    out_dir = os.path.join(a.fixtures, "reference")
    os.makedirs(out_dir, exist_ok=True)
    print(f"onnxruntime {ort.__version__}, numpy {np.__version__}")
    ppocr(a.fixtures, out_dir)
    mtcnn_lfw(a.fixtures, out_dir, a.check)
    mtcnn_pnet(a.fixtures, out_dir)


if __name__ == "__main__":
    main()
