"""Clock workshop timegrapher: which escapement fault a movement has.

Five classes (in beat / worn pallet / bent hairspring / dry pivot / loose
roller) from 10 synthetic timegrapher readings. Lion optimizer, decay only on
2-D weights (a second Lion without decay holds biases and LayerNorm), lr that
warms up from exactly 0 and then runs three cosine cycles of doubling length
(warm restarts: the lr jumps back up at each cycle start). At the start of the last cycle the optimizer is rebuilt with
fresh moment buffers on purpose. Progress is only printed at cycle ends.
"""
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

CLASSES = ["in_beat", "worn_pallet", "bent_spring", "dry_pivot", "loose_roller"]
PRIOR = [0.40, 0.18, 0.16, 0.14, 0.12]


def make_data(n, rng):
    c = rng.choice(5, n, p=PRIOR)
    rate = rng.normal(0, 6, n)          # s/day
    amp = rng.normal(285, 12, n)        # degrees
    beat_err = np.abs(rng.normal(0.3, 0.2, n))
    lift = rng.normal(52, 1.5, n)
    pos_var = np.abs(rng.normal(8, 3, n))
    noise_floor = rng.normal(0, 1, n)
    amp_drop = np.abs(rng.normal(10, 4, n))
    iso = rng.normal(0, 2, n)
    tick_w = rng.normal(4.0, 0.4, n)
    tock_w = tick_w + rng.normal(0, 0.2, n)
    amp -= 35 * (c == 3) + 10 * (c == 1)
    beat_err += 1.1 * (c == 1) + 0.5 * (c == 4)
    rate += 18 * (c == 2) * rng.choice([-1, 1], n)
    pos_var += 14 * (c == 2) + 6 * (c == 3)
    amp_drop += 22 * (c == 3)
    tock_w += 1.2 * (c == 4) - 0.4 * (c == 1)
    iso += 5 * (c == 2)
    noise_floor += 1.5 * (c == 4)
    X = np.stack([rate, amp, beat_err, lift, pos_var, noise_floor, amp_drop,
                  iso, tick_w, tock_w], 1)
    X += rng.normal(0, 1, X.shape) * X.std(0) * 0.35
    return X.astype(np.float32), c.astype(np.int32)


class Timegrapher(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Linear(10, 96)
        self.na = nn.LayerNorm(96)
        self.b = nn.Linear(96, 96)
        self.nb = nn.LayerNorm(96)
        self.out = nn.Linear(96, 5)

    def __call__(self, x):
        h = nn.gelu(self.na(self.a(x)))
        h = nn.gelu(self.nb(self.b(h))) + h
        return self.out(h)


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, label_smoothing=0.05, reduction="mean")


WARM = 100
CYCLES = [300, 600, 1200]
PEAK = 4e-4


def lr_plan(start_cycle=0):
    pieces, bounds, t = [], [], 0
    if start_cycle == 0:
        pieces.append(optim.linear_schedule(0.0, PEAK, WARM))
        t = WARM
        bounds.append(t)
    for k, length in enumerate(CYCLES[start_cycle:]):
        pieces.append(optim.cosine_decay(PEAK, length, PEAK * 0.02))
        t += length
        bounds.append(t)
    return optim.join_schedules(pieces, bounds[:-1])


def make_opt(start_cycle=0):
    return optim.MultiOptimizer(
        [optim.Lion(learning_rate=lr_plan(start_cycle), betas=[0.9, 0.99], weight_decay=0.1),
         optim.Lion(learning_rate=lr_plan(start_cycle), betas=[0.9, 0.99], weight_decay=0.0)],
        [lambda path, p: p.ndim == 2])


def metrics(model, x, y_np):
    pred = np.array(mx.argmax(model(x), axis=1))
    acc = float(np.mean(pred == y_np))
    f1s = []
    for k in range(5):
        tp = np.sum((pred == k) & (y_np == k))
        fp = np.sum((pred == k) & (y_np != k))
        fn = np.sum((pred != k) & (y_np == k))
        f1s.append(2 * tp / max(2 * tp + fp + fn, 1))
    return acc, float(np.mean(f1s))


def main():
    t0 = time.time()
    rng = np.random.default_rng(2024)
    Xtr, ytr = make_data(12000, rng)
    Xte, yte = make_data(3000, rng)
    mu, sd = Xtr.mean(0), Xtr.std(0)
    xtr, xte = mx.array((Xtr - mu) / sd), mx.array((Xte - mu) / sd)
    ytr_m, yte_m = mx.array(ytr), mx.array(yte)
    maj = np.bincount(ytr).argmax()
    print(f"timegrapher set: {len(ytr)} train / {len(yte)} test movements; "
          f"majority-class ({CLASSES[maj]}) test accuracy {np.mean(yte == maj):.3f}, macro-F1 "
          f"{2 * np.mean(yte == maj) / (1 + np.mean(yte == maj)) / 5:.3f}")

    mx.random.seed(5)
    model = Timegrapher()
    mx.eval(model.parameters())
    opt = make_opt()
    vg = nn.value_and_grad(model, loss_fn)
    rng_b = np.random.default_rng(9)
    bs = 96

    ends = np.cumsum([WARM] + CYCLES)
    total = int(ends[-1])
    run_loss, run_n = 0.0, 0
    cycle = 0
    for it in range(total):
        if it == ends[2]:
            opt = make_opt(start_cycle=2)
            print(f"  [step {it}] optimizer rebuilt for the last cycle (moment buffers start from zero)")
        idx = mx.array(rng_b.integers(0, len(ytr), bs))
        loss, grads = vg(model, xtr[idx], ytr_m[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        run_loss += loss.item()
        run_n += 1
        if it + 1 in ends:
            te_loss = loss_fn(model, xte, yte_m).item()
            acc, f1 = metrics(model, xte, yte)
            lr_now = opt.optimizers[0].learning_rate.item()
            tag = "warm-up" if cycle == 0 else f"cycle {cycle}"
            print(f"{tag:>8s} end @ step {it + 1:4d}  lr {lr_now:.2e}  mean train CE {run_loss / run_n:.4f}  "
                  f"test CE {te_loss:.4f}  acc {acc:.3f}  macro-F1 {f1:.3f}")
            run_loss, run_n = 0.0, 0
            cycle += 1
        elif cycle >= 1 and (it + 1) == ends[cycle - 1] + 20:
            print(f"          20 steps into cycle {cycle}: lr back up to "
                  f"{opt.optimizers[0].learning_rate.item():.2e}, batch CE {loss.item():.4f}")
    w = float(mx.sqrt(mx.mean(model.b.weight ** 2)).item())
    g = float(mx.mean(model.nb.weight).item())
    print(f"decayed weight rms {w:.3f}; LayerNorm gain mean {g:.3f} (not decayed)")
    print(f"finished {total} steps in {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
