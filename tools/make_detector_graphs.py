#!/usr/bin/env python3
"""Writes two small detector graphs with the head structures of real detectors, for Radix's tests.

  yolox_head.onnx   YOLOX-style: slicing (Focus) stem, SiLU, three stride-8/16/32 heads of 6
                    channels (4 box, objectness, class) with sigmoid scores, each reshaped to
                    [1, 6, HW_i] and concatenated on the last axis.
  yolov8_head.onnx  YOLOv8-style: Split, DFL (Softmax over 16 bins + 1x1 conv with weights 0..15),
                    heads concatenated on the last axis into [1, 4*16+C, HW], then boxes (pixels)
                    and sigmoid class scores concatenated into [1, 4+C, HW].

Weights are seeded random (He-scaled), so outputs span realistic ranges: box coordinates in
pixels beside probabilities in [0, 1]. Also writes real inputs: photos from
fixtures/images/photos resized to the model's size (uint8 NHWC, `<name>_photos_u8.npy`; the
model input is x / 127.5 - 1 in NCHW) and the onnxruntime float outputs for each
(`<name>_float.npy`).

Usage: tools/make_detector_graphs.py OUT_DIR   (needs numpy, onnx, onnxruntime, Pillow)
"""
import os, sys
import numpy as np
import onnx
from onnx import helper, numpy_helper, TensorProto

rng = np.random.default_rng(20261201)


class G:
    def __init__(self):
        self.nodes, self.inits, self.n = [], [], 0

    def name(self, p):
        self.n += 1
        return f"{p}_{self.n}"

    def const(self, arr, p="c"):
        n = self.name(p)
        self.inits.append(numpy_helper.from_array(np.asarray(arr), n))
        return n

    def op(self, t, ins, p=None, outs=1, **attrs):
        o = [self.name(p or t) for _ in range(outs)]
        self.nodes.append(helper.make_node(t, ins, o, name=self.name("n_" + t), **attrs))
        return o if outs > 1 else o[0]

    def conv(self, x, cin, cout, k=3, s=1, act="silu", bias_scale=0.1):
        w = (rng.standard_normal((cout, cin, k, k)) * np.sqrt(2.0 / (cin * k * k))).astype(np.float32)
        b = (rng.standard_normal(cout) * bias_scale).astype(np.float32)
        y = self.op("Conv", [x, self.const(w, "w"), self.const(b, "b")], kernel_shape=[k, k],
                    strides=[s, s], pads=[k // 2] * 4)
        if act == "silu":
            y = self.op("Mul", [y, self.op("Sigmoid", [y])])
        elif act == "relu":
            y = self.op("Relu", [y])
        return y


def yolox(size=416, c=8, ncls=1):
    g = G()
    x = "images"
    # Focus: four strided slices concatenated on channels.
    parts = []
    for (h0, w0) in [(0, 0), (1, 0), (0, 1), (1, 1)]:
        parts.append(g.op("Slice", [x, g.const(np.array([h0, w0], np.int64)),
                                    g.const(np.array([size, size], np.int64)),
                                    g.const(np.array([2, 3], np.int64)),
                                    g.const(np.array([2, 2], np.int64))]))
    y = g.op("Concat", parts, axis=1)
    y = g.conv(y, 12, c)                      # /2
    y = g.conv(y, c, 2 * c, s=2)              # /4
    p3 = g.conv(y, 2 * c, 2 * c, s=2)         # /8
    p4 = g.conv(p3, 2 * c, 4 * c, s=2)        # /16
    p5 = g.conv(p4, 4 * c, 4 * c, s=2)        # /32
    heads = []
    for feat, ch, stride in [(p3, 2 * c, 8), (p4, 4 * c, 16), (p5, 4 * c, 32)]:
        h = g.conv(feat, ch, ch)
        reg = g.conv(h, ch, 4, k=1, act=None, bias_scale=1.0)
        obj = g.op("Sigmoid", [g.conv(h, ch, 1, k=1, act=None)])
        cls = g.op("Sigmoid", [g.conv(h, ch, ncls, k=1, act=None)])
        out = g.op("Concat", [reg, obj, cls], axis=1)
        hw = (size // stride) ** 2
        heads.append(g.op("Reshape", [out, g.const(np.array([1, 4 + 1 + ncls, hw], np.int64))]))
    out = g.op("Concat", heads, axis=2)
    return g, out, [1, 3, size, size], [1, 4 + 1 + ncls, sum((size // s) ** 2 for s in (8, 16, 32))]


def yolov8(size=320, c=8, ncls=18, reg_max=16):
    g = G()
    x = "images"
    y = g.conv(x, 3, c, s=2)                   # /2
    y = g.conv(y, c, 2 * c, s=2)               # /4
    # C2f-like block: conv, Split in two, conv on one half, concat.
    y = g.conv(y, 2 * c, 2 * c)
    a, b = g.op("Split", [y, g.const(np.array([c, c], np.int64))], axis=1, outs=2)
    b2 = g.conv(b, c, c)
    y = g.conv(g.op("Concat", [a, b, b2], axis=1), 3 * c, 2 * c, k=1)
    p3 = g.conv(y, 2 * c, 2 * c, s=2)          # /8
    p4 = g.conv(p3, 2 * c, 4 * c, s=2)         # /16
    p5 = g.conv(p4, 4 * c, 4 * c, s=2)         # /32
    flat = []
    hws = []
    for feat, ch, stride in [(p3, 2 * c, 8), (p4, 4 * c, 16), (p5, 4 * c, 32)]:
        box = g.conv(g.conv(feat, ch, ch), ch, 4 * reg_max, k=1, act=None, bias_scale=1.0)
        cls = g.conv(g.conv(feat, ch, ch), ch, ncls, k=1, act=None, bias_scale=1.0)
        hw = (size // stride) ** 2
        hws.append((size // stride, stride))
        cat = g.op("Concat", [box, cls], axis=1)
        flat.append(g.op("Reshape", [cat, g.const(np.array([1, 4 * reg_max + ncls, hw], np.int64))]))
    allhw = sum((size // s) ** 2 for s in (8, 16, 32))
    cat = g.op("Concat", flat, axis=2)                                   # [1, 64+C, HW]
    box, cls = g.op("Split", [cat, g.const(np.array([4 * reg_max, ncls], np.int64))], axis=1, outs=2)
    # DFL: [1, 64, HW] -> [1, 4, 16, HW] -> transpose [1, 16, 4, HW] -> softmax over bins -> 1x1 conv.
    d = g.op("Reshape", [box, g.const(np.array([1, 4, reg_max, allhw], np.int64))])
    d = g.op("Transpose", [d], perm=[0, 2, 1, 3])
    d = g.op("Softmax", [d], axis=1)
    wdfl = np.arange(reg_max, dtype=np.float32).reshape(1, reg_max, 1, 1)
    d = g.op("Conv", [d, g.const(wdfl, "dfl")], kernel_shape=[1, 1])
    d = g.op("Reshape", [d, g.const(np.array([1, 4, allhw], np.int64))])  # ltrb distances in cells
    lt, rb = g.op("Slice", [d, g.const(np.array([0], np.int64)), g.const(np.array([2], np.int64)),
                            g.const(np.array([1], np.int64))]), \
        g.op("Slice", [d, g.const(np.array([2], np.int64)), g.const(np.array([4], np.int64)),
                       g.const(np.array([1], np.int64))])
    anchors, strides = [], []
    for n, s in hws:
        yy, xx = np.meshgrid(np.arange(n) + 0.5, np.arange(n) + 0.5, indexing="ij")
        anchors.append(np.stack([xx.ravel(), yy.ravel()]))
        strides.append(np.full(n * n, s, np.float32))
    anchors = np.concatenate(anchors, 1)[None].astype(np.float32)       # [1, 2, HW]
    strides = np.concatenate(strides)[None, None].astype(np.float32)    # [1, 1, HW]
    a = g.const(anchors, "anchors")
    x1y1 = g.op("Sub", [a, lt])
    x2y2 = g.op("Add", [a, rb])
    cxy = g.op("Div", [g.op("Add", [x1y1, x2y2]), g.const(np.array(2.0, np.float32))])
    wh = g.op("Sub", [x2y2, x1y1])
    boxes = g.op("Mul", [g.op("Concat", [cxy, wh], axis=1), g.const(strides, "strides")])
    out = g.op("Concat", [boxes, g.op("Sigmoid", [cls])], axis=1)        # [1, 4+C, HW]
    return g, out, [1, 3, size, size], [1, 4 + ncls, allhw]


def build(fn, path):
    g, out, ishape, oshape = fn()
    graph = helper.make_graph(
        g.nodes, os.path.basename(path).split(".")[0],
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, ishape)],
        [helper.make_tensor_value_info(out, TensorProto.FLOAT, oshape)], g.inits)
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 8
    onnx.checker.check_model(m, full_check=True)
    onnx.save(m, path)
    return ishape


PHOTOS = ["skimage_astronaut", "skimage_chelsea", "skimage_coffee", "skimage_rocket",
          "skimage_hubble_deep_field", "skimage_immunohistochemistry"]


def photos_u8(size):
    """The repository's photos, RGB, resized (bilinear) to size x size: [N, size, size, 3] u8."""
    from PIL import Image
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "images", "photos")
    out = []
    for name in PHOTOS:
        im = Image.open(os.path.join(root, name + ".png")).convert("RGB")
        out.append(np.asarray(im.resize((size, size), Image.BILINEAR), dtype=np.uint8))
    return np.stack(out)


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "."
    os.makedirs(out, exist_ok=True)
    import onnxruntime as ort
    for name, fn in [("yolox_head", yolox), ("yolov8_head", yolov8)]:
        path = os.path.join(out, f"{name}.onnx")
        ishape = build(fn, path)
        u8 = photos_u8(ishape[2])
        np.save(os.path.join(out, f"{name}_photos_u8.npy"), u8)
        x = (u8.astype(np.float32) / 127.5 - 1.0).transpose(0, 3, 1, 2).copy()
        s = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
        ys = np.concatenate([s.run(None, {"images": x[i:i + 1]})[0] for i in range(len(x))])
        np.save(os.path.join(out, f"{name}_float.npy"), ys)
        print(f"{path}: {os.path.getsize(path)} bytes, output {ys.shape}, range [{ys.min():.3g}, {ys.max():.3g}]")


if __name__ == "__main__":
    main()
