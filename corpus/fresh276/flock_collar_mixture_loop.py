# GPS collar readings of a grazing flock at one instant: 40 positions (units of km)
# that fall in 3 loose groups. A set encoder reads the unordered positions and proposes a
# 3-component Gaussian mixture for the flock; it is trained on the average negative
# log-likelihood of the positions (a density, so the number goes below zero as it improves).
# Learning rate: cosine with warm restarts (3 cycles of 250 steps).
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

N_POS = 40
K = 3
BATCH = 24
CYCLE = 250
CYCLES = 3
PEAK_LR = 2e-3
LOG_EVERY = 50
LOG2PI = float(np.log(2 * np.pi))


def make_flocks(B, gen):
    centres = gen.uniform(-0.6, 0.6, size=(B, K, 2))
    scales = gen.uniform(0.03, 0.1, size=(B, K))
    weights = gen.dirichlet(np.full(K, 4.0), size=B)
    comp = (gen.random((B, N_POS, 1)) > np.cumsum(weights, axis=1)[:, None, :]).sum(-1)
    comp = np.minimum(comp, K - 1)
    c = np.take_along_axis(centres, comp[..., None], axis=1)
    s = np.take_along_axis(scales, comp, axis=1)
    pts = (c + gen.normal(size=(B, N_POS, 2)) * s[..., None]).astype(np.float32)
    # true generating density, for reference
    d2 = ((pts[:, :, None, :] - centres[:, None]) ** 2).sum(-1)
    logc = (np.log(weights) - np.log(2 * np.pi * scales ** 2))[:, None, :] - 0.5 * d2 / (scales ** 2)[:, None, :]
    m = logc.max(-1, keepdims=True)
    dens = -(m[..., 0] + np.log(np.exp(logc - m).sum(-1))).mean(1)
    return pts, dens


def one_gaussian_nll(pts):
    # per-flock single full-covariance Gaussian fitted in closed form
    out = []
    for p in pts:
        mu = p.mean(0)
        cov = np.cov(p.T, bias=True) + 1e-6 * np.eye(2)
        diff = p - mu
        sol = np.linalg.solve(cov, diff.T).T
        ll = -0.5 * (diff * sol).sum(1) - 0.5 * np.log(np.linalg.det(cov)) - LOG2PI
        out.append(-ll.mean())
    return float(np.mean(out))


class FlockMixer(nn.Module):
    def __init__(self, width=64):
        super().__init__()
        self.phi = nn.Sequential(nn.Linear(2, width), nn.GELU(), nn.Linear(width, width), nn.GELU(), nn.Linear(width, width))
        self.rho = nn.Sequential(nn.Linear(2 * width, 96), nn.GELU(), nn.Linear(96, 96), nn.GELU())
        self.head = nn.Linear(96, K * 4)

    def __call__(self, pts):
        h = self.phi(pts)
        pooled = mx.concatenate([mx.mean(h, axis=1), mx.max(h, axis=1)], axis=-1)
        out = self.head(self.rho(pooled)).reshape(-1, K, 4)
        logit_w = out[..., 0]
        mu = out[..., 1:3] * 0.6
        log_s = mx.clip(out[..., 3] - 2.0, -6.0, 0.0)
        return logit_w, mu, log_s


def mixture_nll(model, pts):
    logit_w, mu, log_s = model(pts)
    log_w = logit_w - mx.logsumexp(logit_w, axis=-1, keepdims=True)
    d2 = mx.sum((pts[:, :, None, :] - mu[:, None, :, :]) ** 2, axis=-1)
    s2 = mx.exp(2 * log_s)[:, None, :]
    logc = log_w[:, None, :] - LOG2PI - 2 * log_s[:, None, :] - 0.5 * d2 / s2
    return -mx.mean(mx.logsumexp(logc, axis=-1))


schedule = optim.join_schedules(
    [optim.cosine_decay(PEAK_LR, CYCLE, 5e-5) for _ in range(CYCLES)],
    [CYCLE * (i + 1) for i in range(CYCLES - 1)],
)

eval_gen = np.random.default_rng(2024)
eval_np, eval_true = make_flocks(128, eval_gen)
eval_pts = mx.array(eval_np)
single = one_gaussian_nll(eval_np)
print(f"reference NLL on 128 held-out flocks: one Gaussian per flock {single:.3f} | "
      f"true mixture {eval_true.mean():.3f}")

mx.random.seed(3)
model = FlockMixer()
opt = optim.Adam(learning_rate=schedule)
step_fn = nn.value_and_grad(model, mixture_nll)
print(f"step    0 | eval NLL {mixture_nll(model, eval_pts).item():.3f}")

gen = np.random.default_rng(11)
t0 = time.time()
hist = []
for step in range(CYCLE * CYCLES):
    pts, _ = make_flocks(BATCH, gen)
    loss, grads = step_fn(model, mx.array(pts))
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    hist.append(loss.item())
    if (step + 1) % LOG_EVERY == 0:
        ev = mixture_nll(model, eval_pts).item()
        lr = schedule(mx.array(step + 1)).item()
        tag = "  <- restart next" if (step + 1) % CYCLE == 0 and step + 1 < CYCLE * CYCLES else ""
        print(f"step {step + 1:4d} | lr {lr:.2e} | train NLL {np.mean(hist):.3f} | eval NLL {ev:.3f}{tag}")
        hist = []

final = mixture_nll(model, eval_pts).item()
print(f"final eval NLL {final:.3f} (one Gaussian {single:.3f}, true mixture {eval_true.mean():.3f}) | {time.time() - t0:.1f}s")
