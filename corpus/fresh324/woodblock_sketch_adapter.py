"""Woodblock print studio: sketch-guided tile denoiser.

Stage 1 fits an unconditional eps-prediction denoiser on 8x8 woodblock tiles
(stripes, rings, checks, diagonals).  Stage 2 freezes that denoiser and trains a
small side branch that reads a 4x4 pencil sketch of the tile; the branch feeds the
first hidden layer through a zero-initialised projection (ControlNet style), so at
the start of stage 2 the model behaves exactly like the frozen base.  The stage-2
run is checkpointed half way and resumed into freshly built objects.
"""
import math
import os
import tempfile
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten, tree_unflatten

rng = np.random.default_rng(7)
mx.random.seed(7)

T = 50
SIDE = 8
D = SIDE * SIDE


def make_tiles(n):
    yy, xx = np.mgrid[0:SIDE, 0:SIDE].astype(np.float32)
    out = np.zeros((n, SIDE, SIDE), np.float32)
    fam = rng.integers(0, 4, n)
    for i in range(n):
        ph = rng.uniform(0, 2 * math.pi)
        f = rng.uniform(0.6, 1.4)
        if fam[i] == 0:
            img = np.sin(f * yy + ph)
        elif fam[i] == 1:
            img = np.sin(f * xx + ph)
        elif fam[i] == 2:
            cy, cx = rng.uniform(2, 5, 2)
            img = np.cos(1.3 * f * np.sqrt((yy - cy) ** 2 + (xx - cx) ** 2) + ph)
        else:
            img = np.sin(0.8 * f * (xx + yy) + ph)
        out[i] = np.tanh(2.0 * img)
    out += 0.05 * rng.standard_normal(out.shape).astype(np.float32)
    return out.reshape(n, D)


def sketch_of(x):
    # 2x2 average pooling -> 4x4 pencil sketch (16 values)
    v = x.reshape(-1, 4, 2, 4, 2).mean(axis=(2, 4))
    return v.reshape(-1, 16)


def cosine_alpha_bar(steps):
    s = 0.008
    t = np.linspace(0, steps, steps + 1) / steps
    f = np.cos((t + s) / (1 + s) * math.pi / 2) ** 2
    ab = f[1:] / f[0]
    return np.clip(ab, 1e-4, 0.9999).astype(np.float32)


ALPHA_BAR = mx.array(cosine_alpha_bar(T))


def time_features(t):
    tt = t.astype(mx.float32)[:, None] / T
    freqs = mx.array([1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0])[None, :]
    ang = tt * freqs
    return mx.concatenate([mx.sin(ang), mx.cos(ang)], axis=1)


class Denoiser(nn.Module):
    def __init__(self, width=96):
        super().__init__()
        self.inp = nn.Linear(D + 16, width)
        self.mid = nn.Linear(width, width)
        self.out = nn.Linear(width, D)

    def __call__(self, x, tf, extra=None):
        h = self.inp(mx.concatenate([x, tf], axis=1))
        if extra is not None:
            h = h + extra
        h = nn.silu(h)
        h = nn.silu(self.mid(h)) + h
        return self.out(h)


class SketchBranch(nn.Module):
    def __init__(self, width=96):
        super().__init__()
        self.enc1 = nn.Linear(16 + 16, 64)
        self.enc2 = nn.Linear(64, 64)
        self.zero_proj = nn.Linear(64, width)
        self.zero_proj.weight = mx.zeros_like(self.zero_proj.weight)
        self.zero_proj.bias = mx.zeros_like(self.zero_proj.bias)

    def __call__(self, sk, tf):
        h = nn.silu(self.enc1(mx.concatenate([sk, tf], axis=1)))
        h = nn.silu(self.enc2(h))
        return self.zero_proj(h)


class Guided(nn.Module):
    def __init__(self, base, branch):
        super().__init__()
        self.base = base
        self.branch = branch

    def __call__(self, x, tf, sk):
        return self.base(x, tf, self.branch(sk, tf))


def noisy(x0, t, eps):
    ab = ALPHA_BAR[t][:, None]
    return mx.sqrt(ab) * x0 + mx.sqrt(1.0 - ab) * eps


def base_loss(model, x0, t, eps):
    pred = model(noisy(x0, t, eps), time_features(t))
    return mx.mean((pred - eps) ** 2)


def guided_loss(model, x0, sk, t, eps):
    pred = model(noisy(x0, t, eps), time_features(t), sk)
    return mx.mean((pred - eps) ** 2)


def checksum(module):
    return float(sum(mx.sum(mx.abs(v)).item() for _, v in tree_flatten(module.parameters())))


def main():
    t0 = time.time()
    train = make_tiles(6000)
    held = make_tiles(1000)
    train_sk = sketch_of(train)
    held_sk = sketch_of(held)
    Xtr, Str = mx.array(train), mx.array(train_sk)
    Xho, Sho = mx.array(held), mx.array(held_sk)

    # constant evaluation noise on a t grid
    ev_rows = rng.integers(0, 1000, (len(np.arange(2, T, 6)), 100))
    ev_eps = mx.array(rng.standard_normal((ev_rows.size, D)).astype(np.float32))
    ev_x = Xho[mx.array(ev_rows.ravel())]
    ev_s = Sho[mx.array(ev_rows.ravel())]
    ev_tt = mx.array(np.repeat(np.arange(2, T, 6), 100))

    bs = 128
    # ---------------- stage 1: unconditional base ----------------
    base = Denoiser()
    opt1 = optim.AdamW(learning_rate=optim.cosine_decay(2e-3, 600, 1e-4), weight_decay=1e-4)
    step1 = nn.value_and_grad(base, base_loss)
    print("stage 1: unconditional denoiser on %d tiles" % len(train))
    for it in range(1, 601):
        idx = mx.array(rng.integers(0, len(train), bs))
        t = mx.array(rng.integers(0, T, bs))
        eps = mx.random.normal((bs, D))
        loss, g = step1(base, Xtr[idx], t, eps)
        opt1.update(base, g)
        mx.eval(base.parameters(), opt1.state, loss)
        if it % 150 == 0:
            print(f"  base step {it:5d}  eps-mse {loss.item():.4f}")

    base_ev = mx.mean((base(noisy(ev_x, ev_tt, ev_eps), time_features(ev_tt)) - ev_eps) ** 2).item()
    print(f"held-out eps-mse, base only: {base_ev:.4f}")

    # ---------------- stage 2: sketch branch on frozen base ----------------
    base.freeze()
    model = Guided(base, SketchBranch())
    n_train = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
    n_all = sum(v.size for _, v in tree_flatten(model.parameters()))
    print(f"stage 2: trainable {n_train} of {n_all} parameters (base frozen)")
    base_sum_before = checksum(base)

    start_ev = mx.mean((model(noisy(ev_x, ev_tt, ev_eps), time_features(ev_tt), ev_s) - ev_eps) ** 2).item()
    print(f"held-out eps-mse at branch init (zero projection): {start_ev:.4f}")

    total2 = 400
    warm = 60

    def make_sched():
        return optim.join_schedules(
            [optim.linear_schedule(0.0, 1.5e-3, warm), optim.cosine_decay(1.5e-3, total2 - warm, 5e-5)],
            [warm],
        )

    opt2 = optim.Adam(learning_rate=make_sched())
    step2 = nn.value_and_grad(model, guided_loss)
    ckpt_dir = tempfile.mkdtemp("_woodblock")
    half = total2 // 2
    run = 0.0
    it = 0
    while it < total2:
        it += 1
        idx = mx.array(rng.integers(0, len(train), bs))
        t = mx.array(rng.integers(0, T, bs))
        eps = mx.random.normal((bs, D))
        loss, g = step2(model, Xtr[idx], Str[idx], t, eps)
        opt2.update(model, g)
        mx.eval(model.trainable_parameters(), opt2.state, loss)
        run = loss.item() if it == 1 else 0.95 * run + 0.05 * loss.item()
        if it == 1 or it % 80 == 0:
            print(f"  branch step {it:5d}  lr {opt2.learning_rate.item():.2e}  eps-mse {loss.item():.4f}  ema {run:.4f}")
        if it == half:
            wpath = os.path.join(ckpt_dir, "branch.safetensors")
            opath = os.path.join(ckpt_dir, "branch_opt.safetensors")
            mx.save_safetensors(wpath, dict(tree_flatten(model.branch.parameters())))
            mx.save_safetensors(opath, dict(tree_flatten(opt2.state)))
            print(f"  checkpoint written at step {it}; rebuilding branch and optimizer from disk")
            new_branch = SketchBranch()
            new_branch.update(tree_unflatten(list(mx.load(wpath).items())))
            model = Guided(base, new_branch)
            opt2 = optim.Adam(learning_rate=make_sched())
            opt2.init(model.trainable_parameters())
            opt2.state = tree_unflatten(list(mx.load(opath).items()))
            step2 = nn.value_and_grad(model, guided_loss)
            print(f"  resumed: optimizer step counter {int(opt2.state['step'].item())}, lr {opt2.learning_rate.item():.2e}")

    guided_ev = mx.mean((model(noisy(ev_x, ev_tt, ev_eps), time_features(ev_tt), ev_s) - ev_eps) ** 2).item()
    base_sum_after = checksum(base)
    print(f"base weight checksum before/after stage 2: {base_sum_before:.3f} / {base_sum_after:.3f}")
    print(f"held-out eps-mse: base only {base_ev:.4f} | with sketch branch {guided_ev:.4f} "
          f"(gain {100 * (base_ev - guided_ev) / base_ev:.1f}%)")
    print(f"done in {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
