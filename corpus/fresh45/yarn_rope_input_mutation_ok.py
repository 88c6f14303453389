"""Sequence regression on synthetic sensor windows with a small MLP head.

Raw per-timestep features get YaRN-scaled rotary position encoding (context
extension factor 8), then the window is flattened into an MLP.  Target: a weighted sum of a
lagged feature and a window statistic.
"""
import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

L, D = 16, 8


class YarnRoPE(nn.Module):
    def __init__(self, dims, base=10000.0, scaling_factor=8.0, mscale=1.0, mscale_all_dim=0.0):
        super().__init__()

        def yarn_get_mscale(scale=1.0, mscale=1.0):
            if scale <= 1:
                return 1.0
            return 0.1 * mscale * math.log(scale) + 1.0

        self.mscale = yarn_get_mscale(scaling_factor, mscale) / yarn_get_mscale(scaling_factor, mscale_all_dim)
        self.dims = dims
        self.base = base
        self.scaling_factor = scaling_factor

    def __call__(self, x, offset=0):
        if self.mscale != 1.0:
            x = x[...]
            x[..., : self.dims] = self.mscale * x[..., : self.dims]
        return mx.fast.rope(x, self.dims, traditional=False, base=self.base,
                            scale=1.0 / self.scaling_factor, offset=offset)


class WindowRegressor(nn.Module):
    def __init__(self):
        super().__init__()
        self.rope = YarnRoPE(D)
        self.mlp = nn.Sequential(nn.Linear(L * D, 128), nn.SiLU(), nn.Linear(128, 64),
                                 nn.SiLU(), nn.Linear(64, 1))

    def __call__(self, x):
        h = self.rope(x)
        return self.mlp(h.reshape(h.shape[0], -1)).reshape(-1)


def make_windows(rng, n):
    x = rng.normal(size=(n, L, D)).astype(np.float32)
    x[:, :, 0] = np.cumsum(0.3 * x[:, :, 0], axis=1)  # a drifting channel
    y = 0.8 * x[:, 5, 1] - 0.5 * x[:, :, 0].mean(axis=1) + 0.3 * x[:, -1, 2] * x[:, -1, 3]
    return mx.array(x), mx.array(y.astype(np.float32))


def main():
    mx.random.seed(2)
    rng = np.random.default_rng(2)
    x_tr, y_tr = make_windows(rng, 3000)
    x_va, y_va = make_windows(rng, 500)
    model = WindowRegressor()
    mx.eval(model.parameters())
    opt = optim.AdamW(learning_rate=1e-3, weight_decay=1e-4)

    def loss_fn(m, x, y):
        return nn.losses.mse_loss(m(x), y)

    step = nn.value_and_grad(model, loss_fn)
    base = mx.var(y_va).item()
    print(f"val variance (predict-mean MSE): {base:.4f}")
    print(f"{'step':>5} {'train_mse(avg)':>15} {'val_mse':>9} {'val/var':>8} {'time':>6}")
    t0 = time.time()
    hist = []
    for it in range(1, 1201):
        idx = mx.array(rng.integers(0, x_tr.shape[0], size=64))
        loss, grads = step(model, x_tr[idx], y_tr[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        hist.append(loss.item())
        if it % 100 == 0:
            val = loss_fn(model, x_va, y_va).item()
            print(f"{it:5d} {np.mean(hist[-100:]):15.4f} {val:9.4f} {val / base:8.3f} {time.time() - t0:5.1f}s")
    print(f"finished in {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
