"""Ski resort ops: predict the lift-line wait (hours) from lift-board conditions.

The board caps what it shows at 30 min ("30+"), so the recorded waits are
right-censored at 0.5 h. We fit a heteroscedastic Tobit model: for shown waits
the Gaussian log-density, for "30+" rows log P(wait > 0.5 h) = log Phi((mu-c)/s).
log Phi is a custom function with its own (stable) VJP.
"""
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

CAP_H = 0.5
HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)


@mx.custom_function
def log_ndtr(z):
    # log of the standard normal CDF, stable in the left tail
    safe = mx.minimum(z, -4.0)
    inv2 = 1.0 / (safe * safe)
    tail = -0.5 * safe * safe - mx.log(-safe) - HALF_LOG_2PI + mx.log(
        1.0 - inv2 + 3.0 * inv2 * inv2 - 15.0 * inv2 * inv2 * inv2
    )
    core = mx.log(0.5 * (1.0 + mx.erf(mx.maximum(z, -4.0) / math.sqrt(2.0))))
    return mx.where(z > -4.0, core, tail)


@log_ndtr.vjp
def log_ndtr_vjp(primals, cotangent, output):
    z = primals
    # d/dz log Phi(z) = phi(z) / Phi(z) = exp(log phi(z) - log Phi(z))
    ratio = mx.exp(-0.5 * z * z - HALF_LOG_2PI - output)
    return cotangent * ratio


def make_data(n, rng):
    snow_cm = rng.gamma(2.0, 6.0, n)            # fresh snow overnight
    hour = rng.uniform(8.5, 16.5, n)            # time of day
    weekend = (rng.random(n) < 2 / 7).astype(np.float64)
    temp_c = rng.normal(-6, 5, n)
    wind = rng.gamma(2.0, 4.0, n)               # m/s, shuts upper lifts
    school_hol = (rng.random(n) < 0.2).astype(np.float64)
    crowd = (0.13 + 0.008 * snow_cm + 0.11 * weekend + 0.07 * school_hol
             + 0.05 * np.exp(-0.5 * ((hour - 11.0) / 1.3) ** 2)
             - 0.004 * np.abs(temp_c + 4) + 0.006 * wind)
    crowd = np.maximum(crowd, 0.01)
    sigma = 0.02 + 0.12 * crowd
    wait = np.maximum(crowd + sigma * rng.standard_normal(n), 0.0)
    X = np.stack([snow_cm, hour, weekend, temp_c, wind, school_hol], 1)
    censored = wait >= CAP_H
    shown = np.minimum(wait, CAP_H)
    return X.astype(np.float32), shown.astype(np.float32), censored, wait


class WaitNet(nn.Module):
    def __init__(self, d_in, hidden=48):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(d_in, hidden), nn.SiLU(),
                                  nn.Linear(hidden, hidden), nn.SiLU())
        self.mu = nn.Linear(hidden, 1)
        self.log_s = nn.Linear(hidden, 1)

    def __call__(self, x):
        h = self.body(x)
        mu = self.mu(h).squeeze(-1) + 0.15
        log_s = mx.clip(self.log_s(h).squeeze(-1) - 2.5, -6.0, 1.0)
        return mu, log_s


def tobit_nll(model, x, y, cens):
    mu, log_s = model(x)
    s = mx.exp(log_s)
    z = (y - mu) / s
    dens = -0.5 * z * z - HALF_LOG_2PI - log_s       # shown waits
    surv = log_ndtr((mu - CAP_H) / s)                 # "30+" rows
    return -mx.mean(mx.where(cens, surv, dens))


def main():
    t0 = time.time()
    rng = np.random.default_rng(2024)
    Xtr, ytr, ctr, _ = make_data(9000, rng)
    Xva, yva, cva, wva = make_data(2000, rng)
    m, s = Xtr.mean(0), Xtr.std(0)
    Xtr, Xva = (Xtr - m) / s, (Xva - m) / s
    Xtr_m, ytr_m, ctr_m = mx.array(Xtr), mx.array(ytr), mx.array(ctr)
    Xva_m, yva_m, cva_m = mx.array(Xva), mx.array(yva), mx.array(cva)
    print(f"lift board data: {len(ytr)} train / {len(yva)} valid rows, "
          f"{100 * ctr.mean():.1f}% shown as '30+' (censored at {CAP_H} h)")

    # custom vjp vs autodiff of the naive formula, where the naive one is fine
    zz = mx.linspace(-3.5, 3.0, 27)
    g_custom = mx.grad(lambda v: log_ndtr(v).sum())(zz)
    g_naive = mx.grad(lambda v: mx.log(0.5 * (1 + mx.erf(v / math.sqrt(2.0)))).sum())(zz)
    print(f"log_ndtr vjp check: max |custom - autodiff| = "
          f"{mx.max(mx.abs(g_custom - g_naive)).item():.2e}; "
          f"value at z=-9: {log_ndtr(mx.array(-9.0)).item():.3f} (naive gives -inf)")

    mx.random.seed(7)
    model = WaitNet(Xtr.shape[1])
    mx.eval(model.parameters())
    opt = optim.Adagrad(learning_rate=0.03)
    loss_and_grad = nn.value_and_grad(model, tobit_nll)

    _, g0 = loss_and_grad(model, Xtr_m[:256], ytr_m[:256], ctr_m[:256])
    leaves = tree_flatten(g0)
    dead = [k for k, v in leaves if mx.max(mx.abs(v)).item() == 0.0]
    print(f"first-batch gradient: {len(leaves)} leaves, zero-gradient leaves: {dead or 'none'}")
    print(f"valid NLL before training: {tobit_nll(model, Xva_m, yva_m, cva_m).item():.4f} nats/row")
    print()
    print("epoch  train_nll  valid_nll  valid_mae_min(shown rows)  30+_rows_mu_over_cap  secs")

    bs, n = 128, len(ytr)
    for epoch in range(1, 19):
        perm = rng.permutation(n)
        tot, cnt = 0.0, 0
        for i in range(0, n - bs + 1, bs):
            idx = mx.array(perm[i:i + bs])
            loss, grads = loss_and_grad(model, Xtr_m[idx], ytr_m[idx], ctr_m[idx])
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item()
            cnt += 1
        mu, log_s = model(Xva_m)
        vnll = tobit_nll(model, Xva_m, yva_m, cva_m).item()
        mu_np = np.array(mu)
        shown = ~cva
        mae_min = 60 * np.mean(np.abs(np.minimum(mu_np[shown], CAP_H) - yva[shown]))
        # share of true "30+" rows where the model puts > 50% on exceeding the cap
        flagged = np.mean(mu_np[cva] > CAP_H) if cva.any() else float("nan")
        if epoch in (1, 2, 3, 5, 8, 12, 15, 18):
            print(f"{epoch:5d}  {tot / cnt:9.4f}  {vnll:9.4f}  {mae_min:25.2f}  "
                  f"{100 * flagged:19.1f}%  {time.time() - t0:5.1f}")

    mu, log_s = model(Xva_m)
    sd_min = 60 * np.exp(np.array(log_s))
    print()
    print(f"done: valid NLL {vnll:.4f} nats/row (negative = density above 1 per hour), "
          f"median predicted sd {np.median(sd_min):.1f} min")


if __name__ == "__main__":
    main()
