# 1-D Fourier neural operator learning the heat-equation solution operator
# u(x, 0) -> u(x, T) on a periodic grid. Spectral weights are kept as separate
# real / imaginary arrays so every leaf is a plain float32 parameter.
import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten

N_GRID = 64
N_MODES = 12
WIDTH = 24
KAPPA = 0.02
T_END = 1.0


def make_pairs(n, rng):
    x = np.linspace(0, 2 * np.pi, N_GRID, endpoint=False)
    u0 = np.zeros((n, N_GRID))
    uT = np.zeros((n, N_GRID))
    for k in range(1, 9):
        a = rng.normal(0, 1.0 / k, size=(n, 1))
        b = rng.normal(0, 1.0 / k, size=(n, 1))
        decay = math.exp(-KAPPA * k * k * T_END * 4)
        u0 += a * np.sin(k * x) + b * np.cos(k * x)
        uT += decay * (a * np.sin(k * x) + b * np.cos(k * x))
    return mx.array(u0.astype(np.float32)), mx.array(uT.astype(np.float32))


class SpectralConv1d(nn.Module):
    def __init__(self, width, modes):
        super().__init__()
        scale = 1.0 / (width * width)
        self.modes = modes
        self.w_re = scale * mx.random.normal((modes, width, width))
        self.w_im = scale * mx.random.normal((modes, width, width))

    def __call__(self, h):  # h: (B, N, C)
        hf = mx.fft.rfft(h, axis=1)[:, : self.modes, :]  # (B, M, C) complex
        re, im = mx.real(hf), mx.imag(hf)
        out_re = mx.einsum("bmi,mio->bmo", re, self.w_re) - mx.einsum("bmi,mio->bmo", im, self.w_im)
        out_im = mx.einsum("bmi,mio->bmo", re, self.w_im) + mx.einsum("bmi,mio->bmo", im, self.w_re)
        spec = out_re + 1j * out_im
        pad = mx.zeros((h.shape[0], N_GRID // 2 + 1 - self.modes, h.shape[2]), dtype=spec.dtype)
        return mx.fft.irfft(mx.concatenate([spec, pad], axis=1), n=N_GRID, axis=1)


class FNO1d(nn.Module):
    def __init__(self):
        super().__init__()
        self.lift = nn.Linear(2, WIDTH)
        self.spec = [SpectralConv1d(WIDTH, N_MODES) for _ in range(3)]
        self.local = [nn.Linear(WIDTH, WIDTH) for _ in range(3)]
        self.proj1 = nn.Linear(WIDTH, 48)
        self.proj2 = nn.Linear(48, 1)

    def __call__(self, u0):
        grid = mx.broadcast_to(mx.linspace(0, 1, N_GRID)[None, :, None], (u0.shape[0], N_GRID, 1))
        h = self.lift(mx.concatenate([u0[..., None], grid], axis=-1))
        for i, (s, l) in enumerate(zip(self.spec, self.local)):
            h = s(h) + l(h)
            if i < 2:
                h = nn.gelu(h)
        return self.proj2(nn.gelu(self.proj1(h)))[..., 0]


def rel_l2(pred, target):
    num = mx.sqrt(mx.sum((pred - target) ** 2, axis=1))
    den = mx.sqrt(mx.sum(target ** 2, axis=1))
    return mx.mean(num / den)


def spark(values):
    bars = " .:-=+*#%@"
    lo, hi = min(values), max(values)
    span = (hi - lo) or 1.0
    return "".join(bars[int((v - lo) / span * (len(bars) - 1))] for v in values)


def main():
    mx.random.seed(11)
    rng = np.random.default_rng(5)
    u0_tr, uT_tr = make_pairs(1024, rng)
    u0_te, uT_te = make_pairs(256, rng)

    model = FNO1d()
    mx.eval(model.parameters())
    loss_fn = lambda m, a, b: rel_l2(m(a), b)
    vg = nn.value_and_grad(model, loss_fn)

    _, g0 = vg(model, u0_tr[:64], uT_tr[:64])
    leaves = tree_flatten(g0)
    zero = [k for k, g in leaves if mx.max(mx.abs(g)).item() == 0.0]
    print(f"gradient check: {len(leaves)} leaves, {len(zero)} with all-zero grad {zero}")

    steps = 600
    sched = optim.cosine_decay(3e-3, steps, end=1e-4)
    opt = optim.Adam(learning_rate=sched)
    identity_err = rel_l2(u0_te, uT_te).item()
    print(f"reference: identity map (predict u0) test rel-L2 = {identity_err:.4f}")

    window, history = [], []
    t0 = time.time()
    for step in range(1, steps + 1):
        idx = mx.array(rng.integers(0, u0_tr.shape[0], size=64))
        loss, grads = vg(model, u0_tr[idx], uT_tr[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        window.append(loss.item())
        if step % 100 == 0:
            history.append(sum(window) / len(window))
            window = []
            test = rel_l2(model(u0_te), uT_te).item()
            print(f"step {step:04d}  train relL2 {history[-1]:.4f}  test relL2 {test:.4f}  "
                  f"lr {opt.learning_rate.item():.2e}  [{spark(history)}]  {time.time() - t0:5.1f}s")
    print(f"done: final test rel-L2 {rel_l2(model(u0_te), uT_te).item():.4f} vs identity {identity_err:.4f}")


if __name__ == "__main__":
    main()
