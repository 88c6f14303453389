"""Hive acoustic monitor: queen status from the hum of a brood box.

Recurrent adaptive-LIF spiking network on delta-modulated band energies.
Two sessions: train, checkpoint to disk, rebuild from scratch, resume.
"""
import json
import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

rng = np.random.default_rng(356)
T, BANDS, N_CLASSES = 40, 4, 3
CLASSES = ["queenright", "queenless", "pre_swarm"]


def make_hives(n):
    """Band energies (n, T, 4) of a synthetic hive microphone."""
    y = rng.integers(0, N_CLASSES, size=n)
    t = np.arange(T)[None, :]
    base = rng.normal(1.0, 0.15, size=(n, 1))
    out = np.zeros((n, T, BANDS), dtype=np.float32)
    for b in range(BANDS):
        drift = rng.normal(0, 0.05, size=(n, 1)) * t / T
        out[:, :, b] = base + drift + rng.normal(0, 0.12, size=(n, T))
    # queenless: slow roar swelling in band 1
    m = y == 1
    out[m, :, 1] += 0.45 * np.sin(2 * np.pi * t / rng.uniform(14, 20, size=(m.sum(), 1))) ** 2
    # pre-swarm: short piping bursts in band 3
    m = y == 2
    ph = rng.uniform(0, 2 * np.pi, size=(m.sum(), 1))
    out[m, :, 3] += 0.55 * (np.sin(2 * np.pi * t / 5.0 + ph) > 0.6)
    return out, y.astype(np.int32)


def delta_encode(x, step=0.18):
    """Up/down spike channels each time a band moves by `step` since its last spike."""
    n = x.shape[0]
    ref = x[:, 0, :].copy()
    spikes = np.zeros((n, T, 2 * BANDS), dtype=np.float32)
    for k in range(1, T):
        d = x[:, k, :] - ref
        up, down = d > step, d < -step
        spikes[:, k, :BANDS] = up
        spikes[:, k, BANDS:] = down
        ref = np.where(up | down, x[:, k, :], ref)
    return spikes


def spike_fn(v, slope=4.0):
    """Heaviside forward, sigmoid-derivative backward (straight-through form)."""
    soft = mx.sigmoid(slope * v)
    hard = (v >= 0).astype(v.dtype)
    return mx.stop_gradient(hard - soft) + soft


class ALIFNet(nn.Module):
    def __init__(self, n_in=2 * BANDS, hidden=64, n_out=N_CLASSES):
        super().__init__()
        self.inp = nn.Linear(n_in, hidden)
        self.rec = nn.Linear(hidden, hidden, bias=False)
        self.out = nn.Linear(hidden, n_out)
        self.beta_logit = mx.full((hidden,), 2.0)   # sigmoid -> ~0.88
        self.hidden = hidden

    def __call__(self, s):
        B = s.shape[0]
        beta = mx.sigmoid(self.beta_logit)
        mem = mx.zeros((B, self.hidden))
        adapt = mx.zeros((B, self.hidden))
        spk = mx.zeros((B, self.hidden))
        ro = mx.zeros((B, N_CLASSES))
        ro_sum = mx.zeros((B, N_CLASSES))
        counts = mx.zeros((B, self.hidden))
        for k in range(s.shape[1]):
            adapt = 0.95 * adapt + spk
            thr = 1.0 + 0.3 * adapt
            mem = beta * mem + self.inp(s[:, k]) + self.rec(spk)
            spk = spike_fn(mem - thr)
            mem = mem - spk * thr
            ro = 0.8 * ro + self.out(spk)
            ro_sum = ro_sum + ro
            counts = counts + spk
        return ro_sum / s.shape[1], counts / s.shape[1]


def loss_fn(model, s, y):
    logits, rate = model(s)
    ce = nn.losses.cross_entropy(logits, y, reduction="mean")
    reg = 0.5 * mx.mean((mx.mean(rate, axis=0) - 0.08) ** 2)
    return ce + reg, (ce, mx.mean(rate))


def accuracy(model, s, y):
    logits, rate = model(s)
    return mx.mean(mx.argmax(logits, axis=1) == y).item(), mx.mean(rate).item()


xtr, ytr = make_hives(2400)
xva, yva = make_hives(600)
str_, sva = mx.array(delta_encode(xtr)), mx.array(delta_encode(xva))
ytr_m, yva_m = mx.array(ytr), mx.array(yva)
majority = np.bincount(yva).max() / len(yva)
print(f"hives train={len(ytr)} val={len(yva)} T={T} spike channels={2 * BANDS} "
      f"input spike density={float(np.mean(delta_encode(xtr[:200]))):.3f}")

WARM, TOTAL, BATCH = 40, 320, 64
schedule = optim.join_schedules(
    [optim.linear_schedule(0.0, 3e-3, WARM), optim.cosine_decay(3e-3, TOTAL - WARM, 2e-4)],
    [WARM],
)


def run_session(model, opt, start, stop, tag):
    vg = nn.value_and_grad(model, loss_fn)
    t0 = time.time()
    for step in range(start, stop):
        idx = mx.array(rng.integers(0, len(ytr), size=BATCH))
        lr_now = opt.learning_rate.item()
        (loss, (ce, rate)), grads = vg(model, str_[idx], ytr_m[idx])
        if step == 0:
            flat = tree_flatten(grads)
            zero = [k for k, g in flat if float(mx.abs(g).max()) == 0.0]
            print(f"grad check: {len(flat)} arrays, all-zero={zero if zero else 'none'}")
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        if step % 20 == 0 or step == stop - 1:
            va, vrate = accuracy(model, sva, yva_m)
            print(f"{tag},{step},{lr_now:.6f},{loss.item():.4f},{ce.item():.4f},"
                  f"{rate.item():.4f},{vrate:.4f},{100 * va:.1f},{100 * majority:.1f},"
                  f"{time.time() - t0:.1f}")


print("session,step,lr,loss,ce,train_rate,val_rate,val_acc_pct,majority_pct,secs")
model = ALIFNet()
opt = optim.Adam(learning_rate=schedule)
mx.eval(model.parameters())
HALF = 160
run_session(model, opt, 0, HALF, "s1")

with tempfile.TemporaryDirectory() as d:
    model.save_weights(os.path.join(d, "hive.safetensors"))
    mx.save_safetensors(os.path.join(d, "opt.safetensors"), dict(tree_flatten(opt.state)))
    with open(os.path.join(d, "meta.json"), "w") as f:
        json.dump({"step": HALF}, f)
    saved_acc, _ = accuracy(model, sva, yva_m)
    del model, opt

    model = ALIFNet()
    model.load_weights(os.path.join(d, "hive.safetensors"))
    opt = optim.Adam(learning_rate=schedule)
    opt.state = tree_unflatten(list(mx.load(os.path.join(d, "opt.safetensors")).items()))
    with open(os.path.join(d, "meta.json")) as f:
        start = json.load(f)["step"]
    mx.eval(model.parameters(), opt.state)
    restored_acc, _ = accuracy(model, sva, yva_m)
    print(f"# checkpoint: saved val_acc={100 * saved_acc:.1f} restored val_acc={100 * restored_acc:.1f} "
          f"resume at step {start} (optimizer step={opt.state['step'].item()})")

run_session(model, opt, start, TOTAL, "s2")
final, frate = accuracy(model, sva, yva_m)
print(f"# done: val_acc={100 * final:.1f}% (majority {100 * majority:.1f}%), hidden rate {frate:.3f} spikes/step")
