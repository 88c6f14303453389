"""Steel-pan tuner's log: VAE over 20-point strike-decay envelopes of a note area.

Each synthetic envelope comes from three hidden workshop knobs (hammer hardness,
note-area dome height, metal thickness). The encoder/decoder are small MLPs, the KL weight
ramps up from exactly 0, and training stops half way to checkpoint, then resumes
into a fresh model/optimizer from the saved files.
"""
import math
import os
import shutil
import tempfile
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten, tree_unflatten

T = 20
LATENT = 3
K_IW = 16


def make_envelopes(n, rng):
    t = np.linspace(0.0, 1.0, T)
    hard = rng.uniform(-1, 1, n)
    dome = rng.uniform(-1, 1, n)
    thick = rng.uniform(-1, 1, n)
    attack = 0.9 + 0.25 * hard
    decay = 2.5 + 1.2 * dome
    ripple = 0.15 * (1 + thick)
    env = (attack[:, None] * np.exp(-decay[:, None] * t[None, :])
           + ripple[:, None] * np.sin(2 * math.pi * (3 + thick[:, None]) * t[None, :]) * np.exp(-t[None, :]))
    env += rng.normal(0, 0.03, env.shape)
    return env.astype(np.float32)


class PanTuner(nn.Module):
    def __init__(self, d=T, h=64, z=LATENT):
        super().__init__()
        self.enc = nn.Sequential(nn.Linear(d, h), nn.SiLU(), nn.Linear(h, h), nn.SiLU())
        self.mu = nn.Linear(h, z)
        self.logvar = nn.Linear(h, z)
        self.dec = nn.Sequential(nn.Linear(z, h), nn.SiLU(), nn.Linear(h, h), nn.SiLU(), nn.Linear(h, d))
        self.log_sigma_x = mx.array(math.log(0.1))

    def encode(self, x):
        h = self.enc(x)
        return self.mu(h), self.logvar(h)


def gauss_logpdf(x, mean, log_sigma):
    return -0.5 * (((x - mean) / mx.exp(log_sigma)) ** 2) - log_sigma - 0.5 * math.log(2 * math.pi)


def elbo_terms(model, x):
    mu, logvar = model.encode(x)
    z = mu + mx.exp(0.5 * logvar) * mx.random.normal(mu.shape)
    recon = model.dec(z)
    rec_ll = gauss_logpdf(x, recon, model.log_sigma_x).sum(-1)
    kl = 0.5 * (mu ** 2 + mx.exp(logvar) - 1.0 - logvar).sum(-1)
    return rec_ll.mean(), kl.mean()


def loss_fn(model, x, beta):
    rec_ll, kl = elbo_terms(model, x)
    return -rec_ll + beta * kl


def iw_bound(model, x, k=K_IW):
    """Importance-weighted log-likelihood bound (per sample, nats)."""
    mu, logvar = model.encode(x)
    std = mx.exp(0.5 * logvar)
    eps = mx.random.normal((k,) + mu.shape)
    z = mu[None] + std[None] * eps
    recon = model.dec(z)
    log_px_z = gauss_logpdf(x[None], recon, model.log_sigma_x).sum(-1)
    log_pz = gauss_logpdf(z, 0.0, mx.array(0.0)).sum(-1)
    log_qz = gauss_logpdf(z, mu[None], 0.5 * logvar[None]).sum(-1)
    w = log_px_z + log_pz - log_qz
    return (mx.logsumexp(w, axis=0) - math.log(k)).mean()


def beta_at(step, warm):
    return min(1.0, step / warm)


def run_phase(model, opt, data, start, stop, warm, bs, rng, val):
    step_fn = nn.value_and_grad(model, loss_fn)
    n = data.shape[0]
    for step in range(start, stop):
        idx = rng.integers(0, n, bs)
        xb = mx.array(data[idx])
        beta = beta_at(step, warm)
        loss, grads = step_fn(model, xb, beta)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state)
        if step % 200 == 0 or step == stop - 1:
            rec_ll, kl = elbo_terms(model, val)
            iw = iw_bound(model, val)
            print(f"step {step:5d} beta={beta:.3f} loss={loss.item():9.3f} "
                  f"val_rec_ll={rec_ll.item():8.3f} val_kl={kl.item():6.3f} "
                  f"val_elbo={(rec_ll - kl).item():8.3f} val_iw{K_IW}={iw.item():8.3f}")


def main():
    t0 = time.time()
    mx.random.seed(3)
    rng = np.random.default_rng(3)
    train = make_envelopes(6000, rng)
    val = mx.array(make_envelopes(800, rng))

    # reference: diagonal Gaussian fitted to the training envelopes
    m, s = train.mean(0), train.std(0)
    base_ll = gauss_logpdf(val, mx.array(m), mx.log(mx.array(s))).sum(-1).mean().item()
    print(f"baseline diag-Gaussian val log-lik = {base_ll:.3f} nats/envelope")

    total, half, warm, bs = 2000, 1000, 600, 128
    model = PanTuner()
    mx.eval(model.parameters())
    opt = optim.Adam(learning_rate=2e-3)
    run_phase(model, opt, train, 0, half, warm, bs, rng, val)

    ckdir = tempfile.mkdtemp(prefix="pan_")
    wpath = os.path.join(ckdir, "weights.safetensors")
    spath = os.path.join(ckdir, "opt.safetensors")
    model.save_weights(wpath)
    mx.save_safetensors(spath, dict(tree_flatten(opt.state)))
    print(f"checkpoint written at step {half} -> {ckdir}")

    model2 = PanTuner()
    model2.load_weights(wpath)
    opt2 = optim.Adam(learning_rate=2e-3)
    opt2.state = tree_unflatten(list(mx.load(spath).items()))
    mx.eval(model2.parameters())
    rec_ll, kl = elbo_terms(model2, val)
    print(f"resumed: val_elbo={(rec_ll - kl).item():.3f} opt_step={int(opt2.state['step'].item())}")
    run_phase(model2, opt2, train, half, total, warm, bs, rng, val)

    iw = iw_bound(model2, val, k=64).item()
    print(f"final val_iw64={iw:.3f}  baseline={base_ll:.3f}  gain={iw - base_ll:.3f} nats")
    shutil.rmtree(ckdir, ignore_errors=True)
    print(f"decoder noise sigma={math.exp(model2.log_sigma_x.item()):.4f}")
    print(f"done in {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
