"""Tuning-fork workshop: predict the detuning of a forged fork's first three bending
modes from its measurements.

Targets are the detuning (cents) of the fundamental, the clang tone and the third
mode from their design values (a made-up smooth law of the measurements + forging noise).  Training runs SGDR
(cosine warm restarts) and is split in two sessions: session 1 runs the first two
cycles and writes a checkpoint (weights + optimizer moments + step) into a temp dir;
session 2 builds everything from scratch, reloads that checkpoint and carries on
with the remaining cycles.  The loss jumps up at every restart by design.
"""
import math
import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten


class Cfg:
    n_train = 6000
    n_val = 1000
    batch = 128
    lr_max = 3e-3
    lr_min = 5e-5
    cycles = [500, 1000, 2000]      # SGDR cycle lengths in steps
    report_every = 125
    seed = 11


def make_forks(n, rng):
    # tine length, tine width, stem radius, crotch depth, alloy share
    x = rng.uniform(-1.0, 1.0, size=(n, 5)).astype(np.float32)
    w, l, s, c, t = x.T
    fund = -1200 + 90 * w - 40 * l ** 2 + 25 * s * c
    clang = -900 + 60 * np.sin(2.0 * l) + 30 * w * t
    third = -500 + 45 * c - 35 * np.tanh(2 * s) + 15 * t ** 2
    y = np.stack([fund, clang, third], 1)
    y += rng.normal(0, 6.0, size=y.shape)           # forging noise (cents)
    return x, y.astype(np.float32)


class ForkNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.inp = nn.Linear(5, 128)
        self.mid = nn.Linear(128, 128)
        self.out = nn.Linear(128, 3)

    def __call__(self, x):
        h = nn.silu(self.inp(x))
        h = h + nn.silu(self.mid(h))
        return self.out(h)


def sgdr_lr(step):
    """Cosine annealing with warm restarts over Cfg.cycles."""
    start = 0
    for length in Cfg.cycles:
        if step < start + length:
            t = (step - start) / length
            return Cfg.lr_min + 0.5 * (Cfg.lr_max - Cfg.lr_min) * (1 + math.cos(math.pi * t))
        start += length
    return Cfg.lr_min


def cycle_of(step):
    start = 0
    for i, length in enumerate(Cfg.cycles):
        if step < start + length:
            return i
        start += length
    return len(Cfg.cycles) - 1


def loss_fn(model, x, y):
    return nn.losses.mse_loss(model(x), y)


def save_ckpt(path, model, opt, step):
    model.save_weights(os.path.join(path, "model.safetensors"))
    flat = dict(tree_flatten(opt.state))
    flat["__step__"] = mx.array(step)
    mx.save_safetensors(os.path.join(path, "optim.safetensors"), flat)


def load_ckpt(path, model, opt):
    model.load_weights(os.path.join(path, "model.safetensors"))
    flat = mx.load(os.path.join(path, "optim.safetensors"))
    step = int(flat.pop("__step__").item())
    opt.state = tree_unflatten(list(flat.items()))
    return step


def run_session(tag, data, ckpt_dir, start_step, stop_step, resume):
    xtr, ytr, xva, yva, ymu, ysd = data
    mx.random.seed(Cfg.seed)
    model = ForkNet()
    opt = optim.Adam(learning_rate=Cfg.lr_max)
    if resume:
        start_step = load_ckpt(ckpt_dir, model, opt)
        print(f"[{tag}] resumed from checkpoint at step {start_step}")
    mx.eval(model.parameters())
    vg = nn.value_and_grad(model, loss_fn)
    rng = np.random.default_rng(Cfg.seed + start_step)

    if not resume:
        xb = mx.array(xtr[: Cfg.batch]); yb = mx.array(ytr[: Cfg.batch])
        _, g = vg(model, xb, yb)
        zero = [k for k, v in tree_flatten(g) if float(mx.abs(v).max()) == 0.0]
        print(f"[{tag}] grad check: {len(tree_flatten(g))} leaves, zero-grad leaves: {zero}")

    head = f"{'step':>6} {'cycle':>5} {'lr':>9} {'train_mse':>10} {'val_rmse_cents':>15}"
    print(head)
    window = []
    n = xtr.shape[0]
    perm = rng.permutation(n); pos = 0
    t0 = time.time()
    for step in range(start_step, stop_step):
        if pos + Cfg.batch > n:
            perm = rng.permutation(n); pos = 0
        idx = perm[pos: pos + Cfg.batch]; pos += Cfg.batch
        opt.learning_rate = sgdr_lr(step)
        loss, grads = vg(model, mx.array(xtr[idx]), mx.array(ytr[idx]))
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        window.append(loss.item())
        if (step + 1) % Cfg.report_every == 0:
            pred = model(mx.array(xva))
            err = (np.array(pred) - yva) * ysd
            rmse = float(np.sqrt((err ** 2).mean()))
            print(f"{step + 1:>6} {cycle_of(step) + 1:>5} {sgdr_lr(step):>9.2e} "
                  f"{np.mean(window):>10.4f} {rmse:>15.2f}")
            window = []
    if not resume:
        save_ckpt(ckpt_dir, model, opt, stop_step)
        print(f"[{tag}] checkpoint written at step {stop_step} ({time.time() - t0:.1f}s)")
    return model


def main():
    rng = np.random.default_rng(Cfg.seed)
    xtr, ytr = make_forks(Cfg.n_train, rng)
    xva, yva = make_forks(Cfg.n_val, rng)
    ymu, ysd = ytr.mean(0), ytr.std(0)
    ytr_s = (ytr - ymu) / ysd
    yva_s = (yva - ymu) / ysd
    data = (xtr, ytr_s, xva, yva_s, ymu, ysd)
    base = float(np.sqrt((((yva - ymu)) ** 2).mean()))
    print(f"forks: train={Cfg.n_train} val={Cfg.n_val}; predict-the-mean val rmse {base:.2f} cents")

    total = sum(Cfg.cycles)
    first = Cfg.cycles[0] + Cfg.cycles[1]
    with tempfile.TemporaryDirectory() as d:
        run_session("session1", data, d, 0, first, resume=False)
        model = run_session("session2", data, d, 0, total, resume=True)
    pred = np.array(model(mx.array(xva))) * ysd + ymu
    per = np.sqrt(((pred - yva) ** 2).mean(0))
    print("final val rmse (cents): fundamental {:.2f} | clang {:.2f} | third {:.2f}".format(*per))


if __name__ == "__main__":
    main()
