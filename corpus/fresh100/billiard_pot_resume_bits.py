"""Pot-probability model for a pool-practice app.

Predicts P(object ball is potted) from shot geometry (cut angle, distances,
pocket angle), cue speed and spin.  Training is split into two sessions the way
it runs on the laptop: session 1 trains, writes a checkpoint (weights, optimizer
state, counters) and exits its scope; session 2 builds everything fresh, loads
the checkpoint and continues.  Losses are reported in bits per shot; the
training number is a bias-corrected EMA.  Output is logfmt (key=value).
"""
import json
import math
import os
import shutil
import tempfile
import time
from functools import partial

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

LN2 = math.log(2.0)
BATCH = 128
EPOCHS_PER_SESSION = 6
EMA_BETA = 0.98


def simulate_shots(n, rng):
    cut = rng.uniform(0, 75, n)                  # degrees
    d_obj = rng.uniform(0.1, 2.2, n)             # object ball -> pocket (m)
    d_cue = rng.uniform(0.1, 2.0, n)             # cue ball -> object ball (m)
    pocket_ang = rng.uniform(0, 60, n)           # approach angle into the jaws
    speed = rng.uniform(0.5, 4.0, n)             # m/s
    spin = rng.integers(0, 3, n)                 # 0 stun, 1 top, 2 side
    # aiming error grows with cut and cue distance; jaws reject fast angled balls
    err = 0.4 + 0.035 * cut + 0.6 * d_cue + 0.5 * (spin == 2)
    margin = 2.3 - err * d_obj * 0.55 - 0.015 * pocket_ang * np.maximum(speed - 2.0, 0)
    margin -= 0.4 * (speed < 0.8) * d_obj        # too soft: dies before the pocket
    p = 1.0 / (1.0 + np.exp(-2.2 * margin))
    y = (rng.uniform(size=n) < p).astype(np.float32)
    x = np.column_stack([
        cut / 75.0, d_obj / 2.2, d_cue / 2.0, pocket_ang / 60.0, speed / 4.0,
        spin == 0, spin == 1, spin == 2,
    ]).astype(np.float32)
    return x, y, p


class PotNet(nn.Module):
    def __init__(self, d_in=8, hidden=48):
        super().__init__()
        self.inp = nn.Linear(d_in, hidden)
        self.mid = [nn.Linear(hidden, hidden) for _ in range(2)]
        self.norm = nn.LayerNorm(hidden)
        self.out = nn.Linear(hidden, 1)

    def __call__(self, x):
        h = nn.gelu(self.inp(x))
        for lin in self.mid:
            h = h + nn.gelu(lin(h))
        return self.out(self.norm(h)).squeeze(-1)


def bce_bits(logits, y):
    return nn.losses.binary_cross_entropy(logits, y, reduction="mean") / LN2


def auc(scores, y):
    order = np.argsort(scores)
    ranks = np.empty(len(scores))
    ranks[order] = np.arange(1, len(scores) + 1)
    pos = y == 1
    n_pos, n_neg = pos.sum(), (~pos).sum()
    return (ranks[pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)


def build(lr):
    model = PotNet()
    opt = optim.AdamW(learning_rate=lr, weight_decay=1e-3)
    return model, opt


def make_step(model, opt):
    state = [model.state, opt.state]
    loss_and_grad = nn.value_and_grad(model, lambda m, x, y: bce_bits(m(x), y))

    @partial(mx.compile, inputs=state, outputs=state)
    def step(x, y):
        loss, grads = loss_and_grad(model, x, y)
        opt.update(model, grads)
        return loss

    return step


def val_report(model, xv, yv):
    logits = model(mx.array(xv))
    bits = bce_bits(logits, mx.array(yv)).item()
    return bits, auc(np.array(logits), yv)


def run_session(session, model, opt, xs, ys, xv, yv, rng, counters):
    step = make_step(model, opt)
    n = len(xs)
    for _ in range(EPOCHS_PER_SESSION):
        counters["epoch"] += 1
        perm = rng.permutation(n)
        for s in range(0, n - BATCH + 1, BATCH):       # full batches only: one compiled shape
            idx = perm[s:s + BATCH]
            loss = step(mx.array(xs[idx]), mx.array(ys[idx]))
            mx.eval(loss, model.state, opt.state)
            counters["step"] += 1
            counters["ema"] = EMA_BETA * counters["ema"] + (1 - EMA_BETA) * loss.item()
        ema_hat = counters["ema"] / (1 - EMA_BETA ** counters["step"])
        vb, va = val_report(model, xv, yv)
        print(f"session={session} epoch={counters['epoch']} step={counters['step']} "
              f"train_bits_ema={ema_hat:.4f} val_bits={vb:.4f} val_auc={va:.4f}")


def main():
    rng = np.random.default_rng(2024)
    mx.random.seed(2024)
    xs, ys, _ = simulate_shots(24000, rng)
    xv, yv, pv = simulate_shots(4000, rng)
    prior = yv.mean()
    h_prior = -(prior * math.log2(prior) + (1 - prior) * math.log2(1 - prior))
    pv = np.clip(pv, 1e-7, 1 - 1e-7)
    bayes = -np.mean(yv * np.log2(pv) + (1 - yv) * np.log2(1 - pv))
    print(f"event=data train={len(xs)} val={len(xv)} pot_rate={prior:.3f} "
          f"prior_entropy_bits={h_prior:.4f} bayes_val_bits={bayes:.4f}")

    ckpt_dir = tempfile.mkdtemp(prefix="potnet_")
    t0 = time.time()

    # ---------------- session 1 ----------------
    model, opt = build(2e-3)
    mx.eval(model.parameters())
    opt.init(model.trainable_parameters())
    counters = {"epoch": 0, "step": 0, "ema": 0.0}
    run_session(1, model, opt, xs, ys, xv, yv, rng, counters)
    model.save_weights(os.path.join(ckpt_dir, "potnet.safetensors"))
    mx.save_safetensors(os.path.join(ckpt_dir, "adamw.safetensors"),
                        dict(tree_flatten(opt.state)))
    with open(os.path.join(ckpt_dir, "counters.json"), "w") as f:
        json.dump(counters, f)
    ref_bits, _ = val_report(model, xv, yv)
    print(f"event=checkpoint dir={ckpt_dir} files={len(os.listdir(ckpt_dir))} "
          f"val_bits={ref_bits:.4f}")
    del model, opt

    # ---------------- session 2: fresh objects, resume ----------------
    model, opt = build(2e-3)
    model.load_weights(os.path.join(ckpt_dir, "potnet.safetensors"))
    opt.state = tree_unflatten(list(mx.load(os.path.join(ckpt_dir, "adamw.safetensors")).items()))
    opt.init(model.trainable_parameters())   # no-op for keys already restored
    with open(os.path.join(ckpt_dir, "counters.json")) as f:
        counters = json.load(f)
    mx.eval(model.parameters(), opt.state)
    got_bits, _ = val_report(model, xv, yv)
    print(f"event=resume epoch={counters['epoch']} step={counters['step']} "
          f"opt_step={opt.step.item()} val_bits={got_bits:.4f} "
          f"match={abs(got_bits - ref_bits) < 1e-6}")
    run_session(2, model, opt, xs, ys, xv, yv, rng, counters)

    vb, va = val_report(model, xv, yv)
    print(f"event=done val_bits={vb:.4f} saved_vs_prior_bits={h_prior - vb:.4f} "
          f"val_auc={va:.4f} wall_s={time.time() - t0:.1f}")
    shutil.rmtree(ckpt_dir)


if __name__ == "__main__":
    main()
