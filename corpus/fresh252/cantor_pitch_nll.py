"""Frame-wise pitch tracking for a choir cantor: voicing decision + log-F0 with its own uncertainty.

Each frame is a 32-bin magnitude spectrum (harmonic comb for voiced frames, breath noise otherwise).
Three neighbouring frames are stacked as context. The net predicts a voicing logit and a Gaussian
(mean, log-sigma) over log-F0; the F0 labels carry a known jitter of 0.03 (log units), so the best
possible Gaussian NLL on voiced frames is the entropy floor printed at the start (a negative number).
"""
import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

N_BINS, CTX, LABEL_JITTER = 32, 3, 0.03


def make_frames(n, seed):
    rng = np.random.default_rng(seed)
    voiced = rng.random(n) < 0.65
    logf0 = rng.uniform(np.log(2.0), np.log(6.0), n)            # fundamental in bin units
    bins = np.arange(N_BINS)[None, None, :]
    spec = 0.15 * rng.random((n, CTX, N_BINS))
    drift = rng.normal(0, 0.01, (n, CTX))                          # slight vibrato across context
    f0 = np.exp(logf0[:, None] + drift)[:, :, None]
    comb = np.zeros((n, CTX, N_BINS))
    for k in range(1, 7):
        comb += (0.9 ** k) * np.exp(-0.5 * ((bins - k * f0) / 0.35) ** 2)
    spec += voiced[:, None, None] * rng.uniform(0.6, 1.2, (n, 1, 1)) * comb
    x = np.log1p(4 * spec).reshape(n, CTX * N_BINS).astype(np.float32)
    target = (logf0 + LABEL_JITTER * rng.standard_normal(n)).astype(np.float32)
    return x, target, voiced.astype(np.float32)


class PitchNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.trunk = nn.Sequential(nn.Linear(N_BINS * CTX, 96), nn.SiLU(), nn.Linear(96, 96), nn.SiLU())
        self.out = nn.Linear(96, 3)

    def __call__(self, x):
        o = self.out(self.trunk(x))
        return o[:, 0], o[:, 1], mx.clip(o[:, 2], -6.0, 2.0)


def losses(model, x, t, v):
    vlogit, mu, log_sig = model(x)
    bce = nn.losses.binary_cross_entropy(vlogit, v, with_logits=True, reduction="mean")
    nll = 0.5 * math.log(2 * math.pi) + log_sig + 0.5 * ((t - mu) / mx.exp(log_sig)) ** 2
    nll_v = (nll * v).sum() / mx.maximum(v.sum(), 1.0)
    return bce + nll_v, (bce, nll_v)


def main():
    mx.random.seed(5)
    xtr, ttr, vtr = make_frames(8000, 1)
    xva, tva, vva = make_frames(2000, 2)
    Xva, Tva, Vva = map(mx.array, (xva, tva, vva))
    floor = 0.5 * math.log(2 * math.pi * math.e * LABEL_JITTER ** 2)
    print(f"frames {len(xtr)}/{len(xva)}, voiced share {vtr.mean():.2f}")
    print(f"entropy floor of the label jitter: NLL {floor:.3f} nats (no model can go below this on average)")

    model = PitchNet()
    opt = optim.Adam(learning_rate=optim.exponential_decay(2e-3, 0.9995))
    state = [model.state, opt.state]

    def step(x, t, v):
        (loss, parts), grads = nn.value_and_grad(model, lambda m, a, b, c: losses(m, a, b, c))(model, x, t, v)
        opt.update(model, grads)
        return loss, parts[0], parts[1]

    step = mx.compile(step, inputs=state, outputs=state)

    bs, epochs = 128, 12
    rng = np.random.default_rng(0)
    print("training quietly; a report every 4th epoch")
    t0 = time.perf_counter()
    for ep in range(1, epochs + 1):
        perm = rng.permutation(len(xtr))
        acc = np.zeros(3)
        nb = len(xtr) // bs
        for b in range(nb):
            idx = perm[b * bs:(b + 1) * bs]
            out = step(mx.array(xtr[idx]), mx.array(ttr[idx]), mx.array(vtr[idx]))
            mx.eval(state, *out)
            acc += [o.item() for o in out]
        if ep % 4 == 0:
            _, (vb, vn) = losses(model, Xva, Tva, Vva)
            vlogit, mu, log_sig = model(Xva)
            vacc = ((vlogit > 0) == (Vva > 0.5)).astype(mx.float32).mean().item()
            err = (mx.abs(mu - Tva) * Vva).sum().item() / Vva.sum().item()
            cover = ((mx.abs(mu - Tva) < 2 * mx.exp(log_sig)) * Vva).sum().item() / Vva.sum().item()
            print(f"[epoch {ep:2d}] train total {acc[0] / nb:+.3f} (bce {acc[1] / nb:.3f}, nll {acc[2] / nb:+.3f}) | "
                  f"val bce {vb.item():.3f} nll {vn.item():+.3f} (floor {floor:+.3f}) voicing acc {vacc:.3f} "
                  f"|logF0 err| {err:.4f} 2-sigma cover {cover:.2f} | {time.perf_counter() - t0:.0f}s")
    print("done")


if __name__ == "__main__":
    main()
