"""Turf bank drying book: two targets per cut sod from six bank readings.

  task A: days until the sod can be footed (stood up to dry)
  task B: moisture % when it is stacked

Eight shared experts; each task picks its experts through a DSelect-k gate
(Hazimeh et al. 2021): k=2 selectors, each a 3-bit binary code relaxed with a
cubic smooth-step, mixed by a softmax over the selectors. In the second stage
an entropy term on the selectors is switched on (weight rising 0 -> 0.05) so the
selections become exact 0/1; once a smooth-step input leaves [-g/2, g/2] its
gradient is exactly zero, which is how the choice is frozen in.
"""
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

SEED = 5
N_EXP, K, BITS, GAMMA = 8, 2, 3, 1.0
N_TR, N_VA = 5000, 1200


def bank(n, rng):
    x = rng.uniform(-1, 1, (n, 6)).astype(np.float32)   # wind, sun, depth, slope, fibre, rain-days
    common = 0.8 * np.tanh(2 * x[:, 0]) - 0.5 * x[:, 5] ** 2
    a = common + 1.1 * x[:, 1] * x[:, 2] + 0.6 * np.sin(3 * x[:, 3])
    b = common - 0.9 * np.abs(x[:, 4]) + 0.7 * x[:, 2] * x[:, 5]
    y = np.stack([a, b], 1) + 0.05 * rng.standard_normal((n, 2))
    return x, y.astype(np.float32)


def smooth_step(t):
    inner = -2.0 / GAMMA ** 3 * t ** 3 + 1.5 / GAMMA * t + 0.5
    return mx.where(t <= -GAMMA / 2, 0.0, mx.where(t >= GAMMA / 2, 1.0, inner))


BIT_TABLE = mx.array([[(e >> j) & 1 for j in range(BITS)] for e in range(N_EXP)], dtype=mx.float32)


class DSelectGate(nn.Module):
    def __init__(self):
        super().__init__()
        self.z = mx.random.uniform(-GAMMA / 4, GAMMA / 4, (K, BITS))
        self.w = mx.zeros((K,))

    def selectors(self):
        s = smooth_step(self.z)                                   # (K, BITS)
        per_bit = BIT_TABLE[None] * s[:, None, :] + (1 - BIT_TABLE[None]) * (1 - s[:, None, :])
        return mx.prod(per_bit, axis=-1)                          # (K, N_EXP), rows sum to 1

    def __call__(self):
        r = self.selectors()
        return (mx.softmax(self.w)[:, None] * r).sum(0), r       # (N_EXP,)


class TurfBank(nn.Module):
    def __init__(self):
        super().__init__()
        self.experts = [nn.Sequential(nn.Linear(6, 24), nn.SiLU(), nn.Linear(24, 12)) for _ in range(N_EXP)]
        self.gates = [DSelectGate() for _ in range(2)]
        self.towers = [nn.Sequential(nn.Linear(12, 12), nn.SiLU(), nn.Linear(12, 1)) for _ in range(2)]

    def __call__(self, x):
        e = mx.stack([f(x) for f in self.experts], 1)            # (B, E, 12)
        outs, rs = [], []
        for g, t in zip(self.gates, self.towers):
            mix, r = g()
            outs.append(t((mix[None, :, None] * e).sum(1)))
            rs.append(r)
        return mx.concatenate(outs, 1), rs


def objective(model, x, y, lam):
    p, rs = model(x)
    fit = ((p - y) ** 2).mean(0)                                  # per task
    ent = sum((-(r * mx.log(r + 1e-9)).sum(-1)).sum() for r in rs)
    return fit.sum() + lam * ent, (fit, ent)


def main():
    t0 = time.time()
    rng = np.random.default_rng(SEED)
    mx.random.seed(SEED)
    xtr, ytr = bank(N_TR, rng)
    xva, yva = bank(N_VA, rng)
    mu, sd = ytr.mean(0), ytr.std(0)
    ytr, yva = (ytr - mu) / sd, (yva - mu) / sd
    Xtr, Ytr, Xva, Yva = map(mx.array, (xtr, ytr, xva, yva))

    mean_guess = ((yva - ytr.mean(0)) ** 2).mean(0)
    A = np.c_[xtr, np.ones(N_TR)]
    coef, *_ = np.linalg.lstsq(A, ytr, rcond=None)
    lin = ((np.c_[xva, np.ones(N_VA)] @ coef - yva) ** 2).mean(0)

    model = TurfBank()
    mx.eval(model.parameters())
    opt = optim.Adamax(learning_rate=optim.step_decay(8e-3, 0.5, 700))
    print("---")
    print("book: turf bank drying")
    print(f"sods: {{train: {N_TR}, val: {N_VA}}}")
    print(f"experts: {N_EXP}, selectors_per_task: {K}, smooth_step_gamma: {GAMMA}")
    print(f"yardstick_mean_guess: {{A: {mean_guess[0]:.4f}, B: {mean_guess[1]:.4f}}}")
    print(f"yardstick_linear:     {{A: {lin[0]:.4f}, B: {lin[1]:.4f}}}")

    def loss_fn(m, x, y, lam):
        return objective(m, x, y, lam)

    lvg = nn.value_and_grad(model, loss_fn)
    (_, _), g = lvg(model, Xtr[:256], Ytr[:256], 0.0)
    leaves = tree_flatten(g)
    print(f"grad_leaves: {len(leaves)}  # nonzero at step 0: "
          f"{sum(float(mx.abs(v).max()) > 0 for _, v in leaves)}")

    stage1, stage2, bs = 800, 1200, 256
    total = stage1 + stage2
    for step in range(1, total + 1):
        lam = 0.0 if step <= stage1 else 0.05 * min(1.0, (step - stage1) / 400)
        idx = mx.array(rng.integers(0, N_TR, bs))
        (obj, (fit, ent)), grads = lvg(model, Xtr[idx], Ytr[idx], lam)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, obj)
        if step in (1, stage1, stage1 + 100, stage1 + 400) or step % 400 == 0:
            (_, (vfit, vent)) = objective(model, Xva, Yva, lam)
            rs = [g.selectors() for g in model.gates]
            picks = [sorted({int(i) for i in np.argmax(np.array(r), 1)}) for r in rs]
            z = np.concatenate([np.array(g.z).ravel() for g in model.gates])
            exact = 100.0 * np.mean(np.abs(z) >= GAMMA / 2)
            print("---")
            print(f"step: {step}")
            print(f"stage: {1 if step <= stage1 else 2}")
            print(f"entropy_weight: {lam:.4f}")
            print(f"lr: {float(opt.learning_rate):.2e}")
            print(f"batch_objective: {float(obj):.4f}")
            print(f"selector_entropy_nats: {float(vent):.3f}")
            print(f"val_mse: {{A: {float(vfit[0]):.4f}, B: {float(vfit[1]):.4f}}}")
            print(f"experts_in_use: {{A: {picks[0]}, B: {picks[1]}}}")
            print(f"selector_bits_settled_pct: {exact:.1f}")
    print("---")
    (_, (vfit, _)) = objective(model, Xva, Yva, 0.0)
    print(f"final_val_mse: {{A: {float(vfit[0]):.4f}, B: {float(vfit[1]):.4f}}}")
    print(f"seconds: {time.time() - t0:.1f}")
    print("...")


if __name__ == "__main__":
    main()
