"""Regression MLP with a warmup + cosine learning-rate schedule (mlx-lm style config).

Targets are a smooth nonlinear function of 8 inputs plus a little noise.
"""
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

EPOCHS, ITERS_PER_EPOCH, BATCH = 12, 50, 64
config = {
    "lr_schedule": {
        "name": "cosine_decay",
        "warmup": 10,
        "warmup_init": 1e-7,
        "arguments": [5e-2, EPOCHS, 1e-7],
    }
}

mx.random.seed(1)
W_true = mx.random.normal((8, 1))


def sample(n):
    x = mx.random.uniform(-2, 2, (n, 8))
    y = mx.sin(x @ W_true) + 0.1 * (x[:, :1] ** 2) + 0.01 * mx.random.normal((n, 1))
    return x, y


def build_schedule(cfg):
    init, decay_steps, end = cfg["arguments"]
    warmup = optim.linear_schedule(cfg["warmup_init"], init, cfg["warmup"])
    decay = optim.cosine_decay(init, decay_steps, end)
    return optim.join_schedules([warmup, decay], [cfg["warmup"]])


model = nn.Sequential(nn.Linear(8, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 1))
optimizer = optim.SGD(learning_rate=build_schedule(config["lr_schedule"]), momentum=0.9)
loss_and_grad = nn.value_and_grad(model, lambda m, x, y: nn.losses.mse_loss(m(x), y))

for epoch in range(1, EPOCHS + 1):
    for it in range(1, ITERS_PER_EPOCH + 1):
        x, y = sample(BATCH)
        loss, grads = loss_and_grad(model, x, y)
        optimizer.update(model, grads)
        mx.eval(model.parameters(), optimizer.state, loss)
        if it % 25 == 0:
            lr, mse = optimizer.learning_rate.item(), loss.item()
            print(f"epoch {epoch} | iter {it}/{ITERS_PER_EPOCH} | mse={mse:.4f} | lr={lr:.2e}")
