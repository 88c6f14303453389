"""Chandlery loft: generate 8x8 maritime signal-flag swatches, steered by a noisy-image classifier.

Stage 1: unconditional DDPM eps-model (residual SiLU MLP, linear betas, T=50), Adam,
         quiet except a few lines.
Stage 2: a time-conditioned classifier on NOISY swatches (it cannot beat chance at the
         noisiest steps, so its average accuracy plateaus well under 100%).
Stage 3: a clean-image judge classifier (separate, trained on clean swatches only).
Then classifier-guided ancestral sampling: eps - s * sqrt(1 - abar) * grad log p(y | x_t),
scored by the judge against the unguided sampler (chance is 1/5).
"""
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

SEED = 5
T = 50
N_CLASSES = 5
rng = np.random.default_rng(SEED)
mx.random.seed(SEED)


def flag(kind, a, b):
    y, x = np.mgrid[0:8, 0:8]
    if kind == 0:    # vertical halves
        m = x < 4
    elif kind == 1:  # horizontal bands
        m = (y // 2) % 2 == 0
    elif kind == 2:  # cross
        m = (np.abs(x - 3.5) < 1.2) | (np.abs(y - 3.5) < 1.2)
    elif kind == 3:  # diagonal split
        m = x > y
    else:            # border square
        m = (x == 0) | (y == 0) | (x == 7) | (y == 7) | ((x > 2) & (x < 5) & (y > 2) & (y < 5))
    return np.where(m, a, b).astype(np.float32).reshape(64)


def make_set(n):
    k = rng.integers(0, N_CLASSES, n)
    a = rng.uniform(0.4, 1.0, n) * rng.choice([-1, 1], n)
    b = -a * rng.uniform(0.6, 1.0, n)
    x = np.stack([flag(kk, aa, bb) for kk, aa, bb in zip(k, a, b)])
    x += rng.normal(0, 0.05, x.shape).astype(np.float32)
    return x.astype(np.float32), k.astype(np.int32)


X, Y = make_set(8000)
Xv, Yv = make_set(1000)

betas = np.linspace(1e-4, 0.2, T).astype(np.float32)
alphas = 1.0 - betas
abar = np.cumprod(alphas).astype(np.float32)
A, AB, B = mx.array(alphas), mx.array(abar), mx.array(betas)


def t_features(t):
    tt = t.astype(mx.float32)[:, None] / T
    k = mx.arange(1, 9).astype(mx.float32)[None]
    return mx.concatenate([mx.sin(math.pi * k * tt), mx.cos(math.pi * k * tt)], axis=-1)


class ResMLP(nn.Module):
    def __init__(self, d_in, d_out, width=160, depth=3):
        super().__init__()
        self.inp = nn.Linear(d_in, width)
        self.blocks = [nn.Linear(width, width) for _ in range(depth)]
        self.norms = [nn.LayerNorm(width) for _ in range(depth)]
        self.out = nn.Linear(width, d_out)

    def __call__(self, h):
        h = self.inp(h)
        for lin, ln in zip(self.blocks, self.norms):
            h = h + lin(nn.silu(ln(h)))
        return self.out(nn.silu(h))


class EpsNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = ResMLP(64 + 16, 64)

    def __call__(self, x, t):
        return self.body(mx.concatenate([x, t_features(t)], axis=-1))


class NoisyClassifier(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = ResMLP(64 + 16, N_CLASSES, width=96, depth=2)

    def __call__(self, x, t):
        return self.body(mx.concatenate([x, t_features(t)], axis=-1))


class Judge(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = ResMLP(64, N_CLASSES, width=64, depth=1)

    def __call__(self, x):
        return self.body(x)


def noisy(x, t, noise):
    ab = AB[t][:, None]
    return mx.sqrt(ab) * x + mx.sqrt(1 - ab) * noise


def fit(model, loss_fn, make_batch, steps, lr, log_at):
    opt = optim.Adam(learning_rate=lr)
    vg = nn.value_and_grad(model, loss_fn)
    acc = 0.0
    for step in range(1, steps + 1):
        loss, g = vg(model, *make_batch())
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state)
        acc += loss.item()
        if step in log_at:
            print(f"    step {step:4d}  loss {acc / log_at[step]:.4f}")
            acc = 0.0
    return model


def batch_eps(n=128):
    i = rng.integers(0, len(X), n)
    return mx.array(X[i]), mx.array(rng.integers(0, T, n).astype(np.int32)), mx.random.normal((n, 64))


def eps_loss(m, x, t, noise):
    return mx.mean((m(noisy(x, t, noise), t) - noise) ** 2)


def batch_cls(n=128):
    i = rng.integers(0, len(X), n)
    return (mx.array(X[i]), mx.array(Y[i]), mx.array(rng.integers(0, T, n).astype(np.int32)),
            mx.random.normal((n, 64)))


def cls_loss(m, x, y, t, noise):
    return mx.mean(nn.losses.cross_entropy(m(noisy(x, t, noise), t), y))


def batch_judge(n=128):
    i = rng.integers(0, len(X), n)
    return mx.array(X[i]), mx.array(Y[i])


def judge_loss(m, x, y):
    return mx.mean(nn.losses.cross_entropy(m(x), y))


def sample(eps_model, clf, target, scale, n=200, key=0):
    k = mx.random.key(1000 + key)
    k, sub = mx.random.split(k)
    x = mx.random.normal((n, 64), key=sub)
    y = mx.full((n,), target, dtype=mx.int32)

    def logp(xx, tt):
        return mx.sum(nn.log_softmax(clf(xx, tt), axis=-1)[mx.arange(n), y])

    grad_logp = mx.grad(logp)
    for t in range(T - 1, -1, -1):
        tt = mx.full((n,), t, dtype=mx.int32)
        eps = eps_model(x, tt)
        if scale > 0:
            eps = eps - scale * math.sqrt(1 - abar[t]) * grad_logp(x, tt)
        mean = (x - betas[t] / math.sqrt(1 - abar[t]) * eps) / math.sqrt(alphas[t])
        if t > 0:
            k, sub = mx.random.split(k)
            x = mean + math.sqrt(betas[t]) * mx.random.normal((n, 64), key=sub)
        else:
            x = mean
        mx.eval(x)
    return x


def main():
    t0 = time.time()
    print(f"swatches train {len(X)} valid {len(Xv)} classes {N_CLASSES}")

    print("stage 1: eps-model")
    eps_model = fit(EpsNet(), eps_loss, batch_eps, 700, 1e-3, {50: 50, 300: 250, 700: 400})
    vt = mx.array(np.tile(np.arange(T), 20)[:1000].astype(np.int32))
    vn = mx.random.normal((1000, 64), key=mx.random.key(3))
    print(f"  valid eps-mse {eps_loss(eps_model, mx.array(Xv), vt, vn).item():.4f} (zero-predictor 1.0)")

    print("stage 2: noisy classifier")
    clf = fit(NoisyClassifier(), cls_loss, batch_cls, 500, 1e-3, {100: 100, 500: 400})
    for lo, hi in [(0, 10), (20, 30), (40, 50)]:
        tt = mx.array(rng.integers(lo, hi, 1000).astype(np.int32))
        p = mx.argmax(clf(noisy(mx.array(Xv), tt, vn), tt), axis=-1)
        print(f"  valid acc t in [{lo},{hi}): {mx.mean(p == mx.array(Yv)).item():.3f}")

    print("stage 3: clean judge")
    judge = fit(Judge(), judge_loss, batch_judge, 300, 1e-3, {300: 300})
    jacc = mx.mean(mx.argmax(judge(mx.array(Xv)), axis=-1) == mx.array(Yv)).item()
    print(f"  judge valid acc {jacc:.3f}")

    print("sampling (chance = 0.200)")
    for target in (2, 4):
        for scale in (0.0, 3.0):
            xs = sample(eps_model, clf, target, scale, key=target * 10 + int(scale))
            hit = mx.mean(mx.argmax(judge(xs), axis=-1) == target).item()
            spread = mx.mean(mx.abs(xs)).item()
            print(f"  target {target} scale {scale:.1f}: judge hit-rate {hit:.3f}  mean |pixel| {spread:.3f}")
    print(f"done in {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
