"""Stained-glass studio catalogue: compress the visible absorbance spectrum of a
coloured glass (24 bands, 400-700 nm) into a 16-bit code so that re-measured
sheets of the same melt can be looked up by Hamming distance.

Binary bottleneck: sign() in the forward pass, straight-through gradient
(passed where |x| <= 1) written as an mx.custom_function with its own VJP.
A bit-balance penalty is switched on gradually (weight ramped 0 -> 0.3 over
the first 1200 steps), so the 'total' column is reconstruction + a growing
penalty and is not the same quantity from report to report.
The optimizer's learning rate warms up from exactly 0.
"""

from functools import partial
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

BANDS = np.linspace(400, 700, 24)
OXIDES = {  # made-up absorption peaks (centre nm, width nm)
    "cobalt": [(535, 25), (590, 22), (645, 25)],
    "copper": [(690, 80)],
    "iron": [(420, 30), (660, 120)],
    "manganese": [(500, 40)],
    "chromium": [(450, 30), (640, 35)],
    "gold_ruby": [(530, 45)],
    "selenium": [(470, 60)],
}


def spectra(conc, atm):
    out = np.zeros((conc.shape[0], BANDS.size), np.float32)
    for j, peaks in enumerate(OXIDES.values()):
        for c, w in peaks:
            shift = 15.0 * atm[:, None]          # reducing firing shifts peaks
            out += conc[:, j:j + 1] * np.exp(-0.5 * ((BANDS[None] - c - shift) / w) ** 2)
    return out + 0.05  # base glass


def make_catalogue(n_melts, rng):
    conc = rng.gamma(0.6, 0.5, (n_melts, len(OXIDES))) * (rng.random((n_melts, len(OXIDES))) < 0.4)
    atm = rng.uniform(-1, 1, n_melts)
    return conc.astype(np.float32), atm.astype(np.float32)


def measure(conc, atm, rng, noise=0.02):
    s = spectra(conc, atm)
    thick = rng.uniform(0.9, 1.1, (s.shape[0], 1))       # sheet thickness varies
    return (s * thick + rng.normal(0, noise, s.shape)).astype(np.float32)


@mx.custom_function
def binarize(x):
    return mx.where(x >= 0, 1.0, -1.0)


@binarize.vjp
def binarize_vjp(x, cotangent, output):
    return cotangent * (mx.abs(x) <= 1.0)


class SpectrumHasher(nn.Module):
    def __init__(self, bands=24, bits=16, width=96):
        super().__init__()
        self.enc1 = nn.Linear(bands, width)
        self.enc2 = nn.Linear(width, bits)
        self.dec1 = nn.Linear(bits, width)
        self.dec2 = nn.Linear(width, bands)

    def pre_code(self, x):
        return self.enc2(nn.silu(self.enc1(x)))

    def code(self, x):
        return binarize(self.pre_code(x))

    def __call__(self, x):
        h = self.pre_code(x)
        b = binarize(h)
        return self.dec2(nn.silu(self.dec1(b))), h


def objective(model, x, lam):
    recon, h = model(x)
    mse = mx.mean((recon - x) ** 2)
    balance = mx.mean(mx.mean(mx.tanh(h), axis=0) ** 2)
    return mse + lam * balance, (mse, balance)


def hamming_recall(model, a, b):
    """Share of sheets in `a` whose nearest code in `b` is the same melt."""
    ca = np.array(model.code(a)) > 0
    cb = np.array(model.code(b)) > 0
    d = (ca[:, None, :] != cb[None, :, :]).sum(-1)
    d = d + np.random.default_rng(0).random(d.shape) * 0.5   # random tie-break
    return float(np.mean(d.argmin(1) == np.arange(len(a))) * 100)


def main():
    mx.random.seed(3)
    rng = np.random.default_rng(8)
    conc, atm = make_catalogue(3000, rng)
    train = np.concatenate([measure(conc, atm, rng) for _ in range(4)])
    vconc, vatm = make_catalogue(400, rng)
    va, vb = measure(vconc, vatm, rng), measure(vconc, vatm, rng)
    mean, sd = train.mean(0), train.std(0)
    norm = lambda s: mx.array((s - mean) / sd)
    X, VA, VB = norm(train), norm(va), norm(vb)
    print(f"catalogue: {X.shape[0]} training spectra of 3000 melts; "
          f"{VA.shape[0]} held-out melts measured twice")

    model = SpectrumHasher()
    mx.eval(model.parameters())
    steps, batch = 3000, 128
    warm = optim.linear_schedule(0.0, 2e-3, 300)
    sched = optim.join_schedules([warm, optim.cosine_decay(2e-3, steps - 300, 1e-4)], [300])
    opt = optim.Adam(learning_rate=sched)

    # eager gradient audit before anything is compiled
    vg = nn.value_and_grad(model, objective)
    (_, _), g = vg(model, X[:batch], mx.array(0.3))
    flat = tree_flatten(g)
    dead = [k for k, v in flat if float(mx.abs(v).max().item()) == 0.0]
    print(f"gradient audit: {len(flat)} leaves, {len(dead)} all-zero {dead}")
    r0 = hamming_recall(model, VA, VB)
    print(f"untrained: recall@1 {r0:.1f}%  (chance {100 / VA.shape[0]:.2f}%)")

    state = [model.state, opt.state]

    @partial(mx.compile, inputs=state, outputs=state)
    def train_step(x, lam):
        (loss, (mse, bal)), grads = vg(model, x, lam)
        opt.update(model, grads)
        return loss, mse, bal

    hdr = f"{'step':>5} {'lr':>9} {'lam':>5} {'total':>8} {'recon':>8} {'balance':>8} {'val_rmse':>8} {'recall@1':>8} {'bits_on':>7}"
    print(hdr)
    print("-" * len(hdr))
    n = X.shape[0]
    perm, cur = rng.permutation(n), 0
    acc = np.zeros(3)
    cnt = 0
    t0 = time.perf_counter()
    for step in range(1, steps + 1):
        if cur + batch > n:
            perm, cur = rng.permutation(n), 0
        idx = mx.array(perm[cur:cur + batch])
        cur += batch
        lam = 0.3 * min(1.0, step / 1200)
        lr_used = float(sched(mx.array(step - 1)).item())  # lr this update uses
        loss, mse, bal = train_step(X[idx], mx.array(lam))
        mx.eval(loss, mse, bal, state)
        acc += [loss.item(), mse.item(), bal.item()]
        cnt += 1
        if step % 300 == 0 or step == 1:
            recon, _ = model(VA)
            rmse = float(mx.sqrt(mx.mean((recon - VA) ** 2)).item())
            rec = hamming_recall(model, VA, VB)
            on = float((np.array(model.code(VA)) > 0).mean() * 100)
            m = acc / cnt
            print(f"{step:5d} {lr_used:9.2e} {lam:5.2f} {m[0]:8.4f} {m[1]:8.4f} {m[2]:8.4f} "
                  f"{rmse:8.4f} {rec:7.1f}% {on:6.1f}%")
            acc[:] = 0
            cnt = 0
    print("-" * len(hdr))
    print(f"finished {steps} steps in {time.perf_counter() - t0:.1f}s; "
          f"val_rmse is in standardised absorbance units, recall@1 higher is better")


if __name__ == "__main__":
    main()
