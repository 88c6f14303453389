# Bell foundry: six partial-tone deviations (cents/10) of cast bells from two hidden casting factors.
# Helmholtz-machine style wake-sleep with a generative and a recognition network, each with its own optimizer.
import json
import math
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(3)
mx.random.seed(3)
D, Z = 6, 2
W = rng.normal(size=(Z, D))

def cast(n):
    z = rng.normal(size=(n, Z))
    h = np.tanh(z @ W) + 0.3 * np.sin(2 * z[:, :1])
    return (h + 0.12 * rng.normal(size=(n, D))).astype(np.float32)

xtr, xva = cast(8000), cast(1500)
Xtr, Xva = mx.array(xtr), mx.array(xva)
LOG2PI = math.log(2 * math.pi)

class Founder(nn.Module):          # p(z) p(x|z)
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(Z, 64), nn.GELU(), nn.Linear(64, 64), nn.GELU(), nn.Linear(64, D))
        self.log_sd = mx.zeros((D,))
    def log_lik(self, x, z):
        mu = self.net(z)
        return (-0.5 * ((x - mu) / mx.exp(self.log_sd)) ** 2 - self.log_sd - 0.5 * LOG2PI).sum(-1)
    def dream(self, n):
        z = mx.random.normal((n, Z))
        x = self.net(z) + mx.exp(self.log_sd) * mx.random.normal((n, D))
        return mx.stop_gradient(x), mx.stop_gradient(z)

class Listener(nn.Module):         # q(z|x)
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(D, 64), nn.GELU(), nn.Linear(64, 64), nn.GELU(), nn.Linear(64, 2 * Z))
    def __call__(self, x):
        out = self.net(x)
        return out[:, :Z], mx.clip(out[:, Z:], -6.0, 2.0)
    def log_q(self, z, x):
        mu, lv = self(x)
        return (-0.5 * (z - mu) ** 2 / mx.exp(lv) - 0.5 * lv - 0.5 * LOG2PI).sum(-1)
    def sample(self, x):
        mu, lv = self(x)
        return mx.stop_gradient(mu + mx.exp(0.5 * lv) * mx.random.normal(mu.shape))

gen, rec = Founder(), Listener()
mx.eval(gen.parameters(), rec.parameters())
gen_opt = optim.Adam(learning_rate=5e-3)
rec_opt = optim.RMSprop(learning_rate=2e-3)

def wake_loss(g, x, z):
    return -g.log_lik(x, z).mean()

def sleep_loss(r, x, z):
    return -r.log_q(z, x).mean()

wake = nn.value_and_grad(gen, wake_loss)
sleep = nn.value_and_grad(rec, sleep_loss)

def iw_loglik(x, k=64):
    mu, lv = rec(x)
    tot = []
    for _ in range(k):
        z = mu + mx.exp(0.5 * lv) * mx.random.normal(mu.shape)
        lp = gen.log_lik(x, z) + (-0.5 * z ** 2 - 0.5 * LOG2PI).sum(-1)
        lq = (-0.5 * (z - mu) ** 2 / mx.exp(lv) - 0.5 * lv - 0.5 * LOG2PI).sum(-1)
        tot.append(lp - lq)
    return (mx.logsumexp(mx.stack(tot), axis=0) - math.log(k)).mean().item()

m, s = xtr.mean(0), xtr.std(0)
diag_ll = float((-0.5 * ((xva - m) / s) ** 2 - np.log(s) - 0.5 * LOG2PI).sum(1).mean())
C = np.cov(xtr.T)
_, logdet = np.linalg.slogdet(C)
dv = xva - m
full_ll = float((-0.5 * np.einsum("ij,jk,ik->i", dv, np.linalg.inv(C), dv) - 0.5 * logdet - 0.5 * D * LOG2PI).mean())
print(json.dumps({"event": "data", "bells_train": len(xtr), "bells_valid": len(xva), "partials": D}))
print(json.dumps({"event": "reference", "valid_ll_diag_gauss": round(diag_ll, 4), "valid_ll_full_gauss": round(full_ll, 4)}))
print(json.dumps({"event": "start", "valid_iw_ll": round(iw_loglik(Xva), 4)}))
t0 = time.time()
B, STEPS = 256, 700
wl, sl = [], []
for step in range(1, STEPS + 1):
    idx = mx.array(rng.integers(0, len(xtr), B))
    x = Xtr[idx]
    # wake: fit the founder to real bells with codes from the listener
    lw, gw = wake(gen, x, rec.sample(x))
    gen_opt.update(gen, gw)
    # sleep: fit the listener to dreamed bells from the founder
    xd, zd = gen.dream(B)
    ls, gs = sleep(rec, xd, zd)
    rec_opt.update(rec, gs)
    mx.eval(gen.parameters(), gen_opt.state, rec.parameters(), rec_opt.state, lw, ls)
    wl.append(lw.item()); sl.append(ls.item())
    if step % 100 == 0:
        print(json.dumps({"event": "progress", "step": step,
                          "wake_nll": round(float(np.mean(wl[-100:])), 4),
                          "sleep_nll": round(float(np.mean(sl[-100:])), 4),
                          "valid_iw_ll": round(iw_loglik(Xva), 4),
                          "noise_sd_mean": round(float(mx.exp(gen.log_sd).mean().item()), 4),
                          "secs": round(time.time() - t0, 1)}))
print(json.dumps({"event": "done", "valid_iw_ll": round(iw_loglik(Xva, 64), 4), "true_noise_sd": 0.12}))
