"""Regression on a sensor log where a few readings were stored as +inf
(dropouts). Instead of cleaning the table, the loop guards every update: a
batch whose loss is not finite is skipped (no optimizer step), counted and
reported; all other batches train normally with AdamW."""
import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim


def sensor_table(n=3000, d=10, bad_frac=0.004, seed=1):
    mx.random.seed(seed)
    x = mx.random.normal((n, d))
    w = mx.random.normal((d, 1)) / math.sqrt(d)
    y = mx.sin(x @ w * 2.0) + 0.3 * x[:, :1] * x[:, 1:2] + 0.05 * mx.random.normal((n, 1))
    bad = mx.random.uniform(0.0, 1.0, (n, 1)) < bad_frac
    x = mx.where(bad, mx.array(float("inf")), x)  # a dropout poisons the whole row
    return x, y


def main():
    x, y = sensor_table()
    model = nn.Sequential(nn.Linear(10, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 1))
    mx.eval(model.parameters())
    opt = optim.AdamW(learning_rate=2e-3, weight_decay=1e-3)

    def loss_fn(m, xb, yb):
        return nn.losses.mse_loss(m(xb), yb)

    vg = nn.value_and_grad(model, loss_fn)
    keep = [i for i, ok in enumerate(mx.all(mx.isfinite(x), axis=1).tolist()) if ok]
    x_clean, y_clean = x[mx.array(keep)], y[mx.array(keep)]  # only used for reporting
    bs = 32
    t0 = time.time()
    total_skipped = 0
    for epoch in range(1, 9):
        perm = mx.random.permutation(x.shape[0])
        skipped = 0
        for i in range(0, x.shape[0], bs):
            idx = perm[i:i + bs]
            loss, grads = vg(model, x[idx], y[idx])
            mx.eval(loss)
            if not math.isfinite(loss.item()):
                skipped += 1
                continue
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state)
        total_skipped += skipped
        rmse = math.sqrt(loss_fn(model, x_clean, y_clean).item())
        print({"epoch": epoch, "rmse_clean": round(rmse, 4), "skipped_batches": skipped,
               "steps": math.ceil(x.shape[0] / bs) - skipped, "elapsed": round(time.time() - t0, 2)})
    print(f"finished: {total_skipped} batches skipped in total")


if __name__ == "__main__":
    main()
