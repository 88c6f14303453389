"""Sensor-to-power regression with a loss-spike guard.

A few logged readings are missing (NaN) in the raw export.  The training loop
has a guard meant to drop any batch whose loss looks broken instead of letting
it update the model.
"""
import json
import math
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(11)

N, D = 6000, 12
X = mx.random.normal((N, D))
w_true = mx.random.normal((D, 1)) / math.sqrt(D)
Y = mx.tanh(X @ w_true) * 2.0 + 0.1 * X[:, :1] ** 2 + 0.05 * mx.random.normal((N, 1))
# a handful of rows have a dropped reading exported as NaN
bad = mx.random.uniform(shape=(N,)) < 0.0006
X = mx.where(bad[:, None] & (mx.arange(D)[None, :] == 3), mx.array(float("nan")), X)
mx.eval(X, Y)

model = nn.Sequential(nn.Linear(D, 64), nn.GELU(), nn.Linear(64, 64), nn.GELU(), nn.Linear(64, 1))
mx.eval(model.parameters())
opt = optim.AdamW(learning_rate=2e-3, weight_decay=1e-4)


def loss_fn(model, x, y):
    return nn.losses.huber_loss(model(x), y, delta=1.0, reduction="mean")


loss_and_grad = nn.value_and_grad(model, loss_fn)


def batches(batch_size=50, epochs=4):
    for ep in range(epochs):
        perm = mx.random.permutation(N)
        for i in range(0, N, batch_size):
            idx = perm[i:i + batch_size]
            yield ep, X[idx], Y[idx]


MAX_SANE_LOSS = 100.0
step, skipped, window = 0, 0, []
stream = batches()
while True:
    try:
        epoch, xb, yb = next(stream)
    except StopIteration:
        break
    step += 1
    loss, grads = loss_and_grad(model, xb, yb)
    loss_f = loss.item()
    if not math.isfinite(loss_f) or loss_f > MAX_SANE_LOSS:  # drop broken batches
        skipped += 1
        continue
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state)
    window.append(loss_f)
    if step % 30 == 0:
        print(json.dumps({"epoch": epoch, "step": step, "huber": round(sum(window) / len(window), 5),
                          "skipped": skipped}))
        window = []

clean = ~mx.any(mx.isnan(X), axis=1, keepdims=True)
sq = mx.where(clean, mx.square(model(mx.where(clean, X, 0.0)) - Y), 0.0)
print(json.dumps({"final_clean_mse": (mx.sum(sq) / mx.sum(clean)).item(), "skipped": skipped}))
