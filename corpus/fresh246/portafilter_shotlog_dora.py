# Espresso bar extraction-yield model with per-bean DoRA adapters.
#
# A house-blend model (grind, dose, water temp, pressure, shot time, roast)
# is trained once and frozen. Each new bean gets its own weight-decomposed
# low-rank adapter (DoRA: a per-output magnitude vector m and a low-rank
# direction update B@A). The adapters are kept as parameter trees and
# swapped in and out of the same frozen network with model.update(); at the
# end each adapter is folded into plain Linear layers for the till tablet.
#
# Output follows TAP (Test Anything Protocol) with YAML-ish comment lines.

import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten, tree_map

rng = np.random.default_rng(11)
mx.random.seed(11)
N_IN = 6
NOISE = 0.3  # refractometer reading noise, % TDS-yield points (standardised units)

W_true1 = rng.normal(size=(N_IN, 24)) / math.sqrt(N_IN)
w_true2 = rng.normal(size=(24,)) / math.sqrt(24)


def house_law(x, shift=None):
    w1 = W_true1 if shift is None else W_true1 + shift
    return np.tanh(x @ w1) @ w_true2 * 3.0 + 0.4 * x[:, 3] - 0.25 * x[:, 4] ** 2


def low_rank_shift(seed, scale):
    r = np.random.default_rng(seed)
    u = r.normal(size=(N_IN, 2))
    v = r.normal(size=(2, 24))
    return scale * (u @ v) / math.sqrt(2 * N_IN)


BEANS = {
    "house": None,
    "kenya_light": low_rank_shift(101, 1.1),
    "swiss_water_decaf": low_rank_shift(202, 1.1),
}


def make(n, bean):
    x = rng.normal(size=(n, N_IN)).astype(np.float32)
    y = house_law(x, BEANS[bean]) + NOISE * rng.normal(size=n)
    return mx.array(x), mx.array(y.astype(np.float32)[:, None])


data = {b: (make(3000 if b == "house" else 700, b), make(600, b)) for b in BEANS}


class ShotNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.layers = [nn.Linear(N_IN, 48), nn.Linear(48, 48), nn.Linear(48, 1)]

    def __call__(self, x):
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i < len(self.layers) - 1:
                x = nn.gelu(x)
        return x


class DoRALinear(nn.Module):
    """y = m * (W0 + s B A) / ||W0 + s B A||_row  x + b ; norm held constant in backward."""

    def __init__(self, base: nn.Linear, rank: int, alpha: float):
        super().__init__()
        out_dims, in_dims = base.weight.shape
        self.base = base
        self.scale = alpha / rank
        bound = 1.0 / math.sqrt(in_dims)
        self.lora_a = mx.random.uniform(-bound, bound, (rank, in_dims))
        self.lora_b = mx.zeros((out_dims, rank))
        self.m = mx.linalg.norm(base.weight, axis=1)

    def merged_direction(self):
        return self.base.weight + self.scale * (self.lora_b @ self.lora_a)

    def __call__(self, x):
        v = self.merged_direction()
        norm = mx.stop_gradient(mx.linalg.norm(v, axis=1))
        w = (self.m / norm)[:, None] * v
        y = x @ w.T
        if "bias" in self.base:
            y = y + self.base.bias
        return y

    def fused(self):
        v = self.merged_direction()
        w = (self.m / mx.linalg.norm(v, axis=1))[:, None] * v
        out_dims, in_dims = w.shape
        lin = nn.Linear(in_dims, out_dims, bias="bias" in self.base)
        lin.weight = w
        if "bias" in self.base:
            lin.bias = self.base.bias
        return lin


def mse(model, x, y):
    return nn.losses.mse_loss(model(x), y)


tap_n = 0


def tap(ok, desc):
    global tap_n
    tap_n += 1
    print(f"{'ok' if ok else 'not ok'} {tap_n} - {desc}")


def diag(**kv):
    print("  # " + " ".join(f"{k}: {v:.4f}" if isinstance(v, float) else f"{k}: {v}" for k, v in kv.items()))


t0 = time.time()
print("TAP version 14")
diag(noise_floor_mse=NOISE ** 2)
for bean in BEANS:
    diag(baseline="predict_mean", bean=bean, mse=mx.var(data[bean][1][1]).item())

# ---- 1. house model, trained once --------------------------------------
net = ShotNet()
mx.eval(net.parameters())
opt = optim.AdamW(learning_rate=2e-3, weight_decay=1e-4)
lg = nn.value_and_grad(net, mse)
(xtr, ytr), (xte, yte) = data["house"]
for step in range(1, 1201):
    idx = mx.array(rng.integers(0, xtr.shape[0], 128))
    loss, g = lg(net, xtr[idx], ytr[idx])
    opt.update(net, g)
    mx.eval(net.parameters(), opt.state)
    if step in (1, 2, 3) or step % 300 == 0:
        tap(True, f"house step={step} batch_mse={loss.item():.4f} test_mse={mse(net, xte, yte).item():.4f}")
house_scores = {b: mse(net, *data[b][1]).item() for b in BEANS}
diag(model="house_only", **{f"mse_{b}": v for b, v in house_scores.items()})

# ---- 2. wrap with DoRA, freeze the base ---------------------------------
net.freeze()
frozen_snapshot = {k: mx.array(v) for k, v in tree_flatten(net.parameters())}
for i, layer in enumerate(net.layers):
    net.layers[i] = DoRALinear(layer, rank=4, alpha=8.0)
for lyr in net.layers:
    lyr.base.freeze()
mx.eval(net.parameters())
n_train = sum(v.size for _, v in tree_flatten(net.trainable_parameters()))
n_all = sum(v.size for _, v in tree_flatten(net.parameters()))
diag(trainable=n_train, total=n_all)
fresh_adapter = {k: mx.array(v) for k, v in tree_flatten(net.trainable_parameters())}

bank = {}
for bean in ("kenya_light", "swiss_water_decaf"):
    net.update(tree_unflatten([(k, mx.array(v)) for k, v in fresh_adapter.items()]))
    (xtr, ytr), (xte, yte) = data[bean]
    start = mse(net, xte, yte).item()
    tap(abs(start - house_scores[bean]) < 1e-4, f"{bean} fresh adapter reproduces house model test_mse={start:.4f}")
    opt = optim.Adam(learning_rate=optim.step_decay(1e-2, 0.5, 200))
    lg = nn.value_and_grad(net, mse)
    for step in range(1, 801):
        idx = mx.array(rng.integers(0, xtr.shape[0], 64))
        loss, g = lg(net, xtr[idx], ytr[idx])
        if step == 1:
            gn = {k: mx.sqrt(mx.sum(v * v)).item() for k, v in tree_flatten(g)}
            zero_leaves = [k for k, v in gn.items() if v == 0.0]
            diag(step=1, grad_leaves=len(gn), zero_grad_leaves=len(zero_leaves))
        opt.update(net, g)
        mx.eval(net.parameters(), opt.state)
        if step in (1, 2, 3) or step % 200 == 0:
            tap(True, f"{bean} step={step} lr={opt.learning_rate.item():.5f} batch_mse={loss.item():.4f} "
                      f"test_mse={mse(net, xte, yte).item():.4f}")
    bank[bean] = {k: mx.array(v) for k, v in tree_flatten(net.trainable_parameters())}
    m_shift = max(mx.max(mx.abs(bank[bean][k] - fresh_adapter[k])).item()
                  for k in bank[bean] if k.endswith(".m"))
    diag(bean=bean, max_magnitude_change=m_shift)

# ---- 3. swap adapters in and out: cross table ---------------------------
print("  # cross-table rows=adapter cols=bean (test MSE)")
for name in ("none", "kenya_light", "swiss_water_decaf"):
    tree = fresh_adapter if name == "none" else bank[name]
    net.update(tree_unflatten([(k, mx.array(v)) for k, v in tree.items()]))
    row = {b: mse(net, *data[b][1]).item() for b in BEANS}
    diag(adapter=name, **{f"mse_{b}": v for b, v in row.items()})

# ---- 4. fold each adapter into dense layers ------------------------------
for name in ("kenya_light", "swiss_water_decaf"):
    net.update(tree_unflatten([(k, mx.array(v)) for k, v in bank[name].items()]))
    plain = ShotNet()
    for i, lyr in enumerate(net.layers):
        plain.layers[i] = lyr.fused()
    mx.eval(plain.parameters())
    xte = data[name][1][0]
    diff = mx.max(mx.abs(plain(xte) - net(xte))).item()
    tap(diff < 1e-4, f"{name} fused max_abs_diff={diff:.2e}")

base_now = {k.replace(".base", ""): v for k, v in tree_flatten(net.parameters()) if ".base." in k}
drift = max(mx.max(mx.abs(base_now[k] - frozen_snapshot[k])).item() for k in frozen_snapshot)
tap(drift == 0.0, f"frozen house weights unchanged drift={drift}")
print(f"1..{tap_n}")
diag(seconds=time.time() - t0)
