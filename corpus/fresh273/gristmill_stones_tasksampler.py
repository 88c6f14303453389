"""Gristmill ledgers: three record books of very different sizes, one network.

  A  grind-rate book (9000 entries): kg of flour per hour. Predicted as a mean
     and a log-variance (Gaussian negative log-likelihood), so this loss goes
     below zero once the spread is learned.
  B  miller's stone-dressing notes (1200 entries): which of 4 dressing states
     the runner stone is in.
  C  cart-book (250 entries): number of sacks collected on a visit (Poisson,
     predicted as a log-rate).

Each step draws ONE book with probability proportional to size**(1/T), T=2,
and takes a minibatch from it, so only that book's head receives a gradient
on that step. Stage 1 trains everything; stage 2 freezes the shared trunk and
fine-tunes on the small cart-book alone with a fresh optimizer and a fresh
warmup that starts again from learning rate 0.
"""

import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten

rng = np.random.default_rng(5)
mx.random.seed(5)

D_IN = 7
SIZES = {"A": 9000, "B": 1200, "C": 250}
T = 2.0
STAGE1_STEPS, STAGE2_STEPS = 1800, 300
BATCH = 48
PRINT_EVERY = 450


def readings(n):
    water = rng.uniform(0.3, 1.0, n)        # head of water in the race (m)
    wheel = rng.uniform(4.0, 9.0, n)        # wheel rpm
    moist = rng.uniform(11.0, 17.0, n)      # grain moisture %
    hard = rng.uniform(0.0, 1.0, n)         # wheat hardness index
    gap = rng.uniform(0.1, 0.6, n)          # stone gap (mm)
    days = rng.uniform(0.0, 60.0, n)        # days since last dressing
    temp = rng.uniform(-2.0, 28.0, n)       # mill-house temperature
    return np.stack([water, wheel, moist, hard, gap, days, temp], 1)


def book_a(n):
    x = readings(n)
    water, wheel, moist, hard, gap, days = x[:, 0], x[:, 1], x[:, 2], x[:, 3], x[:, 4], x[:, 5]
    mean = 40 + 35 * water * np.sqrt(wheel / 6) - 1.8 * (moist - 14) - 10 * hard + 25 * gap - 0.15 * days
    spread = 1.0 + 3.0 * hard        # hard wheat makes the rate less steady
    return x, (mean + rng.normal(0, 1, n) * spread).astype(np.float32)


def book_b(n):
    x = readings(n)
    score = 0.06 * x[:, 5] + 1.2 * x[:, 3] - 2.0 * x[:, 4] + rng.normal(0, 0.35, n)
    return x, np.digitize(score, [0.9, 2.0, 3.0]).astype(np.int32)


def book_c(n):
    x = readings(n)
    rate = np.exp(0.8 + 1.2 * x[:, 0] + 0.05 * (x[:, 6] - 13) - 0.6 * x[:, 3])
    return x, rng.poisson(rate).astype(np.float32)


raw = {"A": book_a, "B": book_b, "C": book_c}
data, held = {}, {}
for k, fn in raw.items():
    data[k] = fn(SIZES[k])
    held[k] = fn(1000)
x_mu = np.concatenate([data[k][0] for k in data]).mean(0)
x_sd = np.concatenate([data[k][0] for k in data]).std(0)
a_mu, a_sd = data["A"][1].mean(), data["A"][1].std()


def prep(k, pair):
    x, y = pair
    x = mx.array(((x - x_mu) / x_sd).astype(np.float32))
    if k == "A":
        y = (y - a_mu) / a_sd
    return x, mx.array(y)


data_mx = {k: prep(k, v) for k, v in data.items()}
held_mx = {k: prep(k, v) for k, v in held.items()}


class MillNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.trunk = nn.Sequential(nn.Linear(D_IN, 64), nn.GELU(), nn.Linear(64, 64), nn.GELU())
        self.head_a = nn.Linear(64, 2)   # mean, log-variance
        self.head_b = nn.Linear(64, 4)
        self.head_c = nn.Linear(64, 1)   # log-rate

    def __call__(self, x, book):
        h = self.trunk(x)
        if book == "A":
            return self.head_a(h)
        if book == "B":
            return self.head_b(h)
        return self.head_c(h).squeeze(-1)


def loss_a(out, y):
    mu, logv = out[:, 0], out[:, 1]
    return (0.5 * (logv + (y - mu) ** 2 / mx.exp(logv)) + 0.5 * math.log(2 * math.pi)).mean()


def loss_b(out, y):
    return nn.losses.cross_entropy(out, y).mean()


def loss_c(out, y):
    return (mx.exp(out) - y * out).mean()   # Poisson NLL without log(y!)


LOSS = {"A": loss_a, "B": loss_b, "C": loss_c}


def make_grad_fn(model, book):
    def f(model, x, y):
        return LOSS[book](model(x, book), y)
    return nn.value_and_grad(model, f)


def heldout(model):
    out = {}
    xa, ya = held_mx["A"]
    pa = model(xa, "A")
    out["A_nll"] = loss_a(pa, ya).item()
    out["A_rmse"] = float(np.sqrt(np.mean((np.array(pa[:, 0]) * a_sd + a_mu - held["A"][1]) ** 2)))
    xb, yb = held_mx["B"]
    out["B_acc"] = float(np.mean(np.array(mx.argmax(model(xb, "B"), -1)) == held["B"][1]))
    xc, yc = held_mx["C"]
    out["C_nll"] = loss_c(model(xc, "C"), yc).item()
    return out


# references that need no model
a_const_nll = 0.5 * (math.log(1.0) + 1.0) + 0.5 * math.log(2 * math.pi)  # unit Gaussian on standardised A
a_const_rmse = float(np.sqrt(np.mean((held["A"][1] - a_mu) ** 2)))
b_major = float(np.mean(held["B"][1] == np.bincount(data["B"][1]).argmax()))
c_rate = data["C"][1].mean()
c_const_nll = float(np.mean(c_rate - held["C"][1] * math.log(c_rate)))

w = np.array([SIZES[k] ** (1 / T) for k in "ABC"])
probs = w / w.sum()
print("books:", ", ".join(f"{k}={SIZES[k]}" for k in "ABC"),
      "| draw probabilities (T=2):", ", ".join(f"{k} {p:.2f}" for k, p in zip("ABC", probs)))
print(f"constant-guess references on held-out: A nll {a_const_nll:.3f} rmse {a_const_rmse:.2f} kg/h | "
      f"B acc {b_major:.3f} | C nll {c_const_nll:.3f}")

model = MillNet()
mx.eval(model.parameters())
grad_fns = {k: make_grad_fn(model, k) for k in "ABC"}


def run_stage(name, steps, books, p, peak, warm):
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, peak, warm), optim.cosine_decay(peak, steps - warm, peak * 0.02)], [warm]
    )
    opt = optim.AdamW(learning_rate=sched, weight_decay=1e-4)
    ema = {k: None for k in books}
    counts = {k: 0 for k in books}
    for step in range(1, steps + 1):
        book = books[rng.choice(len(books), p=p)]
        xs, ys = data_mx[book]
        idx = mx.array(rng.integers(0, xs.shape[0], BATCH).astype(np.int32))
        loss, grads = grad_fns[book](model, xs[idx], ys[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        v = loss.item()
        ema[book] = v if ema[book] is None else 0.95 * ema[book] + 0.05 * v
        counts[book] += 1
        if step % PRINT_EVERY == 0 or step == steps:
            h = heldout(model)
            run = "  ".join(f"{k}:{ema[k]:+.3f}" for k in books if ema[k] is not None)
            print(f"[{name}] step {step:4d}  drawn {counts}  running loss {run}  |  held-out "
                  f"A nll {h['A_nll']:+.3f} rmse {h['A_rmse']:.2f}  B acc {h['B_acc']:.3f}  C nll {h['C_nll']:.3f}")
    return opt


t0 = time.perf_counter()
h0 = heldout(model)
print(f"[init] held-out A nll {h0['A_nll']:+.3f} rmse {h0['A_rmse']:.2f}  B acc {h0['B_acc']:.3f}  C nll {h0['C_nll']:.3f}")
run_stage("mix", STAGE1_STEPS, ["A", "B", "C"], probs, 3e-3, 200)

model.trunk.freeze()
trainable = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
print(f"stage 2: trunk frozen, {trainable} trainable parameters left, cart-book only, warmup again from lr 0")
run_stage("cart", STAGE2_STEPS, ["C"], np.array([1.0]), 3e-4, 60)

h = heldout(model)
print(f"done in {time.perf_counter() - t0:.1f}s | held-out A nll {h['A_nll']:+.3f} (constant {a_const_nll:.3f}), "
      f"rmse {h['A_rmse']:.2f} kg/h (constant {a_const_rmse:.2f}) | B acc {h['B_acc']:.3f} (majority {b_major:.3f}) | "
      f"C nll {h['C_nll']:.3f} (constant rate {c_const_nll:.3f})")
