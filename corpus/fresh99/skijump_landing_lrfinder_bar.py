"""Ski jumping: classify the landing of a jump from take-off telemetry.

Classes: 0 clean telemark, 1 two-footed, 2 hand/ground touch, 3 fall.
First a learning-rate range test (exponential sweep on a throw-away model,
its loss is expected to blow up at the end of the sweep), then the real run
from fresh weights with the picked rate.  Loss is reported in bits per jump.
"""
import math
import sys
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

LN2 = math.log(2.0)
N_CLASSES = 4
rng = np.random.default_rng(31)


def simulate(n):
    v_takeoff = rng.normal(91.0, 1.6, n)          # km/h
    angle = rng.normal(11.0, 1.2, n)              # take-off angle, degrees
    wind = rng.normal(0.0, 1.1, n)                # m/s, + is head wind
    k_point = rng.choice([90.0, 120.0, 140.0], n)
    flight_m = 0.9 * k_point + 3.2 * (v_takeoff - 91.0) + 2.5 * wind \
        - 1.5 * np.abs(angle - 11.0) + rng.normal(0, 3.0, n)
    over_k = flight_m - k_point                    # distance past the K point
    fatigue = rng.uniform(0.0, 1.0, n)
    ski_gap = rng.normal(0.0, 1.0, n)             # V-style symmetry error
    gust = rng.exponential(0.6, n)
    # made-up landing-quality logits
    z0 = 1.6 - 0.10 * np.maximum(over_k, 0) - 0.8 * fatigue - 0.4 * np.abs(ski_gap)
    z1 = 0.7 + 0.05 * over_k + 0.5 * fatigue
    z2 = -0.8 + 0.12 * np.maximum(over_k, 0) + 0.6 * gust + 0.3 * np.abs(ski_gap)
    z3 = -2.6 + 0.16 * np.maximum(over_k - 5, 0) + 0.9 * gust + 0.5 * ski_gap ** 2
    logits = np.column_stack([z0, z1, z2, z3]) + rng.gumbel(0, 0.45, (n, 4))
    y = logits.argmax(1)
    x = np.column_stack([v_takeoff, angle, wind, k_point / 100.0, flight_m,
                         over_k, fatigue, ski_gap, gust]).astype(np.float32)
    return x, y.astype(np.int32)


class LandingNet(nn.Module):
    def __init__(self, d_in, hidden=96):
        super().__init__()
        self.body = nn.Sequential(
            nn.Linear(d_in, hidden), nn.ReLU(),
            nn.Linear(hidden, hidden), nn.ReLU(),
        )
        self.head = nn.Linear(hidden, N_CLASSES)

    def __call__(self, x):
        return self.head(self.body(x))


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def bits(nats):
    return nats / LN2


def range_test(x, y, lr_lo=1e-4, lr_hi=50.0, steps=120, batch=128):
    """Exponential LR sweep on a disposable model; returns (lrs, smoothed)."""
    mx.random.seed(0)
    probe = LandingNet(x.shape[1])
    opt = optim.SGD(learning_rate=lr_lo, momentum=0.9)
    vg = nn.value_and_grad(probe, loss_fn)
    factor = (lr_hi / lr_lo) ** (1.0 / (steps - 1))
    lrs, smooth, avg = [], [], 0.0
    for i in range(steps):
        lr = lr_lo * factor ** i
        opt.learning_rate = lr
        idx = mx.array(rng.integers(0, x.shape[0], batch))
        loss, g = vg(probe, x[idx], y[idx])
        opt.update(probe, g)
        mx.eval(probe.parameters(), opt.state, loss)
        val = float(loss)
        if not math.isfinite(val):
            val = float("inf")
        avg = 0.9 * avg + 0.1 * val if math.isfinite(val) and math.isfinite(avg) else float("inf")
        lrs.append(lr)
        smooth.append(avg / (1 - 0.9 ** (i + 1)) if math.isfinite(avg) else float("inf"))
    return lrs, smooth


def bar(done, total, width=30):
    filled = int(width * done / total)
    return "[" + "#" * filled + "." * (width - filled) + "]"


def main():
    x_np, y_np = simulate(15000)
    mu, sd = x_np[:12000].mean(0), x_np[:12000].std(0)
    x_all = mx.array((x_np - mu) / sd)
    y_all = mx.array(y_np)
    x_tr, y_tr = x_all[:12000], y_all[:12000]
    x_va, y_va = x_all[12000:], y_all[12000:]
    prior = np.bincount(y_np[:12000], minlength=N_CLASSES) / 12000.0
    prior_bits = float(-(prior * np.log2(prior)).sum())
    print("landing classes (telemark/two-foot/touch/fall): "
          + " ".join(f"{p * 100:.1f}%" for p in prior))
    print(f"entropy of the class prior: {prior_bits:.3f} bits/jump")

    # ---- learning-rate range test (throw-away model) -------------------
    print("\nLR range test (SGD momentum 0.9, exponential sweep, smoothed loss):")
    lrs, smooth = range_test(x_tr, y_tr)
    for i in range(0, len(lrs), 12):
        s = smooth[i]
        shown = f"{bits(s):8.3f} bits" if math.isfinite(s) else "blown up (inf/nan)"
        print(f"  lr {lrs[i]:9.2e}  loss {shown}")
    s_last = smooth[-1]
    print(f"  lr {lrs[-1]:9.2e}  loss "
          + (f"{bits(s_last):8.3f} bits" if math.isfinite(s_last) else "blown up (inf/nan)")
          + "  (end of sweep, probe model discarded)")
    finite = [(s, lr) for s, lr in zip(smooth, lrs) if math.isfinite(s)]
    best_s, best_lr = min(finite)
    lr = best_lr / 10.0
    print(f"minimum smoothed loss {bits(best_s):.3f} bits at lr {best_lr:.2e}"
          f" -> training with lr {lr:.2e}\n")

    # ---- real training from fresh weights ------------------------------
    mx.random.seed(1)
    model = LandingNet(x_tr.shape[1])
    epochs, batch = 10, 128
    steps_per_epoch = x_tr.shape[0] // batch
    total_steps = epochs * steps_per_epoch
    opt = optim.SGD(learning_rate=optim.cosine_decay(lr, total_steps, lr * 0.02),
                    momentum=0.9)
    vg = nn.value_and_grad(model, loss_fn)

    idx0 = mx.arange(batch)
    _, g0 = vg(model, x_tr[idx0], y_tr[idx0])
    flat = tree_flatten(g0)
    dead = [k for k, g in flat if not bool(mx.any(g != 0))]
    print(f"gradient check: {len(flat) - len(dead)}/{len(flat)} leaves non-zero")
    if dead:
        raise SystemExit(f"zero gradient for {dead}")

    def evaluate():
        logits = model(x_va)
        ce = float(nn.losses.cross_entropy(logits, y_va, reduction="mean"))
        acc = float(mx.mean(mx.argmax(logits, axis=1) == y_va)) * 100.0
        return bits(ce), acc

    vb, va = evaluate()
    print(f"untrained: val {vb:.3f} bits/jump, accuracy {va:.1f}%")
    t0 = time.perf_counter()
    for epoch in range(1, epochs + 1):
        perm = mx.array(rng.permutation(x_tr.shape[0]))
        run_sum = 0.0
        for b in range(steps_per_epoch):
            idx = perm[b * batch:(b + 1) * batch]
            loss, grads = vg(model, x_tr[idx], y_tr[idx])
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            run_sum += float(loss)
            if (b + 1) % 5 == 0 or b + 1 == steps_per_epoch:
                sys.stdout.write(f"\repoch {epoch}/{epochs} {bar(b + 1, steps_per_epoch)} "
                                 f"{b + 1:3d}/{steps_per_epoch} "
                                 f"train {bits(run_sum / (b + 1)):.3f} bits/jump")
                sys.stdout.flush()
        vb, va = evaluate()
        sys.stdout.write(f" | val {vb:.3f} bits/jump, acc {va:.1f}%, "
                         f"lr {float(opt.learning_rate):.2e}, {time.perf_counter() - t0:.1f}s\n")
        sys.stdout.flush()
    print(f"done: val {vb:.3f} bits/jump vs prior {prior_bits:.3f}; accuracy {va:.1f}%")


if __name__ == "__main__":
    main()
