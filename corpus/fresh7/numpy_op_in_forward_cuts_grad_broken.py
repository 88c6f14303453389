"""Tabular classifier with a robust (median/IQR) feature normaliser between layers (MLX + NumPy)."""
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(0)

rng = np.random.default_rng(12)
D, K = 24, 4
A = rng.normal(0, 1, (D, D)).astype(np.float32)


def make(n):
    z = rng.normal(0, 1, (n, D)).astype(np.float32)
    x = z @ A / np.sqrt(D) + 0.05 * rng.standard_t(2, (n, D)).astype(np.float32)
    y = 2 * (z[:, 0] > 0) + (z[:, 1] * z[:, 0] > 0)
    return mx.array(x.astype(np.float32)), mx.array(y.astype(np.int32))


class RobustNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.feat = nn.Sequential(nn.Linear(D, 64), nn.SiLU(), nn.Linear(64, 8))
        self.cls = nn.Sequential(nn.SiLU(), nn.Linear(8, K))

    def robust_norm(self, h):
        h_np = np.array(h)
        med = np.median(h_np, axis=0)
        iqr = np.percentile(h_np, 75, axis=0) - np.percentile(h_np, 25, axis=0) + 1e-3
        return mx.array((h_np - med) / iqr)

    def __call__(self, x):
        return self.cls(self.robust_norm(self.feat(x)))


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


model = RobustNet()
mx.eval(model.parameters())
opt = optim.Adam(learning_rate=3e-3)
vg = nn.value_and_grad(model, loss_fn)
xv, yv = make(1000)

for step in range(1, 601):
    x, y = make(256)
    loss, grads = vg(model, x, y)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state)
    if step % 50 == 0:
        acc = mx.mean(mx.argmax(model(xv), axis=1) == yv).item()
        print({"step": step, "xent": round(loss.item(), 4), "val_acc": round(acc, 4)})
