"""Equation-learner (EQL) network recovering a closed-form law from noisy samples.

Three phases: fit (no penalty), sparsify (L1 penalty on all weights), winnow
(small weights pinned at zero by constant masks, short fine-tune). The model is
saved after the sparsify phase and a fresh instance is restored from disk
before the winnow phase.
"""
import math
import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

SEED = 7
NOISE = 0.02
mx.random.seed(SEED)
rng = np.random.default_rng(SEED)


def target_law(x):
    return np.sin(np.pi * x[:, 0]) + 0.8 * x[:, 1] * x[:, 2] + 0.3


def make_split(n, lo, hi):
    x = rng.uniform(lo, hi, size=(n, 3)).astype(np.float32)
    y = target_law(x) + NOISE * rng.standard_normal(n)
    return mx.array(x), mx.array(y.astype(np.float32))[:, None]


Xtr, Ytr = make_split(1024, -1.0, 1.0)
Xva, Yva = make_split(512, -1.0, 1.0)
Xex, Yex = make_split(512, -1.4, 1.4)   # mild extrapolation band


class EQL(nn.Module):
    """One EQL layer (identity / sin / cos / product units) and a linear read-out."""

    def __init__(self, d_in=3, n_each=4):
        super().__init__()
        self.n = n_each
        width = 3 * n_each + 2 * n_each
        self.lin_in = nn.Linear(d_in, width)
        self.lin_out = nn.Linear(4 * n_each, 1)
        self._m_in = mx.ones(self.lin_in.weight.shape)
        self._m_out = mx.ones(self.lin_out.weight.shape)

    def units(self, x):
        z = x @ (self.lin_in.weight * self._m_in).T + self.lin_in.bias
        n = self.n
        ident = z[:, :n]
        sn = mx.sin(z[:, n:2 * n])
        cs = mx.cos(z[:, 2 * n:3 * n])
        a, b = z[:, 3 * n:4 * n], z[:, 4 * n:5 * n]
        return mx.concatenate([ident, sn, cs, a * b], axis=1)

    def __call__(self, x):
        h = self.units(x)
        return h @ (self.lin_out.weight * self._m_out).T + self.lin_out.bias

    def weight_l1(self):
        return (mx.abs(self.lin_in.weight * self._m_in).sum()
                + mx.abs(self.lin_out.weight * self._m_out).sum())

    def active(self):
        return int((self._m_in.sum() + self._m_out.sum()).item())


def mse(model, x, y):
    return mx.mean(mx.square(model(x) - y))


def run_phase(model, name, steps, opt, lam, log_every, batch=256):
    def objective(m, x, y):
        fit = mse(m, x, y)
        return fit + lam * m.weight_l1(), fit

    vg = nn.value_and_grad(model, objective)
    n = Xtr.shape[0]
    for step in range(1, steps + 1):
        idx = mx.array(rng.integers(0, n, size=batch))
        (obj, fit), grads = vg(model, Xtr[idx], Ytr[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state)
        if step % log_every == 0 or step == 1:
            lr = opt.learning_rate.item()
            print(f"[{name:8s}] step {step:5d}  objective {obj.item():.5f}  "
                  f"batch_mse {fit.item():.5f}  val_mse {mse(model, Xva, Yva).item():.5f}  "
                  f"lr {lr:.2e}")


def lstsq_baseline():
    xs = np.array(Xtr)
    A = np.concatenate([xs, np.ones((xs.shape[0], 1), np.float32)], 1)
    w, *_ = np.linalg.lstsq(A, np.array(Ytr), rcond=None)
    xv = np.array(Xva)
    Av = np.concatenate([xv, np.ones((xv.shape[0], 1), np.float32)], 1)
    return float(np.mean((Av @ w - np.array(Yva)) ** 2))


def describe(model):
    n = model.n
    W = np.array(model.lin_in.weight * model._m_in)
    b = np.array(model.lin_in.bias)
    V = np.array(model.lin_out.weight * model._m_out)[0]
    c = float(np.array(model.lin_out.bias)[0])
    names = ["x0", "x1", "x2"]

    def affine(row):
        terms = [f"{W[row, j]:+.3f}*{names[j]}" for j in range(3) if abs(W[row, j]) > 1e-6]
        if abs(b[row]) > 1e-3:
            terms.append(f"{b[row]:+.3f}")
        return " ".join(terms) if terms else "0"

    parts = []
    for k in range(4 * n):
        if abs(V[k]) < 1e-6:
            continue
        if k < n:
            parts.append(f"{V[k]:+.3f}*({affine(k)})")
        elif k < 2 * n:
            parts.append(f"{V[k]:+.3f}*sin({affine(k)})")
        elif k < 3 * n:
            parts.append(f"{V[k]:+.3f}*cos({affine(k)})")
        else:
            j = k - 3 * n
            parts.append(f"{V[k]:+.3f}*({affine(3 * n + j)})*({affine(4 * n + j)})")
    return f"{c:+.3f} " + " ".join(parts)


def main():
    t0 = time.time()
    model = EQL()
    mx.eval(model.parameters())
    n_w = model.active()
    print(f"EQL: {n_w} maskable weights, "
          f"{sum(v.size for _, v in tree_flatten(model.trainable_parameters()))} trainable values")
    print(f"reference: noise floor mse {NOISE ** 2:.5f}, linear least-squares val mse {lstsq_baseline():.5f}")

    warm = optim.linear_schedule(0.0, 5e-3, 150)
    sched = optim.join_schedules([warm, optim.cosine_decay(5e-3, 1350, 1e-3)], [150])
    opt = optim.Adam(learning_rate=sched)
    run_phase(model, "fit", 1500, opt, lam=0.0, log_every=300)

    run_phase(model, "sparsify", 1500, opt, lam=2e-3, log_every=500)

    ckpt = os.path.join(tempfile.mkdtemp(prefix="eql_"), "eql_phase2.safetensors")
    model.save_weights(ckpt)
    before = model(Xva)
    restored = EQL()
    restored.load_weights(ckpt)
    mx.eval(restored.parameters())
    drift = mx.max(mx.abs(restored(Xva) - before)).item()
    print(f"checkpoint {os.path.basename(ckpt)} restored into a fresh model, max |pred drift| {drift:.2e}")
    model = restored

    thr = 0.05
    m_in = (mx.abs(model.lin_in.weight) >= thr).astype(mx.float32)
    m_out = (mx.abs(model.lin_out.weight) >= thr).astype(mx.float32)
    model._m_in, model._m_out = m_in, m_out
    model.lin_in.weight = model.lin_in.weight * m_in
    model.lin_out.weight = model.lin_out.weight * m_out
    mx.eval(model.parameters(), model._m_in, model._m_out)
    print(f"winnow: |w| < {thr} pinned at zero, active weights {n_w} -> {model.active()}, "
          f"val_mse right after pruning {mse(model, Xva, Yva).item():.5f}")

    opt2 = optim.Adam(learning_rate=1e-3)
    run_phase(model, "winnow", 900, opt2, lam=0.0, log_every=300)

    va = mse(model, Xva, Yva).item()
    ex = mse(model, Xex, Yex).item()
    print(f"final: val_mse {va:.5f} (noise floor {NOISE ** 2:.5f}), "
          f"extrapolation mse on [-1.4,1.4] {ex:.5f}, active weights {model.active()}")
    print("recovered: y =", describe(model))
    print("true:      y = +0.300 + sin(3.142*x0) + 0.800*x1*x2")
    print(f"done in {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
