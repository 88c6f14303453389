# Buoy water-level logger: each 32-sample window opens with a surveyed datum
# reading (channel 1 flags it), then 31 samples of wave noise. We forecast the
# datum-corrected mean level of the next hour = datum + mean of the last 4 samples.
# The GRU below is vendored from mlx.nn (we tweak its init later).
import math
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim


class VendoredGRU(nn.Module):
    def __init__(self, input_size, hidden_size, bias=True):
        super().__init__()
        self.hidden_size = hidden_size
        scale = 1.0 / math.sqrt(hidden_size)
        self.Wx = mx.random.uniform(low=-scale, high=scale, shape=(input_size, 3 * hidden_size))
        self.Wh = mx.random.uniform(low=-scale, high=scale, shape=(hidden_size, 3 * hidden_size))
        self.b = mx.random.uniform(low=-scale, high=scale, shape=(3 * hidden_size,)) if bias else None
        self.bhn = mx.random.uniform(low=-scale, high=scale, shape=(hidden_size,)) if bias else None

    def __call__(self, x, hidden=None):
        if self.b is not None:
            x = mx.addmm(self.b, x, self.Wx)
        else:
            x = x @ self.Wx
        x_rz = x[..., : -self.hidden_size]
        x_n = x[..., -self.hidden_size :]
        all_hidden = []
        for idx in range(x.shape[-2]):
            rz = x_rz[..., idx, :]
            if hidden is not None:
                h_proj = hidden @ self.Wh
                h_proj_rz = h_proj[..., : -self.hidden_size]
                h_proj_n = h_proj[..., -self.hidden_size :]
                if self.bhn is not None:
                    h_proj_n += self.bhn
                rz = rz + h_proj_rz
            rz = mx.sigmoid(rz)
            r, z = mx.split(rz, 2, axis=-1)
            n = x_n[..., idx, :]
            if hidden is not None:
                n = n + r * h_proj_n
            n = mx.tanh(n)
            if hidden is not None:
                hidden = (1 - z) * n + z * hidden
            else:
                hidden = (1 - z) * n
            all_hidden.append(hidden)
        return mx.stack(all_hidden, axis=-2)


class LevelForecaster(nn.Module):
    def __init__(self, hidden=32):
        super().__init__()
        self.rnn = VendoredGRU(2, hidden)
        self.head = nn.Linear(hidden, 1)

    def __call__(self, x):
        h = self.rnn(x)
        return self.head(h[:, -1, :]).squeeze(-1)


def make_windows(rng, n, length=32):
    datum = rng.uniform(-1.5, 1.5, size=n).astype(np.float32)
    waves = (0.3 * rng.standard_normal((n, length))).astype(np.float32)
    waves[:, 0] = datum
    flag = np.zeros((n, length), np.float32)
    flag[:, 0] = 1.0
    target = datum + waves[:, -4:].mean(axis=1)
    return mx.array(np.stack([waves, flag], -1)), mx.array(target.astype(np.float32))


def main():
    mx.random.seed(3)
    rng = np.random.default_rng(3)
    model = LevelForecaster()
    mx.eval(model.parameters())
    opt = optim.Adam(learning_rate=1e-2)

    def loss_fn(m, x, y):
        return nn.losses.mse_loss(m(x), y)

    step = nn.value_and_grad(model, loss_fn)
    xv, yv = make_windows(np.random.default_rng(99), 512)
    naive = float(mx.mean(yv * yv))  # predict 0 (= series climatology)
    print(f"val windows: 512  climatology mse: {naive:.4f}")
    t0 = time.time()
    for it in range(1, 361):
        xb, yb = make_windows(rng, 64)
        loss, grads = step(model, xb, yb)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        if it % 60 == 0:
            vl = loss_fn(model, xv, yv)
            print(f"it {it:4d} | train mse {loss.item():.4f} | val mse {vl.item():.4f} "
                  f"| skill vs climatology {100 * (1 - vl.item() / naive):5.1f}% | {time.time() - t0:.1f}s")
    vl = loss_fn(model, xv, yv).item()
    print(f"final val mse {vl:.4f} (climatology {naive:.4f})")


if __name__ == "__main__":
    main()
