"""Bernoulli-Bernoulli restricted Boltzmann machine trained with CD-1 on the
4x4 'bars and stripes' patterns.  The CD-1 gradient is taken with mx.grad of
the free-energy difference F(v_data) - F(v_model), where the negative sample
comes from one Gibbs step and is held constant (stop_gradient).
Reports mean reconstruction error and the exact log-likelihood (the model is
small enough to enumerate all 2^16 visible states).
"""
import itertools

import mlx.core as mx
import mlx.nn as nn
import numpy as np

N_V, N_H = 16, 12
mx.random.seed(5)
rng = np.random.default_rng(5)

# all 4x4 bars-and-stripes patterns (30 distinct)
pats = set()
for bits in itertools.product([0, 1], repeat=4):
    b = np.array(bits, dtype=np.float32)
    pats.add(tuple(np.repeat(b[:, None], 4, axis=1).ravel()))   # horizontal stripes
    pats.add(tuple(np.repeat(b[None, :], 4, axis=0).ravel()))   # vertical bars
data = mx.array(np.array(sorted(pats), dtype=np.float32))
print(f"training patterns: {data.shape[0]}")

params = {
    "W": mx.random.normal((N_V, N_H)) * 0.05,
    "b_v": mx.zeros((N_V,)),
    "b_h": mx.zeros((N_H,)),
}


def free_energy(p, v):
    return -(v @ p["b_v"]) - mx.sum(nn.softplus(v @ p["W"] + p["b_h"]), axis=-1)


def gibbs(p, v):
    ph = mx.sigmoid(v @ p["W"] + p["b_h"])
    h = (mx.random.uniform(shape=ph.shape) < ph).astype(mx.float32)
    pv = mx.sigmoid(h @ p["W"].T + p["b_v"])
    return (mx.random.uniform(shape=pv.shape) < pv).astype(mx.float32), pv


def cd_objective(p, v_pos, v_neg):
    return mx.mean(free_energy(p, v_pos)) - mx.mean(free_energy(p, v_neg))


cd_grad = mx.grad(cd_objective)
all_v = mx.array(np.array(list(itertools.product([0, 1], repeat=N_V)), dtype=np.float32))


def exact_avg_loglik(p):
    log_z = mx.logsumexp(-free_energy(p, all_v))
    return float(mx.mean(-free_energy(p, data) - log_z).item())


def recon_error(p):
    ph = mx.sigmoid(data @ p["W"] + p["b_h"])
    pv = mx.sigmoid(ph @ p["W"].T + p["b_v"])
    return float(mx.mean((pv - data) ** 2).item())


# first-step gradient check on every leaf
v_neg0, _ = gibbs(params, data)
g0 = cd_grad(params, data, mx.stop_gradient(v_neg0))
print("first-step |grad| per leaf:", {k: round(float(mx.abs(v).sum()), 4) for k, v in g0.items()})

LR, MOM, EPOCHS, BATCH, WD = 0.05, 0.5, 3000, 10, 2e-4
vel = {k: mx.zeros_like(v) for k, v in params.items()}
print("+--------+-----------+-------------+--------+")
print("| epoch  | recon_mse | avg_loglik  | max|W| |")
print("+--------+-----------+-------------+--------+")
print(f"| {0:6d} | {recon_error(params):9.4f} | {exact_avg_loglik(params):11.4f} | {float(mx.abs(params['W']).max()):6.2f} |")
for epoch in range(1, EPOCHS + 1):
    perm = mx.array(rng.permutation(data.shape[0]))
    for i in range(0, data.shape[0], BATCH):
        v_pos = data[perm[i:i + BATCH]]
        v_neg, _ = gibbs(params, v_pos)
        g = cd_grad(params, v_pos, mx.stop_gradient(v_neg))
        g["W"] = g["W"] + WD * params["W"]          # L2 weight cost on W only
        vel = {k: MOM * vel[k] - LR * g[k] for k in params}
        params = {k: params[k] + vel[k] for k in params}
        mx.eval(params, vel)
    if epoch % 300 == 0:
        print(f"| {epoch:6d} | {recon_error(params):9.4f} | {exact_avg_loglik(params):11.4f} | {float(mx.abs(params['W']).max()):6.2f} |", flush=True)
print("+--------+-----------+-------------+--------+")
print(f"reference: uniform model {-N_V * np.log(2):.4f}, perfect model {-np.log(data.shape[0]):.4f}")
