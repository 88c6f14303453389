"""Apiary survey: will a hive swarm this month?

Bayesian logistic regression on hive inspection records. First a quick MAP fit
with Adam, then Hamiltonian Monte Carlo from the MAP point: a warm-up phase that
tunes the leapfrog step size (dual averaging), then a sampling phase with the
step size frozen. Posterior-predictive scores are compared with the MAP fit.
"""
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

FEATURES = ["brood_frames", "queen_age", "colony_kg", "forage_idx", "days_since_split"]


def make_hives(n, rng):
    brood = rng.normal(7.0, 2.0, n)
    queen = rng.gamma(2.0, 0.8, n)
    kg = rng.normal(32.0, 6.0, n)
    forage = rng.beta(2.0, 2.0, n)
    split = rng.exponential(120.0, n)
    raw = np.stack([brood, queen, kg, forage, split], 1)
    z = (0.55 * (brood - 7) / 2 + 0.7 * (queen - 1.6) + 0.35 * (kg - 32) / 6
         + 1.1 * (forage - 0.5) - 0.8 * np.exp(-split / 40.0)
         + 0.45 * ((brood - 7) / 2) * (forage - 0.5) * 2 - 0.9)
    y = (rng.uniform(size=n) < 1 / (1 + np.exp(-z))).astype(np.float32)
    return raw, y


def design(raw, mu, sd):
    s = (raw - mu) / sd
    inter = (s[:, 0] * s[:, 3])[:, None]
    return np.concatenate([s, inter, s[:, 1:2] ** 2], 1).astype(np.float32)


class SwarmModel(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.head = nn.Linear(d, 1)

    def __call__(self, x):
        return self.head(x).squeeze(-1)


PRIOR_SD = 2.5


def neg_log_post(model, x, y):
    logits = model(x)
    nll = nn.losses.binary_cross_entropy(logits, y, with_logits=True, reduction="sum")
    sq = sum(mx.sum(p * p) for _, p in tree_flatten(model.trainable_parameters()))
    return nll + 0.5 * sq / PRIOR_SD**2


def scores(p, y):
    p = np.clip(p, 1e-6, 1 - 1e-6)
    ll = -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))
    acc = np.mean((p > 0.5) == (y > 0.5)) * 100
    return ll, acc


def main():
    rng = np.random.default_rng(11)
    mx.random.seed(11)
    raw_tr, y_tr = make_hives(700, rng)
    raw_te, y_te = make_hives(2000, rng)
    mu, sd = raw_tr.mean(0), raw_tr.std(0)
    x_tr, x_te = mx.array(design(raw_tr, mu, sd)), mx.array(design(raw_te, mu, sd))
    yt, ye = mx.array(y_tr), mx.array(y_te)
    d = x_tr.shape[1]
    print(f"hives: train {len(y_tr)} (swarmed {y_tr.mean()*100:.1f}%), test {len(y_te)}, {d} features")

    model = SwarmModel(d)
    opt = optim.Adam(learning_rate=0.05)
    vg = nn.value_and_grad(model, neg_log_post)
    t0 = time.time()
    print("== stage 1: MAP fit (Adam, full batch)")
    for it in range(1, 301):
        u, g = vg(model, x_tr, yt)
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state, u)
        if it in (1, 25, 50, 100, 200, 300):
            print(f"  map it {it:4d}  U={u.item():9.3f}")
    u_map = neg_log_post(model, x_tr, yt).item()
    p_map = np.array(mx.sigmoid(model(x_te)))
    ll_map, acc_map = scores(p_map, y_te)
    base_ll, _ = scores(np.full_like(y_te, y_tr.mean()), y_te)
    print(f"  MAP: U={u_map:.3f}  test logloss {ll_map:.4f}  acc {acc_map:.1f}%  (base-rate logloss {base_ll:.4f})")

    # --- HMC over the flattened parameter vector ---
    names, shapes, sizes = [], [], []
    for k, v in tree_flatten(model.trainable_parameters()):
        names.append(k); shapes.append(v.shape); sizes.append(v.size)

    def unflat(theta):
        out, o = [], 0
        for k, s, n in zip(names, shapes, sizes):
            out.append((k, theta[o:o + n].reshape(s))); o += n
        return tree_unflatten(out)

    def potential(theta):
        model.update(unflat(theta))
        return neg_log_post(model, x_tr, yt)

    pot_grad = mx.value_and_grad(potential)
    theta = mx.concatenate([v.reshape(-1) for _, v in tree_flatten(model.trainable_parameters())])
    dim = theta.size
    n_leap = 12
    eps = 0.05
    # dual averaging (Hoffman & Gelman 2014)
    target, gamma, t0_da, kappa = 0.75, 0.05, 10.0, 0.75
    mu_da, h_bar, log_eps_bar = math.log(10 * eps), 0.0, 0.0
    warm, keep = 200, 500
    u_cur, g_cur = pot_grad(theta)
    mx.eval(u_cur, g_cur)
    acc_sum, acc_n = 0.0, 0
    probs_sum = np.zeros_like(y_te)
    draws = []
    print(f"== stage 2: HMC, {dim} parameters, {n_leap} leapfrog steps; warm-up {warm}, sampling {keep}")
    for it in range(1, warm + keep + 1):
        p0 = mx.random.normal((dim,))
        th, g, p = theta, g_cur, p0
        p = p - 0.5 * eps * g
        for l in range(n_leap):
            th = th + eps * p
            u_new, g = pot_grad(th)
            if l < n_leap - 1:
                p = p - eps * g
        p = p - 0.5 * eps * g
        mx.eval(th, u_new, g, p)
        h0 = u_cur.item() + 0.5 * mx.sum(p0 * p0).item()
        h1 = u_new.item() + 0.5 * mx.sum(p * p).item()
        a = 1.0 if not math.isfinite(h1) else min(1.0, math.exp(min(0.0, h0 - h1)))
        moved = 0.0
        if rng.uniform() < a:
            moved = mx.mean(mx.abs(th - theta)).item()
            theta, u_cur, g_cur = th, u_new, g
        acc_sum += a; acc_n += 1
        if it <= warm:
            m = it
            h_bar = (1 - 1 / (m + t0_da)) * h_bar + (target - a) / (m + t0_da)
            log_eps = mu_da - math.sqrt(m) / gamma * h_bar
            eta = m ** (-kappa)
            log_eps_bar = eta * log_eps + (1 - eta) * log_eps_bar
            eps = math.exp(log_eps)
            if it == warm:
                eps = math.exp(log_eps_bar)
        else:
            model.update(unflat(theta))
            probs_sum += np.array(mx.sigmoid(model(x_te)))
            draws.append(np.array(theta))
        if it % 50 == 0:
            phase = "warm-up" if it <= warm else "sample"
            line = (f"  hmc it {it:4d} [{phase:7s}] U={u_cur.item():9.3f} (U-U_map {u_cur.item()-u_map:+6.2f})"
                    f"  accept {acc_sum/acc_n:5.2f}  eps {eps:.4f}  |dtheta| {moved:.4f}")
            if it > warm:
                ll, acc = scores(probs_sum / (it - warm), y_te)
                line += f"  post-pred logloss {ll:.4f} acc {acc:.1f}%"
            print(line)
            acc_sum, acc_n = 0.0, 0
    draws = np.stack(draws)
    ll_pp, acc_pp = scores(probs_sum / keep, y_te)
    w_mean, w_sd = draws.mean(0), draws.std(0)
    half = keep // 2
    drift = np.max(np.abs(draws[:half].mean(0) - draws[half:].mean(0)) / (w_sd + 1e-9))
    print("== posterior summary (standardised features)")
    for i, nm in enumerate(FEATURES + ["brood_x_forage", "queen_age_sq"]):
        print(f"  {nm:18s} mean {w_mean[i]:+.3f}  sd {w_sd[i]:.3f}")
    print(f"  bias               mean {w_mean[-1]:+.3f}  sd {w_sd[-1]:.3f}")
    print(f"  half-vs-half mean shift (in posterior sd): {drift:.2f}")
    print(f"test logloss: MAP {ll_map:.4f} | posterior predictive {ll_pp:.4f} | base rate {base_ll:.4f}")
    print(f"test accuracy: MAP {acc_map:.1f}% | posterior predictive {acc_pp:.1f}%")
    print(f"done in {time.time()-t0:.1f}s")


if __name__ == "__main__":
    main()
