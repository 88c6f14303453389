"""Robust linear regression on sensor data with rare gross outliers.

About 1% of the training targets are corrupted by huge spikes (sensor
glitches).  The model is trained with a Huber loss, so the spikes barely
move it; we still log the plain batch MSE because that is what the
dashboard shows, and it jumps by orders of magnitude whenever a glitch
lands in the batch.
"""
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

D = 20


def make_data(n, w, seed, corrupt):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, D)).astype(np.float32)
    y = x @ w + 0.1 * rng.normal(size=(n, 1)).astype(np.float32)
    if corrupt:
        bad = rng.random(n) < 0.01
        y[bad] += rng.choice([-1.0, 1.0], size=(bad.sum(), 1)) * rng.uniform(200, 3000, size=(bad.sum(), 1))
    return x, y.astype(np.float32)


def main():
    mx.random.seed(0)
    w_true = np.random.default_rng(42).normal(size=(D, 1)).astype(np.float32)
    xtr, ytr = make_data(20000, w_true, 1, corrupt=True)
    xva, yva = make_data(2000, w_true, 2, corrupt=False)
    xva_m, yva_m = mx.array(xva), mx.array(yva)

    model = nn.Linear(D, 1)
    mx.eval(model.parameters())
    opt = optim.SGD(learning_rate=0.002, momentum=0.9)

    def huber(m, x, y):
        return nn.losses.huber_loss(m(x), y, delta=1.0, reduction="mean")

    grad_fn = nn.value_and_grad(model, huber)
    rng = np.random.default_rng(3)
    bs = 64
    for step in range(1, 2401):
        idx = rng.integers(0, len(xtr), size=bs)
        xb, yb = mx.array(xtr[idx]), mx.array(ytr[idx])
        hub, grads = grad_fn(model, xb, yb)
        opt.update(model, grads)
        batch_mse = nn.losses.mse_loss(model(xb), yb, reduction="mean")
        mx.eval(model.parameters(), opt.state, hub, batch_mse)
        if step % 100 == 0:
            val_mae = mx.abs(model(xva_m) - yva_m).mean().item()
            print(f"step {step:5d}  batch_mse={batch_mse.item():.3e}  huber={hub.item():.4f}  val_mae={val_mae:.4f}")


if __name__ == "__main__":
    main()
