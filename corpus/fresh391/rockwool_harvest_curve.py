"""Hydroponic lettuce head weight at harvest: how much data does the model need?"""
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

COLS = ["ec_ms", "ph", "ppfd", "photoperiod_h", "root_temp_c", "air_temp_c", "days_to_harvest", "rh_pct"]


def make_heads(n, rng):
    ec = rng.uniform(0.8, 2.6, n)
    ph = rng.uniform(5.2, 7.0, n)
    ppfd = rng.uniform(150, 400, n)
    photo = rng.uniform(12, 20, n)
    root = rng.uniform(16, 28, n)
    air = rng.uniform(16, 30, n)
    days = rng.uniform(28, 45, n)
    rh = rng.uniform(45, 85, n)
    dli = ppfd * photo * 0.0036
    grams = (9.0 * dli * np.exp(-((ec - 1.7) ** 2) / 0.8) * np.exp(-((ph - 6.0) ** 2) / 0.9)
             * (1 - 0.02 * np.abs(root - 21.0)) * (days / 35.0) ** 1.5
             - 3.0 * np.maximum(air - 26.0, 0) ** 2 + 0.3 * (rh - 65))
    grams = grams + rng.normal(scale=12.0, size=n)
    x = np.column_stack([ec, ph, ppfd, photo, root, air, days, rh]).astype(np.float32)
    return x, grams.astype(np.float32)


class HeadNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(8, 96), nn.SiLU(), nn.Linear(96, 96), nn.SiLU())
        self.head = nn.Linear(96, 1)

    def __call__(self, x):
        return self.head(self.body(x)).squeeze(-1)


def frame(rows, cols):
    cells = [[str(i)] + r for i, r in enumerate(rows)]
    header = [""] + cols
    w = [max(len(header[j]), *(len(c[j]) for c in cells)) for j in range(len(header))]
    print("  ".join(h.rjust(wj) for h, wj in zip(header, w)))
    for c in cells:
        print("  ".join(v.rjust(wj) for v, wj in zip(c, w)))


def fit(n_train, pool_x, pool_y, xva, yva, y_sd, total_steps=900, batch=32, seed=3):
    mx.random.seed(seed)
    rng = np.random.default_rng(seed + n_train)
    xtr, ytr = pool_x[:n_train], pool_y[:n_train]
    model = HeadNet()
    mx.eval(model.parameters())
    warm = 60
    sched = optim.join_schedules([optim.linear_schedule(0.0, 0.02, warm),
                                  optim.cosine_decay(0.02, total_steps - warm, 5e-4)], [warm])
    opt = optim.SGD(learning_rate=sched, momentum=0.9, nesterov=True)

    def loss_fn(m, x, y):
        return nn.losses.mse_loss(m(x), y, reduction="mean")

    vg = nn.value_and_grad(model, loss_fn)
    xva_m, yva_m = mx.array(xva), mx.array(yva)
    xtr_m, ytr_m = mx.array(xtr), mx.array(ytr)
    rows, window = [], []
    order, cursor = rng.permutation(n_train), 0
    bsz = min(batch, n_train)
    t0 = time.perf_counter()
    for step in range(1, total_steps + 1):
        if cursor + bsz > n_train:
            order, cursor = rng.permutation(n_train), 0
        idx = mx.array(order[cursor:cursor + bsz])
        cursor += bsz
        lr_now = sched(opt.step).item()
        loss, grads = vg(model, xtr_m[idx], ytr_m[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        window.append(loss.item())
        if step in (1, 100, 200, 400, 600, 900):
            pred = model(xva_m)
            vmse = mx.mean((pred - yva_m) ** 2).item()
            full = mx.mean((model(xtr_m) - ytr_m) ** 2).item()
            rows.append([str(step), f"{lr_now:.4f}", f"{np.mean(window):.4f}", f"{full:.4f}",
                         f"{vmse:.4f}", f"{np.sqrt(vmse) * y_sd:.1f}"])
            window = []
    print(f"--- n_train = {n_train}  ({n_train // bsz} batches per pass, {total_steps} steps) ---")
    frame(rows, ["step", "lr", "batch_mse", "train_mse", "valid_mse", "valid_rmse_g"])
    print(f"({time.perf_counter() - t0:.1f}s)")
    return float(rows[-1][-1]), min(float(r[4]) for r in rows), float(rows[-1][4])


def main():
    rng = np.random.default_rng(21)
    pool_x, pool_y = make_heads(4000, rng)
    xva, yva = make_heads(1500, rng)
    mu, sd = pool_x.mean(0), pool_x.std(0)
    y_mu, y_sd = pool_y.mean(), pool_y.std()
    pool_x, xva = (pool_x - mu) / sd, (xva - mu) / sd
    pool_y, yva = (pool_y - y_mu) / y_sd, (yva - y_mu) / y_sd
    print(f"lettuce heads: pool {len(pool_y)}, valid {len(yva)}; mean {y_mu:.1f} g, sd {y_sd:.1f} g")
    print(f"predict-the-mean valid_rmse_g {np.sqrt(np.mean(yva ** 2)) * y_sd:.1f}; sensor noise 12.0 g")
    print()
    summary = []
    for n in (60, 250, 1000, 4000):
        rmse_g, best_v, last_v = fit(n, pool_x, pool_y, xva, yva, y_sd)
        summary.append((n, rmse_g, best_v, last_v))
        print()
    print("learning curve (final valid RMSE in grams, and valid_mse final vs best):")
    frame([[str(n), f"{r:.1f}", f"{lv:.4f}", f"{bv:.4f}"] for n, r, bv, lv in summary],
          ["n_train", "valid_rmse_g", "valid_mse_last", "valid_mse_best"])


if __name__ == "__main__":
    main()
