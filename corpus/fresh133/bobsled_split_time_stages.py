"""Bobsled run-time model: learn finish time (s) from start push and conditions.

Stage A uses the four home tracks only; stage B adds two foreign tracks and the
noisier hand-timed runs, so its first evaluations are worse before they improve.
Each stage gets a fresh Adamax with a warmup that starts at lr = 0.
"""
import json
import time
from functools import partial

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

N_TRACKS = 6
TRACK_BASE = [52.1, 49.8, 55.4, 50.9, 57.3, 47.6]  # seconds, made up


def simulate(n, tracks, noise_s, key):
    k = mx.random.split(key, 8)
    track = mx.random.randint(0, len(tracks), (n,), key=k[0])
    track = mx.array(tracks)[track]
    push = mx.random.uniform(4.75, 5.6, (n,), key=k[1])          # s
    mass = mx.random.uniform(370.0, 420.0, (n,), key=k[2])       # kg
    ice = mx.random.uniform(-14.0, -2.0, (n,), key=k[3])         # deg C
    air = mx.random.uniform(-10.0, 8.0, (n,), key=k[4])          # deg C
    polish = mx.random.uniform(0.0, 1.0, (n,), key=k[5])
    base = mx.array(TRACK_BASE)[track]
    t = (base + 1.9 * (push - 5.1) - 0.012 * (mass - 395.0)
         + 0.018 * (ice + 7.0) ** 2 + 0.015 * air - 0.35 * polish
         + 0.25 * polish * (push - 5.1) ** 2 * 10.0
         + noise_s * mx.random.normal((n,), key=k[6]))
    feats = mx.stack([(push - 5.17) / 0.25, (mass - 395.0) / 14.4,
                      (ice + 8.0) / 3.5, (air + 1.0) / 5.2, (polish - 0.5) / 0.29], axis=1)
    return track, feats, t


class SledNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.track = nn.Embedding(N_TRACKS, 6)
        self.l1 = nn.Linear(11, 48)
        self.l2 = nn.Linear(48, 48)
        self.out = nn.Linear(48, 1)

    def __call__(self, track, feats):
        h = mx.concatenate([self.track(track), feats], axis=1)
        h = nn.gelu(self.l1(h))
        h = h + nn.gelu(self.l2(h))
        return self.out(h).squeeze(-1)


def main():
    key = mx.random.key(2026)
    ka, kb, kva, kvb, kinit = mx.random.split(key, 5)
    mx.random.seed(5)
    stage_data = {
        "A": simulate(2400, [0, 1, 2, 3], 0.05, ka),
        "B": simulate(2400, [0, 1, 2, 3, 4, 5], 0.12, kb),
    }
    val = {"A": simulate(600, [0, 1, 2, 3], 0.05, kva),
           "B": simulate(600, [0, 1, 2, 3, 4, 5], 0.12, kvb)}
    t_all = stage_data["A"][2]
    mu, sd = t_all.mean().item(), t_all.std().item()

    model = SledNet()
    mx.eval(model.parameters())

    def loss_fn(m, tr, x, y):
        return nn.losses.mse_loss(m(tr, x), (y - mu) / sd)

    def val_metrics(which):
        tr, x, y = val[which]
        pred = model(tr, x) * sd + mu
        err = pred - y
        rmse = mx.sqrt((err ** 2).mean()).item()
        mae = mx.abs(err).mean().item()
        base = mx.sqrt(((y - mu) ** 2).mean()).item()
        return rmse, mae, base

    t0 = time.perf_counter()
    summary = []
    for stage, steps, peak in (("A", 300, 3e-3), ("B", 300, 2e-3)):
        warm = 40
        sched = optim.join_schedules(
            [optim.linear_schedule(0.0, peak, warm), optim.cosine_decay(peak, steps - warm, 2e-5)],
            [warm])
        opt = optim.Adamax(learning_rate=sched)
        state = [model.state, opt.state]

        @partial(mx.compile, inputs=state, outputs=state)
        def train_step(tr, x, y):
            loss, grads = nn.value_and_grad(model, loss_fn)(model, tr, x, y)
            opt.update(model, grads)
            return loss

        tr_s, x_s, y_s = stage_data[stage]
        n = y_s.shape[0]
        bs = 96
        perm = mx.random.permutation(n)
        for step in range(steps):
            if (step * bs) % n + bs > n:
                perm = mx.random.permutation(n)
            j = perm[(step * bs) % n: (step * bs) % n + bs]
            lr_now = opt.learning_rate.item()
            loss = train_step(tr_s[j], x_s[j], y_s[j])
            mx.eval(loss, model.parameters(), opt.state)
            if step % 25 == 0 or step == steps - 1:
                rmse, mae, base = val_metrics(stage)
                rec = {"stage": stage, "step": step, "lr": round(lr_now, 6),
                       "mse_z": round(loss.item(), 5), "val_rmse_s": round(rmse, 4),
                       "val_mae_s": round(mae, 4), "mean_pred_rmse_s": round(base, 4),
                       "wall_s": round(time.perf_counter() - t0, 2)}
                print(json.dumps(rec), flush=True)
        rmse, mae, base = val_metrics(stage)
        summary.append((stage, rmse, mae, base))

    print()
    print("stage | val RMSE s | val MAE s | mean-only RMSE s | skill %")
    for stage, rmse, mae, base in summary:
        print(f"  {stage}   | {rmse:10.3f} | {mae:9.3f} | {base:16.3f} | {100 * (1 - rmse / base):6.1f}")
    rmse_a_after, _, _ = val_metrics("A")
    print(f"home-track RMSE after stage B: {rmse_a_after:.3f} s")


if __name__ == "__main__":
    main()
