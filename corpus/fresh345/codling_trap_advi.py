"""Codling-moth pheromone traps across 70 orchards.

Weekly trap catches are modelled as Poisson with a log link:
    log rate = a_j + b * temp_z + log(trap_days)
    a_j = mu_a + tau * z_j            (non-centred orchard effects)
Priors: mu_a ~ N(0, 2^2), tau ~ HalfNormal(1), b ~ N(0, 1), z_j ~ N(0, 1).
The posterior is fitted with ADVI: a mean-field Gaussian over the unconstrained
vector (mu_a, log tau, b, z_1..z_J), reparameterised Monte Carlo ELBO with 8
draws, Adam with cosine warm restarts.  Training is split in two sessions with
a checkpoint in between.
"""
import math
import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

rng = np.random.default_rng(8)
J = 70
TRUE_MU, TRUE_TAU, TRUE_B = 0.2, 0.7, 0.45
a_true = TRUE_MU + TRUE_TAU * rng.normal(size=J)
weeks_per_orchard = rng.choice([1, 2, 2, 3, 4, 8, 16], size=J)
orch = np.repeat(np.arange(J), weeks_per_orchard)
temp_z = rng.normal(size=orch.size)
trap_days = rng.integers(5, 9, size=orch.size).astype(np.float64)
rate = np.exp(a_true[orch] + TRUE_B * temp_z) * trap_days / 7.0
count = rng.poisson(rate)
n_obs = count.size

O = mx.array(orch.astype(np.int32))
T = mx.array(temp_z.astype(np.float32))
LOGEXP = mx.array(np.log(trap_days / 7.0).astype(np.float32))
Y = mx.array(count.astype(np.float32))
LGY = mx.array(np.array([math.lgamma(c + 1.0) for c in count], dtype=np.float32))

D = 3 + J
S = 8  # Monte Carlo draws per ELBO estimate


def log_joint(u):
    """u: (S, D) unconstrained draws -> (S,) log p(y, theta) incl. log|J| of tau."""
    mu_a, log_tau, b, z = u[:, 0], u[:, 1], u[:, 2], u[:, 3:]
    tau = mx.exp(log_tau)
    a = mu_a[:, None] + tau[:, None] * z                       # (S, J)
    eta = a[:, O] + b[:, None] * T[None, :] + LOGEXP[None, :]  # (S, n)
    loglik = (Y[None, :] * eta - mx.exp(eta) - LGY[None, :]).sum(1)
    lp = (-0.5 * (mu_a / 2.0) ** 2 - math.log(2.0 * math.sqrt(2 * math.pi))
          + math.log(2.0) - 0.5 * tau ** 2 - 0.5 * math.log(2 * math.pi) + log_tau
          - 0.5 * b ** 2 - 0.5 * math.log(2 * math.pi)
          - 0.5 * (z ** 2).sum(1) - 0.5 * J * math.log(2 * math.pi))
    return loglik + lp


def neg_elbo(q, eps):
    sd = mx.exp(q["log_sd"])
    u = q["loc"][None, :] + sd[None, :] * eps
    entropy = q["log_sd"].sum() + 0.5 * D * (1.0 + math.log(2 * math.pi))
    return -(log_joint(u).mean() + entropy) / n_obs


def fresh_q():
    return {"loc": mx.zeros((D,)), "log_sd": mx.full((D,), -1.0)}


def make_opt():
    return optim.Adam(learning_rate=0.0)


CYCLE, N_CYCLES, PEAK = 600, 4, 0.05


def lr_at(it):
    t = (it % CYCLE) / CYCLE
    return PEAK * (0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * t)))


def summarise(q):
    loc, sd = np.array(q["loc"]), np.exp(np.array(q["log_sd"]))
    draws = loc[None, :] + sd[None, :] * np.random.default_rng(0).normal(size=(4000, D))
    tau = np.exp(draws[:, 1])
    a = draws[:, :1] + tau[:, None] * draws[:, 3:]
    return {"mu": draws[:, 0].mean(), "tau": tau.mean(), "tau_90": np.percentile(tau, [5, 95]),
            "b": draws[:, 2].mean(), "a_mean": a.mean(0)}


# reference estimators for the orchard log-rates
expo = trap_days / 7.0
tot_y = np.bincount(orch, weights=count, minlength=J)
tot_e = np.bincount(orch, weights=expo * np.exp(TRUE_B * temp_z), minlength=J)
no_pool = np.log((tot_y + 0.5) / tot_e)
pooled = np.full(J, np.log(count.sum() / (expo * np.exp(TRUE_B * temp_z)).sum()))
rmse = lambda est: float(np.sqrt(np.mean((est - a_true) ** 2)))

print(f"orchards={J} trap_weeks={n_obs} total_moths={int(count.sum())} "
      f"weeks_per_orchard min/median/max={weeks_per_orchard.min()}/{int(np.median(weeks_per_orchard))}/{weeks_per_orchard.max()}")
print(f"reference rmse of orchard log-rate: no_pooling={rmse(no_pool):.3f} complete_pooling={rmse(pooled):.3f}")

step_grad = mx.value_and_grad(neg_elbo)
key = mx.random.key(2024)


def run(q, opt, it_from, it_to, key):
    window = []
    for it in range(it_from, it_to):
        key, sub = mx.random.split(key)
        eps = mx.random.normal((S, D), key=sub)
        opt.learning_rate = lr_at(it)
        loss, g = step_grad(q, eps)
        opt.update(q, g)
        mx.eval(q, opt.state, loss)
        window.append(loss.item())
        window = window[-50:]
        if it % CYCLE == 0:
            print(f"~~ restart {it // CYCLE + 1}/{N_CYCLES}: lr back to {lr_at(it):.4f}")
        if (it + 1) % 150 == 0 or it + 1 in (1, 25):
            s = summarise(q)
            print(f"[cycle {it // CYCLE + 1} it {it % CYCLE + 1:4d}] lr={opt.learning_rate.item():.4f} "
                  f"-elbo/obs={np.mean(window):8.4f} mu={s['mu']:+.3f} tau={s['tau']:.3f} b={s['b']:+.3f} "
                  f"rmse(a)={rmse(s['a_mean']):.3f} mean_sd={float(mx.exp(q['log_sd']).mean()):.3f}")
    return q, key


# grad audit
_, g0 = step_grad(fresh_q(), mx.random.normal((S, D), key=mx.random.key(1)))
print("grad audit: " + ", ".join(f"{k}|max|={float(mx.abs(v).max()):.3g}" for k, v in tree_flatten(g0)))

t0 = time.time()
q, opt = fresh_q(), make_opt()
q, key = run(q, opt, 0, 2 * CYCLE, key)

# ---- session boundary: checkpoint, drop everything, reload --------------------
ckpt = tempfile.mkdtemp(None, "codling_ckpt_")
probe = mx.random.normal((64, D), key=mx.random.key(99))
before = neg_elbo(q, probe).item()
mx.save_safetensors(os.path.join(ckpt, "q.safetensors"), dict(tree_flatten(q)))
mx.save_safetensors(os.path.join(ckpt, "opt.safetensors"), dict(tree_flatten(opt.state)))
key_np = np.array(mx.random.key_data(key)) if hasattr(mx.random, "key_data") else np.array(key)
np.save(os.path.join(ckpt, "key.npy"), key_np)
del q, opt
print(f"checkpoint written to {os.path.basename(ckpt)}/ (-elbo/obs on held probe draws {before:.5f})")

q = tree_unflatten(list(mx.load(os.path.join(ckpt, "q.safetensors")).items()))
opt = make_opt()
opt.state = tree_unflatten(list(mx.load(os.path.join(ckpt, "opt.safetensors")).items()))
key = mx.array(np.load(os.path.join(ckpt, "key.npy")))
after = neg_elbo(q, probe).item()
print(f"resumed: probe -elbo/obs {after:.5f} (diff {abs(after - before):.2e}), optimizer step {int(opt.state['step'].item())}")
q, key = run(q, opt, 2 * CYCLE, N_CYCLES * CYCLE, key)

s = summarise(q)
print(f"posterior: mu={s['mu']:+.3f} (sim {TRUE_MU}) tau={s['tau']:.3f} 90%=[{s['tau_90'][0]:.3f},{s['tau_90'][1]:.3f}] "
      f"(sim {TRUE_TAU}) b={s['b']:+.3f} (sim {TRUE_B})")
print(f"orchard log-rate rmse: advi_partial_pooling={rmse(s['a_mean']):.3f} no_pooling={rmse(no_pool):.3f} "
      f"complete_pooling={rmse(pooled):.3f}")
print(f"done in {time.time() - t0:.1f}s")
