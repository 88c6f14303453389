"""Tachograph shift ledger: how long has the driver been at the wheel?

Each window is a minute-by-minute tachograph trace (noisy speed reading,
engine flag).  The label is the driver's current continuous driving time at
the end of the window, binned into three bands (fresh / due a break soon /
over the limit).  Stops shorter than STOP_MIN minutes do not count as a break.

Model: a two-layer IndRNN (Li et al. 2018), h_t = relu(W x_t + u * h_{t-1} + b)
with an element-wise recurrent weight u that is projected back into
[-U_MAX, U_MAX] after every optimizer step.

Schedule: SGDR (cosine annealing with warm restarts) every CYCLE steps, so
the loss jumps up a little after each restart.  Curriculum: stage 1 uses
short windows, stage 2 long windows with the thresholds scaled, so the loss
also rises at the stage switch before coming down again.
"""

import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten

HIDDEN = 48
BATCH = 64
CYCLE = 120
LR_MAX = 3e-3
LR_MIN = 1e-4
U_MAX = 1.0
STOP_MIN = 4
STAGES = [(40, 240), (80, 240)]  # (window minutes, steps)


def sgdr(step):
    frac = mx.remainder(step, CYCLE).astype(mx.float32) / CYCLE
    return LR_MIN + 0.5 * (LR_MAX - LR_MIN) * (1.0 + mx.cos(math.pi * frac))


def make_batch(rng, n, length):
    thr1, thr2 = length // 4, length // 2
    xs = np.zeros((n, length, 2), dtype=np.float32)
    labels = np.zeros(n, dtype=np.int32)
    for i in range(n):
        driving = np.zeros(length, dtype=bool)
        t = 0
        state = rng.random() < 0.5
        while t < length:
            if state:
                seg = rng.integers(3, length // 2 + 3)
            elif rng.random() < 0.5:
                seg = rng.integers(1, STOP_MIN)  # short stop, not a break
            else:
                seg = rng.integers(STOP_MIN, 12)  # a real break
            driving[t : t + seg] = state
            t += seg
            state = not state
        # continuous driving time at the end: walk back, skipping short stops
        run, k, gap = 0, length - 1, 0
        while k >= 0:
            if driving[k]:
                run += 1 + gap
                gap = 0
            else:
                gap += 1
                if gap >= STOP_MIN:
                    break
            k -= 1
        labels[i] = 0 if run < thr1 else (1 if run < thr2 else 2)
        speed = np.where(driving, rng.uniform(0.5, 1.0, length), 0.0)
        speed = speed + 0.05 * rng.standard_normal(length)
        engine = driving | (rng.random(length) < 0.15)
        xs[i, :, 0] = speed
        xs[i, :, 1] = engine
    return mx.array(xs), mx.array(labels)


class IndRNNLayer(nn.Module):
    def __init__(self, in_dim, hidden):
        super().__init__()
        self.inp = nn.Linear(in_dim, hidden)
        self.u = mx.random.uniform(0.0, U_MAX, (hidden,))

    def __call__(self, x):
        z = self.inp(x)
        h = mx.zeros((x.shape[0], self.u.shape[0]))
        outs = []
        for t in range(x.shape[1]):
            h = nn.relu(z[:, t, :] + self.u * h)
            outs.append(h)
        return mx.stack(outs, axis=1)


class ShiftClassifier(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = IndRNNLayer(2, HIDDEN)
        self.l2 = IndRNNLayer(HIDDEN, HIDDEN)
        self.head = nn.Linear(HIDDEN, 3)

    def __call__(self, x):
        h = self.l2(self.l1(x))
        return self.head(h[:, -1, :])


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def accuracy(model, x, y):
    return mx.mean(mx.argmax(model(x), axis=-1) == y).item()


def project_u(model):
    clipped = 0
    for layer in (model.l1, model.l2):
        over = mx.sum(mx.abs(layer.u) > U_MAX).item()
        clipped += int(over)
        layer.u = mx.clip(layer.u, -U_MAX, U_MAX)
    return clipped


def main():
    mx.random.seed(3)
    rng = np.random.default_rng(3)
    model = ShiftClassifier()
    opt = optim.Adam(learning_rate=sgdr)
    mx.eval(model.parameters())
    n_params = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
    print(f"IndRNN 2x{HIDDEN}, params {n_params}, SGDR cycle {CYCLE} steps")

    step_fn = nn.value_and_grad(model, loss_fn)
    step = 0
    t0 = time.perf_counter()
    for stage, (length, n_steps) in enumerate(STAGES, start=1):
        xv, yv = make_batch(np.random.default_rng(100 + length), 512, length)
        counts = np.bincount(np.array(yv), minlength=3)
        majority = counts.max() / counts.sum()
        print(
            f"== stage {stage}: windows of {length} min, bands <{length // 4} / "
            f"<{length // 2} / >= {length // 2} min, val class share {counts.tolist()}"
        )
        clipped_total = 0
        run_loss = None
        for i in range(n_steps):
            x, y = make_batch(rng, BATCH, length)
            loss, grads = step_fn(model, x, y)
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            clipped_total += project_u(model)
            lv = loss.item()
            run_loss = lv if run_loss is None else 0.9 * run_loss + 0.1 * lv
            step += 1
            restart = step % CYCLE == 0
            if step % 40 == 0 or restart:
                msg = (
                    f"step {step:4d}  lr {opt.learning_rate.item():.5f}  "
                    f"loss {lv:.4f} (avg {run_loss:.4f})  "
                    f"val acc {accuracy(model, xv, yv):.3f} vs majority {majority:.3f}  "
                    f"u clipped {clipped_total}  ({time.perf_counter() - t0:4.1f}s)"
                )
                if restart:
                    msg += "  <- warm restart"
                print(msg)
        val_loss = loss_fn(model, xv, yv).item()
        print(
            f"stage {stage} done: val loss {val_loss:.4f} (uniform guess {math.log(3):.4f}), "
            f"val acc {accuracy(model, xv, yv):.3f} vs majority {majority:.3f}"
        )
    u1 = model.l1.u
    print(
        f"layer-1 u: min {mx.min(u1).item():.3f} max {mx.max(u1).item():.3f} "
        f"(bound {U_MAX})"
    )


if __name__ == "__main__":
    main()
