"""Cricket chirp thermometry: learn air temperature (deg F) from field recordings.

Dolbear's law (T = 40 + chirps per 15 s) works for the snowy tree cricket only;
the field-cricket recordings follow a different rate, so we train a small MLP and
compare it against the Dolbear baseline.  Three seeds, each with a linear warmup
that starts from lr = 0, then cosine decay.
"""
import logging
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s chirp: %(message)s",
                    datefmt="%H:%M:%S")
log = logging.getLogger("chirp")


def make_recordings(n, rng):
    temp_f = rng.uniform(50.0, 95.0, n)               # true air temperature
    snowy = rng.random(n) < 0.5                        # species: snowy tree vs field cricket
    humidity = rng.uniform(20, 95, n)
    hour = rng.uniform(18, 30, n) % 24                 # evening/night recordings
    n15 = np.where(snowy, temp_f - 40.0, (temp_f - 45.0) * 0.55)
    n15 = n15 * (1 + 0.002 * (humidity - 60)) + rng.normal(0, 1.2, n)
    n15 = np.clip(n15, 0.5, None)
    pulse_ms = np.where(snowy, 18.0, 30.0) - 0.12 * (temp_f - 70) + rng.normal(0, 0.8, n)
    feats = np.stack([
        n15 / 50.0,
        snowy.astype(np.float64),
        (humidity - 60) / 25.0,
        np.sin(2 * math.pi * hour / 24), np.cos(2 * math.pi * hour / 24),
        (pulse_ms - 24) / 6.0,
    ], axis=1)
    dolbear = 40.0 + n15
    return feats.astype(np.float32), temp_f.astype(np.float32), dolbear.astype(np.float32)


class ChirpNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(6, 32)
        self.l2 = nn.Linear(32, 32)
        self.out = nn.Linear(32, 1)

    def __call__(self, x):
        h = nn.silu(self.l1(x))
        h = nn.silu(self.l2(h))
        return self.out(h).squeeze(-1)


T_MEAN, T_SCALE = 72.5, 13.0
STEPS, WARM, BATCH = 240, 40, 64


def lr_at(step, peak=3e-3):
    if step < WARM:
        return peak * step / WARM                       # step 0 -> exactly 0.0
    t = (step - WARM) / (STEPS - WARM)
    return peak * 0.5 * (1 + math.cos(math.pi * t))


def run_seed(seed, data):
    xtr, ytr, xva, yva, dolb_va = data
    mx.random.seed(seed)
    rng = np.random.default_rng(seed)
    model = ChirpNet()
    opt = optim.AdamW(learning_rate=0.0, weight_decay=1e-4)

    def loss_fn(m, x, y):
        return nn.losses.mse_loss(m(x), (y - T_MEAN) / T_SCALE)

    vg = nn.value_and_grad(model, loss_fn)
    base_mae = float(mx.mean(mx.abs(dolb_va - yva)))
    best = (float("inf"), 0)
    for step in range(STEPS):
        idx = mx.array(rng.integers(0, xtr.shape[0], BATCH))
        opt.learning_rate = lr_at(step)
        loss, grads = vg(model, xtr[idx], ytr[idx])
        if seed == 0 and step == 1:
            dead = [k for k, g in nn.utils.tree_flatten(grads) if float(mx.abs(g).sum()) == 0.0]
            log.info("grad audit: %d tensors, zero-grad tensors=%s", len(nn.utils.tree_flatten(grads)), dead or "none")
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        if step % 30 == 0 or step == STEPS - 1:
            pred = model(xva) * T_SCALE + T_MEAN
            mae = float(mx.mean(mx.abs(pred - yva)))
            best = min(best, (mae, step))
            log.info("seed=%d step=%03d lr=%.2e train_mse=%.4f val_mae=%.2f degF (dolbear %.2f degF)",
                     seed, step, opt.learning_rate.item(), loss.item(), mae, base_mae)
    return mae, base_mae, best


def main():
    t0 = time.time()
    rng = np.random.default_rng(1234)
    x, y, d = make_recordings(2400, rng)
    ntr = 2000
    data = (mx.array(x[:ntr]), mx.array(y[:ntr]), mx.array(x[ntr:]), mx.array(y[ntr:]), mx.array(d[ntr:]))
    results = []
    for seed in range(3):
        log.info("---- seed %d ----", seed)
        results.append(run_seed(seed, data))
    maes = np.array([r[0] for r in results])
    print("\nseed | final val MAE (F) | Dolbear MAE (F) | best@step")
    for s, (m, b, (bm, bs)) in enumerate(results):
        print(f"{s:>4} | {m:>17.2f} | {b:>15.2f} | {bm:.2f}@{bs}")
    print(f"mean | {maes.mean():>17.2f} +/- {maes.std():.2f}")
    print(f"done in {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
