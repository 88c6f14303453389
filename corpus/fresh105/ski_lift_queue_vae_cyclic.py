"""Ski resort ops: a small VAE over daily chair-lift queue profiles.

Each 'day' is 16 half-hourly queue lengths (minutes of waiting) at the base
chair, 08:30 -> 16:00.  Three hidden causes: crowd level (holiday / powder),
a wind hold that shuts the lift for a stretch, and the lunch dip.  We want a
2-d latent space the lift supervisors can browse.

KL weight follows the cyclical schedule of Fu et al. (2019): 4 cycles, beta
ramps 0 -> 1 over the first half of each cycle and then holds at 1.  So the
printed objective jumps UP whenever beta ramps again - that is expected.
The decoder has a learned per-slot log-variance (a raw mx.array attribute), so
the reconstruction term is a continuous NLL in nats per day, not a squared error.  At the end a (silent, slow) importance-weighted bound
with K=64 samples is computed on the test days.
"""
import math
import time
from functools import partial

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

SLOTS = 16
LATENT = 2


def simulate_days(n, rng):
    t = np.linspace(0.0, 1.0, SLOTS)
    crowd = rng.gamma(3.0, 1.0, size=(n, 1))                    # holiday / powder
    lunch = 0.35 + 0.25 * rng.random((n, 1))
    wind_start = rng.uniform(0.2, 0.8, size=(n, 1))
    wind_len = np.where(rng.random((n, 1)) < 0.3, rng.uniform(0.1, 0.3, (n, 1)), 0.0)
    morning_rush = np.exp(-((t - 0.1) ** 2) / 0.01)
    base = crowd * (2.0 + 4.0 * morning_rush + 1.5 * np.sin(np.pi * t))
    base = base * (1.0 - lunch * np.exp(-((t - 0.45) ** 2) / 0.004))
    closed = (t >= wind_start) & (t < wind_start + wind_len)
    base = np.where(closed, 0.0, base)
    # backlog once the lift reopens
    reopen = (t >= wind_start + wind_len) & (t < wind_start + wind_len + 0.12) & (wind_len > 0)
    base = base + np.where(reopen, 3.0 * crowd, 0.0)
    q = base + rng.normal(0.0, 0.4, size=base.shape)
    return np.log1p(np.clip(q, 0.0, None)).astype(np.float32)   # log(1 + minutes)


class QueueVAE(nn.Module):
    def __init__(self, hidden=64):
        super().__init__()
        self.enc = nn.Sequential(nn.Linear(SLOTS, hidden), nn.SiLU(),
                                 nn.Linear(hidden, hidden), nn.SiLU())
        self.mu = nn.Linear(hidden, LATENT)
        self.logvar = nn.Linear(hidden, LATENT)
        self.dec = nn.Sequential(nn.Linear(LATENT, hidden), nn.SiLU(),
                                 nn.Linear(hidden, hidden), nn.SiLU(),
                                 nn.Linear(hidden, SLOTS))
        self.out_logvar = mx.full((SLOTS,), -1.0)   # per-slot decoder noise

    def encode(self, x):
        h = self.enc(x)
        return self.mu(h), mx.clip(self.logvar(h), -8.0, 4.0)

    def decode(self, z):
        return self.dec(z)


def gauss_loglik(x, mean, logvar):
    return -0.5 * mx.sum(math.log(2 * math.pi) + logvar + (x - mean) ** 2 / mx.exp(logvar), axis=-1)


def elbo_terms(model, x, eps):
    mu, lv = model.encode(x)
    z = mu + mx.exp(0.5 * lv) * eps
    rec = -gauss_loglik(x, model.decode(z), model.out_logvar)
    kl = 0.5 * mx.sum(mx.exp(lv) + mu ** 2 - 1.0 - lv, axis=-1)
    return mx.mean(rec), mx.mean(kl)


def beta_at(step, total, cycles=4, ramp=0.5):
    period = total / cycles
    pos = (step % period) / period
    return min(1.0, pos / ramp)


def iwae_bound(model, x, k, key):
    mu, lv = model.encode(x)
    std = mx.exp(0.5 * lv)
    eps = mx.random.normal((k,) + mu.shape, key=key)
    z = mu + std * eps                                       # (k, n, L)
    log_p_z = -0.5 * mx.sum(z ** 2 + math.log(2 * math.pi), axis=-1)
    log_q = -0.5 * mx.sum(eps ** 2 + math.log(2 * math.pi) + lv, axis=-1)
    log_px = gauss_loglik(x, model.decode(z), model.out_logvar)
    lw = log_px + log_p_z - log_q
    return mx.mean(mx.logsumexp(lw, axis=0) - math.log(k))


def box_table(headers, widths):
    top = "┌" + "┬".join("─" * w for w in widths) + "┐"
    mid = "├" + "┼".join("─" * w for w in widths) + "┤"
    bot = "└" + "┴".join("─" * w for w in widths) + "┘"
    head = "│" + "│".join(h.center(w) for h, w in zip(headers, widths)) + "│"
    return top, head, mid, bot


def row(vals, widths):
    return "│" + "│".join(str(v).rjust(w - 1) + " " for v, w in zip(vals, widths)) + "│"


def main():
    rng = np.random.default_rng(7)
    mx.random.seed(7)
    train_np = simulate_days(9000, rng)
    test_np = simulate_days(1500, rng)
    mean, std = train_np.mean(0), train_np.std(0) + 1e-6
    train = mx.array((train_np - mean) / std)
    test = mx.array((test_np - mean) / std)

    model = QueueVAE()
    mx.eval(model.parameters())
    opt = optim.RMSprop(learning_rate=1e-3, alpha=0.99)

    def loss_fn(m, x, eps, beta):
        rec, kl = elbo_terms(m, x, eps)
        return rec + beta * kl, (rec, kl)

    grad_fn = nn.value_and_grad(model, loss_fn)

    # first-step gradient audit at beta = 0 (what step 1 really uses)
    eps0 = mx.random.normal((128, LATENT))
    (_, _), g0 = grad_fn(model, train[:128], eps0, mx.array(0.0))
    flat = tree_flatten(g0)
    zero = [k for k, v in flat if float(mx.max(mx.abs(v))) == 0.0]
    print(f"gradient audit: {len(flat)} leaves, zero-gradient leaves: {zero if zero else 'none'}")

    state = [model.state, opt.state]

    @partial(mx.compile, inputs=state, outputs=state)
    def step(x, eps, beta):
        (loss, (rec, kl)), grads = grad_fn(model, x, eps, beta)
        opt.update(model, grads)
        return loss, rec, kl

    total, bs = 3200, 128
    n = train.shape[0]
    widths = [7, 7, 11, 10, 9, 11, 8]
    top, head, mid, bot = box_table(
        ["step", "beta", "objective", "recon", "KL", "-ELBO test", "secs"], widths)
    print(top)
    print(head)
    print(mid)
    t0 = time.perf_counter()
    perm, cur = np.random.default_rng(1).permutation(n), 0
    acc = [0.0, 0.0, 0.0, 0]
    for s in range(total):
        if cur + bs > n:
            perm, cur = np.random.default_rng(s).permutation(n), 0
        idx = mx.array(perm[cur:cur + bs])
        cur += bs
        beta = beta_at(s, total)
        eps = mx.random.normal((bs, LATENT))
        loss, rec, kl = step(train[idx], eps, mx.array(beta, dtype=mx.float32))
        mx.eval(loss, rec, kl, state)
        acc[0] += loss.item(); acc[1] += rec.item(); acc[2] += kl.item(); acc[3] += 1
        if (s + 1) % 200 == 0:
            rec_t, kl_t = elbo_terms(model, test, mx.random.normal((test.shape[0], LATENT)))
            neg_elbo = (rec_t + kl_t).item()
            c = acc[3]
            print(row([s + 1, f"{beta:.2f}", f"{acc[0]/c:.3f}", f"{acc[1]/c:.3f}",
                       f"{acc[2]/c:.3f}", f"{neg_elbo:.3f}", f"{time.perf_counter()-t0:.1f}"], widths))
            acc = [0.0, 0.0, 0.0, 0]
    print(bot)

    # silent: K=64 importance-weighted bound on the test days, in chunks
    key = mx.random.key(123)
    parts = []
    for i in range(0, test.shape[0], 250):
        key, sub = mx.random.split(key)
        b = iwae_bound(model, test[i:i + 250], 64, sub)
        parts.append(b.item() * min(250, test.shape[0] - i))
    iw = sum(parts) / test.shape[0]
    rec_t, kl_t = elbo_terms(model, test, mx.random.normal((test.shape[0], LATENT)))
    print(f"test -ELBO (1 sample)   : {(rec_t + kl_t).item():8.3f} nats/day")
    print(f"test -log p(x) IWAE K=64 : {-iw:8.3f} nats/day  (should be <= -ELBO)")
    print(f"decoder sigma per slot   : {[round(float(v), 2) for v in np.exp(0.5 * np.array(model.out_logvar))]}")


if __name__ == "__main__":
    main()
