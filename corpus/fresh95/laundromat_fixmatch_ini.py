"""Laundromat washer phase recognition from drum vibration traces, FixMatch style.

Only 15 traces per phase are labelled; 6000 more are unlabelled.  A small 1-D
conv net (NLC layout) is trained with the FixMatch recipe: supervised CE on the
labelled batch plus CE of the strongly augmented view against the confident
(>= 0.95) argmax of the weakly augmented view.  Early on almost no unlabelled
trace passes the threshold, so the unlabelled loss starts near 0 and RISES as
the mask fills up; that is expected.

Progress is written as INI sections (configparser) to stdout.
"""

import configparser
import sys
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

PHASES = ["fill", "agitate", "drain", "spin_ramp", "spin_hold"]
L = 32
rng = np.random.default_rng(7)


def make_traces(n):
    y = rng.integers(0, len(PHASES), size=n)
    t = np.arange(L, dtype=np.float32)[None, :]
    gain = rng.uniform(0.6, 1.4, size=(n, 1)).astype(np.float32)
    phase = rng.uniform(0, 2 * np.pi, size=(n, 1)).astype(np.float32)
    x = np.zeros((n, L), np.float32)
    for k in range(len(PHASES)):
        m = y == k
        if not m.any():
            continue
        tt = np.broadcast_to(t, (m.sum(), L))
        g, p = gain[m], phase[m]
        if k == 0:    # fill: low hum slowly rising (water weight)
            x[m] = g * (0.15 + 0.02 * tt) * np.sin(0.9 * tt + p)
        elif k == 1:  # agitate: slow back-and-forth bursts
            x[m] = g * np.sign(np.sin(0.35 * tt + p)) * np.abs(np.sin(1.3 * tt))
        elif k == 2:  # drain: decaying wobble
            x[m] = g * np.exp(-0.09 * tt) * np.sin(0.6 * tt + p)
        elif k == 3:  # spin ramp: chirp, frequency grows
            x[m] = g * np.sin(0.05 * tt ** 2 + p) * (0.4 + 0.02 * tt)
        else:         # spin hold: fast steady oscillation
            x[m] = g * 0.9 * np.sin(2.4 * tt + p)
    x += rng.normal(0, 0.25, size=x.shape).astype(np.float32)
    return x[..., None], y.astype(np.int32)


def weak_aug(x):
    # +-2 sample circular shift and a mild gain change
    shift = rng.integers(-2, 3)
    g = rng.uniform(0.9, 1.1, size=(x.shape[0], 1, 1)).astype(np.float32)
    return np.roll(x, shift, axis=1) * g


def strong_aug(x):
    x = weak_aug(x)
    x = x + rng.normal(0, 0.35, size=x.shape).astype(np.float32)
    # cut out a random 8-sample window per trace
    start = rng.integers(0, L - 8, size=x.shape[0])
    idx = np.arange(L)[None, :]
    cut = (idx >= start[:, None]) & (idx < start[:, None] + 8)
    x = np.where(cut[..., None], 0.0, x)
    return x * rng.uniform(0.7, 1.3, size=(x.shape[0], 1, 1)).astype(np.float32)


class VibNet(nn.Module):
    def __init__(self, n_classes):
        super().__init__()
        self.c1 = nn.Conv1d(1, 16, kernel_size=5, padding=2)
        self.c2 = nn.Conv1d(16, 32, kernel_size=5, stride=2, padding=2)
        self.head = nn.Linear(64, n_classes)

    def __call__(self, x):            # x: (B, L, 1)
        h = nn.relu(self.c1(x))
        h = nn.relu(self.c2(h))       # (B, L/2, 32)
        pooled = mx.concatenate([h.mean(axis=1), h.max(axis=1)], axis=-1)
        return self.head(pooled)


class FixMatch:
    def __init__(self, model, threshold=0.95, lambda_u=1.0):
        self.model = model
        self.threshold = threshold
        self.lambda_u = lambda_u

    def loss(self, model, xl, yl, xw, xs):
        sup = nn.losses.cross_entropy(model(xl), yl, reduction="mean")
        probs = mx.softmax(mx.stop_gradient(model(xw)), axis=-1)
        conf = probs.max(axis=-1)
        pseudo = probs.argmax(axis=-1)
        mask = (conf >= self.threshold).astype(mx.float32)
        ce_u = nn.losses.cross_entropy(model(xs), pseudo, reduction="none")
        unsup = (ce_u * mask).mean()
        return sup + self.lambda_u * unsup, (sup, unsup, mask.mean(), pseudo, mask)


def accuracy(model, x, y, bs=500):
    hits = 0
    for i in range(0, len(x), bs):
        p = model(mx.array(x[i:i + bs])).argmax(axis=-1)
        hits += int((p == mx.array(y[i:i + bs])).sum().item())
    return 100.0 * hits / len(x)


def emit(title, **fields):
    cp = configparser.ConfigParser()
    cp[title] = {k: (f"{v:.4f}" if isinstance(v, float) else str(v)) for k, v in fields.items()}
    cp.write(sys.stdout)
    sys.stdout.flush()


def main():
    mx.random.seed(3)
    # labelled pool: exactly 15 per phase
    xs_all, ys_all = make_traces(4000)
    pick = np.concatenate([np.where(ys_all == k)[0][:15] for k in range(len(PHASES))])
    xl_pool, yl_pool = xs_all[pick], ys_all[pick]
    xu_pool, yu_hidden = make_traces(6000)     # labels only used for monitoring
    x_test, y_test = make_traces(2000)

    model = VibNet(len(PHASES))
    fm = FixMatch(model)
    steps = 700
    sched = optim.cosine_decay(0.03, steps, end=0.003)
    opt = optim.SGD(learning_rate=sched, momentum=0.9, nesterov=True, weight_decay=5e-4)
    loss_and_grad = nn.value_and_grad(model, fm.loss)

    emit("data", labelled=len(xl_pool), unlabelled=len(xu_pool), test=len(x_test),
         phases=",".join(PHASES), untrained_test_acc_pct=accuracy(model, x_test, y_test))

    B, MU = 25, 4
    t0 = time.perf_counter()
    win = {"sup": 0.0, "unsup": 0.0, "mask": 0.0, "pl_hit": 0.0, "pl_n": 0.0, "n": 0}
    for step in range(1, steps + 1):
        li = rng.integers(0, len(xl_pool), size=B)
        ui = rng.integers(0, len(xu_pool), size=B * MU)
        xl = mx.array(weak_aug(xl_pool[li]))
        yl = mx.array(yl_pool[li])
        xu = xu_pool[ui]
        xw, xs = mx.array(weak_aug(xu)), mx.array(strong_aug(xu))
        (obj, (sup, unsup, mrate, pseudo, mask)), grads = loss_and_grad(model, xl, yl, xw, xs)

        if step == 1:
            flat = tree_flatten(grads)
            zero = [k for k, g in flat if float(mx.abs(g).max().item()) == 0.0]
            emit("grad_check", leaves=len(flat), zero_grad_leaves=",".join(zero) or "none")
            if zero:
                raise SystemExit("some parameters get no gradient")

        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, obj, sup, unsup, mrate, pseudo, mask)

        m = np.array(mask) > 0
        win["sup"] += sup.item()
        win["unsup"] += unsup.item()
        win["mask"] += mrate.item()
        win["pl_hit"] += float((np.array(pseudo)[m] == yu_hidden[ui][m]).sum())
        win["pl_n"] += float(m.sum())
        win["n"] += 1

        if step % 100 == 0 or step == 1:
            n = win["n"]
            emit(f"step {step}",
                 lr=float(opt.learning_rate.item()),
                 sup_ce=win["sup"] / n,
                 unsup_ce=win["unsup"] / n,
                 mask_rate_pct=100.0 * win["mask"] / n,
                 pseudo_label_acc_pct=(100.0 * win["pl_hit"] / win["pl_n"]) if win["pl_n"] else float("nan"),
                 test_acc_pct=accuracy(model, x_test, y_test),
                 elapsed_s=time.perf_counter() - t0)
            win = {k: 0 if k == "n" else 0.0 for k in win}

    emit("done", steps=steps, final_test_acc_pct=accuracy(model, x_test, y_test),
         wall_s=time.perf_counter() - t0)


if __name__ == "__main__":
    main()
