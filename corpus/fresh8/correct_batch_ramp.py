# Batch-size ramp-up: batch size doubles every 150 steps (16 -> 256) with the
# learning rate scaled along (linear scaling rule). Early losses are very noisy,
# later ones smooth; prints JSON lines.
import json
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(0)

rng = np.random.default_rng(5)
N = 8192
X = rng.uniform(-2, 2, size=(N, 4)).astype(np.float32)
y = (np.sin(X[:, :1] * 1.5) + X[:, 1:2] * X[:, 2:3] - 0.5 * X[:, 3:4]).astype(np.float32)
X, y = mx.array(X), mx.array(y)

model = nn.Sequential(nn.Linear(4, 64), nn.SiLU(), nn.Linear(64, 64), nn.SiLU(), nn.Linear(64, 1))
base_lr, base_bs = 0.01, 16
opt = optim.SGD(learning_rate=base_lr, momentum=0.9)
loss_fn = lambda m, xb, yb: nn.losses.mse_loss(m(xb), yb)
vg = nn.value_and_grad(model, loss_fn)

for step in range(1, 751):
    bs = min(base_bs * 2 ** ((step - 1) // 150), 256)
    opt.learning_rate = base_lr * (bs / base_bs) ** 0.5   # square-root scaling rule
    idx = mx.array(rng.integers(0, N, size=bs))
    loss, grads = vg(model, X[idx], y[idx])
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    if step % 25 == 0:
        print(json.dumps({"step": step, "batch": int(bs), "lr": round(float(opt.learning_rate.item()), 5),
                          "mse": round(loss.item(), 5)}))
full = loss_fn(model, X, y).item()
print(json.dumps({"final_full_mse": round(full, 5)}))
