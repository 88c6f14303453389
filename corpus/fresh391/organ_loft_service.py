# Pipe-organ service visits: six fault tags per visit (multi-label), some of them
# very rare. Class-balanced focal loss (effective-number weights), Adagrad,
# and a mid-run save / reload into fresh objects before the second leg.
import os
import tempfile
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

TAGS = ["tuning_drift", "wind_leak", "dead_note", "cipher", "tremulant_stuck", "blower_noise"]
OFFSETS = [-1.6, -2.6, -3.4, -4.4, -5.4, -6.0]
F, T = 12, len(TAGS)
rng = np.random.default_rng(21)
mx.random.seed(21)
Wtrue = rng.normal(0, 1.0, (F, T)) * (rng.random((F, T)) < 0.5)


def make(n):
    x = rng.normal(0, 1, (n, F)).astype(np.float32)
    z = x @ Wtrue + 0.8 * np.tanh(x[:, :1] * x[:, 1:2]) + np.array(OFFSETS)
    y = (rng.random((n, T)) < 1 / (1 + np.exp(-z))).astype(np.float32)
    return x, y


xtr, ytr = make(24000)
xva, yva = make(8000)
Xtr, Ytr, Xva = mx.array(xtr), mx.array(ytr), mx.array(xva)
counts = ytr.sum(0)
BETA, GAMMA = 0.999, 2.0
eff = (1 - BETA ** counts) / (1 - BETA)
cw = 1 / eff
cw = cw / cw.sum() * T
CW = mx.array(cw.astype(np.float32))


def ap(s, y):
    o = np.argsort(-s)
    y = y[o]
    tp = np.cumsum(y)
    return float((tp / np.arange(1, len(y) + 1) * y).sum() / max(y.sum(), 1))


class Loft(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(F, 64), nn.GELU(), nn.Linear(64, 64), nn.GELU())
        self.tags = nn.Linear(64, T)

    def __call__(self, x):
        return self.tags(self.body(x))


def focal(model, x, y):
    z = model(x)
    p = mx.sigmoid(z)
    pt = y * p + (1 - y) * (1 - p)
    ce = nn.losses.binary_cross_entropy(z, y, reduction="none")
    return mx.mean(CW * (1 - pt) ** GAMMA * ce)


def build():
    m = Loft()
    mx.eval(m.parameters())
    return m, optim.Adagrad(learning_rate=0.05)


def toml_epoch(ep, step, tr, model):
    s = np.array(model(Xva))
    aps = [ap(s[:, k], yva[:, k]) for k in range(T)]
    vl = float(focal(model, Xva, mx.array(yva)))
    print("[[epoch]]")
    print(f"epoch = {ep}\nstep = {step}\ntrain_focal = {tr:.3e}\nval_focal = {vl:.3e}")
    print("val_ap = [" + ", ".join(f"{a:.3f}" for a in aps) + "]")
    print(f"macro_ap = {np.mean(aps):.3f}\n")


model, opt = build()
vg = nn.value_and_grad(model, focal)
print(f'tags = [{", ".join(repr(t) for t in TAGS)}]')
print("train_prevalence = [" + ", ".join(f"{c / len(ytr):.4f}" for c in counts) + "]")
print("chance_ap = [" + ", ".join(f"{v:.4f}" for v in yva.mean(0)) + "]")
print("class_weight = [" + ", ".join(f"{v:.3f}" for v in cw) + "]")
_, g = vg(model, Xtr[:256], Ytr[:256])
print(f"grad_leaves = {len(tree_flatten(g))}\n")

B, EPOCHS, HALF = 200, 12, 6
step = 0
t0 = time.time()
with tempfile.TemporaryDirectory() as tmp:
    for ep in range(1, EPOCHS + 1):
        if ep == HALF + 1:
            wpath = os.path.join(tmp, "loft.safetensors")
            opath = os.path.join(tmp, "loft_opt.safetensors")
            model.save_weights(wpath)
            mx.save_safetensors(opath, dict(tree_flatten(opt.state)))
            before = float(focal(model, Xva, mx.array(yva)))
            model, opt = build()
            model.load_weights(wpath)
            opt.state = tree_unflatten(list(mx.load(opath).items()))
            vg = nn.value_and_grad(model, focal)
            after = float(focal(model, Xva, mx.array(yva)))
            print("[resume]")
            print(f"after_epoch = {HALF}\nval_focal_before = {before:.6e}\nval_focal_after = {after:.6e}")
            print(f"opt_step = {int(opt.state['step'])}\n")
        perm = rng.permutation(len(ytr))
        tot, n = 0.0, 0
        for i in range(0, len(perm), B):
            idx = mx.array(perm[i:i + B])
            loss, g = vg(model, Xtr[idx], Ytr[idx])
            opt.update(model, g)
            mx.eval(loss, model.parameters(), opt.state)
            tot += float(loss); n += 1; step += 1
        if ep in (1, 2, 4, 6, 7, 9, 12):
            toml_epoch(ep, step, tot / n, model)
print(f"[done]\nsteps = {step}\nseconds = {time.time() - t0:.1f}")
