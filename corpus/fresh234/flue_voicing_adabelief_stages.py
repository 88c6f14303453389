"""Organ building: which voicing adjustment does a flue pipe need?

4 classes (leave / raise cut-up / nick languid / open toe) from 7 workshop
measurements.  Labels are drawn from a softmax over a made-up rule, so even a
perfect model cannot pass ~68% accuracy.

Optimizer: AdaBelief written by hand as an mlx.optimizers.Optimizer subclass
with a per-parameter step counter in its state tree (so parameters that join
late get their own bias correction).

Two stages:
  A) trunk frozen on purpose, only the head learns (accuracy plateaus low);
  B) trunk unfrozen, optimizer state extended with opt.init(), learning-rate
     warm-up restarted from exactly 0, then cosine decay.
"""

import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten


class AdaBelief(optim.Optimizer):
    def __init__(self, learning_rate, betas=(0.9, 0.999), eps=1e-12, weight_decay=0.0):
        super().__init__()
        self._maybe_schedule("learning_rate", learning_rate)
        self.betas = betas
        self.eps = eps
        self.weight_decay = weight_decay

    def init_single(self, parameter, state):
        state["m"] = mx.zeros_like(parameter)
        state["s"] = mx.zeros_like(parameter)
        state["t"] = mx.array(0.0)

    def apply_single(self, gradient, parameter, state):
        b1, b2 = self.betas
        lr = self.learning_rate.astype(gradient.dtype)
        t = state["t"] + 1.0
        m = b1 * state["m"] + (1 - b1) * gradient
        s = b2 * state["s"] + (1 - b2) * mx.square(gradient - m) + self.eps
        m_hat = m / (1 - b1**t)
        s_hat = s / (1 - b2**t)
        state["m"] = m
        state["s"] = s
        state["t"] = t
        new = parameter - lr * m_hat / (mx.sqrt(s_hat) + 1e-8)
        if self.weight_decay:
            new = new - lr * self.weight_decay * parameter
        return new


def make_pipes(n, rng):
    length = rng.uniform(0.15, 4.9, n)          # speaking length m
    cutup = rng.uniform(0.18, 0.34, n)          # cut-up / mouth width
    languid = rng.normal(0.0, 0.35, n)          # languid height offset mm
    flue = rng.uniform(0.25, 1.1, n)            # flue width mm
    wind = rng.uniform(55, 110, n)              # wind pressure mm H2O
    scale = rng.uniform(-4, 6, n)               # halving-ratio scale offset
    overblow = rng.uniform(0.0, 1.0, n)         # measured overblow tendency
    z_leave = 1.2 - 4.0 * np.abs(overblow - 0.35) - 1.5 * np.abs(languid)
    z_cut = 6.0 * (overblow - 0.55) + 0.03 * (wind - 80) - 12 * (cutup - 0.26)
    z_nick = 3.0 * np.abs(languid) - 0.8 + 0.15 * scale * (languid > 0)
    z_toe = 5.0 * (0.3 - overblow) + 1.5 * (0.55 - flue) - 0.02 * (wind - 80)
    logits = np.stack([z_leave, z_cut, z_nick, z_toe], 1) * 1.4
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    u = rng.uniform(size=(n, 1))
    labels = (u > np.cumsum(p, 1)).sum(1)
    X = np.stack([np.log(length), cutup, languid, flue, wind, scale, overblow], 1)
    return X.astype(np.float32), labels.astype(np.int32), p


class Trunk(nn.Module):
    def __init__(self, d_in, width):
        super().__init__()
        self.a = nn.Linear(d_in, width)
        self.b = nn.Linear(width, width)

    def __call__(self, x):
        h = nn.gelu(self.a(x))
        return nn.gelu(self.b(h)) + h


class VoicingNet(nn.Module):
    def __init__(self, d_in=7, width=64, n_cls=4):
        super().__init__()
        self.trunk = Trunk(d_in, width)
        self.head = nn.Linear(width, n_cls)

    def __call__(self, x):
        return self.head(self.trunk(x))


def loss_fn(model, xb, yb):
    return nn.losses.cross_entropy(model(xb), yb, reduction="mean")


def accuracy(model, X, y):
    return 100.0 * float(mx.mean(mx.argmax(model(X), axis=1) == y))


def stage_lr(local_step, warm, total, peak, floor):
    if local_step < warm:
        return peak * local_step / warm
    frac = (local_step - warm) / max(1, total - warm)
    return floor + 0.5 * (peak - floor) * (1 + math.cos(math.pi * frac))


def run_stage(tag, model, opt, data, rng, steps, warm, peak, floor, every):
    Xtr, ytr, Xva, yva = data
    vg = nn.value_and_grad(model, loss_fn)
    n = Xtr.shape[0]
    run = []
    for k in range(steps):
        opt.learning_rate = stage_lr(k, warm, steps, peak, floor)
        idx = mx.array(rng.integers(0, n, 96))
        loss, grads = vg(model, Xtr[idx], ytr[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        run.append(float(loss))
        if k == 0 or (k + 1) % every == 0:
            val_ce = float(loss_fn(model, Xva, yva))
            print(f"ledger/{tag}/{k + 1:04d}/lr={float(opt.learning_rate):.2e}"
                  f"/ce={np.mean(run):.4f}/val_ce={val_ce:.4f}"
                  f"/val_acc={accuracy(model, Xva, yva):.1f}%", flush=True)
            run = []


def count_leaves(tree):
    return len([v for _, v in tree_flatten(tree) if isinstance(v, mx.array)])


def main():
    t0 = time.time()
    rng = np.random.default_rng(11)
    mx.random.seed(11)
    X, y, p = make_pipes(24000, rng)
    Xtr_np, ytr_np = X[:20000], y[:20000]
    Xva_np, yva_np, pva = X[20000:], y[20000:], p[20000:]
    mu, sd = Xtr_np.mean(0), Xtr_np.std(0)
    Xtr, Xva = mx.array((Xtr_np - mu) / sd), mx.array((Xva_np - mu) / sd)
    ytr, yva = mx.array(ytr_np), mx.array(yva_np)
    majority = 100.0 * np.bincount(yva_np).max() / len(yva_np)
    bayes = 100.0 * float(np.mean(pva.argmax(1) == yva_np))
    print(f"workshop: 20000/4000 pipes, class shares {np.bincount(ytr_np) / len(ytr_np)},"
          f" majority {majority:.1f}%, rule ceiling {bayes:.1f}%")

    model = VoicingNet()
    opt = AdaBelief(learning_rate=0.0, weight_decay=1e-4)
    data = (Xtr, ytr, Xva, yva)

    model.trunk.freeze()
    print(f"stage A: trunk frozen, trainable leaves {count_leaves(model.trainable_parameters())}"
          f" of {count_leaves(model.parameters())}")
    trunk_before = [mx.array(v) for _, v in tree_flatten(model.trunk.parameters())]
    run_stage("A", model, opt, data, rng, steps=600, warm=50, peak=3e-3, floor=3e-3, every=150)
    moved = max(float(mx.max(mx.abs(a - b))) for a, b in
                zip(trunk_before, [v for _, v in tree_flatten(model.trunk.parameters())]))
    print(f"stage A end: trunk drift {moved:.1e}, head steps {int(opt.state['head']['weight']['t'])}")

    model.trunk.unfreeze()
    opt.init(model.trainable_parameters())
    print(f"stage B: trunk unfrozen, trainable leaves {count_leaves(model.trainable_parameters())},"
          f" optimizer state leaves {count_leaves(opt.state)}")
    run_stage("B", model, opt, data, rng, steps=1500, warm=100, peak=2e-3, floor=5e-5, every=300)

    print(f"done in {time.time() - t0:.1f}s: val_acc {accuracy(model, Xva, yva):.1f}%"
          f" (majority {majority:.1f}%, rule ceiling {bayes:.1f}%),"
          f" trunk steps {int(opt.state['trunk']['a']['weight']['t'])},"
          f" head steps {int(opt.state['head']['weight']['t'])}")


if __name__ == "__main__":
    main()
