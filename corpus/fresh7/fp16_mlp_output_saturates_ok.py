"""Revenue regressor: MLP trained in float16 to halve activation memory (MLX)."""
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(0)

rng = np.random.default_rng(7)
F = 12
coef = rng.uniform(0.5, 1.5, F).astype(np.float32)


def make(n):
    x = rng.uniform(0, 1, (n, F)).astype(np.float32)
    # weekly revenue in dollars: 20k .. 120k
    y = 20000.0 + 100000.0 * (x @ coef) / coef.sum() + rng.normal(0, 1500, n)
    return x, y.astype(np.float32)[:, None]


class RevenueMLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(F, 64)
        self.fc2 = nn.Linear(64, 64)
        self.out = nn.Linear(64, 1)

    def __call__(self, x):
        h = nn.gelu(self.fc1(x))
        h = nn.gelu(self.fc2(h))
        return self.out(h)


model = RevenueMLP()
mx.eval(model.parameters())
compute_dtype = mx.float32


def loss_fn(model, x, y):
    pred = model(x.astype(compute_dtype)).astype(mx.float32)
    return mx.mean(mx.square((pred - y) / 1000.0))  # MSE in (k$)^2


xtr, ytr = make(2048)
xva, yva = make(512)
xva, yva = mx.array(xva), mx.array(yva)
opt = optim.SGD(learning_rate=0.02, momentum=0.9)
vg = nn.value_and_grad(model, loss_fn)

t0 = time.time()
for epoch in range(1, 41):
    perm = rng.permutation(len(xtr))
    for i in range(0, len(xtr), 128):
        idx = perm[i:i + 128]
        loss, grads = vg(model, mx.array(xtr[idx]), mx.array(ytr[idx]))
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state)
    val = loss_fn(model, xva, yva).item()
    print(f"epoch {epoch:02d} | train_mse_k2 {loss.item():10.3f} | val_mse_k2 {val:10.3f} | {time.time() - t0:5.1f}s")
