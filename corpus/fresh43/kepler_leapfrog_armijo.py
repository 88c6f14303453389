"""Orbit determination: fit GM and the initial velocity of a body from noisy
2-D position fixes by differentiating through an unrolled leapfrog integrator.

No mlx.optimizers: full-batch steepest descent with an Armijo backtracking line
search written by hand.  Parameters are raw mx.array attributes of an
nn.Module (log GM, initial velocity).  A Barzilai-Borwein step is tried first each iteration.  A line is printed every 25 iterations
with the accepted step and the number of backtracks; a final block compares the
fit with the truth and the measurement-noise floor.
"""
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
from mlx.utils import tree_flatten, tree_map

rng = np.random.default_rng(11)

DT, N_STEPS = 0.04, 150
SIGMA = 0.01  # position noise (AU-like units)
TRUE_GM = 4.0
R0 = np.array([1.0, 0.0], dtype=np.float32)
TRUE_V0 = np.array([0.3, 1.7], dtype=np.float32)


def leapfrog(gm, r0, v0, n_steps=N_STEPS, dt=DT):
    """Kick-drift-kick leapfrog; returns (n_steps, 2) positions after each step."""
    def acc(r):
        d = mx.sqrt(mx.sum(r * r) + 1e-6)
        return -gm * r / d ** 3

    r, v = r0, v0
    a = acc(r)
    out = []
    for _ in range(n_steps):
        v_half = v + 0.5 * dt * a
        r = r + dt * v_half
        a = acc(r)
        v = v_half + 0.5 * dt * a
        out.append(r)
    return mx.stack(out)


# synthetic observations: every 5th step is observed
true_traj = np.array(leapfrog(mx.array(TRUE_GM), mx.array(R0), mx.array(TRUE_V0)))
obs_idx = np.arange(2, N_STEPS, 3)
obs = true_traj[obs_idx] + rng.normal(0, SIGMA, (len(obs_idx), 2)).astype(np.float32)
obs_mx, idx_mx = mx.array(obs), mx.array(obs_idx)


class Orbit(nn.Module):
    def __init__(self):
        super().__init__()
        self.log_gm = mx.array(math.log(2.5))  # rough prior guess
        self.v0 = mx.array([0.0, 1.2])

    def __call__(self):
        return leapfrog(mx.exp(self.log_gm), mx.array(R0), self.v0)


def objective_from(params):
    pred = leapfrog(mx.exp(params["log_gm"]), mx.array(R0), params["v0"])[idx_mx]
    return mx.mean(mx.sum((pred - obs_mx) ** 2, axis=-1))


def objective(model):
    return objective_from(model.trainable_parameters())


model = Orbit()
vg = mx.compile(mx.value_and_grad(objective_from))
f_only = mx.compile(objective_from)


def f_and_g(m):
    return vg(m.trainable_parameters())


f, g = f_and_g(model)
for k, v in tree_flatten(g):
    assert float(mx.abs(v).max()) > 0, f"no gradient reaches {k}"
print("grad check: " + ", ".join(f"{k}={float(mx.abs(v).max()):.3e}" for k, v in tree_flatten(g)))

step, c1, shrink = 1.0, 1e-4, 0.5
t0 = time.time()
for it in range(1, 301):
    f, g = f_and_g(model)
    mx.eval(f, g)
    gsq = sum(float(mx.sum(v * v)) for _, v in tree_flatten(g))
    params = model.trainable_parameters()
    if gsq < 1e-6:
        print(f"converged at iter {it}: |g|^2 {gsq:.2e} < 1e-6, mse {f.item():.3e}")
        break
    flat_p = mx.concatenate([v.reshape(-1) for _, v in tree_flatten(params)])
    flat_g = mx.concatenate([v.reshape(-1) for _, v in tree_flatten(g)])
    if it > 1:  # Barzilai-Borwein trial step, then Armijo backtracking
        s_k, y_k = flat_p - prev_p, flat_g - prev_g
        sy = float(mx.sum(s_k * y_k))
        step = float(mx.sum(s_k * s_k)) / sy if sy > 0 else step * 2.0
        step = min(step, 10.0)
    prev_p, prev_g = flat_p, flat_g
    backtracks = 0
    while True:
        trial = tree_map(lambda p, d: p - step * d, params, g)
        model.update(trial)
        f_new = f_only(trial).item()
        if math.isfinite(f_new) and f_new <= f.item() - c1 * step * gsq:
            break
        step *= shrink
        backtracks += 1
        if backtracks > 40:
            model.update(params)
            break
    mx.eval(model.parameters())
    if it % 25 == 0 or it == 1:
        print(f"iter {it:4d}  mse {f_new:.3e}  rms {math.sqrt(f_new / 2):.4f}  "
              f"GM {math.exp(model.log_gm.item()):.4f}  step {step:.2e}  "
              f"backtracks {backtracks}  |g|^2 {gsq:.2e}")

gm = math.exp(model.log_gm.item())
v0 = np.array(model.v0)
print("---- fit ----")
print(f"GM      {gm:.4f}   (true {TRUE_GM})")
print(f"v0      [{v0[0]:.4f}, {v0[1]:.4f}]   (true [{TRUE_V0[0]}, {TRUE_V0[1]}])")
print(f"rms per coordinate {math.sqrt(objective(model).item() / 2):.4f}   (noise sigma {SIGMA})")
print(f"wall {time.time() - t0:.1f}s")
