"""Volcano observatory: classify 3-second seismometer windows (quiet / volcano-tectonic /
long-period / tremor) with a frozen random 1-D conv bank and a trained readout.

Features of the frozen bank are computed lazily and memoised per window index, so the
first epoch fills the cache (and is the slow one) and later epochs only read it.
"""
import csv
import sys
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(7)
mx.random.seed(7)

FS, T = 100, 300          # 100 Hz, 3 s
CLASSES = ["quiet", "vt", "lp", "tremor"]


def synth(n):
    t = np.arange(T) / FS
    x = np.zeros((n, T), np.float32)
    y = rng.integers(0, 4, n)
    for i in range(n):
        sig = 0.7 * rng.standard_normal(T)
        onset = rng.uniform(0.3, 1.5)
        env = np.clip(t - onset, 0, None)
        if y[i] == 1:      # sharp high-frequency burst, fast decay
            f = rng.uniform(12, 20)
            sig += 1.4 * np.exp(-env * 4.0) * (t > onset) * np.sin(2 * np.pi * f * t)
        elif y[i] == 2:    # emergent low-frequency event
            f = rng.uniform(1.5, 3.0)
            sig += 1.2 * (1 - np.exp(-env * 3)) * np.exp(-env * 0.8) * np.sin(2 * np.pi * f * t)
        elif y[i] == 3:    # sustained harmonic tremor
            f = rng.uniform(3.5, 5.0)
            sig += 0.6 * (np.sin(2 * np.pi * f * t) + 0.5 * np.sin(4 * np.pi * f * t))
        x[i] = sig * rng.uniform(0.6, 1.6)
    return x, y.astype(np.int32)


class FrozenBank(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv1d(1, 24, kernel_size=9, stride=2)
        self.c2 = nn.Conv1d(24, 48, kernel_size=7, stride=2)

    def __call__(self, x):                    # x: (B, T)
        h = nn.relu(self.c1(x[..., None]))
        h = nn.relu(self.c2(h))               # (B, L, 48)
        return h


def pool(h):
    return mx.concatenate([h.mean(axis=1), h.max(axis=1), mx.sqrt((h * h).mean(axis=1))], axis=1)


class Readout(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.norm = nn.LayerNorm(d)
        self.l1 = nn.Linear(d, 64)
        self.l2 = nn.Linear(64, 4)

    def __call__(self, f):
        return self.l2(nn.gelu(self.l1(self.norm(pool(f)))))


class FeatureCache:
    def __init__(self, bank):
        self.bank, self.store, self.hits, self.misses = bank, {}, 0, 0

    def get(self, idx, xs):
        missing = [int(i) for i in idx if int(i) not in self.store]
        if missing:
            f = mx.stop_gradient(self.bank(mx.array(xs[missing])))
            mx.eval(f)
            for j, i in enumerate(missing):
                self.store[i] = f[j]
        self.misses += len(missing)
        self.hits += len(idx) - len(missing)
        return mx.stack([self.store[int(i)] for i in idx])

    def mbytes(self):
        return sum(v.nbytes for v in self.store.values()) / 2**20


xtr, ytr = synth(6400)
xva, yva = synth(800)
bank = FrozenBank()
bank.freeze()
mx.eval(bank.parameters())
bank_snapshot = [np.array(v) for _, v in __import__("mlx.utils").utils.tree_flatten(bank.parameters())]

cache = FeatureCache(bank)
feat_dim = 144
head = Readout(feat_dim)
mx.eval(head.parameters())

EPOCHS, BS = 8, 64
steps_per_epoch = len(xtr) // BS
warm = steps_per_epoch            # one epoch of linear warm-up from exactly 0
sched = optim.join_schedules(
    [optim.linear_schedule(0.0, 3e-3, warm),
     optim.cosine_decay(3e-3, (EPOCHS - 1) * steps_per_epoch, 1e-4)], [warm])
opt = optim.AdamW(learning_rate=sched, weight_decay=1e-3)


def loss_fn(m, f, y):
    return nn.losses.cross_entropy(m(f), y).mean()


vg = nn.value_and_grad(head, loss_fn)
val_feats = mx.stop_gradient(bank(mx.array(xva)))
mx.eval(val_feats)
yva_m = mx.array(yva)
majority = np.bincount(ytr).max() / len(ytr)
window = []

w = csv.writer(sys.stdout, lineterminator="\n")
w.writerow(["step", "epoch", "lr", "train_xent", "val_xent", "val_acc", "majority_acc",
            "cache_entries", "cache_mb", "hit_rate", "secs"])
step = 0
t0 = time.time()
for ep in range(1, EPOCHS + 1):
    perm = rng.permutation(len(xtr))
    for b in range(steps_per_epoch):
        idx = perm[b * BS:(b + 1) * BS]
        f = cache.get(idx, xtr)
        loss, g = vg(head, f, mx.array(ytr[idx]))
        opt.update(head, g)
        mx.eval(head.parameters(), opt.state, loss)
        window.append(loss.item())
        step += 1
        end_of_epoch = b == steps_per_epoch - 1
        if step % 25 == 0 or end_of_epoch:
            vl = va = ""
            if end_of_epoch:
                logits = head(val_feats)
                vl = f"{nn.losses.cross_entropy(logits, yva_m).mean().item():.4f}"
                va = f"{(mx.argmax(logits, axis=1) == yva_m).mean().item():.3f}"
            w.writerow([step, ep, f"{opt.learning_rate.item():.2e}", f"{np.mean(window):.4f}", vl, va,
                        f"{majority:.3f}", len(cache.store), f"{cache.mbytes():.1f}",
                        f"{cache.hits / max(1, cache.hits + cache.misses):.2f}", f"{time.time() - t0:.1f}"])
            sys.stdout.flush()
            window.clear()
            cache.hits = cache.misses = 0

after = [np.array(v) for _, v in __import__("mlx.utils").utils.tree_flatten(bank.parameters())]
drift = max(float(np.abs(a - b).max()) for a, b in zip(bank_snapshot, after))
print(f"# frozen bank drift {drift:.1e}, trainable readout params "
      f"{sum(v.size for _, v in __import__('mlx.utils').utils.tree_flatten(head.trainable_parameters()))}")
