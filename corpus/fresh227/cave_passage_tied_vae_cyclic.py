# Cave survey: passage width profiles (m) along 24 survey stations.
# Tied-weight VAE (decoder re-uses the encoder matrix transposed), cyclical KL
# annealing (beta ramps 0 -> 1 twice, so the total loss climbs while beta rises),
# compiled training step with explicit state, RMSprop. The station-mean
# normaliser is frozen on purpose.
import math
from functools import partial

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(11)
D, H, Z = 24, 40, 3
s = np.linspace(0, 1, D)


def passages(n):
    base = rng.uniform(1.0, 4.0, (n, 1))
    squeeze = rng.uniform(0.0, 0.8, (n, 1))
    where = rng.uniform(0.2, 0.8, (n, 1))
    chamber = rng.uniform(0.0, 3.0, (n, 1)) * (rng.random((n, 1)) < 0.4)
    w = base * (1 - squeeze * np.exp(-((s - where) ** 2) / 0.01)) + chamber * np.exp(-((s - 0.5) ** 2) / 0.02)
    return (w + rng.normal(0, 0.08, w.shape)).astype(np.float32)


Xtr = mx.array(passages(3000))
Xva = mx.array(passages(600))


class Normaliser(nn.Module):
    def __init__(self, x):
        super().__init__()
        self.mu = x.mean(axis=0)
        self.sd = x.std(axis=0) + 1e-3

    def __call__(self, x):
        return (x - self.mu) / self.sd


class TiedVAE(nn.Module):
    def __init__(self, x):
        super().__init__()
        self.norm = Normaliser(x)
        self.norm.freeze()
        self.W = mx.random.normal((H, D)) * (1 / math.sqrt(D))
        self.b_enc = mx.zeros((H,))
        self.b_dec = mx.zeros((D,))
        self.to_mu = nn.Linear(H, Z)
        self.to_lv = nn.Linear(H, Z)
        self.from_z = nn.Linear(Z, H)

    def __call__(self, x, key):
        xn = self.norm(x)
        h = nn.tanh(xn @ self.W.T + self.b_enc)
        mu, lv = self.to_mu(h), self.to_lv(h)
        z = mu + mx.exp(0.5 * lv) * mx.random.normal(mu.shape, key=key)
        hd = nn.tanh(self.from_z(z))
        xr = hd @ self.W + self.b_dec          # same W, transposed use
        rec = mx.sum((xr - xn) ** 2, axis=1).mean()
        kl = (-0.5 * mx.sum(1 + lv - mu ** 2 - mx.exp(lv), axis=1)).mean()
        return rec, kl


model = TiedVAE(Xtr)
mx.eval(model.parameters())
opt = optim.RMSprop(learning_rate=2e-3, alpha=0.95)


def loss_fn(model, x, beta, key):
    rec, kl = model(x, key)
    return rec + beta * kl, (rec, kl)


vg = nn.value_and_grad(model, loss_fn)
state = [model.state, opt.state, mx.random.state]


@partial(mx.compile, inputs=state, outputs=state)
def step(x, beta, key):
    (loss, (rec, kl)), grads = vg(model, x, beta, key)
    opt.update(model, grads)
    return loss, rec, kl


# gradient audit on the shared matrix before training
(_, _), g = vg(model, Xtr[:64], mx.array(1.0), mx.random.key(0))
print(f"audit  |dW|={mx.linalg.norm(g['W']).item():.4f}  |d b_dec|={mx.linalg.norm(g['b_dec']).item():.4f}  "
      f"trainable={sorted(k for k in g)}")

var_base = float(D)  # reconstruction cost of predicting the station mean (normalised units)
EPOCHS, CYCLE, BS = 24, 12, 100
print(f"{'ep':>3} {'beta':>5} {'total':>8} {'recon':>8} {'KL nats':>8} {'val rec':>8} {'vs mean':>8}")
key = mx.random.key(3)
for ep in range(EPOCHS):
    beta = min(1.0, (ep % CYCLE) / (CYCLE / 2))
    perm = mx.random.permutation(Xtr.shape[0])
    tl = tr = tk = 0.0
    nb = 0
    for i in range(0, Xtr.shape[0], BS):
        key, sub = mx.random.split(key)
        loss, rec, kl = step(Xtr[perm[i:i + BS]], mx.array(beta), sub)
        mx.eval(loss, rec, kl, state)
        tl += loss.item(); tr += rec.item(); tk += kl.item(); nb += 1
    vrec, _ = model(Xva, mx.random.key(99))
    pct = 100.0 * vrec.item() / var_base
    print(f"{ep:>3} {beta:>5.2f} {tl/nb:>8.3f} {tr/nb:>8.3f} {tk/nb:>8.3f} {vrec.item():>8.3f} {pct:>7.1f}%")

print(f"summary: final val recon {vrec.item():.3f} vs mean-profile {var_base:.1f} "
      f"({pct:.1f}% of baseline); shared |W|={mx.linalg.norm(model.W).item():.3f}")
