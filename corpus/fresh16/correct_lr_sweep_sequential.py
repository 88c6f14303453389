# Small learning-rate sweep run inside one script: four fresh models trained
# one after another with Lion at different learning rates, one JSON line per
# logging step, then a summary and a pick of the best run. The smallest rate
# is in the grid on purpose and barely moves its model.
import json
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

D_IN, HID = 10, 48
STEPS, LOG_EVERY, BS = 300, 50, 128
GRID = [1e-6, 1e-4, 3e-4, 1e-3]

mx.random.seed(21)
W1 = mx.random.normal((D_IN, 16))
W2 = mx.random.normal((16, 1)) / 4.0


def make_batch(n):
    x = mx.random.uniform(-2, 2, (n, D_IN))
    y = mx.tanh(x @ W1) @ W2 + 0.1 * mx.cos(3 * x[:, :1])
    return x, y


def make_model(seed):
    mx.random.seed(seed)
    m = nn.Sequential(nn.Linear(D_IN, HID), nn.SiLU(), nn.Linear(HID, HID), nn.SiLU(), nn.Linear(HID, 1))
    mx.eval(m.parameters())
    return m


def loss_fn(model, x, y):
    return nn.losses.huber_loss(model(x), y, delta=0.5, reduction="mean")


x_val, y_val = make_batch(2048)
results = {}
for run, lr in enumerate(GRID):
    model = make_model(100 + run)
    opt = optim.Lion(learning_rate=lr, weight_decay=0.0)
    grad_fn = nn.value_and_grad(model, loss_fn)
    t0 = time.time()
    for step in range(1, STEPS + 1):
        x, y = make_batch(BS)
        loss, grads = grad_fn(model, x, y)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        if step % LOG_EVERY == 0 or step == 1:
            print(json.dumps({"run": run, "lr": lr, "step": step,
                              "huber": round(loss.item(), 5)}))
    val = loss_fn(model, x_val, y_val).item()
    results[lr] = val
    print(json.dumps({"run": run, "lr": lr, "val_huber": round(val, 5),
                      "secs": round(time.time() - t0, 2)}))

best = min(results, key=results.get)
print("sweep summary: " + ", ".join(f"lr={k:g}: {v:.5f}" for k, v in results.items()))
print(f"best learning rate: {best:g}")
