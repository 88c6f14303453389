"""Highway snow fence: drifted snow trapped per metre of fence overnight (m3/m),
predicted from a 48-step half-hourly trace (wind, air temperature, snowfall
rate, hours since last thaw).

Conv1d net, plain SGD driven by a one-cycle policy: learning rate climbs then
anneals, momentum moves the other way; gradients accumulated over 4 micro-batches.
"""
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_map

STEPS, CH = 48, 4
MICRO, ACCUM = 32, 4
EPOCHS = 10
PEAK_LR = 0.03
MOM_HI, MOM_LO = 0.95, 0.85
SPARK = "▁▂▃▄▅▆▇█"


def make_nights(seed=3, n=3000):
    rng = np.random.default_rng(seed)
    t = np.arange(STEPS) / STEPS
    wind = np.abs(rng.gamma(2.2, 3.0, (n, 1)) * (1 + 0.4 * np.sin(2 * np.pi * (t - rng.uniform(0, 1, (n, 1)))))
                  + rng.normal(0, 1.0, (n, STEPS)))
    temp = rng.uniform(-18, 1, (n, 1)) + 2.0 * np.cos(2 * np.pi * t)[None] + rng.normal(0, 0.5, (n, STEPS))
    burst = rng.uniform(0, 1, (n, 1)) * (rng.uniform(0, 1, (n, 1)) < 0.7)
    snowfall = np.clip(burst * 2.5 * np.exp(-((t[None] - rng.uniform(0, 1, (n, 1))) ** 2) / 0.03)
                       + rng.normal(0, 0.05, (n, STEPS)), 0, None)
    thaw_age = rng.uniform(0, 72, (n, 1)) + 24 * t[None]
    threshold = 5.0 + 0.12 * np.clip(temp + 10, 0, None) ** 1.3 + 3.0 / (1 + thaw_age / 12) - 1.5 * np.minimum(snowfall, 1)
    loose = np.minimum(1.0, 0.3 + snowfall + thaw_age / 96)
    transport = np.clip(wind - threshold, 0, None) ** 2 * loose
    volume = 0.004 * transport.sum(1) + rng.normal(0, 0.25, n)
    volume = np.clip(volume, 0, None)
    X = np.stack([wind / 10, temp / 10, snowfall, thaw_age / 48], -1).astype(np.float32)
    return X[:2400], volume[:2400].astype(np.float32), X[2400:], volume[2400:].astype(np.float32)


class DriftNet(nn.Module):
    def __init__(self, width=24):
        super().__init__()
        self.c1 = nn.Conv1d(CH, width, kernel_size=5, padding=2)
        self.c2 = nn.Conv1d(width, width, kernel_size=3, padding=1)
        self.head = nn.Linear(width, 1)

    def __call__(self, x):
        h = nn.silu(self.c1(x))
        h = nn.silu(self.c2(h))
        return self.head(h.sum(axis=1) / 8.0).squeeze(-1)


def one_cycle(u, total):
    frac = u / max(total - 1, 1)
    if frac < 0.3:
        p = frac / 0.3
        return PEAK_LR / 25 + p * (PEAK_LR - PEAK_LR / 25), MOM_HI - p * (MOM_HI - MOM_LO)
    p = (frac - 0.3) / 0.7
    c = 0.5 * (1 + math.cos(math.pi * p))
    return PEAK_LR / 1e4 + c * (PEAK_LR - PEAK_LR / 1e4), MOM_LO + (1 - c) * (MOM_HI - MOM_LO)


def spark(vals, lo, hi):
    span = max(hi - lo, 1e-9)
    return "".join(SPARK[min(7, int((v - lo) / span * 8))] for v in vals)


def main():
    Xtr, ytr, Xva, yva = make_nights()
    clim = float(ytr.mean())
    mse_clim = float(((yva - clim) ** 2).mean())
    scale = float(ytr.std())
    Xtr_m, ytr_m, Xva_m, yva_m = map(mx.array, (Xtr, ytr / scale, Xva, yva))
    mx.random.seed(7)
    model = DriftNet()
    mx.eval(model.parameters())
    opt = optim.SGD(learning_rate=PEAK_LR / 25, momentum=MOM_HI)
    loss_fn = lambda m, x, y: nn.losses.mse_loss(m(x), y)
    vg = nn.value_and_grad(model, loss_fn)

    def val_stats():
        err = model(Xva_m) * scale - yva_m
        mse = mx.mean(err * err).item()
        return math.sqrt(mse), 1 - mse / mse_clim

    per_epoch = len(ytr) // (MICRO * ACCUM)
    total = per_epoch * EPOCHS
    r0, s0 = val_stats()
    print(f"nights train {len(ytr)} valid {len(yva)}; mean trapped volume {clim:.2f} m3/m, "
          f"climatology RMSE {math.sqrt(mse_clim):.3f}")
    print(f"{per_epoch} updates/epoch of {ACCUM}x{MICRO} nights, {total} updates; "
          f"untrained RMSE {r0:.3f} skill {s0:+.2f}")
    rng = np.random.default_rng(21)
    u = 0
    t0 = time.time()
    for ep in range(1, EPOCHS + 1):
        perm = mx.array(rng.permutation(len(ytr)))
        micro_losses = []
        lr_first = None
        for k in range(per_epoch):
            lr, mom = one_cycle(u, total)
            opt.learning_rate = lr
            opt.momentum = mom
            lr_first = lr if lr_first is None else lr_first
            acc = None
            for j in range(ACCUM):
                sl = perm[(k * ACCUM + j) * MICRO:(k * ACCUM + j + 1) * MICRO]
                loss, g = vg(model, Xtr_m[sl], ytr_m[sl])
                acc = g if acc is None else tree_map(lambda a, b: a + b, acc, g)
                micro_losses.append(loss)
            acc = tree_map(lambda a: a / ACCUM, acc)
            opt.update(model, acc)
            mx.eval(model.parameters(), opt.state, micro_losses[-ACCUM:])
            u += 1
        ml = [x.item() for x in micro_losses]
        chunks = [float(np.mean(ml[i:i + 8])) for i in range(0, len(ml), 8)]
        rmse, skill = val_stats()
        print(f"e{ep:02d} {spark(chunks, 0.0, max(chunks) * 1.05)} lr {lr_first:.4f}->{lr:.4f} "
              f"mom {mom:.3f} train {np.mean(ml):.4f} (scaled) valid RMSE {rmse:.3f} m3/m skill {skill:+.2f}")
    print(f"done in {time.time() - t0:.1f}s: final RMSE {rmse:.3f} m3/m against climatology "
          f"{math.sqrt(mse_clim):.3f}, skill {skill:+.2f}")


if __name__ == "__main__":
    main()
