"""MLP regression on a synthetic sensor stream; a few logger batches arrive with
unconverted units (x250).  SGD + momentum, JSON-lines metrics."""
import json
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(7)
D = 12
W_true = mx.random.normal((D, 1)) * 0.5


def stream(n_steps, bs=64):
    for step in range(n_steps):
        x = mx.random.normal((bs, D))
        y = mx.tanh(x @ W_true) + 0.3 * (x[:, :1] * x[:, 1:2]) + 0.05 * mx.random.normal((bs, 1))
        if step in (140, 420, 610):          # raw logger dump, units not converted
            y = y * 250.0
        yield step, x, y


model = nn.Sequential(nn.Linear(D, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 1))
mx.eval(model.parameters())
opt = optim.SGD(learning_rate=0.02, momentum=0.9)


def loss_fn(m, x, y):
    return nn.losses.mse_loss(m(x), y)


vg = nn.value_and_grad(model, loss_fn)
xv = mx.random.normal((512, D))
yv = mx.tanh(xv @ W_true) + 0.3 * (xv[:, :1] * xv[:, 1:2])

for step, x, y in stream(900):
    loss, grads = vg(model, x, y)
    grads, _ = optim.clip_grad_norm(grads, max_norm=1.0)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    if step % 50 == 0 or step == 899:
        val = loss_fn(model, xv, yv)
        print(json.dumps({"step": step, "mse": round(loss.item(), 5), "val_mse": round(val.item(), 5)}))
print(json.dumps({"status": "done"}))
