"""Bell foundry: predict how far each of five partials of a cast bell lands from
its ideal (hum, prime, tierce, quint, nominal; in cents) from the profile the
moulder used.  Used to decide how much metal the tuner has to turn off.

Optimiser: Muon for the weight matrices, AdamW for biases, both on SGDR
(cosine with warm restarts, cycle length doubling), so the training loss
jumps up at each restart by design.
"""
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

PARTIALS = ["hum", "prime", "tierce", "quint", "nominal"]
PROFILE = ["diameter", "waist_thick", "soundbow_thick", "shoulder_r", "lip_angle", "crown_h", "tin_pct"]


def cast_bells(rng, n):
    p = rng.uniform(-1.0, 1.0, size=(n, len(PROFILE)))
    d, w, s, sh, lip, cr, tin = p.T
    cents = np.stack([
        35 * w - 20 * s + 15 * np.sin(2.0 * sh) + 8 * d * w,
        -25 * s + 18 * cr + 10 * np.tanh(3 * lip),
        30 * np.tanh(2 * (w - s)) - 12 * tin + 6 * d,
        -15 * sh + 20 * lip * cr + 9 * np.cos(2.5 * w),
        12 * d - 28 * lip + 14 * s * sh - 10 * tin,
    ], axis=1)
    noise = rng.normal(0.0, 3.0, size=cents.shape)  # casting scatter, ~3 cents
    return p.astype(np.float32), (cents + noise).astype(np.float32)


class PartialNet(nn.Module):
    def __init__(self, hidden=64):
        super().__init__()
        self.l1 = nn.Linear(len(PROFILE), hidden)
        self.l2 = nn.Linear(hidden, hidden)
        self.out = nn.Linear(hidden, len(PARTIALS))

    def __call__(self, x):
        h = nn.gelu(self.l1(x))
        h = nn.gelu(self.l2(h))
        return self.out(h)


def sgdr(peak, floor, first_cycle, mult=2):
    """Cosine with warm restarts; returns a schedule callable and the restart steps."""
    starts, lengths = [0], [first_cycle]
    while starts[-1] + lengths[-1] < 100000:
        starts.append(starts[-1] + lengths[-1])
        lengths.append(lengths[-1] * mult)
    starts_a = mx.array(starts)
    lengths_a = mx.array(lengths)

    def schedule(step):
        k = mx.sum(step >= starts_a) - 1
        t = (step - starts_a[k]).astype(mx.float32) / lengths_a[k].astype(mx.float32)
        return floor + 0.5 * (peak - floor) * (1.0 + mx.cos(mx.pi * t))

    return schedule, starts


SCALE = 10.0  # targets are trained in units of 10 cents


def huber_loss(model, x, y):
    return nn.losses.huber_loss(model(x), y / SCALE, delta=1.0, reduction="mean")


def evaluate(model, x, y):
    pred = model(x) * SCALE
    err = mx.abs(pred - y)
    mae = mx.mean(err, axis=0)
    within = mx.mean(mx.all(err <= 5.0, axis=1))
    return np.array(mae), float(within.item())


def main():
    t0 = time.perf_counter()
    rng = np.random.default_rng(1894)
    mx.random.seed(1894)
    xtr, ytr = cast_bells(rng, 12000)
    xva, yva = cast_bells(rng, 2000)
    Xtr, Ytr, Xva, Yva = map(mx.array, (xtr, ytr, xva, yva))

    model = PartialNet()
    muon_lr, muon_starts = sgdr(0.02, 0.0005, first_cycle=150)
    adam_lr, _ = sgdr(3e-3, 5e-5, first_cycle=150)
    opt = optim.MultiOptimizer(
        [optim.Muon(learning_rate=muon_lr, momentum=0.95), optim.AdamW(learning_rate=adam_lr, weight_decay=0.0)],
        [lambda path, p: p.ndim == 2],
    )
    step_fn = nn.value_and_grad(model, huber_loss)

    total = 150 + 300 + 600 + 1200  # four full cycles
    restarts = [s for s in muon_starts if 0 < s < total]
    batch = 128

    print("Bell foundry partial-tuning model")
    print("=================================")
    print(f"profiles: {', '.join(PROFILE)}")
    print(f"partials: {', '.join(PARTIALS)} (cents from ideal; casting scatter 3 cents)")
    print(f"bells: {len(xtr)} train / {len(xva)} check")
    print(f"spread of targets (std, cents): " + ", ".join(f"{s:.1f}" for s in ytr.std(0)))
    print(f"optimiser: Muon on 2-D weights, AdamW on biases; SGDR restarts at steps {restarts}")

    mae0, w0 = evaluate(model, Xva, Yva)
    print(f"untrained: mean abs error {mae0.mean():.2f} cents, bells with all partials within 5 cents {100*w0:.1f}%")

    perm, cur = rng.permutation(len(xtr)), 0
    running = []
    cycle = 1
    print()
    print(f"[cycle {cycle}]")
    for step in range(1, total + 1):
        if step - 1 in restarts:
            cycle += 1
            print(f"[cycle {cycle}]  (warm restart: learning rate back to peak)")
        if cur + batch > len(perm):
            perm, cur = rng.permutation(len(xtr)), 0
        idx = mx.array(perm[cur:cur + batch]); cur += batch
        loss, grads = step_fn(model, Xtr[idx], Ytr[idx])
        if step == 1:
            flat = tree_flatten(grads)
            sizes = [f"{k}={float(mx.max(mx.abs(g)).item()):.2e}" for k, g in flat]
            print("  first-step max|grad|: " + " ".join(sizes))
            if any(float(mx.max(mx.abs(g)).item()) == 0.0 for _, g in flat):
                raise SystemExit("a parameter got no gradient")
        opt.update(model, grads)
        mx.eval(loss, model.parameters(), opt.state)
        running.append(loss.item())
        if step % 75 == 0:
            lr_m = muon_lr(mx.array(step - 1)).item()
            mae, within = evaluate(model, Xva, Yva)
            print(f"  step = {step:4d}   muon_lr = {lr_m:.4f}   train_huber(last 75) = {np.mean(running):.4f}   "
                  f"check_mae_cents = {mae.mean():5.2f}   within_5c = {100*within:5.1f}%")
            running = []
    mae, within = evaluate(model, Xva, Yva)
    print()
    print("[final]")
    for name, m in zip(PARTIALS, mae):
        print(f"  {name:8s} mean abs error = {m:5.2f} cents")
    print(f"  all partials within 5 cents: {100*within:.1f}% of check bells")
    print(f"  (noise floor: mean abs error of 3-cent scatter is ~{3*np.sqrt(2/np.pi):.2f} cents)")
    print(f"  elapsed = {time.perf_counter()-t0:.1f}s")


if __name__ == "__main__":
    main()
