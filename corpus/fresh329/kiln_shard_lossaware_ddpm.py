"""Kiln-site survey: 2-D positions of pottery shards around three kilns.

DDPM (eps prediction, linear betas, T=64) with a loss-aware timestep sampler:
for the first 250 steps t is uniform while a per-t running mean of squared errors
fills up; afterwards t is drawn with p(t) ~ sqrt(E[loss_t^2]) and each example
is weighted by 1/(T p(t)) so the objective stays unbiased.  SGD with Nesterov
momentum under a step-decay schedule.  Output is logfmt (key=value) lines.
"""
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

T = 64
STEPS = 900
UNIFORM_UNTIL = 250
BATCH = 256
rng = np.random.default_rng(21)
mx.random.seed(21)


def shards(n, r):
    centres = np.array([[-2.0, 0.5], [1.5, 1.8], [0.8, -1.9]])
    spread = np.array([[0.35, 0.6], [0.5, 0.25], [0.3, 0.3]])
    k = r.choice(3, n, p=[0.45, 0.35, 0.2])
    pts = centres[k] + r.standard_normal((n, 2)) * spread[k]
    # a downslope smear on the third kiln
    pts[k == 2, 0] += np.abs(r.standard_normal((k == 2).sum())) * 0.6
    return pts.astype(np.float32)


train = shards(24000, rng)
held = shards(1500, rng)
m_, s_ = train.mean(0), train.std(0)
train = (train - m_) / s_
held = (held - m_) / s_

betas = np.linspace(1e-3, 0.12, T)
alphas = 1 - betas
abar = np.cumprod(alphas)
ABAR = mx.array(abar.astype(np.float32))


class ShardNet(nn.Module):
    def __init__(self, h=96):
        super().__init__()
        self.temb = nn.Embedding(T, 32)
        self.l1 = nn.Linear(2 + 32, h)
        self.l2 = nn.Linear(h, h)
        self.l3 = nn.Linear(h, h)
        self.out = nn.Linear(h, 2)

    def __call__(self, x, t):
        h = nn.gelu(self.l1(mx.concatenate([x, self.temb(t)], axis=-1)))
        h = h + nn.gelu(self.l2(h))
        h = h + nn.gelu(self.l3(h))
        return self.out(h)


def per_example(model, x0, t, eps):
    ab = ABAR[t][:, None]
    xt = mx.sqrt(ab) * x0 + mx.sqrt(1 - ab) * eps
    return mx.mean((model(xt, t) - eps) ** 2, axis=-1)


def weighted_loss(model, x0, t, eps, w):
    return mx.mean(w * per_example(model, x0, t, eps))


class LossHistory:
    """Per-t running mean of squared per-example loss (decayed sums, vectorised)."""

    def __init__(self, need=10, decay=0.9):
        self.sq = np.zeros(T)
        self.wt = np.zeros(T)
        self.count = np.zeros(T, dtype=int)
        self.need = need
        self.decay = decay

    def add(self, t, losses):
        hit = np.bincount(t, minlength=T)
        sq = np.bincount(t, weights=losses ** 2, minlength=T)
        keep = np.where(hit > 0, self.decay, 1.0)
        self.sq = keep * self.sq + sq
        self.wt = keep * self.wt + hit
        self.count += hit

    def ready(self):
        return bool((self.count >= self.need).all())

    def probs(self):
        w = np.sqrt(self.sq / np.maximum(self.wt, 1e-9))
        p = w / w.sum()
        return 0.999 * p + 0.001 / T


def energy_distance(a, b, n=800):
    a, b = a[:n], b[:n]
    d = lambda u, v: np.sqrt(((u[:, None, :] - v[None, :, :]) ** 2).sum(-1)).mean()
    return 2 * d(a, b) - d(a, a) - d(b, b)


def sample(model, n, seed):
    r = np.random.default_rng(seed)
    x = mx.array(r.standard_normal((n, 2)).astype(np.float32))
    for i in reversed(range(T)):
        t = mx.full((n,), i, dtype=mx.int32)
        eps = model(x, t)
        x = (x - betas[i] / math.sqrt(1 - abar[i]) * eps) / math.sqrt(alphas[i])
        if i > 0:
            sig = math.sqrt(betas[i] * (1 - abar[i - 1]) / (1 - abar[i]))
            x = x + sig * mx.array(r.standard_normal((n, 2)).astype(np.float32))
    mx.eval(x)
    return np.array(x)


def main():
    t0 = time.time()
    model = ShardNet()
    sched = optim.step_decay(0.05, 0.3, 350)
    opt = optim.SGD(learning_rate=sched, momentum=0.9, nesterov=True)
    lg = nn.value_and_grad(model, weighted_loss)
    hist = LossHistory()
    ed_gauss = energy_distance(rng.standard_normal(held.shape).astype(np.float32), held)
    ed_fresh = energy_distance((shards(1500, np.random.default_rng(7)) - m_) / s_, held)
    print(f"msg=start n_train={len(train)} n_held={len(held)} T={T} ed_fresh={ed_fresh:.4f} ed_gauss={ed_gauss:.4f}")
    hx = mx.array(held)
    ht = mx.array(np.random.default_rng(3).integers(0, T, len(held)))
    he = mx.array(np.random.default_rng(4).standard_normal(held.shape).astype(np.float32))
    mode = "uniform"
    for step in range(1, STEPS + 1):
        idx = rng.integers(0, len(train), BATCH)
        if mode == "uniform" and step > UNIFORM_UNTIL and hist.ready():
            mode = "loss_aware"
            p = hist.probs()
            print(f"msg=sampler_switch step={step} p_min={p.min():.4f} p_max={p.max():.4f} "
                  f"t_argmax={int(p.argmax())}")
        if mode == "uniform":
            t_np = rng.integers(0, T, BATCH)
            w_np = np.ones(BATCH, dtype=np.float32)
        else:
            p = hist.probs()
            t_np = rng.choice(T, BATCH, p=p)
            w_np = (1.0 / (T * p[t_np])).astype(np.float32)
        x0 = mx.array(train[idx])
        t = mx.array(t_np)
        eps = mx.random.normal((BATCH, 2))
        loss, grads = lg(model, x0, t, eps, mx.array(w_np))
        opt.update(model, grads)
        raw = per_example(model, x0, t, eps)
        mx.eval(loss, raw, model.parameters(), opt.state)
        hist.add(t_np, np.array(raw))
        if step in (1, 50, 150, 250, 251, 350, 500, 700, 900):
            held_mse = mx.mean(per_example(model, hx, ht, he)).item()
            print(f"step={step} mode={mode} lr={opt.learning_rate.item():.4f} "
                  f"objective={loss.item():.4f} held_eps_mse={held_mse:.4f}", flush=True)
    gen = sample(model, 1500, 11)
    ed = energy_distance(gen, held)
    print(f"msg=samples n=1500 energy_distance={ed:.4f} ed_fresh={ed_fresh:.4f} ed_gauss={ed_gauss:.4f} "
          f"skill_vs_gauss={1 - ed / ed_gauss:.3f}")
    print(f"msg=done seconds={time.time() - t0:.1f}")


if __name__ == "__main__":
    main()
