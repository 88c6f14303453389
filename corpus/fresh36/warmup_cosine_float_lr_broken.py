# Small tabular regression with a hand-written warmup + cosine learning-rate schedule
# passed to the optimizer as a callable.
import json, math, time
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(3)
N, D = 2048, 12
X = mx.random.normal((N, D))
w_true = mx.random.normal((D, 1))
y = mx.sin(X @ w_true) + 0.1 * (X[:, :1] ** 2) + 0.05 * mx.random.normal((N, 1))
Xtr, ytr, Xva, yva = X[:1792], y[:1792], X[1792:], y[1792:]

BASE_LR, WARMUP, TOTAL = 2e-3, 100, 1200

def lr_schedule(step):
    step = int(step)
    if step < WARMUP:
        lr = BASE_LR * (step + 1) / WARMUP
    else:
        p = (step - WARMUP) / max(1, TOTAL - WARMUP)
        lr = 1e-5 + 0.5 * (BASE_LR - 1e-5) * (1 + math.cos(math.pi * min(p, 1.0)))
    return lr

model = nn.Sequential(nn.Linear(D, 64), nn.GELU(), nn.Linear(64, 64), nn.GELU(), nn.Linear(64, 1))
mx.eval(model.parameters())
opt = optim.Adam(learning_rate=lr_schedule)

def loss_fn(m, xb, yb):
    return nn.losses.mse_loss(m(xb), yb)

vg = nn.value_and_grad(model, loss_fn)
t0 = time.time()
for step in range(TOTAL):
    idx = mx.random.randint(0, Xtr.shape[0], (128,))
    loss, grads = vg(model, Xtr[idx], ytr[idx])
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    if step % 100 == 0 or step == TOTAL - 1:
        val = loss_fn(model, Xva, yva).item()
        print(json.dumps({"step": step, "lr": round(float(opt.learning_rate.item()), 6),
                          "train_mse": round(loss.item(), 5), "val_mse": round(val, 5),
                          "t": round(time.time() - t0, 2)}), flush=True)
