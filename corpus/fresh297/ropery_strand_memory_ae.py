"""Ropery strand-tension screening with a memory-augmented autoencoder.

Each sample is a 32-point tension trace (kN, standardised) logged while a
strand is laid up.  Normal traces are a base tension plus a lay-period ripple
and slow creep.  The model encodes a trace, rebuilds the code from a small
bank of learned memory slots (softmax addressing with hard shrinkage) and
decodes it, so unusual traces are rebuilt from normal slots and come out with
a large error.  Training runs in two warm-restart cycles; the process is
checkpointed after the first cycle and resumed in fresh objects.
"""
import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

rng = np.random.default_rng(11)
mx.random.seed(11)
T = 32
t = np.linspace(0.0, 1.0, T, dtype=np.float32)


def normal_traces(n):
    base = rng.uniform(4.0, 6.0, size=(n, 1))
    period = rng.uniform(0.18, 0.26, size=(n, 1))
    amp = rng.uniform(0.2, 0.5, size=(n, 1))
    phase = rng.uniform(0, 2 * np.pi, size=(n, 1))
    creep = rng.uniform(0.2, 0.8, size=(n, 1))
    x = base + amp * np.sin(2 * np.pi * t / period + phase) + creep * t
    return (x + 0.05 * rng.normal(size=x.shape)).astype(np.float32)


def odd_traces(n):
    x = normal_traces(n)
    kind = rng.integers(0, 3, size=n)
    for i in range(n):
        if kind[i] == 0:      # snag: short sharp spike
            c = rng.integers(4, T - 4)
            x[i, c:c + 2] += rng.uniform(1.2, 2.0)
        elif kind[i] == 1:    # a strand runs out: tension drops mid-trace
            c = rng.integers(8, T - 8)
            x[i, c:] -= rng.uniform(0.8, 1.4)
        else:                 # slipping drum: creep runs backwards, fast ripple
            x[i] += -1.6 * t + 0.25 * np.sin(2 * np.pi * t / 0.07)
    return x


train_x = normal_traces(4000)
val_x = np.concatenate([normal_traces(450), odd_traces(50)])
val_y = np.concatenate([np.zeros(450), np.ones(50)])
test_x = np.concatenate([normal_traces(900), odd_traces(100)])
test_y = np.concatenate([np.zeros(900), np.ones(100)])
m, s = train_x.mean(0), train_x.std(0)
train_s, val_s, test_s = [((a - m) / s).astype(np.float32) for a in (train_x, val_x, test_x)]


class MemoryAE(nn.Module):
    def __init__(self, slots=24, code=8, shrink=1.0 / 24):
        super().__init__()
        self.enc = nn.Sequential(nn.Linear(T, 64), nn.SiLU(), nn.Linear(64, code))
        self.dec = nn.Sequential(nn.Linear(code, 64), nn.SiLU(), nn.Linear(64, T))
        self.memory = mx.random.normal((slots, code)) * 0.5
        self.shrink = shrink

    def address(self, z):
        w = mx.softmax(z @ self.memory.T, axis=-1)
        d = w - self.shrink
        w = nn.relu(d) * w / (mx.abs(d) + 1e-12)
        return w / (mx.sum(w, axis=-1, keepdims=True) + 1e-12)

    def __call__(self, x):
        w = self.address(self.enc(x))
        return self.dec(w @ self.memory), w


ENT_W = 2e-4


def loss_fn(model, x):
    xh, w = model(x)
    rec = mx.mean(mx.square(xh - x))
    ent = mx.mean(mx.sum(-w * mx.log(w + 1e-12), axis=-1))
    return rec + ENT_W * ent, (rec, ent)


def scores(model, a):
    xh, _ = model(mx.array(a))
    return np.array(mx.mean(mx.square(xh - mx.array(a)), axis=1))


def auroc(sc, lab):
    order = np.argsort(sc)
    ranks = np.empty(len(sc))
    ranks[order] = np.arange(1, len(sc) + 1)
    pos = lab == 1
    return (ranks[pos].sum() - pos.sum() * (pos.sum() + 1) / 2) / (pos.sum() * (~pos).sum())


BS = 100
SPE = len(train_s) // BS
CYCLE_EPOCHS = 12
CYCLE = CYCLE_EPOCHS * SPE
WARM = SPE


def restart_schedule(step):
    k = step % CYCLE
    warm = 2e-3 * k / WARM
    prog = (k - WARM) / (CYCLE - WARM)
    cos = 1e-5 + 0.5 * (2e-3 - 1e-5) * (1 + mx.cos(np.pi * prog))
    return mx.where(k < WARM, warm, cos)


def run_cycle(model, opt, cycle_idx):
    lg = nn.value_and_grad(model, loss_fn)
    data = mx.array(train_s)
    for e in range(1, CYCLE_EPOCHS + 1):
        perm = mx.array(rng.permutation(len(train_s)))
        tot = rec_s = ent_s = 0.0
        for b in range(SPE):
            (l, (rec, ent)), g = lg(model, data[perm[b * BS:(b + 1) * BS]])
            opt.update(model, g)
            mx.eval(model.parameters(), opt.state, l, rec, ent)
            tot += l.item(); rec_s += rec.item(); ent_s += ent.item()
        if e % 4 == 0 or e == 1:
            va = auroc(scores(model, val_s), val_y)
            _, w = model(mx.array(val_s[:450]))
            used = int(np.sum(np.array(mx.max(w, axis=0)) > 0.05))
            ep = (cycle_idx - 1) * CYCLE_EPOCHS + e
            print(f"cycle {cycle_idx} epoch {ep:2d} lr {opt.learning_rate.item():.2e} "
                  f"loss {tot / SPE:.4f} recon {rec_s / SPE:.4f} addr_entropy {ent_s / SPE:.3f} "
                  f"slots_in_use {used:2d} val_AUROC {va:.3f}")


t0 = time.time()
base_auc = auroc(np.mean((test_s - 0.0) ** 2, axis=1), test_y)
print(f"baseline (distance to mean trace) test AUROC {base_auc:.3f}")

model = MemoryAE()
mx.eval(model.parameters())
opt = optim.Adam(learning_rate=restart_schedule)
run_cycle(model, opt, 1)

ckpt = tempfile.mkdtemp()
model.save_weights(os.path.join(ckpt, "model.safetensors"))
mx.save_safetensors(os.path.join(ckpt, "opt.safetensors"), dict(tree_flatten(opt.state)))
before = scores(model, val_s[:5])
del model, opt
print(f"checkpoint written after cycle 1 -> {ckpt}")

model = MemoryAE()
model.load_weights(os.path.join(ckpt, "model.safetensors"))
opt = optim.Adam(learning_rate=restart_schedule)
opt.init(model.trainable_parameters())
opt.state = tree_unflatten(list(mx.load(os.path.join(ckpt, "opt.safetensors")).items()))
after = scores(model, val_s[:5])
print(f"resumed at step {int(opt.state['step'].item())}; "
      f"max score change after reload {np.max(np.abs(before - after)):.2e}")
run_cycle(model, opt, 2)

val_sc = scores(model, val_s)
thr = float(np.quantile(val_sc[val_y == 0], 0.98))
test_sc = scores(model, test_s)
pred = test_sc > thr
tp = np.sum(pred & (test_y == 1)); fp = np.sum(pred & (test_y == 0))
print(f"threshold (val normal q98) {thr:.4f}; test flagged {int(pred.sum())}, "
      f"true {int(tp)} false {int(fp)} of 100 odd traces")
print(f"memory AE test AUROC {auroc(test_sc, test_y):.3f} vs baseline {base_auc:.3f} "
      f"({time.time() - t0:.1f}s)")
