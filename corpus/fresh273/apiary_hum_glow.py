# Apiary sensor study: density model of nightly hive readings
# (weight change kg, brood temperature offset C, humidity offset, hum pitch offset kHz)
# with a small Glow-style flow: ActNorm -> LU invertible linear -> affine coupling.
import math
import time
from functools import partial

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

D = 4
rng = np.random.default_rng(11)


def hive_nights(n):
    colony = rng.integers(0, 3, size=n)
    strength = rng.gamma(3.0, 0.5, size=n) + colony * 0.6
    weight = 0.08 * np.tanh(strength - 1.5) + 0.015 * rng.standard_normal(n)
    brood = 0.05 * np.sin(1.3 * strength) + 0.4 * weight + 0.01 * rng.standard_normal(n)
    humid = 0.06 * (colony - 1) + 0.02 * weight / 0.08 + 0.012 * rng.standard_normal(n)
    hum = 0.03 * np.sqrt(strength) - 0.5 * brood ** 2 * 10 + 0.01 * rng.standard_normal(n)
    return np.stack([weight, brood, humid, hum], axis=1).astype(np.float32)


train_np = hive_nights(16000)
valid_np = hive_nights(3000)
train = mx.array(train_np)
valid = mx.array(valid_np)

# baseline: a full-covariance Gaussian fitted on the training nights
mu = train_np.mean(0)
cov = np.cov(train_np, rowvar=False)
inv = np.linalg.inv(cov)
_, logdet_cov = np.linalg.slogdet(cov)
diff = valid_np - mu
gauss_nll = float(np.mean(0.5 * np.einsum("ni,ij,nj->n", diff, inv, diff)
                          + 0.5 * logdet_cov + 0.5 * D * math.log(2 * math.pi)))


class ActNorm(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.bias = mx.zeros((d,))
        self.logs = mx.zeros((d,))
        self.ready = False

    def seed_from(self, x):
        m = mx.mean(x, axis=0)
        s = mx.sqrt(mx.var(x, axis=0) + 1e-6)
        self.bias = -m
        self.logs = -mx.log(s)
        self.ready = True

    def __call__(self, x):
        y = (x + self.bias) * mx.exp(self.logs)
        return y, mx.sum(self.logs) * mx.ones((x.shape[0],))


class LUMix(nn.Module):
    """W = P (L + I) (U + diag(sign * exp(log_s))); log|det W| = sum(log_s)."""

    def __init__(self, d, seed):
        super().__init__()
        r = np.random.default_rng(seed)
        self._perm = mx.array(r.permutation(d).astype(np.int32))
        self.lower = mx.zeros((d, d))
        self.upper = mx.zeros((d, d))
        self.log_s = mx.zeros((d,))
        self._sign = mx.array(np.where(r.random(d) < 0.5, -1.0, 1.0).astype(np.float32))
        self._lmask = mx.array(np.tril(np.ones((d, d), np.float32), -1))
        self._umask = mx.array(np.triu(np.ones((d, d), np.float32), 1))
        self._eye = mx.eye(d)
        self.freeze(keys=["_perm", "_sign", "_lmask", "_umask", "_eye"])

    def __call__(self, x):
        L = self.lower * self._lmask + self._eye
        U = self.upper * self._umask + mx.diag(self._sign * mx.exp(self.log_s))
        W = L @ U
        y = mx.take(x, self._perm, axis=1) @ W.T
        return y, mx.sum(self.log_s) * mx.ones((x.shape[0],))


class Coupling(nn.Module):
    def __init__(self, d, hidden):
        super().__init__()
        self.h = d // 2
        self.net = nn.Sequential(
            nn.Linear(self.h, hidden), nn.SiLU(),
            nn.Linear(hidden, hidden), nn.SiLU(),
            nn.Linear(hidden, 2 * (d - self.h)),
        )
        last = self.net.layers[-1]
        last.weight = mx.zeros_like(last.weight)
        last.bias = mx.zeros_like(last.bias)

    def __call__(self, x):
        a, b = x[:, : self.h], x[:, self.h:]
        shift, raw = mx.split(self.net(a), 2, axis=1)
        logs = 1.5 * mx.tanh(raw / 1.5)
        b = b * mx.exp(logs) + shift
        return mx.concatenate([a, b], axis=1), mx.sum(logs, axis=1)


class HiveFlow(nn.Module):
    def __init__(self, d, steps, hidden):
        super().__init__()
        self.blocks = []
        for k in range(steps):
            self.blocks += [ActNorm(d), LUMix(d, 100 + k), Coupling(d, hidden)]

    def seed_actnorm(self, x):
        for blk in self.blocks:
            if isinstance(blk, ActNorm):
                blk.seed_from(x)
            x, _ = blk(x)
        mx.eval(self.parameters())

    def __call__(self, x):
        total = mx.zeros((x.shape[0],))
        for blk in self.blocks:
            x, ld = blk(x)
            total = total + ld
        return x, total

    def nll(self, x):
        z, ld = self(x)
        logpz = -0.5 * mx.sum(z * z, axis=1) - 0.5 * D * math.log(2 * math.pi)
        return -mx.mean(logpz + ld)


mx.random.seed(3)
model = HiveFlow(D, steps=4, hidden=48)
model.seed_actnorm(train[:2048])

steps_total = 600
warm = 80
peak = 2e-3
sched = optim.join_schedules(
    [optim.linear_schedule(0.0, peak, warm),
     optim.cosine_decay(peak, steps_total - warm, 2e-5)],
    [warm],
)
opt = optim.Adam(learning_rate=sched)


def loss_fn(m, xb):
    return m.nll(xb)


step_fn = nn.value_and_grad(model, loss_fn)
state = [model.state, opt.state]


@partial(mx.compile, inputs=state, outputs=state)
def train_step(xb):
    loss, grads = step_fn(model, xb)
    grads, gnorm = optim.clip_grad_norm(grads, 5.0)
    opt.update(model, grads)
    return loss, gnorm

print(f"nights: train={train.shape[0]} held-out={valid.shape[0]}  dims={D}")
print(f"held-out NLL, full-covariance Gaussian baseline: {gauss_nll:.4f} nats/night")
print(f"flow NLL before training (ActNorm seeded): {model.nll(valid).item():.4f}")

batch = 256
perm = np.arange(train.shape[0])
t0 = time.time()
running = []
for it in range(1, steps_total + 1):
    if (it - 1) % (train.shape[0] // batch) == 0:
        rng.shuffle(perm)
    j = ((it - 1) % (train.shape[0] // batch)) * batch
    xb = train[mx.array(perm[j:j + batch])]
    loss, gnorm = train_step(xb)
    mx.eval(state, loss)
    running.append(loss.item())
    if it % 60 == 0 or it == 1:
        v = model.nll(valid).item()
        print(f"step {it:5d} lr {opt.learning_rate.item():.2e} train_nll {np.mean(running):+.4f} "
              f"heldout_nll {v:+.4f} gauss {gauss_nll:+.4f} gnorm {gnorm.item():.2f}")
        running = []

final = model.nll(valid).item()
z, _ = model(valid)
zs = np.array(z)
print(f"final held-out NLL {final:+.4f} vs Gaussian {gauss_nll:+.4f} (gain {gauss_nll - final:.4f} nats)")
print(f"latent check: mean {np.abs(zs.mean(0)).max():.3f} max|mean|, std range "
      f"{zs.std(0).min():.3f}-{zs.std(0).max():.3f}")
print(f"done in {time.time() - t0:.1f}s")
