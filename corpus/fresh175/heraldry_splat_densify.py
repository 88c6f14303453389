"""Fit a tiny heraldic shield (24x24 RGB) with 2-D anisotropic Gaussian splats.

Three stages: colours only (geometry frozen on purpose), full geometry with an
LR warm-up from exactly zero, then densification (big splats are split in two,
the optimizer is rebuilt and the iteration counter starts again).
"""
import logging
import math

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                    datefmt="%H:%M:%S")
log = logging.getLogger("splat")

H = W = 24
rng = np.random.default_rng(7)

# ---- target: azure field, a gold bend (diagonal band) and a red roundel ----
yy, xx = np.meshgrid((np.arange(H) + 0.5) / H, (np.arange(W) + 0.5) / W, indexing="ij")
img = np.zeros((H, W, 3), np.float32)
img[...] = [0.10, 0.25, 0.70]
band = np.clip(1.0 - np.abs((xx - yy)) / 0.12, 0, 1) ** 0.5
img = img * (1 - band[..., None]) + band[..., None] * np.array([0.95, 0.80, 0.15])
disc = 1.0 / (1.0 + np.exp((np.sqrt((xx - 0.72) ** 2 + (yy - 0.28) ** 2) - 0.14) * 60))
img = img * (1 - disc[..., None]) + disc[..., None] * np.array([0.85, 0.10, 0.10])
target = mx.array(img.reshape(-1, 3))
pix = mx.array(np.stack([xx.ravel(), yy.ravel()], 1).astype(np.float32))  # (P,2)


def psnr(pred):
    mse = mx.mean((pred - target) ** 2)
    return (-10.0 * mx.log10(mse)).item()


flat = mx.broadcast_to(mx.mean(target, axis=0, keepdims=True), target.shape)
BASE_PSNR = psnr(flat)


class Splats(nn.Module):
    def __init__(self, mu, log_s, theta, col, opa):
        super().__init__()
        self.mu, self.log_s, self.theta, self.col, self.opa = mu, log_s, theta, col, opa

    def __call__(self, p):
        d = p[:, None, :] - self.mu[None]                     # (P,N,2)
        c, s = mx.cos(self.theta), mx.sin(self.theta)
        u = d[..., 0] * c + d[..., 1] * s
        v = -d[..., 0] * s + d[..., 1] * c
        sx, sy = mx.exp(self.log_s[:, 0]), mx.exp(self.log_s[:, 1])
        w = mx.sigmoid(self.opa) * mx.exp(-0.5 * ((u / sx) ** 2 + (v / sy) ** 2))  # (P,N)
        return w @ mx.sigmoid(self.col)                          # (P,3)


def init_splats(n):
    g = int(math.ceil(math.sqrt(n)))
    cx, cy = np.meshgrid((np.arange(g) + 0.5) / g, (np.arange(g) + 0.5) / g)
    mu = np.stack([cx.ravel(), cy.ravel()], 1)[:n] + rng.normal(0, 0.02, (n, 2))
    return Splats(mx.array(mu.astype(np.float32)),
                  mx.log(mx.broadcast_to(mx.array([0.65 / g, 0.45 / g]), (n, 2))),
                  mx.array(rng.uniform(0, math.pi, n).astype(np.float32)),
                  mx.array(rng.normal(0, 0.3, (n, 3)).astype(np.float32)),
                  mx.full((n,), -0.5))


def loss_fn(model):
    pred = model(pix)
    return 0.8 * mx.mean(mx.abs(pred - target)) + 0.2 * mx.mean((pred - target) ** 2)


def run_stage(name, model, steps, lr, warm=0):
    sched = (optim.join_schedules([optim.linear_schedule(0.0, lr, warm),
                                   optim.cosine_decay(lr, steps - warm, 0.1 * lr)], [warm])
             if warm else lr)
    opt = optim.Adam(learning_rate=sched)
    vg = nn.value_and_grad(model, loss_fn)
    first = None
    for it in range(1, steps + 1):
        loss, grads = vg(model)
        if first is None:
            norms = {k: mx.sqrt(mx.sum(v * v)).item() for k, v in
                     nn.utils.tree_flatten(grads)}
            log.info("[%s] grad audit: %s", name, " ".join(f"{k}={v:.3g}" for k, v in norms.items()))
            assert all(v > 0 for v in norms.values()), "dead parameter"
            first = loss.item()
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        if it % 25 == 0 or it == 1:
            cur_lr = opt.learning_rate.item()
            log.info("stage=%-8s it=%03d/%d lr=%.4f objective=%.5f psnr=%.2fdB (flat-colour %.2fdB) splats=%d",
                     name, it, steps, cur_lr, loss.item(), psnr(model(pix)), BASE_PSNR, model.mu.shape[0])
    return model


def densify(model, k):
    """Split the k splats with the largest footprint into two smaller ones."""
    mx.eval(model.parameters())
    ls = np.array(model.log_s)
    big = np.argsort(-(ls.sum(1)))[:k]
    keep = np.setdiff1d(np.arange(ls.shape[0]), big)
    mu, th = np.array(model.mu), np.array(model.theta)
    col, opa = np.array(model.col), np.array(model.opa)
    axis = np.stack([np.cos(th[big]), np.sin(th[big])], 1) * np.exp(ls[big, :1])
    new_mu = np.concatenate([mu[keep], mu[big] + 0.5 * axis, mu[big] - 0.5 * axis])
    new_ls = np.concatenate([ls[keep], ls[big] - math.log(1.6), ls[big] - math.log(1.6)])
    cat = lambda a: np.concatenate([a[keep], a[big], a[big]])
    return Splats(mx.array(new_mu.astype(np.float32)), mx.array(new_ls.astype(np.float32)),
                  mx.array(cat(th)), mx.array(cat(col)), mx.array(cat(opa)))


model = init_splats(25)
log.info("target %dx%d, flat-colour baseline PSNR %.2f dB", H, W, BASE_PSNR)

model.freeze(keys=["mu", "log_s", "theta"])
model = run_stage("colour", model, 150, 0.05)
model.unfreeze()
model = run_stage("geometry", model, 300, 0.02, warm=60)
model = densify(model, 12)
model = run_stage("densify", model, 300, 0.01, warm=30)

final = psnr(model(pix))
log.info("final: %d splats, PSNR %.2f dB vs flat-colour %.2f dB (gain %.2f dB)",
         model.mu.shape[0], final, BASE_PSNR, final - BASE_PSNR)
