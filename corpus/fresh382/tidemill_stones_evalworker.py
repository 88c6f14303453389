"""Tide mill: regress flour throughput (kg/h) from six readings of a tide
(head, wheel rpm, stone dressing age, grain moisture, gate opening, millpond
level). Validation runs in a separate worker process on saved checkpoints;
training stops after stage 1, reloads the checkpoint and carries on."""
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

rng = np.random.default_rng(4)
D = 6


def make(n):
    x = rng.uniform(-1, 1, size=(n, D)).astype(np.float32)
    head, rpm, dress, moist, gate, pond = x.T
    y = (2.0 * np.tanh(1.5 * head + 0.5 * gate) + 0.8 * rpm - 0.6 * dress ** 2
         - 0.5 * moist * rpm + 0.3 * np.sin(3 * pond) + 0.2 * rng.normal(size=n))
    return x, y.astype(np.float32)[:, None]


xtr, ytr = make(5000)
xva, yva = make(1000)
mu, sd = ytr.mean(), ytr.std()
ytr, yva = (ytr - mu) / sd, (yva - mu) / sd
work = tempfile.mkdtemp()
np.savez(os.path.join(work, "val.npz"), x=xva, y=yva)

WORKER = r"""
import json, sys
import numpy as np
import mlx.core as mx
w = mx.load(sys.argv[1]); d = np.load(sys.argv[2])
h = mx.array(d["x"])
for i in range(3):
    h = h @ w[f"layers.{2*i}.weight"].T + w[f"layers.{2*i}.bias"]
    if i < 2:
        h = mx.maximum(h, 0.0)
mse = float(((np.array(h) - d["y"]) ** 2).mean())
print(json.dumps({"mse": mse, "r2": 1.0 - mse / float(d["y"].var())}))
"""


def make_model():
    return nn.Sequential(nn.Linear(D, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 1))


def loss_fn(m, x, y):
    return nn.losses.mse_loss(m(x), y)


pending = []


def launch_eval(model, tag):
    path = os.path.join(work, f"w_{tag}.safetensors")
    mx.save_safetensors(path, dict(tree_flatten(model.parameters())))
    p = subprocess.Popen([sys.executable, "-c", WORKER, path, os.path.join(work, "val.npz")],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    pending.append((tag, p))


def collect(block=False):
    for tag, p in list(pending):
        if block or p.poll() is not None:
            out, err = p.communicate()
            if p.returncode != 0:
                raise RuntimeError(err)
            r = json.loads(out)
            print(f"  [worker] {tag}: val mse {r['mse']:.4f}  r2 {r['r2']:.3f}  (predict-mean mse 1.000)")
            pending.remove((tag, p))


def train(model, opt, steps, start, bs=100, seed=0):
    r = np.random.default_rng(seed)
    vg = nn.value_and_grad(model, loss_fn)
    acc = []
    for s in range(start + 1, start + steps + 1):
        idx = r.integers(0, len(xtr), bs)
        loss, g = vg(model, mx.array(xtr[idx]), mx.array(ytr[idx]))
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state)
        acc.append(loss.item())
        if s % 50 == 0:
            print(f"step {s:4d}  lr {opt.learning_rate.item():.4f}  train mse {np.mean(acc):.4f}")
            acc = []
            collect()
        if s % 150 == 0:
            launch_eval(model, f"step{s}")


t0 = time.time()
mx.random.seed(3)
model = make_model()
opt = optim.SGD(learning_rate=optim.cosine_decay(0.05, 450, 0.002), momentum=0.9)
print("stage 1: 450 steps")
train(model, opt, 450, 0, seed=1)
ckpt = os.path.join(work, "ckpt")
mx.save_safetensors(ckpt + "_model.safetensors", dict(tree_flatten(model.parameters())))
mx.save_safetensors(ckpt + "_opt.safetensors", dict(tree_flatten(opt.state)))
collect(block=True)
del model, opt

print("stage 2: reload checkpoint, restart cosine at a lower peak, 450 more steps")
model = make_model()
model.update(tree_unflatten(list(mx.load(ckpt + "_model.safetensors").items())))
opt = optim.SGD(learning_rate=optim.cosine_decay(0.02, 450, 0.0005), momentum=0.9)
opt.init(model.trainable_parameters())
saved = tree_unflatten(list(mx.load(ckpt + "_opt.safetensors").items()))
saved["step"] = mx.array(0, dtype=mx.uint64)
opt.state = saved
train(model, opt, 450, 450, seed=2)
launch_eval(model, "final")
collect(block=True)
print(f"done in {time.time() - t0:.1f}s, checkpoints in {work}")
