#!/usr/bin/env python3
"""Float engine vs onnxruntime on the nine light models (fixtures/models/light) with a random
normal input (seed 7): runs `xtask infer` (the release build `cargo xtask` makes, or pass
its path as the first argument) and prints the SNR of each output against onnxruntime.

Usage: python3 tools/light_models_random.py [path/to/xtask]
"""
import json, subprocess, sys, numpy as np, onnxruntime as ort, tempfile, os
root=os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'fixtures', 'models', 'light')
xtask=sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'target', 'release', 'xtask')
idx=json.load(open(f'{root}/INDEX.json'))
for m in idx['models']:
    name=m['name']; f=f'{root}/{name}.onnx'
    s=ort.InferenceSession(f, providers=['CPUExecutionProvider'])
    inp=s.get_inputs()[0]
    shape=[d if isinstance(d,int) else 1 for d in inp.shape]
    x=np.random.default_rng(7).standard_normal(shape).astype(np.float32)
    want=s.run(None,{inp.name:x})[0]
    d=tempfile.mkdtemp(); np.save(f'{d}/x.npy',x)
    r=subprocess.run([xtask,'infer','--model',f,'--inputs',f'{d}/x.npy','--out',f'{d}/o'],capture_output=True,text=True)
    if r.returncode: print(name,'FAIL',r.stderr.strip()); continue
    outs=[p for p in os.listdir(f'{d}/o')]
    got=np.load(f'{d}/o/{outs[0]}').reshape(want.shape)
    err=((want.astype(np.float64)-got)**2).sum(); sig=(want.astype(np.float64)**2).sum()
    print(f"{name:24s} {10*np.log10(sig/err) if err>0 else float('inf'):.1f} dB  max|d| {np.abs(want-got).max():.3g}")
