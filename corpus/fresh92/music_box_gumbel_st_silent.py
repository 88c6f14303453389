# Discrete autoencoder for music-box pin strips.
# A 24-position strip (pin=1 / no pin=0) comes from one of 8 tunes with some
# mis-set pins.  The encoder picks one of 16 codes with a straight-through
# Gumbel-softmax (hard one-hot forward, soft gradient); the decoder rebuilds
# the strip.  Loss = reconstruction + KL(q || uniform), reported in bits per strip.
# Everything is collected and printed at the very end.
import math
import time
from functools import partial

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

PINS, CODES, N_TUNES = 24, 16, 8
LN2 = math.log(2.0)


def pin_strips(n, tunes, rng, mistake=0.06):
    which = rng.integers(0, len(tunes), n)
    rows = tunes[which].copy()
    flips = rng.random(rows.shape) < mistake
    rows[flips] = 1.0 - rows[flips]
    return rows.astype(np.float32), which


class CodeBook(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc = nn.Sequential(nn.Linear(PINS, 96), nn.ReLU(), nn.Linear(96, CODES))
        self.dec = nn.Sequential(nn.Linear(CODES, 96), nn.ReLU(), nn.Linear(96, PINS))

    def encode(self, x):
        return self.enc(x)

    def __call__(self, x, gumbel, tau):
        logits = self.encode(x)
        y_soft = mx.softmax((logits + gumbel) / tau, axis=-1)
        y_hard = (mx.arange(CODES) == mx.argmax(y_soft, axis=-1, keepdims=True)).astype(y_soft.dtype)
        z = y_hard + y_soft - mx.stop_gradient(y_soft)   # straight-through
        return self.dec(z), logits


def loss_fn(model, x, gumbel, tau):
    recon_logits, logits = model(x, gumbel, tau)
    rec = nn.losses.binary_cross_entropy(recon_logits, x, with_logits=True, reduction="none").sum(-1)
    logq = logits - mx.logsumexp(logits, axis=-1, keepdims=True)
    kl = (mx.exp(logq) * (logq + math.log(CODES))).sum(-1)
    return (rec + kl).mean() / LN2, (rec.mean() / LN2, kl.mean() / LN2)


def purity(model, x, which):
    codes = np.array(mx.argmax(model.encode(mx.array(x)), axis=-1))
    hit = 0
    for c in np.unique(codes):
        hit += np.bincount(which[codes == c], minlength=N_TUNES).max()
    return 100.0 * hit / len(x), len(np.unique(codes))


def pin_error(model, x):
    logits = model.encode(mx.array(x))
    z = (mx.arange(CODES) == mx.argmax(logits, axis=-1, keepdims=True)).astype(mx.float32)
    rec = np.array(model.dec(z) > 0)
    return 100.0 * float((rec != (x > 0.5)).mean())


def main():
    rng = np.random.default_rng(920)
    mx.random.seed(920)
    tunes = (rng.random((N_TUNES, PINS)) < 0.5).astype(np.float32)
    xtr, _ = pin_strips(12000, tunes, rng)
    xte, wte = pin_strips(2000, tunes, rng)

    model = CodeBook()
    opt = optim.Adam(learning_rate=2e-3)
    mx.eval(model.parameters())
    vg = nn.value_and_grad(model, loss_fn)

    # eager look at the first gradient before compiling
    g_noise = -mx.log(-mx.log(mx.random.uniform(low=1e-6, high=1.0 - 1e-6, shape=(128, CODES))))
    (_, _), g = vg(model, mx.array(xtr[:128]), g_noise, mx.array(1.0))
    leaves = tree_flatten(g)
    zero_leaves = [k for k, v in leaves if not bool(mx.any(v != 0))]

    state = [model.state, opt.state]

    @partial(mx.compile, inputs=state, outputs=state)
    def step(x, gumbel, tau):
        (loss, (rec, kl)), grads = vg(model, x, gumbel, tau)
        opt.update(model, grads)
        return loss, rec, kl

    history = []
    p0, used0 = purity(model, xte, wte)
    history.append((0, 1.0, float("nan"), float("nan"), float("nan"), p0, used0, pin_error(model, xte)))
    bs, total_steps = 128, 3000
    cursor, perm = 0, rng.permutation(len(xtr))
    run = np.zeros(3)
    t0 = time.perf_counter()
    for it in range(1, total_steps + 1):
        if cursor + bs > len(perm):
            cursor, perm = 0, rng.permutation(len(xtr))
        xb = mx.array(xtr[perm[cursor:cursor + bs]])
        cursor += bs
        tau = max(0.5, math.exp(-5e-4 * it))
        u = mx.random.uniform(low=1e-6, high=1.0 - 1e-6, shape=(bs, CODES))
        loss, rec, kl = step(xb, -mx.log(-mx.log(u)), mx.array(tau))
        mx.eval(state, loss, rec, kl)
        run += (loss.item(), rec.item(), kl.item())
        if it % 250 == 0:
            p, used = purity(model, xte, wte)
            history.append((it, tau, *(run / 250), p, used, pin_error(model, xte)))
            run[:] = 0
    elapsed = time.perf_counter() - t0

    print(f"music-box strips: {len(xtr)} train / {len(xte)} test, {PINS} pin positions, {N_TUNES} tunes, "
          f"6% mis-set pins (a perfect code still pays ~{PINS * (-(0.06*math.log2(0.06)+0.94*math.log2(0.94))):.1f} bits/strip)")
    print(f"first-step gradient: {len(leaves)} leaves, all-zero: {zero_leaves}")
    hdr = f"{'step':>5} {'tau':>5} {'bits/strip':>10} {'recon':>7} {'kl':>6} {'purity%':>8} {'codes':>5} {'pin_err%':>8}"
    print(hdr)
    print("-" * len(hdr))
    for it, tau, l, r, k, p, used, err in history:
        print(f"{it:>5d} {tau:>5.2f} {l:>10.3f} {r:>7.3f} {k:>6.3f} {p:>8.1f} {used:>5d} {err:>8.2f}")
    print(f"(bits/strip = recon + kl, lower is better; purity% higher is better; pin_err% lower is better; {elapsed:.1f}s)")


if __name__ == "__main__":
    main()
