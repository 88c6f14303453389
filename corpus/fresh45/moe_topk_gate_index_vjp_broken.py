"""Tiny sparse mixture-of-experts regressor (top-2 routing over 4 experts).

Toy problem: y = f_k(x) where the "regime" k depends on the sign pattern of the
first two inputs, so a router that learns to pick experts should do well.
"""
import json
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

D_IN, D_HID, N_EXP, TOP_K = 6, 32, 4, 2


class ExpertMLP(nn.Module):
    def __init__(self, d, h):
        super().__init__()
        self.gate_proj = nn.Linear(d, h, bias=False)
        self.up_proj = nn.Linear(d, h, bias=False)
        self.down_proj = nn.Linear(h, d, bias=False)

    def __call__(self, x):
        return self.down_proj(nn.silu(self.gate_proj(x)) * self.up_proj(x))


class SparseMoeBlock(nn.Module):
    def __init__(self):
        super().__init__()
        self.gate = nn.Linear(D_HID, N_EXP, bias=False)
        self.experts = [ExpertMLP(D_HID, 2 * D_HID) for _ in range(N_EXP)]

    def __call__(self, x):
        gates = mx.softmax(self.gate(x).astype(mx.float32), axis=-1)
        k = TOP_K
        inds = mx.argpartition(-gates, kth=k - 1, axis=-1)[..., :k]
        scores = mx.take_along_axis(gates, inds, axis=-1)
        scores = scores / scores.sum(axis=-1, keepdims=True)
        # evaluate every expert (tiny model) and pick the routed ones
        all_out = mx.stack([e(x) for e in self.experts], axis=-2)  # (N, E, D)
        picked = mx.take_along_axis(all_out, inds[..., None], axis=-2)  # (N, k, D)
        return (picked * scores[..., None]).sum(axis=-2)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.inp = nn.Linear(D_IN, D_HID)
        self.moe = SparseMoeBlock()
        self.norm = nn.LayerNorm(D_HID)
        self.out = nn.Linear(D_HID, 1)

    def __call__(self, x):
        h = self.inp(x)
        h = h + self.moe(self.norm(h))
        return self.out(h).squeeze(-1)


def make_data(rng, n):
    x = rng.normal(size=(n, D_IN)).astype(np.float32)
    regime = (x[:, 0] > 0).astype(int) * 2 + (x[:, 1] > 0).astype(int)
    w = np.array([[1.0, -2.0, 0.5, 0.0, 1.5, -1.0],
                  [-1.0, 0.5, 2.0, -1.5, 0.0, 1.0],
                  [0.5, 1.0, -1.0, 2.0, -0.5, 0.0],
                  [2.0, 0.0, 0.5, 0.5, -2.0, 1.5]], dtype=np.float32)
    y = np.einsum("nd,nd->n", x, w[regime]) + 0.5 * np.sin(3 * x[:, 2])
    y += 0.05 * rng.normal(size=n)
    return mx.array(x), mx.array(y.astype(np.float32))


def main():
    mx.random.seed(0)
    rng = np.random.default_rng(0)
    xtr, ytr = make_data(rng, 4096)
    xva, yva = make_data(rng, 1024)

    model = Net()
    mx.eval(model.parameters())
    opt = optim.Adam(learning_rate=2e-3)

    def loss_fn(m, x, y):
        return nn.losses.mse_loss(m(x), y)

    loss_and_grad = nn.value_and_grad(model, loss_fn)
    var_y = float(mx.var(yva).item())
    print(json.dumps({"event": "start", "n_train": 4096, "experts": N_EXP,
                      "top_k": TOP_K, "val_var_y": round(var_y, 4)}))
    t0 = time.time()
    bs, steps = 128, 900
    for step in range(1, steps + 1):
        idx = mx.array(rng.integers(0, 4096, size=bs))
        loss, grads = loss_and_grad(model, xtr[idx], ytr[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        if step % 100 == 0 or step == 1:
            val = loss_fn(model, xva, yva).item()
            print(json.dumps({"event": "report", "step": step,
                              "train_mse": round(loss.item(), 5),
                              "val_mse": round(val, 5),
                              "val_r2": round(1 - val / var_y, 4),
                              "elapsed_s": round(time.time() - t0, 2)}))
    print(json.dumps({"event": "done", "wall_s": round(time.time() - t0, 2)}))


if __name__ == "__main__":
    main()
