"""Radial-basis-function network with learned centres and widths, fitted to a noisy 1-D signal.

Nesterov SGD on minibatches; every 25 epochs prints train/val RMSE and where the centres sit.
"""
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten


class RBFNet(nn.Module):
    def __init__(self, n_centres=24):
        super().__init__()
        self.centres = mx.linspace(-2.5, 2.5, n_centres)
        self.log_width = mx.full((n_centres,), -0.7)
        self.out = nn.Linear(n_centres, 1)

    def __call__(self, x):                       # x: (N, 1)
        d = x - self.centres[None, :]
        phi = mx.exp(-0.5 * (d / mx.exp(self.log_width)) ** 2)
        return self.out(phi)[:, 0]


def target(x):
    return np.sin(2.2 * x) + 0.4 * np.cos(5.0 * x) * (x > 0)


def main():
    rng = np.random.default_rng(11)
    mx.random.seed(11)
    xtr = rng.uniform(-3, 3, size=1500).astype(np.float32)
    ytr = (target(xtr) + 0.1 * rng.normal(size=xtr.shape)).astype(np.float32)
    xva = np.linspace(-3, 3, 400).astype(np.float32)
    yva = target(xva).astype(np.float32)
    Xva, Yva = mx.array(xva[:, None]), mx.array(yva)

    model = RBFNet()
    opt = optim.SGD(learning_rate=0.05, momentum=0.9, nesterov=True)

    def loss_fn(m, x, y):
        return mx.mean((m(x) - y) ** 2)

    vg = nn.value_and_grad(model, loss_fn)

    # first-step gradient check: every leaf must receive signal
    _, g0 = vg(model, mx.array(xtr[:64, None]), mx.array(ytr[:64]))
    for k, v in tree_flatten(g0):
        assert float(mx.abs(v).max()) > 0, k

    bs = 50
    for epoch in range(1, 301):
        perm = rng.permutation(len(xtr))
        sse = 0.0
        for i in range(0, len(xtr), bs):
            idx = perm[i:i + bs]
            xb, yb = mx.array(xtr[idx, None]), mx.array(ytr[idx])
            loss, grads = vg(model, xb, yb)
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            sse += loss.item() * len(idx)
        if epoch % 30 == 0 or epoch == 1:
            val_rmse = mx.sqrt(mx.mean((model(Xva) - Yva) ** 2)).item()
            c = np.array(model.centres)
            print(f"[ep {epoch:03d}] rmse_train={np.sqrt(sse / len(xtr)):.4f} "
                  f"rmse_val(noise-free)={val_rmse:.4f} centres in [{c.min():+.2f}, {c.max():+.2f}] "
                  f"median width={np.median(np.exp(np.array(model.log_width))):.3f}")


if __name__ == "__main__":
    main()
