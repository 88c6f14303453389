"""Radio-telescope interference triage.

Classify which source is behind a 32-channel spectrum snapshot from the
backend: satellite downlink, airport radar, lightning sferic, microwave oven,
aircraft DME, or a clean sky. Synthetic spectra, cosine-similarity classifier,
hand-written log-sum-exp cross-entropy with label smoothing.
"""

import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

SOURCES = ["satellite", "radar", "sferic", "oven", "dme", "clean"]
N_CH = 32
SCALE = 16.0
SMOOTH = 0.1
EPOCHS = 10
BATCH = 96


def make_spectra(rng, n, protos):
    k = len(protos)
    y = rng.integers(0, k, size=n)
    gain = rng.lognormal(0.0, 0.35, size=(n, 1))
    shift = rng.integers(-1, 2, size=n)
    base = np.stack([np.roll(protos[c], s) for c, s in zip(y, shift)])
    sky = 1.0 + 0.25 * rng.standard_normal((n, N_CH)) ** 2
    power = gain * base + sky
    x = np.log(power) + 0.22 * rng.standard_normal((n, N_CH))
    return x.astype(np.float32), y.astype(np.int32)


def build_prototypes(rng):
    ch = np.arange(N_CH)
    protos = []
    for c in range(len(SOURCES) - 1):
        centre = rng.uniform(3, N_CH - 3, size=2)
        width = rng.uniform(0.8, 3.5, size=2)
        height = rng.uniform(1.5, 3.0, size=2)
        p = sum(h * np.exp(-0.5 * ((ch - m) / w) ** 2)
                for m, w, h in zip(centre, width, height))
        if c == 2:  # sferic: broadband tilt
            p = p * 0.4 + np.linspace(1.2, 0.2, N_CH)
        protos.append(p)
    protos.append(np.zeros(N_CH))  # clean sky
    return protos


class CosineHead(nn.Module):
    def __init__(self, dim, n_cls):
        super().__init__()
        self.centres = mx.random.normal((n_cls, dim))

    def __call__(self, f):
        f = f / mx.sqrt(mx.sum(f * f, axis=-1, keepdims=True) + 1e-6)
        w = self.centres
        w = w / mx.sqrt(mx.sum(w * w, axis=-1, keepdims=True) + 1e-6)
        return SCALE * (f @ w.T)


class Triage(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(
            nn.Linear(N_CH, 96), nn.GELU(),
            nn.Linear(96, 96), nn.GELU(),
            nn.Linear(96, 48),
        )
        self.head = CosineHead(48, len(SOURCES))

    def __call__(self, x):
        return self.head(self.body(x))


def smoothed_xent(logits, y):
    top = mx.stop_gradient(mx.max(logits, axis=-1, keepdims=True))
    lse = top + mx.log(mx.sum(mx.exp(logits - top), axis=-1, keepdims=True))
    logp = logits - lse
    k = logits.shape[-1]
    q = mx.full(logits.shape, SMOOTH / k)
    q = q + (1.0 - SMOOTH) * (mx.arange(k)[None, :] == y[:, None])
    return -mx.mean(mx.sum(q * logp, axis=-1))


def smoothing_floor(k):
    on = 1.0 - SMOOTH + SMOOTH / k
    off = SMOOTH / k
    return -(on * math.log(on) + (k - 1) * off * math.log(off))


def main():
    rng = np.random.default_rng(7)
    mx.random.seed(7)
    protos = build_prototypes(rng)
    xtr, ytr = make_spectra(rng, 9000, protos)
    xva, yva = make_spectra(rng, 1800, protos)
    mu, sd = xtr.mean(0), xtr.std(0) + 1e-6
    xtr, xva = (xtr - mu) / sd, (xva - mu) / sd
    Xtr, Ytr = mx.array(xtr), mx.array(ytr)
    Xva, Yva = mx.array(xva), mx.array(yva)

    model = Triage()
    mx.eval(model.parameters())
    steps_per_epoch = len(ytr) // BATCH
    total = EPOCHS * steps_per_epoch
    warm = 120
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, 0.1, warm),
         optim.cosine_decay(0.1, total - warm, 1e-3)],
        [warm],
    )
    opt = optim.SGD(learning_rate=sched, momentum=0.9, nesterov=True,
                    weight_decay=5e-4)

    def loss_fn(m, x, y):
        return smoothed_xent(m(x), y)

    vg = nn.value_and_grad(model, loss_fn)

    def evaluate():
        logits = model(Xva)
        pred = mx.argmax(logits, axis=-1)
        acc = mx.mean(pred == Yva).item()
        srt = mx.sort(logits, axis=-1)
        margin = mx.mean(srt[:, -1] - srt[:, -2]).item()
        return smoothed_xent(logits, Yva).item(), acc, margin

    counts = np.bincount(ytr, minlength=len(SOURCES))
    majority = np.bincount(yva, minlength=len(SOURCES))[counts.argmax()] / len(yva)
    floor = smoothing_floor(len(SOURCES))
    v0, a0, _ = evaluate()
    print(f"backend: {len(ytr)} train / {len(yva)} val snapshots, {N_CH} channels, "
          f"{len(SOURCES)} sources")
    print(f"reference: label-smoothing floor {floor:.3f} nats, chance 16.7%, "
          f"majority {100 * majority:.1f}%")
    print(f"untrained: val xent {v0:.3f}, val top-1 {100 * a0:.1f}%")

    skipped = 0
    step = 0
    t0 = time.perf_counter()
    for ep in range(1, EPOCHS + 1):
        perm = mx.array(rng.permutation(len(ytr)).astype(np.int32))
        run, seen = 0.0, 0
        for b in range(steps_per_epoch):
            idx = perm[b * BATCH:(b + 1) * BATCH]
            loss, grads = vg(model, Xtr[idx], Ytr[idx])
            mx.eval(loss, grads)
            if not mx.isfinite(loss).item():
                skipped += 1
                continue
            if step == 0:
                print(f"step 1 uses lr {float(opt.learning_rate):.4f} "
                      f"(warm-up starts at zero)")
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state)
            run += loss.item()
            seen += 1
            step += 1
        vl, va, vm = evaluate()
        print(f"ep {ep:02d} | lr {float(opt.learning_rate):.4f} | "
              f"train xent {run / max(seen, 1):.3f} (floor {floor:.3f}) | "
              f"val xent {vl:.3f} | val top-1 {100 * va:5.1f}% | "
              f"mean margin {vm:5.2f} | guarded {skipped} | "
              f"{time.perf_counter() - t0:5.1f}s")

    logits = model(Xva)
    pred = np.array(mx.argmax(logits, axis=-1))
    print("per-source recall:")
    for c, name in enumerate(SOURCES):
        sel = yva == c
        print(f"  {name:<10s} {100 * (pred[sel] == c).mean():5.1f}%  (n={sel.sum()})")
    print(f"done: {step} updates, {skipped} guarded batches")


if __name__ == "__main__":
    main()
