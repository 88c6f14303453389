"""Two-link planar arm: learn the (multi-valued) inverse kinematics with a
mixture density network.  A target (x, y) is reachable with the elbow up or
the elbow down, so a plain regression would average the two solutions.

- 2-component mixture of diagonal Gaussians over (theta1, theta2)
- hand-written RMSprop over the parameter tree (tree_map), no mlx.optimizers
- learning rate warms up linearly from exactly 0 (step 1 changes nothing)
- loss = mixture NLL in nats; it goes below zero once the sigmas are small
- reach_pct = share of held-out targets whose most likely mode, pushed through
  the forward kinematics, lands within 3 cm of the target (higher is better)
Output is logfmt (key=value) lines.
"""
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
from mlx.utils import tree_flatten, tree_map

L1, L2 = 0.55, 0.40  # link lengths in metres
K = 2


def forward_kin(t1, t2):
    x = L1 * np.cos(t1) + L2 * np.cos(t1 + t2)
    y = L1 * np.sin(t1) + L2 * np.sin(t1 + t2)
    return x, y


def make_data(n, rng):
    t1 = rng.uniform(-0.4 * math.pi, 0.9 * math.pi, n)
    t2 = rng.uniform(0.25, 2.6, n) * rng.choice([-1.0, 1.0], n)
    x, y = forward_kin(t1, t2)
    xy = np.stack([x, y], 1) + rng.normal(0, 0.004, (n, 2))
    th = np.stack([t1, t2], 1)
    return xy.astype(np.float32), th.astype(np.float32)


class MDN(nn.Module):
    def __init__(self, hidden=64, k=K):
        super().__init__()
        self.k = k
        self.body = nn.Sequential(nn.Linear(2, hidden), nn.Tanh(),
                                  nn.Linear(hidden, hidden), nn.Tanh())
        self.logits = nn.Linear(hidden, k)
        self.mu = nn.Linear(hidden, k * 2)
        self.log_sigma = nn.Linear(hidden, k * 2)

    def __call__(self, xy):
        h = self.body(xy)
        n = xy.shape[0]
        pi = self.logits(h)
        mu = self.mu(h).reshape(n, self.k, 2)
        ls = mx.clip(self.log_sigma(h).reshape(n, self.k, 2), -6.0, 2.0)
        return pi, mu, ls


def mdn_nll(model, xy, th):
    pi, mu, ls = model(xy)
    z = (th[:, None, :] - mu) * mx.exp(-ls)
    comp = -0.5 * mx.sum(z * z, -1) - mx.sum(ls, -1) - math.log(2 * math.pi)
    logp = mx.logsumexp(nn.log_softmax(pi, -1) + comp, -1)
    return -mx.mean(logp)


class HandRMSprop:
    def __init__(self, params, peak_lr, warmup, total, decay=0.99, eps=1e-8):
        self.peak, self.warmup, self.decay, self.eps = peak_lr, warmup, decay, eps
        self.total = total
        self.sq = tree_map(mx.zeros_like, params)
        self.t = 0

    def lr(self):
        if self.t - 1 < self.warmup:  # linear warm-up, exactly 0 at t=1
            return self.peak * (self.t - 1) / self.warmup
        frac = (self.t - 1 - self.warmup) / max(1, self.total - self.warmup)
        floor = self.peak / 20
        return floor + 0.5 * (self.peak - floor) * (1 + math.cos(math.pi * frac))

    def step(self, params, grads):
        self.t += 1
        lr = self.lr()
        self.sq = tree_map(lambda s, g: self.decay * s + (1 - self.decay) * g * g,
                           self.sq, grads)
        new = tree_map(lambda p, g, s: p - lr * g / (mx.sqrt(s) + self.eps),
                       params, grads, self.sq)
        return new, lr


def reach_pct(model, xy, tol=0.03):
    pi, mu, _ = model(mx.array(xy))
    best = mx.argmax(pi, -1)
    th = mx.take_along_axis(mu, best[:, None, None], axis=1)[:, 0, :]
    th = np.array(th)
    x, y = forward_kin(th[:, 0], th[:, 1])
    err = np.hypot(x - xy[:, 0], y - xy[:, 1])
    return 100.0 * float(np.mean(err < tol)), float(np.median(err))


def logfmt(**kw):
    parts = []
    for k, v in kw.items():
        if isinstance(v, float):
            v = f"{v:.4g}"
        parts.append(f"{k}={v}")
    print(" ".join(parts), flush=True)


def main():
    rng = np.random.default_rng(7)
    mx.random.seed(7)
    xtr, ttr = make_data(20000, rng)
    xva, tva = make_data(2000, rng)
    model = MDN()
    mx.eval(model.parameters())
    params = model.trainable_parameters()
    opt = HandRMSprop(params, peak_lr=2e-3, warmup=200, total=3000)

    def loss_of(p, xb, tb):
        model.update(p)
        return mdn_nll(model, xb, tb)

    grad_fn = mx.value_and_grad(loss_of)
    Xv, Tv = mx.array(xva), mx.array(tva)
    Xtr, Ttr = mx.array(xtr), mx.array(ttr)
    r0, e0 = reach_pct(model, xva)
    logfmt(event="start", n_train=len(xtr), n_val=len(xva), components=K,
           val_nll=mdn_nll(model, Xv, Tv).item(), reach_pct=r0, median_err_m=e0)

    steps, bs, report = 3000, 128, 250
    t0 = time.time()
    window = []
    for step in range(1, steps + 1):
        idx = mx.array(rng.integers(0, len(xtr), bs))
        xb, tb = Xtr[idx], Ttr[idx]
        loss, grads = grad_fn(params, xb, tb)
        params, lr = opt.step(params, grads)
        if step == 1:
            flat = tree_flatten(grads)
            zero = [k for k, g in flat if float(mx.abs(g).max()) == 0.0]
            logfmt(event="grad_check", leaves=len(flat), zero_leaves=len(zero),
                   lr_first_step=lr)
        model.update(params)
        mx.eval(params, opt.sq, loss)
        window.append(loss.item())
        if step % report == 0:
            vn = mdn_nll(model, Xv, Tv).item()
            rp, me = reach_pct(model, xva)
            logfmt(step=step, lr=lr, train_nll=float(np.mean(window)), val_nll=vn,
                   reach_pct=rp, median_err_m=me, secs=round(time.time() - t0, 1))
            window = []
    logfmt(event="done", steps=steps, secs=round(time.time() - t0, 1))


if __name__ == "__main__":
    main()
