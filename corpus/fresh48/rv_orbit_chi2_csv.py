"""Fit a Keplerian radial-velocity curve (one planet) to noisy synthetic RV data.

Kepler's equation M = E - e sin E is solved inside the loss by 10 unrolled Newton steps.
Reports chi^2 per degree of freedom as CSV rows on stdout (it should settle near 1).
"""
import csv
import math
import sys

import numpy as np
import mlx.core as mx
import mlx.optimizers as optim
from mlx.utils import tree_flatten

P = 11.3  # days, period assumed known from a periodogram
TRUE = dict(K=42.0, e=0.35, omega=1.1, phi0=2.0, gamma=-7.5)
SIGMA = 3.0


def rv_model(p, t):
    K = mx.exp(p["log_K"])
    e = 0.9 * mx.sigmoid(p["e_raw"])
    M = 2 * math.pi * t / P + p["phi0"]
    E = M
    for _ in range(10):
        E = E - (E - e * mx.sin(E) - M) / (1 - e * mx.cos(E))
    nu = 2 * mx.arctan2(mx.sqrt(1 + e) * mx.sin(E / 2), mx.sqrt(1 - e) * mx.cos(E / 2))
    return p["gamma"] + K * (mx.cos(nu + p["omega"]) + e * mx.cos(p["omega"]))


def main():
    rng = np.random.default_rng(11)
    t_np = np.sort(rng.uniform(0, 120, 140)).astype(np.float32)
    truth = {"log_K": mx.array(math.log(TRUE["K"])), "e_raw": mx.array(math.log(TRUE["e"] / 0.9 / (1 - TRUE["e"] / 0.9))),
             "omega": mx.array(TRUE["omega"]), "phi0": mx.array(TRUE["phi0"]), "gamma": mx.array(TRUE["gamma"])}
    t = mx.array(t_np)
    v_obs = rv_model(truth, t) + SIGMA * mx.array(rng.standard_normal(140).astype(np.float32))

    params = {"log_K": mx.array(math.log(25.0)), "e_raw": mx.array(-1.0), "omega": mx.array(0.5),
              "phi0": mx.array(1.5), "gamma": mx.array(0.0)}
    dof = 140 - len(params)

    def chi2(p):
        r = (rv_model(p, t) - v_obs) / SIGMA
        return mx.sum(r * r) / dof

    vg = mx.value_and_grad(chi2)
    _, g0 = vg(params)
    dead = [k for k, v in tree_flatten(g0) if float(mx.abs(v)) == 0.0]
    print(f"# grad leaves: {len(g0)}, zero at step 0: {dead if dead else 'none'}", file=sys.stderr)

    opt = optim.Adamax(learning_rate=0.03)
    w = csv.writer(sys.stdout)
    w.writerow(["step", "chi2_dof", "K", "e", "omega", "gamma"])
    for step in range(1, 1501):
        loss, grads = vg(params)
        params = opt.apply_gradients(grads, params)
        mx.eval(params, opt.state, loss)
        if step % 100 == 0 or step == 1:
            e = 0.9 / (1 + math.exp(-params["e_raw"].item()))
            w.writerow([step, f"{loss.item():.4f}", f"{math.exp(params['log_K'].item()):.2f}", f"{e:.3f}",
                        f"{params['omega'].item():.3f}", f"{params['gamma'].item():.2f}"])
    print(f"# truth: K={TRUE['K']} e={TRUE['e']} omega={TRUE['omega']} gamma={TRUE['gamma']}", file=sys.stderr)


if __name__ == "__main__":
    main()
