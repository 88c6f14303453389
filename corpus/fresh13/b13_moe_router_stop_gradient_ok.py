"""Sparse mixture-of-experts regressor (top-2 routing over 4 linear experts).

The data come from 4 regimes, each with its own linear law, so the router has
to learn which expert handles which regime. argpartition has no gradient, so
the selection is wrapped in stop_gradient."""
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim


class MoE(nn.Module):
    def __init__(self, d_in=8, n_experts=4, top_k=2):
        super().__init__()
        self.top_k = top_k
        self.gate = nn.Linear(d_in, n_experts, bias=False)
        self.experts = [nn.Linear(d_in, 1) for _ in range(n_experts)]

    def __call__(self, x):
        scores = self.gate(x)
        inds = mx.stop_gradient(mx.argpartition(-scores, kth=self.top_k - 1, axis=-1)[:, : self.top_k])
        w = mx.softmax(mx.take_along_axis(scores, inds, axis=-1), axis=-1)
        outs = mx.concatenate([e(x) for e in self.experts], axis=-1)  # (N, E)
        picked = mx.take_along_axis(outs, inds, axis=-1)
        return (w * picked).sum(axis=-1, keepdims=True)


def regimes(n=4096, d=8, k=4, seed=0):
    mx.random.seed(seed)
    centers = 3.0 * mx.random.normal((k, d))
    laws = mx.random.normal((k, d, 1))
    r = mx.random.randint(0, k, (n,))
    x = centers[r] + mx.random.normal((n, d))
    y = mx.squeeze(laws[r] * x[:, :, None], -1).sum(axis=1, keepdims=True) / d ** 0.5
    return x, y


def main():
    x, y = regimes()
    model = MoE()
    mx.eval(model.parameters())
    opt = optim.Adam(learning_rate=1e-2)

    def loss_fn(m, xb, yb):
        return nn.losses.mse_loss(m(xb), yb)

    vg = nn.value_and_grad(model, loss_fn)
    t0 = time.time()
    for epoch in range(1, 26):
        perm = mx.random.permutation(x.shape[0])
        for b, i in enumerate(range(0, x.shape[0], 128), start=1):
            idx = perm[i:i + 128]
            loss, grads = vg(model, x[idx], y[idx])
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
        full = loss_fn(model, x, y).item()
        print(f"epoch {epoch:2d} [{b}/{b}] mse={full:.4f} last_batch={loss.item():.4f} ({time.time() - t0:.1f}s)")


if __name__ == "__main__":
    main()
