"""Jacquard loom: each woven pick leaves a 24-channel harness-tension signature that is
a sparse sum of a few hidden 'motif' atoms (48 motifs > 24 channels, so they overlap).
A sparse autoencoder (ReLU codes, unit-norm decoder columns, L1 penalty) is trained to
recover the motifs.

Schedule: L1 weight ramps from exactly 0 over the first 600 steps (the total objective
rises while it ramps); at steps 1000 and 2000 codes that have not fired are re-seeded
from badly reconstructed picks and Adam is restarted, so the loss jumps for a moment.
"""
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

D, ATOMS, CODES = 24, 48, 96
L1_MAX = 0.3
STEPS = 3000
RESEED_AT = (1000, 2000)


def make_motifs(rng):
    a = rng.normal(size=(ATOMS, D)).astype(np.float32)
    return a / np.linalg.norm(a, axis=1, keepdims=True)


def make_picks(n, motifs, rng):
    active = rng.random((n, ATOMS)) < (3.0 / ATOMS)
    amp = rng.exponential(1.0, size=(n, ATOMS)) * active
    x = amp @ motifs + rng.normal(0, 0.02, size=(n, D))
    return x.astype(np.float32)


class SAE(nn.Module):
    def __init__(self):
        super().__init__()
        self.b_pre = mx.zeros((D,))
        self.enc = nn.Linear(D, CODES)
        w = mx.random.normal((D, CODES))
        self.W_dec = w / mx.linalg.norm(w, axis=0, keepdims=True)

    def codes(self, x):
        return nn.relu(self.enc(x - self.b_pre))

    def __call__(self, x):
        f = self.codes(x)
        return f @ self.W_dec.T + self.b_pre, f


def loss_fn(model, x, l1):
    xh, f = model(x)
    rec = ((xh - x) ** 2).sum(axis=1).mean()
    return rec + l1 * f.sum(axis=1).mean()


def stats(model, x):
    xh, f = model(x)
    fve = 1.0 - mx.sum((xh - x) ** 2) / mx.sum((x - x.mean(axis=0)) ** 2)
    l0 = (f > 0).sum(axis=1).mean()
    fired = (f > 0).any(axis=0)
    mx.eval(fve, l0, fired)
    return fve.item(), l0.item(), int(fired.sum().item())


def motif_recovery(W, motifs):
    Wn = np.array(W) / np.linalg.norm(np.array(W), axis=0, keepdims=True)
    return float(np.abs(motifs @ Wn).max(axis=1).mean())


def reseed(model, x_probe, rng):
    xh, f = model(x_probe)
    fired = np.array((f > 0).any(axis=0))
    dead = np.where(~fired)[0]
    if len(dead) == 0:
        return 0
    err = np.array(((xh - x_probe) ** 2).sum(axis=1))
    pick = rng.choice(len(err), size=len(dead), p=err / err.sum())
    resid = np.array(x_probe)[pick] - np.array(model.b_pre)
    resid = resid / np.linalg.norm(resid, axis=1, keepdims=True)
    W = np.array(model.W_dec)
    We = np.array(model.enc.weight)
    be = np.array(model.enc.bias)
    W[:, dead] = resid.T
    We[dead] = 0.2 * resid
    be[dead] = 0.0
    model.W_dec = mx.array(W)
    model.enc.weight = mx.array(We)
    model.enc.bias = mx.array(be)
    return len(dead)


def main():
    t0 = time.time()
    rng = np.random.default_rng(11)
    mx.random.seed(11)
    motifs = make_motifs(rng)
    xtr = make_picks(40000, motifs, rng)
    xva = mx.array(make_picks(4000, motifs, rng))
    print(f"picks {len(xtr)}  channels {D}  hidden motifs {ATOMS}  codes {CODES}")

    model = SAE()
    model.b_pre = mx.array(np.median(xtr, axis=0))
    mx.eval(model.parameters())
    rand_rec = motif_recovery(model.W_dec, motifs)
    print(f"random-dictionary motif recovery (mean best |cos|) {rand_rec:.3f}")

    opt = optim.Adam(learning_rate=3e-3)
    lg = nn.value_and_grad(model, loss_fn)
    for step in range(1, STEPS + 1):
        l1 = L1_MAX * min(1.0, (step - 1) / 600)
        idx = rng.integers(0, len(xtr), size=256)
        loss, grads = lg(model, mx.array(xtr[idx]), l1)
        opt.update(model, grads)
        model.W_dec = model.W_dec / mx.linalg.norm(model.W_dec, axis=0, keepdims=True)
        mx.eval(model.parameters(), opt.state, loss)
        if step in RESEED_AT:
            n = reseed(model, mx.array(xtr[rng.integers(0, len(xtr), size=4096)]), rng)
            opt = optim.Adam(learning_rate=3e-3)
            print(f"step {step:5d}  re-seeded {n} silent codes, optimizer restarted")
        if step % 250 == 0:
            fve, l0, alive = stats(model, xva)
            rec = motif_recovery(model.W_dec, motifs)
            print(f"step {step:5d}  l1 {l1:.3f}  objective {loss.item():.4f}  "
                  f"val_fve {fve:.3f}  L0 {l0:5.2f}  alive {alive:3d}/{CODES}  motif_cos {rec:.3f}")

    fve, l0, alive = stats(model, xva)
    rec = motif_recovery(model.W_dec, motifs)
    print(f"final  val_fve {fve:.3f}  L0 {l0:.2f}  alive {alive}/{CODES}  "
          f"motif_cos {rec:.3f} (random {rand_rec:.3f})  wall {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
