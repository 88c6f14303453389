"""Parcel depot: predict van stop-to-stop drive time (minutes) with a noisy top-2
mixture of experts (Shazeer-style noisy gating + importance/load balancing loss).

Synthetic data: 8 features per leg (distance, stops left, hour sin/cos, rain, load,
road class score, parking score). Three hidden regimes (city / suburb / rural) follow
different made-up laws; the regime is only implied by the features.
"""
import sys
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

N_TRAIN, N_VAL = 16000, 3000
BATCH = 256
EPOCHS = 10
N_EXPERTS, TOP_K = 6, 2
AUX_W = 0.02


def make_legs(n, rng):
    regime = rng.choice(3, size=n, p=[0.5, 0.3, 0.2])
    dist = np.where(regime == 0, rng.gamma(2.0, 0.6, n),
                    np.where(regime == 1, rng.gamma(2.5, 1.2, n), rng.gamma(3.0, 3.0, n)))
    stops_left = rng.integers(1, 120, n)
    hour = rng.uniform(7, 20, n)
    rain = (rng.random(n) < 0.25).astype(float)
    load = rng.uniform(0.1, 1.0, n)
    road = np.where(regime == 0, rng.normal(-1, 0.4, n),
                    np.where(regime == 1, rng.normal(0, 0.4, n), rng.normal(1, 0.4, n)))
    park = np.where(regime == 0, rng.normal(1, 0.5, n), rng.normal(-0.5, 0.5, n))
    rush = np.exp(-((hour - 8.5) / 1.0) ** 2) + np.exp(-((hour - 17.5) / 1.2) ** 2)
    city = 4.0 * dist * (1 + 0.8 * rush) + 2.5 * np.maximum(park, 0) + 1.5 * rain
    suburb = 1.8 * dist * (1 + 0.3 * rush) + 0.6 * np.maximum(park, 0) + 0.8 * rain
    rural = 1.1 * dist + 0.15 * dist * rain + 0.004 * stops_left
    y = np.where(regime == 0, city, np.where(regime == 1, suburb, rural))
    y = y + 0.02 * stops_left * load + rng.normal(0, 0.6, n)
    X = np.stack([np.log1p(dist), stops_left / 60.0, np.sin(hour / 24 * 2 * np.pi),
                  np.cos(hour / 24 * 2 * np.pi), rain, load, road, park], 1)
    return X.astype(np.float32), y.astype(np.float32)


class NoisyTop2MoE(nn.Module):
    def __init__(self, d_in, d_hidden, n_experts, k):
        super().__init__()
        self.k = k
        self.n_experts = n_experts
        self.embed = nn.Linear(d_in, d_hidden)
        self.w_gate = nn.Linear(d_hidden, n_experts, bias=False)
        self.w_noise = nn.Linear(d_hidden, n_experts, bias=False)
        self.experts = [nn.Sequential(nn.Linear(d_hidden, 48), nn.SiLU(), nn.Linear(48, 1))
                        for _ in range(n_experts)]

    def gates(self, h):
        clean = self.w_gate(h)
        if self.training:
            noise_sd = nn.softplus(self.w_noise(h)) + 1e-2
            logits = clean + mx.random.normal(clean.shape) * noise_sd
        else:
            logits = clean
        # keep the top-k logits, everything else -> -inf, then softmax
        kth = mx.sort(logits, axis=-1)[:, -self.k][:, None]
        masked = mx.where(logits >= kth, logits, -mx.inf)
        return mx.softmax(masked, axis=-1)

    def __call__(self, x):
        h = nn.silu(self.embed(x))
        g = self.gates(h)                                   # (B, E), k non-zeros per row
        outs = mx.concatenate([e(h) for e in self.experts], axis=1)   # (B, E)
        return mx.sum(g * outs, axis=1), g


def cv_squared(v):
    return mx.var(v) / (mx.mean(v) ** 2 + 1e-10)


def loss_fn(model, x, y):
    pred, g = model(x)
    mse = mx.mean((pred - y) ** 2)
    importance = mx.sum(g, axis=0)
    load = mx.sum(g > 0, axis=0).astype(mx.float32)
    aux = cv_squared(importance) + cv_squared(load)
    return mse + AUX_W * aux, (mse, aux)


def bar(done, total, width=28):
    n = int(width * done / total)
    return "[" + "#" * n + "." * (width - n) + "]"


def main():
    rng = np.random.default_rng(2024)
    mx.random.seed(7)
    Xtr, ytr = make_legs(N_TRAIN, rng)
    Xva, yva = make_legs(N_VAL, rng)
    mu, sd = Xtr.mean(0), Xtr.std(0) + 1e-6
    y_mu, y_sd = ytr.mean(), ytr.std()
    Xtr_m, Xva_m = mx.array((Xtr - mu) / sd), mx.array((Xva - mu) / sd)
    ytr_m = mx.array((ytr - y_mu) / y_sd)

    model = NoisyTop2MoE(8, 32, N_EXPERTS, TOP_K)
    steps_per_epoch = N_TRAIN // BATCH
    total = steps_per_epoch * EPOCHS
    warm = 200
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, 3e-3, warm), optim.cosine_decay(3e-3, total - warm, 1e-4)],
        [warm])
    opt = optim.Adam(learning_rate=sched)
    vg = nn.value_and_grad(model, loss_fn)

    def validate():
        model.eval()
        pred, g = model(Xva_m)
        model.train()
        pred = np.array(pred) * y_sd + y_mu
        mae = float(np.mean(np.abs(pred - yva)))
        share = np.array(mx.mean(g > 0, axis=0)) / TOP_K * 100
        return mae, share

    print(f"depot ETA | {N_TRAIN} train legs, {N_VAL} val legs | {N_EXPERTS} experts, top-{TOP_K} noisy gating")
    print(f"median-leg baseline MAE: {np.mean(np.abs(yva - np.median(ytr))):.2f} min | "
          f"noise floor MAE ~{0.6 * 0.798:.2f} min")
    mae0, _ = validate()
    print(f"untrained val MAE: {mae0:.2f} min")

    # first step: every leaf must receive a gradient
    xb, yb = Xtr_m[:BATCH], ytr_m[:BATCH]
    (_, _), grads = vg(model, xb, yb)
    flat = tree_flatten(grads)
    zero = [k for k, v in flat if float(mx.abs(v).max()) == 0.0]
    print(f"grad leaves: {len(flat)}, zero: {zero if zero else 'none'} (lr at step 1 = {float(sched(0)):.1e})")

    step = 0
    t0 = time.time()
    for epoch in range(1, EPOCHS + 1):
        perm = mx.array(rng.permutation(N_TRAIN))
        run_mse = run_aux = 0.0
        for i in range(steps_per_epoch):
            idx = perm[i * BATCH:(i + 1) * BATCH]
            (loss, (mse, aux)), grads = vg(model, Xtr_m[idx], ytr_m[idx])
            grads, gnorm = optim.clip_grad_norm(grads, 1.0)
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, mse, aux)
            step += 1
            run_mse += mse.item()
            run_aux += aux.item()
            if (i + 1) % 8 == 0 or i + 1 == steps_per_epoch:
                sys.stdout.write(f"\repoch {epoch:2d} {bar(i + 1, steps_per_epoch)} "
                                 f"{i + 1:3d}/{steps_per_epoch} mse(z) {run_mse / (i + 1):.4f}")
                sys.stdout.flush()
        mae, share = validate()
        shares = " ".join(f"{s:4.1f}" for s in share)
        sys.stdout.write(f"\repoch {epoch:2d} | train mse(z) {run_mse / steps_per_epoch:.4f} | "
                         f"balance cv2 {run_aux / steps_per_epoch:.3f} | val MAE {mae:.2f} min | "
                         f"routing % [{shares}] | lr {float(opt.learning_rate):.2e} | "
                         f"{time.time() - t0:.0f}s\n")
    print(f"done after {step} steps: val MAE {mae:.2f} min")


if __name__ == "__main__":
    main()
