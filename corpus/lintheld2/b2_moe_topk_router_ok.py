"""Tiny mixture-of-experts regressor with a top-2 router."""
import argparse

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim


class TopKRouter(nn.Module):
    def __init__(self, dim, n_experts, k):
        super().__init__()
        self.k = k
        self.gate = nn.Linear(dim, n_experts, bias=False)

    def __call__(self, x):
        logits = self.gate(x)
        order = mx.stop_gradient(mx.argsort(-logits, axis=-1)[..., : self.k])
        probs = mx.softmax(logits, axis=-1)
        weights = mx.take_along_axis(probs, order, axis=-1)
        weights = weights / weights.sum(axis=-1, keepdims=True)
        return order, weights


class MoE(nn.Module):
    def __init__(self, dim, hidden, n_experts=4, k=2):
        super().__init__()
        self.router = TopKRouter(dim, n_experts, k)
        self.experts = [
            nn.Sequential(nn.Linear(dim, hidden), nn.SiLU(), nn.Linear(hidden, dim))
            for _ in range(n_experts)
        ]
        self.out = nn.Linear(dim, 1)

    def __call__(self, x):
        order, weights = self.router(x)                       # (B, k)
        every = mx.stack([e(x) for e in self.experts], axis=1)  # (B, E, D)
        chosen = mx.take_along_axis(every, order[..., None], axis=1)  # (B, k, D)
        mixed = (chosen * weights[..., None]).sum(axis=1)
        return self.out(mixed).squeeze(-1)


def piecewise_target(x):
    # a different linear rule in each quadrant of the first two features
    q = (x[:, 0] > 0).astype(mx.int32) * 2 + (x[:, 1] > 0).astype(mx.int32)
    coefs = mx.array([[1.0, -2.0], [0.5, 0.5], [-1.5, 1.0], [2.0, 0.0]])
    return (coefs[q] * x[:, 2:4]).sum(-1)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--dim", type=int, default=8)
    p.add_argument("--iters", type=int, default=600)
    p.add_argument("--lr", type=float, default=3e-3)
    args = p.parse_args()

    mx.random.seed(11)
    policy = MoE(args.dim, 32)
    opt = optim.Adam(learning_rate=args.lr)

    def regression_loss(model, xb, yb):
        return nn.losses.mse_loss(model(xb), yb)

    value_grad = nn.value_and_grad(policy, regression_loss)
    avg = None
    for it in range(args.iters):
        xb = mx.random.normal((64, args.dim))
        yb = piecewise_target(xb)
        loss, grads = value_grad(policy, xb, yb)
        opt.update(policy, grads)
        mx.eval(policy.parameters(), opt.state)
        avg = loss.item() if avg is None else 0.95 * avg + 0.05 * loss.item()
        if it % 100 == 0 or it == args.iters - 1:
            print(f"iter {it:3d} mse {loss.item():.4f} (smoothed {avg:.4f})")


if __name__ == "__main__":
    main()
