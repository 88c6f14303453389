"""Cave drip logger: clean a noisy drip-rate trace (drips/min, 64 readings a
record) with a small 1-D conv net.  After the first block of training every
kernel is regrown 3 -> 7 taps by zero padding (the net computes the same
function), the Adam moments are padded the same way, and training goes on."""

import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map_with_path

L = 64
rng = np.random.default_rng(3081)
mx.random.seed(3081)


def make_records(n):
    t = np.arange(L, dtype=np.float32)[None, :]
    base = rng.uniform(8, 30, size=(n, 1))
    seasonal = rng.uniform(1, 5, size=(n, 1)) * np.sin(
        2 * np.pi * t / rng.uniform(40, 90, size=(n, 1)) + rng.uniform(0, 6.3, size=(n, 1)))
    # infiltration pulses after rain: fast rise, slow exponential recession
    pulse = np.zeros((n, L), dtype=np.float32)
    for i in range(n):
        for _ in range(rng.integers(0, 3)):
            s = rng.integers(3, L - 8)
            amp, tau = rng.uniform(4, 12), rng.uniform(4, 15)
            k = np.arange(L - s)
            pulse[i, s:] += amp * (1 - np.exp(-k / 1.5)) * np.exp(-k / tau)
    clean = (base + seasonal + pulse).astype(np.float32)
    noisy = clean + rng.normal(scale=2.5, size=clean.shape).astype(np.float32)
    return noisy, clean


xn_tr, xc_tr = make_records(3000)
xn_va, xc_va = make_records(600)
mu, sd = float(xn_tr.mean()), float(xn_tr.std())
to_mx = lambda a: mx.array(((a - mu) / sd)[..., None])  # (N, L, 1): NLC
X_tr, Y_tr, X_va, Y_va = map(to_mx, (xn_tr, xc_tr, xn_va, xc_va))


class Cleaner(nn.Module):
    def __init__(self, k=3, ch=12):
        super().__init__()
        p = k // 2
        self.c1 = nn.Conv1d(1, ch, k, padding=p)
        self.c2 = nn.Conv1d(ch, ch, k, padding=p)
        self.c3 = nn.Conv1d(ch, 1, k, padding=p)

    def __call__(self, x):
        h = nn.silu(self.c1(x))
        h = nn.silu(self.c2(h))
        return x + self.c3(h)          # predict a correction to the reading


def loss_fn(model, xb, yb):
    return mx.mean((model(xb) - yb) ** 2)


def snr_db(model):
    pred = np.array(model(X_va))[..., 0] * sd + mu
    err = np.mean((pred - xc_va) ** 2)
    sig = np.mean((xc_va - xc_va.mean(axis=1, keepdims=True)) ** 2)
    return 10 * np.log10(sig / err), float(np.sqrt(err))


raw_err = np.mean((xn_va - xc_va) ** 2)
raw_snr = 10 * np.log10(np.mean((xc_va - xc_va.mean(axis=1, keepdims=True)) ** 2) / raw_err)


def regrow(model, opt, k_new):
    """Zero-pad every conv kernel (out, k, in) to k_new taps, centred."""
    k_old = model.c1.weight.shape[1]
    pad = (k_new - k_old) // 2

    def grow(path, a):
        if path.endswith("weight") and a.ndim == 3:
            return mx.pad(a, [(0, 0), (pad, pad), (0, 0)])
        return a

    new = Cleaner(k=k_new)
    new.update(tree_map_with_path(grow, model.parameters()))
    opt.state = tree_map_with_path(
        lambda p, a: grow(p.rsplit(".", 1)[0], a) if isinstance(a, mx.array) and a.ndim == 3 else a,
        opt.state)
    return new


def train(model, opt, steps, t_first, log_every):
    vg = nn.value_and_grad(model, loss_fn)
    window = []
    for s in range(t_first, t_first + steps):
        idx = mx.array(rng.integers(0, X_tr.shape[0], size=32))
        loss, grads = vg(model, X_tr[idx], Y_tr[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        window.append(loss.item())
        if (s + 1) % log_every == 0:
            va = loss_fn(model, X_va, Y_va).item()
            snr, rmse = snr_db(model)
            print(f"{s + 1:>5} | {np.mean(window):.5f} | {va:.5f} | {snr:6.2f} | {rmse:5.2f} "
                  f"| {model.c1.weight.shape[1]}")
            window = []
    return model


t0 = time.perf_counter()
model = Cleaner(k=3)
opt = optim.Adam(learning_rate=2e-3)
print(f"# {X_tr.shape[0]} train / {X_va.shape[0]} held-out records of {L} readings; "
      f"raw logger SNR {raw_snr:.2f} dB, raw rmse {np.sqrt(raw_err):.2f} drips/min")
print(" step | train mse | val mse | SNR dB | rmse  | taps")
model = train(model, opt, 600, 0, 100)

before = loss_fn(model, X_va, Y_va).item()
n_before = sum(v.size for _, v in tree_flatten(model.parameters()))
model = regrow(model, opt, 7)
mx.eval(model.parameters(), opt.state)
after = loss_fn(model, X_va, Y_va).item()
n_after = sum(v.size for _, v in tree_flatten(model.parameters()))
print(f"# regrown 3 -> 7 taps: params {n_before} -> {n_after}, val mse {before:.6f} -> {after:.6f}, "
      f"Adam step kept at {opt.step.item()}")
model = train(model, opt, 700, 600, 100)
snr, rmse = snr_db(model)
print(f"# final SNR {snr:.2f} dB vs raw {raw_snr:.2f} dB; rmse {rmse:.2f} drips/min; "
      f"{time.perf_counter() - t0:.1f}s")
