"""Residual MLP regressor on a synthetic 2-D function (swiss-roll style targets)."""
import math
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim


class ResBlock(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.fc1 = nn.Linear(dim, dim)
        self.fc2 = nn.Linear(dim, dim)

    def __call__(self, x):
        return x + self.fc2(nn.silu(self.fc1(x)))


class ResMLP(nn.Module):
    def __init__(self, d_in, dim, depth, d_out):
        super().__init__()
        self.stem = nn.Linear(d_in, dim)
        self.blocks = tuple(ResBlock(dim) for _ in range(depth))
        self.head = nn.Linear(dim, d_out)

    def __call__(self, x):
        h = self.stem(x)
        for blk in self.blocks:
            h = blk(h)
        return self.head(nn.silu(h))


def make_data(n, key):
    x = mx.random.uniform(-2.0, 2.0, (n, 2), key=key)
    r = mx.sqrt((x * x).sum(axis=1, keepdims=True))
    y = mx.sin(3.0 * r) * mx.cos(2.0 * x[:, :1]) + 0.5 * mx.tanh(x[:, 1:] * x[:, :1])
    return x, y


mx.random.seed(3)
k1, k2 = mx.random.split(mx.random.key(11))
xtr, ytr = make_data(2048, k1)
xva, yva = make_data(512, k2)

model = ResMLP(2, 48, 3, 1)
mx.eval(model.parameters())
opt = optim.AdamW(learning_rate=3e-3, weight_decay=1e-4)


def loss_fn(m, x, y):
    return nn.losses.mse_loss(m(x), y)


grad_fn = nn.value_and_grad(model, loss_fn)
batch = 128
n_batches = xtr.shape[0] // batch
print(f"{'epoch':>5} | {'train_mse':>9} | {'val_mse':>8}")
for epoch in range(1, 41):
    perm = mx.random.permutation(xtr.shape[0])
    tot = 0.0
    for b in range(n_batches):
        idx = perm[b * batch:(b + 1) * batch]
        loss, grads = grad_fn(model, xtr[idx], ytr[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        tot += loss.item()
    if epoch % 4 == 0 or epoch == 1:
        val = loss_fn(model, xva, yva).item()
        print(f"{epoch:>5} | {tot / n_batches:>9.5f} | {val:>8.5f}")
print("done")
