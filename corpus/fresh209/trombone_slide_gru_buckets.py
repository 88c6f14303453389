# Trombone practice-room tracker: estimate how far the slide is extended (cm)
# from a short pitch-tracker log of one sustained note.
#
# Each note is a variable-length sequence of frames: [log2 pitch re B-flat1,
# lip-tension proxy, breath pressure]. The partial (2..6) is unknown, so the net
# must pool the noisy tension/pressure frames to tell which partial is sounding,
# then read the slide shift from the pitch. Made-up physics, synthetic data.
#
# Batches come from a length-bucketed iterator (padded only to the bucket length,
# masks for the padding). Two curriculum stages: short clean notes first, then
# long notes with more noise and dropped frames; the epoch counter restarts.
import json
import math
import time
from functools import partial

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(209)
mx.random.seed(209)

SEMITONE_CM = 8.7
MAX_CM = 60.0


def make_notes(n, lo, hi, noise, drop):
    lengths = rng.integers(lo, hi + 1, size=n)
    T = int(math.ceil(hi / 8) * 8)
    X = np.zeros((n, T, 3), dtype=np.float32)
    M = np.zeros((n, T), dtype=np.float32)
    ext = rng.uniform(0.0, MAX_CM, size=n)
    part = rng.integers(2, 7, size=n)
    for i in range(n):
        L = lengths[i]
        t = np.arange(L)
        s = ext[i] / SEMITONE_CM
        pitch = np.log2(part[i]) - s / 12.0 + 0.004 * np.sin(0.9 * t + rng.uniform(0, 6)) \
            + 0.006 * noise * rng.standard_normal(L)
        tension = (part[i] - 4) / 2.0 + 0.22 * noise * rng.standard_normal(L)
        press = 0.3 * part[i] - 1.2 + 0.3 * noise * rng.standard_normal(L)
        keep = rng.random(L) >= drop
        keep[0] = True
        X[i, :L, 0] = pitch * keep
        X[i, :L, 1] = tension * keep
        X[i, :L, 2] = press * keep
        M[i, :L] = keep
    return X, M, (ext / MAX_CM).astype(np.float32)[:, None], lengths


def bucket_batches(lengths, M, batch):
    order = np.argsort(lengths + rng.uniform(0, 0.5, size=len(lengths)))
    chunks = [order[i:i + batch] for i in range(0, len(order), batch)]
    rng.shuffle(chunks)
    for idx in chunks:
        L = int(math.ceil(lengths[idx].max() / 8) * 8)
        yield idx, L


class SlideNet(nn.Module):
    def __init__(self, hidden=32):
        super().__init__()
        self.rnn = nn.GRU(3, hidden)
        self.head = nn.Sequential(nn.Linear(2 * hidden, 64), nn.GELU(), nn.Linear(64, 1))

    def __call__(self, x, m):
        h = self.rnn(x)
        w = m[..., None]
        mean = (h * w).sum(axis=1) / mx.maximum(w.sum(axis=1), 1.0)
        peak = mx.max(h * w - 1e4 * (1 - w), axis=1)
        return self.head(mx.concatenate([mean, peak], axis=-1))


model = SlideNet()
mx.eval(model.parameters())
opt = optim.AdamW(learning_rate=2e-3, weight_decay=1e-4)


def loss_fn(mdl, x, m, y):
    return nn.losses.huber_loss(mdl(x, m), y, delta=0.05, reduction="mean")


state = [model.state, opt.state]


@partial(mx.compile, inputs=state, outputs=state)
def train_step(x, m, y):
    loss, grads = nn.value_and_grad(model, loss_fn)(model, x, m, y)
    opt.update(model, grads)
    return loss


def score(X, M, Y):
    pred = model(mx.array(X), mx.array(M))
    err = mx.abs(pred - mx.array(Y)) * MAX_CM
    return mx.mean(err).item(), 100.0 * mx.mean(err < 1.0).item()


STAGES = [
    dict(name="short-clean", lo=8, hi=20, noise=1.0, drop=0.0, epochs=6, lr=3e-3),
    dict(name="long-noisy", lo=8, hi=40, noise=1.6, drop=0.10, epochs=7, lr=1.5e-3),
]

t0 = time.perf_counter()
first = True
for si, st in enumerate(STAGES, 1):
    Xtr, Mtr, Ytr, Ltr = make_notes(1500, st["lo"], st["hi"], st["noise"], st["drop"])
    Xva, Mva, Yva, _ = make_notes(400, st["lo"], st["hi"], st["noise"], st["drop"])
    ref_mae = float(np.mean(np.abs(Yva - Ytr.mean())) * MAX_CM)  # constant guess at mean extension
    opt.learning_rate = st["lr"]
    for ep in range(1, st["epochs"] + 1):
        tot, nb = 0.0, 0
        for idx, L in bucket_batches(Ltr, Mtr, 32):
            x = mx.array(Xtr[idx, :L])
            m = mx.array(Mtr[idx, :L])
            y = mx.array(Ytr[idx])
            if first:
                g = nn.value_and_grad(model, loss_fn)(model, x, m, y)[1]
                from mlx.utils import tree_flatten
                flat = tree_flatten(g)
                print(json.dumps({"event": "grad_check", "tensors": len(flat),
                                  "zero": sum(1 for _, v in flat if mx.abs(v).max().item() == 0)}))
                first = False
            loss = train_step(x, m, y)
            mx.eval(state, loss)
            tot += loss.item()
            nb += 1
        mae, within = score(Xva, Mva, Yva)
        print(json.dumps({"stage": si, "curriculum": st["name"], "epoch": ep,
                          "huber": round(tot / nb, 5), "val_mae_cm": round(mae, 3),
                          "within_1cm": round(within, 1), "ref_mae_cm": round(ref_mae, 2),
                          "batches": nb}))

print(json.dumps({"event": "done", "seconds": round(time.perf_counter() - t0, 1)}))
