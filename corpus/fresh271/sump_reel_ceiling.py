"""Cave-dive computer logs: predict the next minute's depth change.

A small causal transformer (rotary positions via mx.fast.rope, fused
scaled_dot_product_attention with mask="causal") reads a diver's profile
minute by minute and outputs a mean and a log-variance for the next depth
change.  The objective is the Gaussian negative log-likelihood, which goes
below zero once the predicted spread gets narrow.

Training is split in two sessions: session 1 stops at step 120 and writes a
checkpoint (weights, optimizer state, step) to a temp folder; session 2 builds
a fresh model and optimizer, loads the checkpoint and carries on to step 240.
Output is tab-separated rows.
"""

import json
import math
import os
import tempfile
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten, tree_unflatten

SEQ = 32
DIM = 32
HEADS = 4
STEPS = 240
PAUSE_AT = 120
BATCH = 24
DEPTH_SCALE = 10.0  # metres per unit


def make_profiles(n, rng):
    """Synthetic cave-dive profiles, one reading per minute."""
    feats = np.zeros((n, SEQ + 1, 4), dtype=np.float32)
    depth = np.zeros((n, SEQ + 1), dtype=np.float32)
    for i in range(n):
        max_d = rng.uniform(18, 55)
        rate = rng.uniform(9, 16)
        bottom = int(rng.integers(4, 12))
        stops = [(9.0, 1 + int(max_d > 30) + int(bottom > 8)),
                 (6.0, 2 + int(max_d > 40)),
                 (3.0, 3 + int(max_d > 25) + int(bottom > 10))]
        d, t, path = 0.0, 0, []
        while d < max_d - 1e-3:
            d = min(max_d, d + rate)
            path.append(d)
        for _ in range(bottom):
            path.append(max_d + rng.normal(0, 0.6))
        for stop_d, mins in stops:
            while d > stop_d + 1e-3:
                d = max(stop_d, d - rng.uniform(8, 10))
                path.append(d)
            for _ in range(mins):
                path.append(stop_d + rng.normal(0, 0.15))
        while d > 0:
            d = max(0.0, d - 3.0)
            path.append(d)
        path = (path + [0.0] * (SEQ + 1))[: SEQ + 1]
        depth[i] = np.array(path, dtype=np.float32)
        temp = 14.0 - 0.08 * depth[i] + rng.normal(0, 0.1, SEQ + 1)
        gas = 1.0 - np.cumsum(0.004 + 0.0004 * depth[i])
        feats[i, :, 0] = depth[i] / DEPTH_SCALE
        feats[i, 1:, 1] = np.diff(depth[i]) / DEPTH_SCALE
        feats[i, :, 2] = gas
        feats[i, :, 3] = (temp - 12.0) / 2.0
    x = feats[:, :SEQ]
    y = np.diff(depth, axis=1)[:, :SEQ, None] / DEPTH_SCALE
    return x, y.astype(np.float32)


class Block(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.heads = heads
        self.hd = dim // heads
        self.ln1 = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim, bias=False)
        self.proj = nn.Linear(dim, dim, bias=False)
        self.ln2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim))

    def __call__(self, x):
        B, L, D = x.shape
        q, k, v = mx.split(self.qkv(self.ln1(x)), 3, axis=-1)
        q = q.reshape(B, L, self.heads, self.hd).transpose(0, 2, 1, 3)
        k = k.reshape(B, L, self.heads, self.hd).transpose(0, 2, 1, 3)
        v = v.reshape(B, L, self.heads, self.hd).transpose(0, 2, 1, 3)
        q = mx.fast.rope(q, self.hd, traditional=False, base=10000.0, scale=1.0, offset=0)
        k = mx.fast.rope(k, self.hd, traditional=False, base=10000.0, scale=1.0, offset=0)
        o = mx.fast.scaled_dot_product_attention(q, k, v, scale=1.0 / math.sqrt(self.hd), mask="causal")
        o = o.transpose(0, 2, 1, 3).reshape(B, L, D)
        x = x + self.proj(o)
        return x + self.mlp(self.ln2(x))


class DiveNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.inp = nn.Linear(4, DIM)
        self.blocks = [Block(DIM, HEADS) for _ in range(2)]
        self.ln = nn.LayerNorm(DIM)
        self.head = nn.Linear(DIM, 2)

    def __call__(self, x):
        h = self.inp(x)
        for b in self.blocks:
            h = b(h)
        out = self.head(self.ln(h))
        return out[..., :1], out[..., 1:]


def gauss_nll(model, x, y):
    mu, logvar = model(x)
    logvar = mx.clip(logvar, -9.0, 4.0)
    return mx.mean(0.5 * (logvar + (y - mu) ** 2 / mx.exp(logvar) + math.log(2 * math.pi)))


def make_schedule():
    return optim.join_schedules(
        [optim.linear_schedule(0.0, 3e-3, 30), optim.cosine_decay(3e-3, STEPS - 30, 5e-5)], [30]
    )


def evaluate(model, xv, yv, base_mae):
    mu, _ = model(xv)
    nll = gauss_nll(model, xv, yv)
    mae = mx.mean(mx.abs(mu - yv)) * DEPTH_SCALE
    return nll.item(), mae.item()


def run_session(tag, model, opt, xt, yt, xv, yv, first, last, rng, base_mae, t0):
    loss_and_grad = nn.value_and_grad(model, gauss_nll)
    for step in range(first, last + 1):
        idx = mx.array(rng.integers(0, xt.shape[0], BATCH))
        lr = opt.learning_rate.item()
        loss, grads = loss_and_grad(model, xt[idx], yt[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        if step in (1, 2, 3) or step % 60 == 0:
            vn, vm = evaluate(model, xv, yv, base_mae)
            print(f"{tag}\t{step}\t{lr:.2e}\t{loss.item():+.4f}\t{vn:+.4f}\t{vm:.3f}\t{base_mae:.3f}\t{time.time() - t0:.1f}")


def main():
    rng = np.random.default_rng(7)
    mx.random.seed(7)
    xt, yt = make_profiles(1500, rng)
    xv, yv = make_profiles(200, rng)
    # persistence baseline: next change equals the last change
    base_mae = float(np.mean(np.abs(xv[:, :, 1:2] - yv)) * DEPTH_SCALE)
    xt, yt, xv, yv = map(mx.array, (xt, yt, xv, yv))

    print("session\tstep\tlr\tnll_train\tnll_val\tval_mae_m\tpersist_mae_m\tsec")
    t0 = time.time()
    model = DiveNet()
    opt = optim.AdamW(learning_rate=make_schedule(), weight_decay=0.01)
    mx.eval(model.parameters())
    run_session("s1", model, opt, xt, yt, xv, yv, 1, PAUSE_AT, rng, base_mae, t0)

    ckpt = tempfile.mkdtemp()
    model.save_weights(os.path.join(ckpt, "model.safetensors"))
    mx.save_safetensors(os.path.join(ckpt, "opt.safetensors"), dict(tree_flatten(opt.state)))
    with open(os.path.join(ckpt, "meta.json"), "w") as f:
        json.dump({"step": PAUSE_AT}, f)
    before = evaluate(model, xv, yv, base_mae)

    model2 = DiveNet()
    model2.load_weights(os.path.join(ckpt, "model.safetensors"))
    opt2 = optim.AdamW(learning_rate=make_schedule(), weight_decay=0.01)
    opt2.state = tree_unflatten(list(mx.load(os.path.join(ckpt, "opt.safetensors")).items()))
    with open(os.path.join(ckpt, "meta.json")) as f:
        start = json.load(f)["step"] + 1
    after = evaluate(model2, xv, yv, base_mae)
    print(f"#resume\tfrom_step={start - 1}\tval_nll_before={before[0]:+.4f}\tval_nll_after={after[0]:+.4f}"
          f"\topt_step={int(opt2.state['step'].item())}")
    run_session("s2", model2, opt2, xt, yt, xv, yv, start, STEPS, rng, base_mae, t0)

    mu, logvar = model2(xv)
    sigma = mx.exp(0.5 * mx.clip(logvar, -9.0, 4.0)) * DEPTH_SCALE
    print(f"#done\tval_mae_m={evaluate(model2, xv, yv, base_mae)[1]:.3f}\tpersist_mae_m={base_mae:.3f}"
          f"\tmedian_sigma_m={float(np.median(np.array(sigma))):.3f}")


if __name__ == "__main__":
    main()
