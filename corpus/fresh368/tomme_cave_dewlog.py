"""Cheese cellar humidity logs: a Gaussian VAE over 24 hourly relative-humidity
readings per cellar-day, trained in two sessions with a checkpoint in between.

Session 1: KL weight ramps from exactly 0, free-bits floor per latent dimension.
Session 2: reloads weights + optimizer state from disk and continues at a lower lr.
The decoder predicts a per-reading log-variance, so the NLL goes below zero.
"""
import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

T = 24
LATENT = 3
FREE_BITS = 0.10  # nats per latent dimension


def make_days(n, rng):
    h = np.arange(T) / T
    door = rng.uniform(0.2, 0.8, size=(n, 1))          # hour the door is opened
    mist = rng.uniform(0.0, 1.0, size=(n, 1))          # misting strength
    base = rng.uniform(84.0, 95.0, size=(n, 1))        # cellar set point
    dip = -6.0 * np.exp(-((h[None] - door) ** 2) / 0.004)
    spray = 4.0 * mist * np.clip(np.sin(2 * np.pi * (h[None] * 3.0)), 0, None)
    rh = base + dip + spray + rng.normal(0, 0.5, size=(n, T))
    return rh.astype(np.float32)


class CellarVAE(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc = nn.Sequential(nn.Linear(T, 64), nn.SiLU(), nn.Linear(64, 64), nn.SiLU())
        self.mu = nn.Linear(64, LATENT)
        self.logvar = nn.Linear(64, LATENT)
        self.dec = nn.Sequential(nn.Linear(LATENT, 64), nn.SiLU(), nn.Linear(64, 64), nn.SiLU())
        self.out_mean = nn.Linear(64, T)
        self.out_logvar = nn.Linear(64, T)

    def __call__(self, x):
        h = self.enc(x)
        mu, logvar = self.mu(h), self.logvar(h)
        z = mu + mx.exp(0.5 * logvar) * mx.random.normal(mu.shape)
        g = self.dec(z)
        return self.out_mean(g), mx.clip(self.out_logvar(g), -6.0, 4.0), mu, logvar


def terms(model, x):
    xm, xlv, mu, logvar = model(x)
    nll = 0.5 * (xlv + (x - xm) ** 2 * mx.exp(-xlv) + np.log(2 * np.pi))
    nll = nll.sum(axis=1).mean()
    kl_dim = (-0.5 * (1 + logvar - mu**2 - mx.exp(logvar))).mean(axis=0)
    kl_floor = mx.maximum(kl_dim, FREE_BITS).sum()
    return nll, kl_dim.sum(), kl_floor, xm


def make_loss(beta_ref):
    def loss_fn(model, x):
        nll, _, kl_floor, _ = terms(model, x)
        return nll + beta_ref[0] * kl_floor
    return loss_fn


def evaluate(model, x):
    nll, kl, _, xm = terms(model, x)
    mse = mx.mean((xm - x) ** 2)
    mx.eval(nll, kl, mse)
    return nll.item(), kl.item(), mse.item()


def run_session(model, opt, data, steps, step0, warmup, beta_ref, rng, log_every):
    loss_and_grad = nn.value_and_grad(model, make_loss(beta_ref))
    xtr, xva = data
    n = xtr.shape[0]
    for s in range(step0, step0 + steps):
        beta_ref[0] = min(1.0, s / warmup) if warmup > 0 else 1.0
        idx = rng.integers(0, n, size=128)
        loss, grads = loss_and_grad(model, mx.array(xtr[idx]))
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        if (s + 1) % log_every == 0:
            nll, kl, mse = evaluate(model, mx.array(xva))
            print(f"step {s + 1:5d}  beta {beta_ref[0]:.3f}  train_obj {loss.item():9.3f}  "
                  f"val_nll {nll:9.3f}  val_kl {kl:6.3f}  val_mse {mse:.4f}")
    return step0 + steps


def main():
    t0 = time.time()
    rng = np.random.default_rng(7)
    mx.random.seed(7)
    raw_tr, raw_va = make_days(6000, rng), make_days(1000, rng)
    mean, std = raw_tr.mean(0), raw_tr.std(0)
    xtr, xva = (raw_tr - mean) / std, (raw_va - mean) / std
    base_mse = float(np.mean((xva - xtr.mean(0)) ** 2))
    print(f"cellar-days train {len(xtr)}  valid {len(xva)}  readings {T}")
    print(f"baseline (per-hour mean) val_mse {base_mse:.4f}")

    model = CellarVAE()
    mx.eval(model.parameters())
    opt = optim.Adam(learning_rate=2e-3)
    beta_ref = [0.0]

    print("-- session 1: KL weight from 0 to 1 over 800 steps")
    step = run_session(model, opt, (xtr, xva), 1200, 0, 800, beta_ref, rng, 200)

    ckpt = tempfile.mkdtemp()
    wpath = os.path.join(ckpt, "weights.safetensors")
    spath = os.path.join(ckpt, "opt_state.safetensors")
    model.save_weights(wpath)
    mx.save_safetensors(spath, dict(tree_flatten(opt.state)))
    nll_a, kl_a, mse_a = evaluate(model, mx.array(xva))
    print(f"checkpoint at step {step}: val_nll {nll_a:.3f}  val_mse {mse_a:.4f}")
    del model, opt

    model = CellarVAE()
    model.load_weights(wpath)
    opt = optim.Adam(learning_rate=2e-3)
    opt.state = tree_unflatten(list(mx.load(spath).items()))
    opt.learning_rate = 5e-4
    nll_b, _, mse_b = evaluate(model, mx.array(xva))
    print(f"resumed: val_nll {nll_b:.3f}  val_mse {mse_b:.4f}  (same weights: {abs(mse_b - mse_a) < 0.05})")

    print("-- session 2: lr 5e-4, beta held at 1")
    step = run_session(model, opt, (xtr, xva), 800, step, 0, beta_ref, rng, 200)

    nll, kl, mse = evaluate(model, mx.array(xva))
    print(f"final  val_nll {nll:.3f}  val_kl {kl:.3f}  val_mse {mse:.4f}  baseline_mse {base_mse:.4f}")
    print(f"recon better than baseline: {mse < base_mse}   wall {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
