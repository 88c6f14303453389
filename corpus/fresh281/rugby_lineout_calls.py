"""Rugby lineout calls: will the throw be won cleanly?

Training utilities in plain user code: a run logger that tees to a file,
phase timers, gradient accumulation, warm-up from lr 0, periodic
checkpoints and a reload of the best one.  Synthetic match data.
"""
import contextlib
import math
import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

rng = np.random.default_rng(11)
mx.random.seed(11)


class RunLogger:
    """print() plus a copy in a log file, each line stamped with seconds since start."""

    def __init__(self, path):
        self.t0 = time.perf_counter()
        self.f = open(path, "w")
        self.path = path

    def __call__(self, msg):
        line = f"[{time.perf_counter() - self.t0:7.2f}s] {msg}"
        print(line, flush=True)
        self.f.write(line + "\n")

    def close(self):
        self.f.close()


@contextlib.contextmanager
def phase(log, name, timings):
    t = time.perf_counter()
    yield
    timings[name] = time.perf_counter() - t
    log(f"phase '{name}' took {timings[name]:.2f}s")


workdir = tempfile.mkdtemp("_lineout")
log = RunLogger(os.path.join(workdir, "run.log"))
timings = {}

# ------------------------------------------------------------------ data (slow on purpose: row by row)
CALLS = ["front", "middle", "back", "dummy_middle", "quick_front", "peel"]


def one_throw():
    call = rng.integers(0, len(CALLS))
    metres = [5.0, 9.0, 13.0, 9.0, 5.0, 11.0][call] + rng.normal(0, 0.8)
    jumper_cm = rng.normal(198, 5)
    lifter_sync = rng.beta(5, 2)
    wind = rng.normal(0, 6)                      # km/h across the throw
    contested = rng.random() < 0.45
    opp_jumper_cm = rng.normal(197, 5)
    minute = rng.uniform(0, 80)
    own_half = rng.random() < 0.5
    z = (
        1.6
        - 0.11 * (metres - 5.0)
        + 0.06 * (jumper_cm - 198)
        + 2.2 * (lifter_sync - 0.7)
        - 0.04 * abs(wind) * (metres / 9.0)
        - contested * (0.9 + 0.07 * (opp_jumper_cm - jumper_cm) + 0.5 * (call in (0, 4)))
        + 0.6 * (call in (3, 5))
        - 0.012 * max(minute - 55.0, 0.0)
        + 0.2 * own_half
    )
    won = rng.random() < 1.0 / (1.0 + math.exp(-z))
    feats = [
        (metres - 9.0) / 3.0, (jumper_cm - 198) / 5, (lifter_sync - 0.7) / 0.16,
        wind / 6, float(contested), (opp_jumper_cm - 197) / 5, minute / 80 - 0.5, float(own_half),
    ]
    onehot = [0.0] * len(CALLS)
    onehot[call] = 1.0
    return feats + onehot, float(won)


with phase(log, "synthesise throws", timings):
    rows = [one_throw() for _ in range(52000)]
    X = np.array([r[0] for r in rows], dtype=np.float32)
    y = np.array([r[1] for r in rows], dtype=np.float32)

n_tr, n_va = 36000, 8000
Xtr, ytr = mx.array(X[:n_tr]), mx.array(y[:n_tr])
Xva, yva = mx.array(X[n_tr:n_tr + n_va]), mx.array(y[n_tr:n_tr + n_va])
Xte, yte = mx.array(X[n_tr + n_va:]), mx.array(y[n_tr + n_va:])

base_rate = float(y[:n_tr].mean())
base_bits = -(base_rate * math.log2(base_rate) + (1 - base_rate) * math.log2(1 - base_rate))
log(f"throws: train {n_tr}, val {n_va}, test {len(y) - n_tr - n_va}; won cleanly {100 * base_rate:.1f}%")
log(f"baselines: always-'won' accuracy {100 * max(base_rate, 1 - base_rate):.1f}%, "
    f"base-rate log loss {base_bits:.4f} bits/throw")


# ------------------------------------------------------------------ model
class LineoutNet(nn.Module):
    def __init__(self, d_in):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(d_in, 64), nn.GELU(), nn.Linear(64, 64), nn.GELU())
        self.head = nn.Linear(64, 1)

    def __call__(self, x):
        return self.head(self.body(x)).squeeze(-1)


def bce(model, x, t):
    return nn.losses.binary_cross_entropy(model(x), t, with_logits=True, reduction="mean")


def evaluate(model, x, t):
    logits = model(x)
    nats = nn.losses.binary_cross_entropy(logits, t, with_logits=True, reduction="mean").item()
    acc = mx.mean((logits > 0) == (t > 0.5)).item()
    return nats / math.log(2.0), acc


model = LineoutNet(X.shape[1])
mx.eval(model.parameters())
log(f"model: {sum(v.size for _, v in tree_flatten(model.parameters()))} parameters")

MICRO, ACCUM, EPOCHS = 32, 4, 10
updates_per_epoch = n_tr // (MICRO * ACCUM)
warm = updates_per_epoch                      # one epoch of warm-up starting at lr 0
sched = optim.join_schedules(
    [optim.linear_schedule(0.0, 2e-3, warm),
     optim.cosine_decay(2e-3, EPOCHS * updates_per_epoch - warm, 1e-4)],
    [warm],
)
opt = optim.AdamW(learning_rate=sched, weight_decay=1e-4)
grad_fn = nn.value_and_grad(model, bce)

bits0, acc0 = evaluate(model, Xva, yva)
log(f"untrained: val {bits0:.4f} bits/throw (excess over base rate {bits0 - base_bits:+.4f}), acc {100 * acc0:.1f}%")
log(f"plan: {EPOCHS} epochs x {updates_per_epoch} updates, {ACCUM} micro-batches of {MICRO} per update, "
    f"first update at lr {float(sched(mx.array(0))):.1e}; quiet between epoch lines")

ckpts = []
with phase(log, "train", timings):
    for epoch in range(1, EPOCHS + 1):
        perm = mx.array(rng.permutation(n_tr))
        run = mx.array(0.0)
        for u in range(updates_per_epoch):
            acc_grads = None
            for k in range(ACCUM):
                s = (u * ACCUM + k) * MICRO
                idx = perm[s:s + MICRO]
                loss, g = grad_fn(model, Xtr[idx], ytr[idx])
                acc_grads = g if acc_grads is None else tree_map(mx.add, acc_grads, g)
                run = run + loss
            acc_grads = tree_map(lambda a: a / ACCUM, acc_grads)
            opt.update(model, acc_grads)
            mx.eval(model.parameters(), opt.state, run)
        lr_now = float(opt.learning_rate.item())
        train_bits = run.item() / (updates_per_epoch * ACCUM) / math.log(2.0)
        vb, va = evaluate(model, Xva, yva)
        if epoch % 2 == 0:
            path = os.path.join(workdir, f"epoch{epoch:02d}.safetensors")
            model.save_weights(path)
            ckpts.append((vb, epoch, path))
        log(f"epoch {epoch:2d} lr {lr_now:.2e} train {train_bits:.4f} b  val {vb:.4f} b "
            f"(excess {vb - base_bits:+.4f})  val acc {100 * va:.1f}%"
            + ("  [ckpt]" if epoch % 2 == 0 else ""))

with phase(log, "reload best checkpoint and test", timings):
    best_bits, best_epoch, best_path = min(ckpts)
    fresh = LineoutNet(X.shape[1])
    fresh.load_weights(best_path)
    mx.eval(fresh.parameters())
    tb, ta = evaluate(fresh, Xte, yte)
    log(f"best checkpoint: epoch {best_epoch} (val {best_bits:.4f} b) of {len(ckpts)} saved")
    log(f"test: {tb:.4f} bits/throw (excess over base rate {tb - base_bits:+.4f}), "
        f"acc {100 * ta:.1f}% vs always-'won' {100 * float(np.mean(y[n_tr + n_va:] > 0.5)):.1f}%")

log("timings: " + ", ".join(f"{k} {v:.2f}s" for k, v in timings.items()))
log.close()
with open(log.path) as f:
    n_lines = sum(1 for _ in f)
print(f"log file kept {n_lines} lines")
