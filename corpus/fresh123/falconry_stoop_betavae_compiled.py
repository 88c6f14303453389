"""Falconry telemetry: a beta-VAE over 32-sample altitude traces of a falcon's stoop.

Each trace: the bird waits on at altitude (small circling wobble), stoops at a random
moment, bottoms out and throws up a little. Parameters live in a plain dict; the whole
update (ELBO grads + hand-written RMSprop) is one mx.compile'd pure function.
beta is annealed 0 -> 1 between steps 300 and 1500, so the objective climbs for a while.
"""
import math
import time

import numpy as np
import mlx.core as mx
from mlx.utils import tree_flatten, tree_map

rs = np.random.default_rng(808)
T, Z, H = 32, 4, 64
SIG = 0.05  # assumed telemetry noise (scaled units) for the Gaussian decoder


def stoop_traces(n):
    t = np.arange(T, dtype=np.float64)[None, :]
    h0 = rs.uniform(150, 400, (n, 1))
    t0 = rs.uniform(6, 18, (n, 1))
    depth = rs.uniform(0.5, 0.95, (n, 1))
    sharp = rs.uniform(0.6, 2.0, (n, 1))
    wobble = rs.uniform(2, 12, (n, 1)) * np.sin(2 * math.pi * t / rs.uniform(5, 9, (n, 1)) + rs.uniform(0, 6.3, (n, 1)))
    fall = 1.0 / (1.0 + np.exp(-sharp * (t - t0 - 3.0)))
    throw_up = 0.08 * depth * h0 * np.clip((t - t0 - 8.0) / 8.0, 0, 1)
    alt = h0 - depth * h0 * fall + wobble * (1 - fall) + throw_up
    alt = alt + rs.normal(0, 4.0, alt.shape)
    return (alt / 400.0).astype(np.float32)


train = mx.array(stoop_traces(4000))
held = mx.array(stoop_traces(500))


def glorot(shape):
    lim = math.sqrt(6.0 / (shape[0] + shape[1]))
    return mx.random.uniform(-lim, lim, shape)


mx.random.seed(31)
params = {
    "enc_w": glorot((T, H)), "enc_b": mx.zeros((H,)),
    "mu_w": glorot((H, Z)), "mu_b": mx.zeros((Z,)),
    "lv_w": glorot((H, Z)) * 0.1, "lv_b": mx.zeros((Z,)),
    "dec_w": glorot((Z, H)), "dec_b": mx.zeros((H,)),
    "out_w": glorot((H, T)), "out_b": mx.zeros((T,)) + 0.5,
}
sq_avg = tree_map(mx.zeros_like, params)


def parts(p, x, eps):
    h = mx.tanh(x @ p["enc_w"] + p["enc_b"])
    mu = h @ p["mu_w"] + p["mu_b"]
    lv = h @ p["lv_w"] + p["lv_b"]
    z = mu + mx.exp(0.5 * lv) * eps
    xh = mx.tanh(z @ p["dec_w"] + p["dec_b"]) @ p["out_w"] + p["out_b"]
    recon = mx.mean(mx.sum((x - xh) ** 2, -1)) / (2 * SIG ** 2)
    kl_dim = 0.5 * mx.mean(mx.exp(lv) + mu ** 2 - 1.0 - lv, 0)
    return recon, kl_dim


def objective(p, x, eps, beta):
    recon, kl_dim = parts(p, x, eps)
    kl = mx.sum(kl_dim)
    return recon + beta * kl, (recon, kl)


grad_fn = mx.value_and_grad(objective)
LR, RHO = 1e-3, 0.99


@mx.compile
def train_step(p, v, x, eps, beta):
    (obj, (recon, kl)), g = grad_fn(p, x, eps, beta)
    v = tree_map(lambda a, b: RHO * a + (1 - RHO) * b * b, v, g)
    p = tree_map(lambda w, gg, vv: w - LR * gg / (mx.sqrt(vv) + 1e-8), p, g, v)
    return p, v, obj, recon, kl


(_, _), g0 = grad_fn(params, train[:256], mx.random.normal((256, Z)), mx.array(1.0))
norms = {k: float(mx.sqrt(mx.sum(v * v))) for k, v in tree_flatten(g0)}
print("grad audit: " + " ".join(f"{k}={v:.3g}" for k, v in norms.items()))
print("min grad norm %.3g over %d tensors" % (min(norms.values()), len(norms)))

mean_prof = mx.mean(train, 0)
base_recon = float(mx.mean(mx.sum((held - mean_prof) ** 2, -1)) / (2 * SIG ** 2))

STEPS, B = 2500, 128
print(f"{'step':>5} | {'beta':>5} | {'recon':>9} | {'kl':>7} | {'objective':>9} | {'held recon':>10} | {'mean-trace ref':>14}")
t0 = time.time()
for step in range(1, STEPS + 1):
    beta = min(1.0, max(0.0, (step - 300) / 1200.0))
    idx = mx.array(rs.integers(0, train.shape[0], B))
    params, sq_avg, obj, recon, kl = train_step(params, sq_avg, train[idx], mx.random.normal((B, Z)), mx.array(beta))
    mx.eval(params, sq_avg, obj, recon, kl)
    if step == 1 or step % 250 == 0:
        hr, hk = parts(params, held, mx.zeros((held.shape[0], Z)))
        print(f"{step:5d} | {beta:5.2f} | {recon.item():9.2f} | {kl.item():7.3f} | {obj.item():9.2f} | {hr.item():10.2f} | {base_recon:14.2f}")

hr, hk = parts(params, held, mx.zeros((held.shape[0], Z)))
active = int(mx.sum(hk > 0.05).item())
print(f"done in {time.time() - t0:.1f}s: held-out recon {hr.item():.2f} vs mean-trace {base_recon:.2f}; "
      f"KL/dim {[round(float(v), 3) for v in hk]} -> {active}/{Z} latent dims in use")
