"""Identify which of 4 Morse operators ("fists") keyed a message from its timing.

Each message is a sequence of key-down / key-up durations, quantised into 32
duration bins.  The bins are looked up in a FIXED random codebook (an nn.Embedding
frozen on purpose, it is shared with another tool), followed by a small conv + pooling
classifier that is trained.  The learning rate warms up from exactly 0.
"""
import json
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

SEQ = 48
NBINS = 32
N_OPS = 4


def make_messages(n, rng):
    # each operator has a dot length, a dash/dot ratio, gap habits and jitter
    ops = [dict(dot=60, ratio=3.0, gap=1.0, jit=0.10),
           dict(dot=60, ratio=3.6, gap=1.3, jit=0.12),
           dict(dot=75, ratio=2.7, gap=1.0, jit=0.18),
           dict(dot=75, ratio=3.1, gap=1.6, jit=0.10)]
    X = np.zeros((n, SEQ), dtype=np.int32)
    y = rng.integers(0, N_OPS, size=n)
    for i in range(n):
        o = ops[y[i]]
        wpm_scale = rng.uniform(0.85, 1.15)   # speed varies message to message
        dur = []
        for t in range(SEQ):
            if t % 2 == 0:   # key down: dot or dash
                base = o["dot"] * (o["ratio"] if rng.random() < 0.45 else 1.0)
            else:            # key up: element gap, sometimes a letter gap
                base = o["dot"] * (o["gap"] * 3 if rng.random() < 0.3 else o["gap"])
            dur.append(base * wpm_scale * (1 + o["jit"] * rng.standard_normal()))
        d = np.log(np.clip(np.array(dur), 10, 1000))
        X[i] = np.clip(((d - np.log(10)) / (np.log(1000) - np.log(10)) * NBINS).astype(int), 0, NBINS - 1)
    return X, y.astype(np.int32)


class FistNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.codebook = nn.Embedding(NBINS, 12)
        self.conv = nn.Conv1d(12, 32, kernel_size=4)
        self.head = nn.Linear(64, N_OPS)

    def __call__(self, tok):
        h = self.codebook(tok)                 # (B, L, 12)  NLC
        h = nn.relu(self.conv(h))              # (B, L-3, 32)
        h = mx.concatenate([h.mean(axis=1), h.max(axis=1)], axis=-1)
        return self.head(h)


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def evaluate(model, X, y, bs=500):
    tot, correct = 0.0, 0
    for i in range(0, len(y), bs):
        xb, yb = mx.array(X[i:i + bs]), mx.array(y[i:i + bs])
        logits = model(xb)
        tot += nn.losses.cross_entropy(logits, yb, reduction="sum").item()
        correct += (logits.argmax(axis=-1) == yb).sum().item()
    return tot / len(y), correct / len(y)


def main():
    rng = np.random.default_rng(7)
    mx.random.seed(7)
    Xtr, ytr = make_messages(4000, rng)
    Xva, yva = make_messages(800, rng)

    model = FistNet()
    model.codebook.freeze()          # fixed codebook: not trained on purpose
    mx.eval(model.parameters())
    codebook0 = np.array(model.codebook.weight)

    epochs, bs = 10, 50
    steps_per_epoch = len(ytr) // bs
    total = epochs * steps_per_epoch
    warm = 60
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, 3e-3, warm), optim.cosine_decay(3e-3, total - warm, 1e-4)],
        [warm])
    opt = optim.Adam(learning_rate=sched)
    vg = nn.value_and_grad(model, loss_fn)

    trainable = [k for k, _ in tree_flatten(model.trainable_parameters())]
    print(json.dumps({"event": "data", "train": int(len(ytr)), "valid": int(len(yva)),
                      "trainable_leaves": trainable, "chance_ce": round(float(np.log(N_OPS)), 4)}))
    vl, va = evaluate(model, Xva, yva)
    print(json.dumps({"event": "untrained", "valid_ce": round(vl, 4), "valid_acc": round(va, 4)}))

    t0 = time.perf_counter()
    step = 0
    for ep in range(1, epochs + 1):
        perm = rng.permutation(len(ytr))
        run = []
        for b in range(steps_per_epoch):
            idx = perm[b * bs:(b + 1) * bs]
            xb, yb = mx.array(Xtr[idx]), mx.array(ytr[idx])
            loss, grads = vg(model, xb, yb)
            if step == 0:
                flat = tree_flatten(grads)
                zero = [k for k, g in flat if float(mx.abs(g).max()) == 0.0]
                print(json.dumps({"event": "grad_check", "leaves": len(flat), "zero_leaves": zero,
                                  "lr_at_step0": float(opt.learning_rate)}))
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            run.append(loss.item())
            step += 1
        vl, va = evaluate(model, Xva, yva)
        print(json.dumps({"event": "epoch", "epoch": ep, "step": step,
                          "lr": round(float(opt.learning_rate), 6),
                          "train_ce": round(float(np.mean(run)), 4),
                          "valid_ce": round(vl, 4), "valid_acc": round(va, 4),
                          "secs": round(time.perf_counter() - t0, 2)}))
    drift = float(np.abs(np.array(model.codebook.weight) - codebook0).max())
    print(json.dumps({"event": "done", "codebook_max_change": drift, "final_valid_acc": round(va, 4)}))


if __name__ == "__main__":
    main()
