"""Post-processing of a raw 2 m temperature ensemble (10 members) at 40 stations.

Five small networks are trained side by side through mx.vmap on stacked
weights; each predicts a Gaussian (mu, sigma) and is scored with the
closed-form CRPS. Stage A fits the location part only, stage B fits all.
"""
import csv
import math
import sys
import time

import numpy as np
import mlx.core as mx
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

rng = np.random.default_rng(7)
N_ST, N_DAY, N_MEM, K = 40, 220, 10, 5

elev = rng.uniform(0, 1800, N_ST)
lat = rng.uniform(58, 70, N_ST)
rows = []
for s in range(N_ST):
    for d in range(N_DAY):
        doy = 2 * math.pi * d / 365.0
        snow = float(rng.random() < 0.35 + 0.3 * math.cos(doy))
        truth = 4 - 0.0065 * elev[s] - 0.6 * (lat[s] - 64) + 9 * math.sin(doy - 1.3) + rng.normal(0, 2.2)
        bias = -1.2 - 1.8 * snow + 0.0012 * elev[s]
        centre = truth + bias + rng.normal(0, 1.6)
        members = centre + rng.normal(0, 0.7, N_MEM)
        rows.append([members.mean(), members.std(), elev[s] / 1000, (lat[s] - 64) / 4,
                     snow, math.sin(doy), math.cos(doy), truth])
data = np.array(rows, dtype=np.float32)
day_idx = np.tile(np.arange(N_DAY), N_ST)
train = data[day_idx < 160]
valid = data[day_idx >= 160]
x_mu = train[:, :7].mean(0)
x_sd = train[:, :7].std(0) + 1e-6
Xtr = mx.array((train[:, :7] - x_mu) / x_sd)
Xva = mx.array((valid[:, :7] - x_mu) / x_sd)
ens_tr = mx.array(train[:, 0])
ens_va = mx.array(valid[:, 0])
Ytr = mx.array(train[:, 7])
Yva = mx.array(valid[:, 7])


def init_member(key):
    k1, k2, k3 = mx.random.split(key, 3)
    return {
        "body": {"w": mx.random.normal((7, 32), key=k1) * (1 / math.sqrt(7)), "b": mx.zeros((32,))},
        "loc": {"w": mx.random.normal((32, 1), key=k2) * 0.05, "b": mx.zeros((1,))},
        "scale": {"w": mx.random.normal((32, 1), key=k3) * 0.05, "b": mx.full((1,), math.log(1.5))},
    }


keys = mx.random.split(mx.random.key(3), K)
params = tree_map(lambda *xs: mx.stack(xs), *[init_member(keys[i]) for i in range(K)])


def member_forward(p, x, ens_mean):
    h = mx.tanh(x @ p["body"]["w"] + p["body"]["b"])
    mu = ens_mean + (h @ p["loc"]["w"] + p["loc"]["b"])[:, 0]
    sigma = mx.exp((h @ p["scale"]["w"] + p["scale"]["b"])[:, 0]) + 0.05
    return mu, sigma


SQRT_PI = math.sqrt(math.pi)


def gauss_crps(mu, sigma, y):
    z = (y - mu) / sigma
    pdf = mx.exp(-0.5 * z * z) / math.sqrt(2 * math.pi)
    cdf = 0.5 * (1 + mx.erf(z / math.sqrt(2)))
    return sigma * (z * (2 * cdf - 1) + 2 * pdf - 1 / SQRT_PI)


ens_forward = mx.vmap(member_forward, in_axes=(0, None, None))


def loss_all(p, x, ens_mean, y):
    mu, sigma = ens_forward(p, x, ens_mean)
    return gauss_crps(mu, sigma, y[None, :]).mean()


def loss_loc(loc_part, held_part, x, ens_mean, y):
    return loss_all({**held_part, **loc_part}, x, ens_mean, y)


grad_all = mx.value_and_grad(loss_all)
grad_loc = mx.value_and_grad(loss_loc)


def mixture_scores(p, x, ens_mean, y):
    mu, sigma = ens_forward(p, x, ens_mean)
    m = mu.mean(0)
    s = mx.sqrt((sigma ** 2 + mu ** 2).mean(0) - m ** 2)
    crps = gauss_crps(m, s, y).mean()
    z = mx.abs((y - m) / s)
    cover = (z < 1.2816).astype(mx.float32).mean() * 100
    return crps.item(), cover.item()


raw_sd = float(valid[:, 1].mean())
raw_crps = gauss_crps(ens_va, mx.full(ens_va.shape, raw_sd), Yva).mean().item()
clim_crps = gauss_crps(mx.full(Yva.shape, float(train[:, 7].mean())),
                       mx.full(Yva.shape, float(train[:, 7].std())), Yva).mean().item()

out = csv.writer(sys.stdout, lineterminator="\n")
out.writerow(["#", "stations", N_ST, "train_rows", len(train), "valid_rows", len(valid), "networks", K])
out.writerow(["#", "raw_ensemble_crps_degC", f"{raw_crps:.3f}", "climatology_crps_degC", f"{clim_crps:.3f}"])
out.writerow(["stage", "step", "lr", "train_crps_degC", "valid_crps_degC", "skill_vs_raw_pct", "cover80_pct", "secs"])

opt = optim.AdamW(learning_rate=optim.step_decay(3e-3, 0.5, 400), weight_decay=1e-4)
BATCH = 256
n = Xtr.shape[0]
t0 = time.time()
scale_start = params["scale"]["w"]
scale_held = params["scale"]
step = 0
for stage, n_steps in (("A_location", 600), ("B_full", 1200)):
    for it in range(1, n_steps + 1):
        step += 1
        idx = mx.array(rng.integers(0, n, BATCH))
        xb, eb, yb = Xtr[idx], ens_tr[idx], Ytr[idx]
        if stage == "A_location":
            loc_part = {"body": params["body"], "loc": params["loc"]}
            loss, g = grad_loc(loc_part, {"scale": params["scale"]}, xb, eb, yb)
            g = {**g, "scale": tree_map(mx.zeros_like, params["scale"])}
        else:
            loss, g = grad_all(params, xb, eb, yb)
        params = opt.apply_gradients(g, params)
        if stage == "A_location":
            params = {**params, "scale": scale_held}
        mx.eval(params, opt.state, loss)
        if it % 200 == 0 or it == 1:
            vc, cov = mixture_scores(params, Xva, ens_va, Yva)
            lr = opt.learning_rate.item()
            out.writerow([stage, step, f"{lr:.2e}", f"{loss.item():.4f}", f"{vc:.4f}",
                          f"{100 * (1 - vc / raw_crps):.1f}", f"{cov:.1f}", f"{time.time() - t0:.1f}"])
    if stage == "A_location":
        drift = mx.abs(params["scale"]["w"] - scale_start).max().item()
        out.writerow(["#", "scale_head_max_change_after_A", f"{drift:.6f}"])

vc, cov = mixture_scores(params, Xva, ens_va, Yva)
n_leaves = len(tree_flatten(params))
out.writerow(["#", "final_valid_crps_degC", f"{vc:.4f}", "raw", f"{raw_crps:.4f}",
              "climatology", f"{clim_crps:.4f}", "cover80_pct", f"{cov:.1f}", "leaves", n_leaves])
