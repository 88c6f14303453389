"""Sparse mixture-of-experts regressor (top-2 routing) on a 4-regime signal.

The target switches between four different nonlinear functions depending on
which quadrant of the first two features the sample falls in, so a router that
learns to send each regime to its own expert should fit it well.
"""
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(5)


def make_data(n):
    x = rng.uniform(-1, 1, (n, 6)).astype(np.float32)
    q = (x[:, 0] > 0).astype(int) * 2 + (x[:, 1] > 0).astype(int)
    f = np.stack([np.sin(3 * x[:, 2]), x[:, 3] ** 2 - x[:, 4],
                  np.tanh(2 * x[:, 5]) * x[:, 2], np.cos(2 * x[:, 4]) + x[:, 3]], 1)
    y = f[np.arange(n), q] + 0.05 * rng.normal(size=n)
    return mx.array(x), mx.array(y.astype(np.float32)[:, None])


class Expert(nn.Module):
    def __init__(self, d, h):
        super().__init__()
        self.fc1 = nn.Linear(d, h)
        self.fc2 = nn.Linear(h, d)

    def __call__(self, x):
        return self.fc2(nn.silu(self.fc1(x)))


class SparseMoE(nn.Module):
    def __init__(self, d=32, h=48, n_experts=4, top_k=2):
        super().__init__()
        self.top_k = top_k
        self.gate = nn.Linear(d, n_experts, bias=False)
        self.experts = [Expert(d, h) for _ in range(n_experts)]

    def __call__(self, x):
        gates = self.gate(x)                                          # (N, E)
        k = self.top_k
        inds = mx.stop_gradient(mx.argpartition(-gates, kth=k - 1, axis=-1)[..., :k])
        scores = mx.softmax(mx.take_along_axis(gates, inds, axis=-1), axis=-1)
        ys = mx.stack([e(x) for e in self.experts], axis=-2)          # (N, E, d)
        ys = mx.take_along_axis(ys, inds[..., None], axis=-2)         # (N, k, d)
        return (ys * scores[..., None]).sum(axis=-2), inds


class Regressor(nn.Module):
    def __init__(self):
        super().__init__()
        self.inp = nn.Linear(6, 32)
        self.moe = SparseMoE()
        self.head = nn.Linear(32, 1)

    def __call__(self, x):
        h = nn.silu(self.inp(x))
        m, inds = self.moe(h)
        return self.head(h + m), inds


def loss_fn(model, x, y):
    pred, _ = model(x)
    return nn.losses.mse_loss(pred, y)


mx.random.seed(1)
model = Regressor()
opt = optim.AdamW(learning_rate=2e-3, weight_decay=1e-4)
loss_and_grad = nn.value_and_grad(model, loss_fn)
xtr, ytr = make_data(4096)
xva, yva = make_data(1024)

t0 = time.time()
print("epoch  train_mse  val_mse   expert_load(val, top-1 share)")
for epoch in range(1, 26):
    perm = mx.array(rng.permutation(4096))
    tot = 0.0
    for i in range(0, 4096, 128):
        idx = perm[i:i + 128]
        loss, grads = loss_and_grad(model, xtr[idx], ytr[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        tot += loss.item()
    pred, inds = model(xva)
    val = nn.losses.mse_loss(pred, yva).item()
    load = np.bincount(np.array(inds[:, 0]), minlength=4) / yva.shape[0]
    print(f"{epoch:>5}  {tot / 32:9.4f}  {val:7.4f}   " + " ".join(f"{l:.2f}" for l in load))
print(f"finished in {time.time() - t0:.1f}s")
