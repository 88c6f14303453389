# Kiln temperature forecaster: a hand-ported GRU (same equations as the
# PyTorch model it replaces), trained in MLX, then checked for parity
# against a NumPy reference of the original equations before export.
import math
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim


class PortedGRU(nn.Module):
    def __init__(self, input_size, hidden_size):
        super().__init__()
        self.hidden_size = hidden_size
        scale = 1.0 / math.sqrt(hidden_size)
        self.Wx = mx.random.uniform(-scale, scale, (3 * hidden_size, input_size))
        self.Wh = mx.random.uniform(-scale, scale, (3 * hidden_size, hidden_size))
        self.b = mx.random.uniform(-scale, scale, (3 * hidden_size,))
        self.bhn = mx.random.uniform(-scale, scale, (hidden_size,))

    def __call__(self, x, hidden=None):
        x = mx.addmm(self.b, x, self.Wx.T)
        x_rz = x[..., : -self.hidden_size]
        x_n = x[..., -self.hidden_size :]
        all_hidden = []
        for idx in range(x.shape[-2]):
            rz = x_rz[..., idx, :]
            if hidden is not None:
                h_proj = hidden @ self.Wh.T
                h_proj_rz = h_proj[..., : -self.hidden_size]
                h_proj_n = h_proj[..., -self.hidden_size :]
                h_proj_n += self.bhn
                rz = rz + h_proj_rz
            rz = mx.sigmoid(rz)
            r, z = mx.split(rz, 2, axis=-1)
            n = x_n[..., idx, :]
            if hidden is not None:
                n = n + r * h_proj_n
            elif self.bhn is not None:
                n = n + r * self.bhn
            n = mx.tanh(n)
            if hidden is not None:
                hidden = (1 - z) * n + z * hidden
            else:
                hidden = (1 - z) * n
            all_hidden.append(hidden)
        return mx.stack(all_hidden, axis=-2)


class KilnForecaster(nn.Module):
    def __init__(self, hidden=16):
        super().__init__()
        self.gru = PortedGRU(2, hidden)
        self.head = nn.Linear(hidden, 1)

    def __call__(self, x):
        return self.head(self.gru(x))[..., 0]


def reference_gru(x, Wx, Wh, b, bhn):
    """NumPy reference of the original (PyTorch-convention) GRU, h0 = 0."""
    H = Wh.shape[1]
    h = np.zeros((x.shape[0], H), dtype=np.float64)
    outs = []
    for t in range(x.shape[1]):
        gx = x[:, t] @ Wx.T + b
        gh = h @ Wh.T
        r = 1 / (1 + np.exp(-(gx[:, :H] + gh[:, :H])))
        z = 1 / (1 + np.exp(-(gx[:, H:2 * H] + gh[:, H:2 * H])))
        n = np.tanh(gx[:, 2 * H:] + r * (gh[:, 2 * H:] + bhn))
        h = (1 - z) * n + z * h
        outs.append(h)
    return np.stack(outs, axis=1)


def make_batch(rng, n, steps=10):
    # firing schedule: setpoint ramp + noisy thermocouple, both scaled to ~[-1, 1]
    t0 = rng.uniform(0, 2 * np.pi, size=(n, 1))
    grid = t0 + 0.35 * np.arange(steps + 1)[None, :]
    temp = np.sin(grid) + 0.3 * np.sin(2.3 * grid)
    setp = np.cos(grid)
    noisy = temp + 0.03 * rng.standard_normal(temp.shape)
    x = np.stack([noisy[:, :-1], setp[:, :-1]], axis=-1).astype(np.float32)
    y = temp[:, 1:].astype(np.float32)
    return mx.array(x), mx.array(y)


def main():
    mx.random.seed(7)
    rng = np.random.default_rng(7)
    model = KilnForecaster()
    opt = optim.Adam(learning_rate=1e-2)

    def loss_fn(m, x, y):
        return nn.losses.mse_loss(m(x), y)

    step_fn = nn.value_and_grad(model, loss_fn)
    xv, yv = make_batch(rng, 256)
    for step in range(1, 301):
        x, y = make_batch(rng, 64)
        loss, grads = step_fn(model, x, y)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        if step % 50 == 0:
            val = loss_fn(model, xv, yv)
            print(f"step {step:3d}  train_mse {loss.item():.5f}  val_mse {val.item():.5f}")

    # parity audit before exporting the weights back to the serving stack
    g = model.gru
    ours = np.array(g(xv))
    ref = reference_gru(np.array(xv, dtype=np.float64), np.array(g.Wx), np.array(g.Wh),
                        np.array(g.b), np.array(g.bhn))
    diff = np.abs(ours - ref)
    print(f"parity vs reference GRU: max|diff| {diff.max():.2e}  first-step {diff[:, 0].max():.2e}  "
          f"later-steps {diff[:, 1:].max():.2e}  (tol 1e-4)")
    print("export:", "OK" if diff.max() < 1e-4 else "MISMATCH")


if __name__ == "__main__":
    main()
