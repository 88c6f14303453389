"""Sugar-beet clamp storage: predict sugar lost (% of fresh weight) by the time a
field clamp is lifted for the factory, from seven clamp readings.

Phase 1: a grid of one-epoch probes, every probe restarting from the SAME initial
weights, each at one constant learning rate; probes whose running loss runs away are
abandoned.  Phase 2: full run at a third of the best probe rate, four micro-batches
accumulated per update, schedule counted in updates (linear ramp from 0.0, then
halving every 150 updates).
"""
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map


def make_clamps(n, rng):
    days = rng.uniform(5, 90, n)
    temp = rng.normal(6.0, 3.0, n)
    soil = rng.uniform(0, 12, n)          # % soil tare
    damage = rng.uniform(0, 30, n)        # % roots with tip breakage
    cover = (rng.random(n) < 0.55).astype(np.float64)
    height = rng.uniform(1.5, 3.5, n)     # clamp height, m
    frost = rng.poisson(2.0, n).astype(np.float64)
    rate = 0.012 * np.exp(0.07 * temp) * (1 + 0.025 * damage) * (1 + 0.02 * soil)
    rate *= (1 + 0.08 * (height - 2.5)) * (1 - 0.18 * cover)
    loss = rate * days + 0.05 * frost * (1 - cover) * (1 + damage / 20)
    loss = loss + rng.normal(0, 0.12, n)
    X = np.stack([days, temp, soil, damage, cover, height, frost], 1).astype(np.float32)
    return X, loss.astype(np.float32)


class ClampNet(nn.Module):
    def __init__(self, d_in, width):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(d_in, width), nn.SiLU(),
                                  nn.Linear(width, width), nn.SiLU())
        self.head = nn.Linear(width, 1)

    def __call__(self, x):
        return self.head(self.body(x)).squeeze(-1)


def mse(m, xb, yb):
    return nn.losses.mse_loss(m(xb), yb, reduction="mean")


def doc(title, **fields):
    print("---")
    print(f"kind: {title}")
    for k, v in fields.items():
        print(f"{k}: {v}")


def main():
    rng = np.random.default_rng(3)
    X, y = make_clamps(8000, rng)
    Xtr, ytr, Xva, yva = X[:6500], y[:6500], X[6500:], y[6500:]
    xm, xs = Xtr.mean(0), Xtr.std(0) + 1e-6
    ym, ys = float(ytr.mean()), float(ytr.std())
    Xtr_m, Xva_m = mx.array((Xtr - xm) / xs), mx.array((Xva - xm) / xs)
    ytr_m, yva_m = mx.array((ytr - ym) / ys), mx.array((yva - ym) / ys)
    mean_mae = float(np.mean(np.abs(yva - ym)))
    doc("data", train=len(ytr), valid=len(yva), target_mean_pct=round(ym, 3),
        predict_the_mean_mae_pct=round(mean_mae, 4))

    mx.random.seed(5)
    model = ClampNet(7, 64)
    mx.eval(model.parameters())
    init_params = tree_map(lambda a: mx.array(a), model.parameters())
    loss_and_grad = nn.value_and_grad(model, mse)

    def valid_metrics():
        pred = model(Xva_m)
        vmse = nn.losses.mse_loss(pred, yva_m, reduction="mean").item()
        mae = float(np.mean(np.abs(np.array(pred) * ys + ym - yva)))
        return vmse, mae

    # ---- phase 1: one-epoch probes on a grid of constant rates ----
    grid = [1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1, 3e-1, 1.0]
    batch = 32
    results = {}
    for lr in grid:
        model.update(tree_map(lambda a: mx.array(a), init_params))
        opt = optim.Adam(learning_rate=lr)
        perm = np.random.default_rng(42).permutation(len(ytr))
        first, run, steps, abandoned = None, 0.0, 0, False
        for i in range(0, len(perm) - batch + 1, batch):
            idx = mx.array(perm[i:i + batch])
            loss, grads = loss_and_grad(model, Xtr_m[idx], ytr_m[idx])
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            lv = loss.item()
            first = lv if first is None else first
            run = lv if steps == 0 else 0.9 * run + 0.1 * lv
            steps += 1
            if not math.isfinite(lv) or run > 10 * first:
                abandoned = True
                break
        vmse, mae = valid_metrics() if not abandoned else (float("inf"), float("inf"))
        results[lr] = vmse
        doc("probe", lr=f"{lr:.0e}", steps=steps, first_batch_mse=round(first, 4),
            running_mse=f"{run:.4g}", valid_mse=f"{vmse:.4g}",
            status="abandoned (running loss > 10x first batch)" if abandoned else "complete")
    best = min(results, key=results.get)
    peak = best / 3
    doc("probe_choice", best_probe_lr=f"{best:.0e}", peak_lr=f"{peak:.3e}")

    # ---- phase 2: fresh start from the same initial weights ----
    model.update(tree_map(lambda a: mx.array(a), init_params))
    ramp, half_every, updates, accum = 40, 150, 600, 4
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, peak, ramp), optim.step_decay(peak, 0.5, half_every)], [ramp])
    opt = optim.AdamW(learning_rate=sched, weight_decay=1e-4)

    _, g0 = loss_and_grad(model, Xtr_m[:64], ytr_m[:64])
    dead = [k for k, v in tree_flatten(g0) if float(mx.abs(v).max()) == 0.0]
    doc("grad_check", leaves=len(tree_flatten(g0)), zero_leaves=dead if dead else "[]")
    vmse, mae = valid_metrics()
    doc("update", n=0, lr="0.000e+00", train_mse="null", valid_mse=f"{vmse:.4f}",
        valid_mae_pct=f"{mae:.4f}")

    order = np.random.default_rng(9).permutation(len(ytr))
    cursor, window, t0 = 0, [], time.time()
    for u in range(1, updates + 1):
        acc_g, acc_l = None, 0.0
        lr_used = sched(mx.array(u - 1)).item()
        for _ in range(accum):
            if cursor + batch > len(order):
                order = np.random.default_rng(9 + u).permutation(len(ytr))
                cursor = 0
            idx = mx.array(order[cursor:cursor + batch])
            cursor += batch
            loss, grads = loss_and_grad(model, Xtr_m[idx], ytr_m[idx])
            acc_g = grads if acc_g is None else tree_map(lambda a, b: a + b, acc_g, grads)
            acc_l += loss
        acc_g = tree_map(lambda a: a / accum, acc_g)
        opt.update(model, acc_g)
        mx.eval(model.parameters(), opt.state, acc_l)
        window.append(acc_l.item() / accum)
        if u in (1, 2) or u % 50 == 0:
            vmse, mae = valid_metrics()
            doc("update", n=u, lr=f"{lr_used:.3e}", train_mse=f"{np.mean(window):.4f}",
                valid_mse=f"{vmse:.4f}", valid_mae_pct=f"{mae:.4f}",
                elapsed_s=f"{time.time() - t0:.1f}")
            window = []
    vmse, mae = valid_metrics()
    doc("done", valid_mae_pct=f"{mae:.4f}", predict_the_mean_mae_pct=f"{mean_mae:.4f}",
        noise_sd_pct=0.12, valid_rmse_pct=f"{math.sqrt(vmse) * ys:.4f}")


if __name__ == "__main__":
    main()
