"""Island ferry crossing times.

Origin and destination ports are looked up in ONE port table (the same
nn.Embedding serves both ends of a crossing). A mean head and a log-variance
head give a Gaussian over log crossing minutes; the NLL is negative once the
spread is small. Reports only every fourth epoch.
"""
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(2860)
mx.random.seed(2860)

N_PORTS = 14
port_xy = rng.uniform(0, 60, (N_PORTS, 2))        # km
dwell = rng.uniform(4, 18, N_PORTS)               # minutes at each end
current = np.array([0.6, -0.25])                  # drift direction (km/h-ish)


def make(n):
    o = rng.integers(0, N_PORTS, n)
    d = (o + rng.integers(1, N_PORTS, n)) % N_PORTS
    vec = port_xy[d] - port_xy[o]
    dist = np.linalg.norm(vec, axis=1)
    wind = rng.gamma(2.0, 4.0, n)                 # m/s
    wave = 0.08 * wind + rng.gamma(1.5, 0.3, n)   # m
    vclass = rng.integers(0, 3, n)                # 0 fast cat, 1 ro-ro, 2 old ro-ro
    speed = np.array([38.0, 26.0, 21.0])[vclass] * (1 - 0.06 * wave)
    along = (vec @ current) / np.maximum(dist, 1e-6)
    minutes = 60 * dist / (speed + 4 * along) + 0.5 * (dwell[o] + dwell[d])
    minutes *= np.exp(rng.normal(0, 0.04 + 0.02 * wave, n))
    num = np.stack([wind, wave, vclass == 0, vclass == 1, vclass == 2], 1).astype(np.float32)
    return o, d, num, np.log(minutes).astype(np.float32)


o_tr, d_tr, n_tr, y_tr = make(12000)
o_va, d_va, n_va, y_va = make(3000)
m_num, s_num = n_tr[:, :2].mean(0), n_tr[:, :2].std(0)
n_tr[:, :2] = (n_tr[:, :2] - m_num) / s_num
n_va[:, :2] = (n_va[:, :2] - m_num) / s_num
y_mu, y_sd = y_tr.mean(), y_tr.std()
z_tr, z_va = (y_tr - y_mu) / y_sd, (y_va - y_mu) / y_sd

tr = [mx.array(a) for a in (o_tr, d_tr, n_tr, z_tr)]
va = [mx.array(a) for a in (o_va, d_va, n_va, z_va)]


class CrossingNet(nn.Module):
    def __init__(self, n_ports, dim=8, width=64):
        super().__init__()
        self.ports = nn.Embedding(n_ports, dim)
        self.body = nn.Sequential(nn.Linear(3 * dim + 5, width), nn.SiLU(),
                                  nn.Linear(width, width), nn.SiLU())
        self.mean = nn.Linear(width, 1)
        self.logvar = nn.Linear(width, 1)

    def __call__(self, o, d, num):
        eo, ed = self.ports(o), self.ports(d)
        h = self.body(mx.concatenate([eo, ed, eo * ed, num], axis=-1))
        return self.mean(h).squeeze(-1), mx.clip(self.logvar(h).squeeze(-1), -8.0, 4.0)


def nll(model, o, d, num, z):
    m, lv = model(o, d, num)
    return mx.mean(0.5 * (lv + (z - m) ** 2 * mx.exp(-lv)) + 0.5 * math.log(2 * math.pi))


def evaluate(model):
    o, d, num, z = va
    m, lv = model(o, d, num)
    loss = mx.mean(0.5 * (lv + (z - m) ** 2 * mx.exp(-lv)) + 0.5 * math.log(2 * math.pi)).item()
    minutes_pred = mx.exp(m * y_sd + y_mu)
    minutes_true = mx.exp(z * y_sd + y_mu)
    mape = (mx.abs(minutes_pred - minutes_true) / minutes_true).mean().item() * 100
    cover = (mx.abs(z - m) < 1.645 * mx.exp(0.5 * lv)).mean().item() * 100
    return loss, mape, cover


# baselines: per-route mean of log minutes, and the constant Gaussian
route_mean = {}
for o, d, y in zip(o_tr, d_tr, y_tr):
    route_mean.setdefault((o, d), []).append(y)
route_mean = {k: np.mean(v) for k, v in route_mean.items()}
pred_b = np.array([route_mean.get((o, d), y_mu) for o, d in zip(o_va, d_va)])
mape_b = np.mean(np.abs(np.exp(pred_b) - np.exp(y_va)) / np.exp(y_va)) * 100
print(f"crossings: train {len(z_tr)}  val {len(z_va)}  ports {N_PORTS}  routes seen {len(route_mean)}")
print(f"baseline  constant-gaussian val nll {0.5 * math.log(2 * math.pi * math.e):.4f}"
      f"   per-route-mean val MAPE {mape_b:.2f}%")

model = CrossingNet(N_PORTS)
mx.eval(model.parameters())
vg = nn.value_and_grad(model, nll)
_, g = vg(model, *[a[:256] for a in tr])
gl = tree_flatten(g)
print(f"grad audit: {len(gl)} leaves, zero leaves {sum(mx.abs(v).max().item() == 0 for _, v in gl)}, "
      f"port-table grad norm {mx.linalg.norm(g['ports']['weight']).item():.4f}")

EPOCHS, BATCH = 24, 128
steps = len(z_tr) // BATCH
opt = optim.Lion(learning_rate=optim.cosine_decay(3e-4, EPOCHS * steps, 2e-5), weight_decay=0.05)
t0 = time.time()
print(f"{'ep':>3} {'train_nll':>10} {'val_nll':>9} {'val_MAPE%':>10} {'90%cover':>9} {'sec':>6}")
for ep in range(1, EPOCHS + 1):
    perm = mx.array(rng.permutation(len(z_tr))[: steps * BATCH])
    run = 0.0
    for i in range(steps):
        idx = perm[i * BATCH:(i + 1) * BATCH]
        loss, g = vg(model, *[a[idx] for a in tr])
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state, loss)
        run += loss.item()
    if ep % 4 == 0 or ep == 1:
        vl, mape, cover = evaluate(model)
        print(f"{ep:>3} {run / steps:>10.4f} {vl:>9.4f} {mape:>10.2f} {cover:>9.1f} {time.time() - t0:>6.1f}")

# same port, both ends: symmetry of the learned table use
o, d, num, z = va
m_fw, _ = model(o, d, num)
m_bw, _ = model(d, o, num)
gap = mx.abs(mx.exp(m_fw * y_sd + y_mu) - mx.exp(m_bw * y_sd + y_mu)).mean().item()
print(f"mean |A->B minus B->A| predicted minutes: {gap:.2f}  (current makes the two directions differ)")
print(f"done in {time.time() - t0:.1f}s")
