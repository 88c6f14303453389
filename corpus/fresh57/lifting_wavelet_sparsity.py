"""Learn a one-level lifting-scheme wavelet (predict + update FIR filters) that
makes the detail band of piecewise-smooth signals as sparse as possible.

The lifting construction is perfectly invertible for any filter values, so the
only thing we optimise is the L1 energy of the detail coefficients plus a small
penalty that keeps the coarse band close to a local average (so the update
filter has something to do).  Reconstruction error is checked at every report
to make sure the transform really stays invertible.
"""
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

rng = np.random.default_rng(7)
N_SIG, LEN = 1024, 512


def make_signals(n):
    t = np.linspace(0.0, 1.0, LEN, dtype=np.float32)
    out = np.empty((n, LEN), np.float32)
    for i in range(n):
        k = rng.integers(1, 4)
        cuts = np.sort(rng.uniform(0.1, 0.9, size=k))
        y = np.zeros(LEN, np.float32)
        lo = 0.0
        for c in list(cuts) + [1.01]:
            seg = (t >= lo) & (t < c)
            a, b, q = rng.normal(size=3)
            y[seg] = a + b * t[seg] + 0.5 * q * t[seg] ** 2
            lo = c
        out[i] = y + 0.01 * rng.normal(size=LEN)
    return mx.array(out)


train_x = make_signals(N_SIG)
val_x = make_signals(64)


class Lifting(nn.Module):
    def __init__(self, taps=4):
        super().__init__()
        self.taps = taps
        # start from a rough guess (not the CDF 5/3 answer)
        self.p = mx.array(np.full(taps, 0.2, np.float32))
        self.u = mx.array(np.full(taps, 0.05, np.float32))

    def _fir(self, x, w):
        # x: (B, L) ; symmetric-ish neighbourhood with edge padding
        k = self.taps // 2
        xp = mx.concatenate([mx.repeat(x[:, :1], k, axis=1), x,
                             mx.repeat(x[:, -1:], k, axis=1)], axis=1)
        L = x.shape[1]
        cols = [xp[:, j:j + L] for j in range(self.taps)]
        return sum(w[j] * cols[j] for j in range(self.taps))

    def forward(self, x):
        even, odd = x[:, 0::2], x[:, 1::2]
        d = odd - self._fir(even, self.p)
        s = even + self._fir(d, self.u)
        return s, d

    def inverse(self, s, d):
        even = s - self._fir(d, self.u)
        odd = d + self._fir(even, self.p)
        B, H = even.shape
        return mx.stack([even, odd], axis=2).reshape(B, 2 * H)


def objective(model, x):
    s, d = model.forward(x)
    sparsity = mx.mean(mx.abs(d))
    pair_mean = 0.5 * (x[:, 0::2] + x[:, 1::2])
    coarse = mx.mean((s - pair_mean) ** 2)
    return sparsity + 0.5 * coarse


model = Lifting()
mx.eval(model.parameters())
opt = optim.RMSprop(learning_rate=3e-3, alpha=0.95)
step_fn = nn.value_and_grad(model, objective)

print(f"{'step':>5} {'train_obj':>10} {'val_L1(d)':>10} {'recon_err':>10} {'p_sum':>7}")
t0 = time.time()
BATCH = 128
for step in range(1, 3001):
    idx = mx.array(rng.integers(0, N_SIG, size=BATCH))
    loss, grads = step_fn(model, train_x[idx])
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    if step % 250 == 0 or step == 1:
        s, d = model.forward(val_x)
        rec = model.inverse(s, d)
        err = mx.max(mx.abs(rec - val_x)).item()
        vl1 = mx.mean(mx.abs(d)).item()
        print(f"{step:>5} {loss.item():>10.5f} {vl1:>10.5f} {err:>10.2e} "
              f"{mx.sum(model.p).item():>7.3f}")
print(f"done in {time.time() - t0:.1f}s  predict={np.round(np.array(model.p), 3)}  "
      f"update={np.round(np.array(model.u), 3)}")
