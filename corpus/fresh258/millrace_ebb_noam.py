"""Tide mill: flour ground on one ebb (kg) from the 24 half-hour readings of
mill-pond level and sea level before the sluice opens.

Small channels-last Conv1d encoder, inverse-square-root ("Noam") learning rate with a
linear warm-up that starts at exactly 0, gradients accumulated over 4
micro-batches per optimizer update.  Progress is printed as CSV.
"""

import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten, tree_map

SEQ = 24
D_MODEL = 32
WARMUP = 80
UPDATES = 240
ACCUM = 4
MICRO = 32
REPORT_EVERY = 30


def simulate(n, rng):
    t = np.arange(SEQ) * 0.5  # hours
    amp = rng.uniform(1.2, 2.6, size=(n, 1))  # spring / neap
    phase = rng.uniform(0, 2 * np.pi, size=(n, 1))
    sea = amp * np.cos(2 * np.pi * t / 12.4 + phase)
    gate = rng.uniform(0.6, 1.0, size=(n, 1))  # how well the flap gate seals
    pond = np.maximum.accumulate(sea * gate, axis=1)  # pond fills, holds
    pond = pond - 0.02 * t * rng.uniform(0.5, 1.5, size=(n, 1))  # seepage
    head = pond[:, -1] - sea[:, -1]
    stored = np.clip(pond[:, -1] + 2.6, 0, None)
    flour = 55 * np.clip(head, 0, None) ** 1.5 * np.sqrt(stored) / 2.5
    flour = flour + rng.normal(0, 4.0, size=n)
    x = np.stack([sea, pond], axis=-1)
    x = x + rng.normal(0, 0.03, size=x.shape)
    return x.astype(np.float32), flour.astype(np.float32)


class EbbNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv1d(2, D_MODEL, kernel_size=5, padding=2)
        self.c2 = nn.Conv1d(D_MODEL, D_MODEL, kernel_size=5, padding=2)
        self.norm = nn.LayerNorm(D_MODEL)
        self.head = nn.Linear(2 * D_MODEL, 1)

    def __call__(self, x):
        h = nn.gelu(self.c1(x))
        h = h + nn.gelu(self.c2(h))
        h = self.norm(h)
        pooled = mx.concatenate([h.mean(axis=1), h[:, -1]], axis=-1)
        return self.head(pooled).squeeze(-1)


def noam(step):
    step = mx.array(step, dtype=mx.float32)
    scale = 0.5 * D_MODEL ** -0.5
    rise = step * WARMUP ** -1.5
    fall = mx.rsqrt(mx.maximum(step, 1.0))
    return scale * mx.minimum(rise, fall)


def main():
    mx.random.seed(7)
    rng = np.random.default_rng(7)
    xtr, ytr = simulate(9000, rng)
    xva, yva = simulate(1500, rng)
    mu, sd = ytr.mean(), ytr.std()
    xtr_m, xva_m = mx.array(xtr), mx.array(xva)
    ztr = mx.array((ytr - mu) / sd)
    baseline_mae = float(np.abs(yva - mu).mean())

    model = EbbNet()
    opt = optim.Adam(learning_rate=noam, betas=[0.9, 0.98])
    n_params = sum(v.size for _, v in tree_flatten(model.parameters()))
    print(f"# tide mill ebb yield | train {len(ytr)} ebbs, valid {len(yva)} | "
          f"params {n_params} | mean yield {mu:.1f} kg, sd {sd:.1f} kg")
    print(f"# schedule: noam(d={D_MODEL}, warmup={WARMUP}) lr(0)={noam(0).item():.1e} "
          f"peak lr({WARMUP})={noam(WARMUP).item():.2e} lr({UPDATES})={noam(UPDATES).item():.2e}")
    print(f"# {ACCUM} micro-batches of {MICRO} per update; 'mean-yield' MAE = {baseline_mae:.2f} kg")

    def loss_fn(m, xb, yb):
        return nn.losses.mse_loss(m(xb), yb)

    grad_fn = nn.value_and_grad(model, loss_fn)
    micro_fn = mx.compile(lambda xb, yb: grad_fn(model, xb, yb), inputs=model.state, outputs=model.state)

    def evaluate():
        pred = np.array(model(xva_m)) * sd + mu
        return float(np.abs(pred - yva).mean())

    print("update,micro_step,lr_used,train_mse_z,valid_mae_kg,mean_yield_mae_kg,secs")
    print(f"0,0,{0.0:.3e},,{evaluate():.2f},{baseline_mae:.2f},0.0")
    perm = rng.permutation(len(ytr))
    cursor = 0
    micro_step = 0
    window = []
    tic = time.perf_counter()
    for update in range(1, UPDATES + 1):
        acc = None
        acc_loss = 0.0
        for _ in range(ACCUM):
            if cursor + MICRO > len(perm):
                perm = rng.permutation(len(ytr))
                cursor = 0
            idx = mx.array(perm[cursor:cursor + MICRO])
            cursor += MICRO
            loss, g = micro_fn(xtr_m[idx], ztr[idx])
            acc = g if acc is None else tree_map(mx.add, acc, g)
            acc_loss = acc_loss + loss
            micro_step += 1
        acc = tree_map(lambda a: a / ACCUM, acc)
        opt.update(model, acc)
        mx.eval(model.parameters(), opt.state, acc_loss)
        lr_used = opt.learning_rate.item()
        window.append(acc_loss.item() / ACCUM)
        if update % REPORT_EVERY == 0:
            tr = sum(window) / len(window)
            window = []
            print(f"{update},{micro_step},{lr_used:.3e},{tr:.4f},{evaluate():.2f},"
                  f"{baseline_mae:.2f},{time.perf_counter() - tic:.1f}")
    final = evaluate()
    print(f"# done: valid MAE {final:.2f} kg vs mean-yield {baseline_mae:.2f} kg "
          f"({100 * (1 - final / baseline_mae):.0f}% lower), optimizer step {int(opt.step.item())}, "
          f"micro-batches {micro_step}")


if __name__ == "__main__":
    main()
