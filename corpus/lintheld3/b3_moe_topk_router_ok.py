"""Tiny mixture-of-experts regressor with a top-k router."""
import argparse
from functools import partial

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim


class Expert(nn.Module):
    def __init__(self, dim, hidden):
        super().__init__()
        self.up = nn.Linear(dim, hidden)
        self.down = nn.Linear(hidden, dim)

    def __call__(self, x):
        return self.down(nn.silu(self.up(x)))


class TopKMoE(nn.Module):
    def __init__(self, dim, hidden, n_experts, top_k):
        super().__init__()
        self.top_k = top_k
        self.router = nn.Linear(dim, n_experts, bias=False)
        self.experts = [Expert(dim, hidden) for _ in range(n_experts)]

    def route(self, x):
        gates = mx.softmax(self.router(x), axis=-1)
        k = self.top_k
        inds = mx.stop_gradient(mx.argpartition(-gates, kth=k - 1, axis=-1)[..., :k])
        weights = mx.take_along_axis(gates, inds, axis=-1)
        weights = weights / weights.sum(axis=-1, keepdims=True)
        return inds, weights

    def __call__(self, x):
        inds, weights = self.route(x)
        # dense evaluation of every expert, then pick the routed ones (fine for a toy size)
        all_out = mx.stack([e(x) for e in self.experts], axis=1)          # (B, E, D)
        picked = mx.take_along_axis(all_out, inds[..., None], axis=1)     # (B, k, D)
        return (picked * weights[..., None]).sum(axis=1)


class Regressor(nn.Module):
    def __init__(self, d_in, dim, n_experts, top_k):
        super().__init__()
        self.inp = nn.Linear(d_in, dim)
        self.moe = TopKMoE(dim, 2 * dim, n_experts, top_k)
        self.out = nn.Linear(dim, 1)

    def __call__(self, x):
        h = self.inp(x)
        return self.out(h + self.moe(h)).squeeze(-1)


def objective(net, x, y, l2=0.0):
    return nn.losses.mse_loss(net(x), y) + l2 * (net.out.weight ** 2).sum()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--experts", type=int, default=4)
    p.add_argument("--top-k", type=int, default=2)
    p.add_argument("--iters", type=int, default=200)
    args = p.parse_args()

    mx.random.seed(2)
    x = mx.random.uniform(-2, 2, (512, 4))
    y = mx.where(x[:, 0] > 0, mx.sin(3 * x[:, 1]), x[:, 2] * x[:, 3])
    net = Regressor(4, 16, args.experts, args.top_k)
    opt = optim.AdamW(learning_rate=3e-3, weight_decay=0.0)
    train_vg = nn.value_and_grad(net, partial(objective, l2=1e-4))
    for it in range(args.iters):
        idx = mx.random.randint(0, 512, (64,))
        loss, grads = train_vg(net, x[idx], y[idx])
        opt.update(net, grads)
        mx.eval(net.parameters(), opt.state)
        if it % 50 == 0 or it == args.iters - 1:
            print(f"iter {it:3d} loss {loss.item():.4f}")
    print("full-data mse", nn.losses.mse_loss(net(x), y).item())


if __name__ == "__main__":
    main()
