"""Harpsichord quill voicing: pick one of four voicing grades for a plectrum
from ten bench measurements, then shrink the middle layer of the classifier
with a truncated SVD and let it heal with a short second run."""

import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

GRADES = ["soft", "medium", "firm", "sharp"]
N_FEAT = 10
RANK = 6

rng = np.random.default_rng(308)
mx.random.seed(308)


def make_bench(n):
    """Synthetic bench log: thickness, taper, length, tip angle, material ..."""
    x = rng.normal(size=(n, N_FEAT)).astype(np.float32)
    return x


# a made-up voicing law with an irreducible noise floor
_A = rng.normal(size=(N_FEAT, 24)).astype(np.float32) / math.sqrt(N_FEAT)
_B = rng.normal(size=(24, 4)).astype(np.float32) * 1.6


def true_logits(x):
    return np.tanh(x @ _A) @ _B


def draw_grades(x):
    g = rng.gumbel(size=(x.shape[0], 4)).astype(np.float32)
    return np.argmax(true_logits(x) + 0.8 * g, axis=1).astype(np.int32)


x_tr_np, x_va_np = make_bench(8000), make_bench(3000)
y_tr_np, y_va_np = draw_grades(x_tr_np), draw_grades(x_va_np)
oracle_acc = float(np.mean(np.argmax(true_logits(x_va_np), 1) == y_va_np))
majority = np.bincount(y_tr_np, minlength=4).argmax()
majority_acc = float(np.mean(y_va_np == majority))

x_tr, y_tr = mx.array(x_tr_np), mx.array(y_tr_np)
x_va, y_va = mx.array(x_va_np), mx.array(y_va_np)


class LowRankLinear(nn.Module):
    """down (no bias) then up (with bias): W ~= U_r S_r V_r^T."""

    def __init__(self, d_in, d_out, rank):
        super().__init__()
        self.down = nn.Linear(d_in, rank, bias=False)
        self.up = nn.Linear(rank, d_out)

    def __call__(self, x):
        return self.up(self.down(x))


class Voicer(nn.Module):
    def __init__(self, width=128):
        super().__init__()
        self.inp = nn.Linear(N_FEAT, width)
        self.mid = nn.Linear(width, width)
        self.out = nn.Linear(width, 4)

    def __call__(self, x):
        h = nn.gelu(self.inp(x))
        h = nn.gelu(self.mid(h))
        return self.out(h)


def n_params(model):
    return sum(v.size for _, v in tree_flatten(model.parameters()))


def loss_fn(model, xb, yb):
    return nn.losses.cross_entropy(model(xb), yb, reduction="mean")


def evaluate(model):
    logits = model(x_va)
    ce = nn.losses.cross_entropy(logits, y_va, reduction="mean")
    acc = mx.mean(mx.argmax(logits, axis=1) == y_va)
    return ce.item(), 100.0 * acc.item()


def run_epochs(model, opt, epochs, batch, report):
    step_fn = nn.value_and_grad(model, loss_fn)
    n = x_tr.shape[0]
    for ep in range(1, epochs + 1):
        perm = mx.array(rng.permutation(n))
        tot, cnt = 0.0, 0
        for i in range(0, n - batch + 1, batch):
            idx = perm[i:i + batch]
            loss, grads = step_fn(model, x_tr[idx], y_tr[idx])
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item()
            cnt += 1
        report(ep, tot / cnt, opt)


def svd_shrink(linear, rank):
    w = np.array(linear.weight)          # (out, in)
    b = np.array(linear.bias)
    u, s, vt = np.linalg.svd(w, full_matrices=False)
    lr_layer = LowRankLinear(w.shape[1], w.shape[0], rank)
    root = np.sqrt(s[:rank])
    lr_layer.down.weight = mx.array((root[:, None] * vt[:rank]).astype(np.float32))
    lr_layer.up.weight = mx.array((u[:, :rank] * root[None, :]).astype(np.float32))
    lr_layer.up.bias = mx.array(b)
    energy = float(np.sum(s[:rank] ** 2) / np.sum(s ** 2))
    return lr_layer, energy


t0 = time.perf_counter()
model = Voicer()
mx.eval(model.parameters())
print(f"bench log: {x_tr.shape[0]} train / {x_va.shape[0]} held-out quills, "
      f"grades {GRADES}")
print(f"reference: majority grade acc {100 * majority_acc:.1f}%   "
      f"voicing-law acc {100 * oracle_acc:.1f}%   chance ce {math.log(4):.3f}")

# stage 1: full-width training, quiet until it is done
opt1 = optim.AdamW(learning_rate=2e-3, weight_decay=1e-4)
history = []
run_epochs(model, opt1, 8, 128,
           lambda ep, tr, o: history.append((ep, tr, *evaluate(model))))
ep, tr, va_ce, va_acc = history[-1]
print(f"[wide]  {len(history)} epochs  train ce {history[0][1]:.4f} -> {tr:.4f}  "
      f"held-out ce {va_ce:.4f}  acc {va_acc:.1f}%  params {n_params(model)}")

# surgery: replace the 128x128 middle layer by a rank-6 factorisation
before = evaluate(model)
model.mid, kept = svd_shrink(model.mid, RANK)
mx.eval(model.parameters())
after = evaluate(model)
print(f"[svd]   mid 128x128 -> rank {RANK} ({100 * kept:.2f}% of spectral energy kept)  "
      f"params {n_params(model)}")
print(f"[svd]   held-out ce {before[0]:.4f} -> {after[0]:.4f}   "
      f"acc {before[1]:.1f}% -> {after[1]:.1f}%")

# stage 2: heal with a fresh optimiser, warm-up from exactly zero
steps_per_epoch = x_tr.shape[0] // 128
heal_epochs = 5
sched = optim.join_schedules(
    [optim.linear_schedule(0.0, 1e-3, 120),
     optim.cosine_decay(1e-3, heal_epochs * steps_per_epoch - 120, 1e-5)],
    [120],
)
opt2 = optim.Adam(learning_rate=sched)


def heal_report(ep, tr, o):
    ce, acc = evaluate(model)
    print(f"[heal]  epoch {ep}  lr {o.learning_rate.item():.2e}  train ce {tr:.4f}  "
          f"held-out ce {ce:.4f}  acc {acc:.1f}%")


run_epochs(model, opt2, heal_epochs, 128, heal_report)
ce, acc = evaluate(model)
print(f"done: rank-{RANK} model acc {acc:.1f}% (wide {before[1]:.1f}%, "
      f"law {100 * oracle_acc:.1f}%, majority {100 * majority_acc:.1f}%)  "
      f"params {n_params(model)}  {time.perf_counter() - t0:.1f}s")
