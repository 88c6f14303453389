"""Cutter-suction dredge: predict the bulk density (t/m3) of the spoil slurry
arriving at the discharge, with an uncertainty band.

Four pipeline crews each log their own reach (shards split by sand content,
so no crew sees the whole range).  Training is simulated data-parallel inside
one process: each crew computes a gradient on its own minibatch, the gradients
are sent as messages and averaged, and one Adam step is taken.

Two runs, one after the other (the step counter restarts):
  ref      messages sent in float32
  bf16+ef  messages rounded to bfloat16 before sending; each crew keeps the
           rounding remainder in a float32 buffer and adds it to its next
           message (error feedback), so nothing is lost for good.

The loss is a heteroscedastic Gaussian negative log-likelihood on the
standardised density, so it drops below zero once the fit is good.
"""

import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

rng = np.random.default_rng(21)
N_CREWS = 4


def make_logs(n):
    rpm = rng.uniform(250, 520, n)
    depth = rng.uniform(4.0, 18.0, n)
    sand = rng.beta(2.0, 2.0, n)
    silt = (1.0 - sand) * rng.uniform(0.2, 0.9, n)
    pipe_km = rng.uniform(0.5, 6.0, n)
    vel = rng.uniform(3.0, 7.0, n)
    booster = (rng.uniform(size=n) < 0.35).astype(np.float64)
    conc = 0.32 * np.tanh((rpm - 240) / 180) * (1 + 0.4 * booster) / (1 + 0.12 * pipe_km)
    conc *= 1.0 - 0.5 * np.exp(-(vel - 2.5))
    conc *= 1.0 + 0.02 * (depth - 10)
    rho_solid = 2.65 - 0.9 * silt
    dens = 1.02 + conc * (rho_solid - 1.02)
    sd = 0.003 + 0.018 * silt + 0.004 * np.abs(vel - 5.0)
    dens = dens + rng.normal(0.0, 1.0, n) * sd
    X = np.stack([rpm, depth, sand, silt, pipe_km, vel, booster], axis=1)
    return X.astype(np.float32), dens.astype(np.float32)


trX_np, trY_np = make_logs(8000)
vaX_np, vaY_np = make_logs(2000)
x_mu, x_sd = trX_np.mean(0), trX_np.std(0)
y_mu, y_sd = trY_np.mean(), trY_np.std()
trX = mx.array((trX_np - x_mu) / x_sd)
trY = mx.array((trY_np - y_mu) / y_sd)
vaX = mx.array((vaX_np - x_mu) / x_sd)
vaY = mx.array((vaY_np - y_mu) / y_sd)

order = np.argsort(trX_np[:, 2])
shards = np.array_split(order, N_CREWS)


class SpoilNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(7, 64)
        self.l2 = nn.Linear(64, 64)
        self.mean = nn.Linear(64, 1)
        self.logvar = nn.Linear(64, 1)

    def __call__(self, x):
        h = nn.silu(self.l1(x))
        h = nn.silu(self.l2(h)) + h
        return self.mean(h).squeeze(-1), mx.clip(self.logvar(h).squeeze(-1), -9.0, 3.0)


def nll(model, x, y):
    mu, lv = model(x)
    return mx.mean(0.5 * (lv + (y - mu) ** 2 * mx.exp(-lv) + math.log(2 * math.pi)))


def valid_stats(model):
    mu, lv = model(vaX)
    v_nll = mx.mean(0.5 * (lv + (vaY - mu) ** 2 * mx.exp(-lv) + math.log(2 * math.pi))).item()
    rmse = math.sqrt(mx.mean((mu - vaY) ** 2).item()) * y_sd
    inside = mx.abs(vaY - mu) <= 1.645 * mx.exp(0.5 * lv)
    return v_nll, rmse, 100.0 * mx.mean(inside.astype(mx.float32)).item()


def lr_at(step, total, peak=2e-3):
    if step < 100:
        return peak * step / 100
    return peak if step < int(0.7 * total) else peak * 0.2


def run(tag, compress, steps=1200, batch=64, report=150, seed=5):
    mx.random.seed(seed)
    model = SpoilNet()
    opt = optim.Adam(learning_rate=0.0)
    vg = nn.value_and_grad(model, nll)
    resid = [None] * N_CREWS
    cursors = [rng.permutation(s) for s in shards]
    pos = [0] * N_CREWS
    window = []
    bytes_per_step = 0
    for step in range(steps + 1):
        lr = lr_at(step, steps)
        if step % report == 0:
            v_nll, rmse, cover = valid_stats(model)
            rn = 0.0
            if compress and resid[0] is not None:
                rn = math.sqrt(sum(mx.sum(r * r).item() for e in resid for _, r in tree_flatten(e)))
            tr = f"{np.mean(window):+.3f}" if window else "  n/a "
            print(f"[{tag:<7}] step {step:04d}  lr {lr:.2e}  nll {tr}  val_nll {v_nll:+.3f}  "
                  f"rmse {rmse:.4f} t/m3  cover90 {cover:5.1f} %  resid {rn:.1e}  KiB/step {bytes_per_step / 1024:.1f}")
            window = []
        if step == steps:
            break
        msgs = []
        losses = []
        bytes_per_step = 0
        for c in range(N_CREWS):
            if pos[c] + batch > len(cursors[c]):
                cursors[c] = rng.permutation(shards[c])
                pos[c] = 0
            idx = mx.array(cursors[c][pos[c]:pos[c] + batch])
            pos[c] += batch
            loss, g = vg(model, trX[idx], trY[idx])
            losses.append(loss)
            if compress:
                if resid[c] is not None:
                    g = tree_map(lambda a, r: a + r, g, resid[c])
                q = tree_map(lambda a: a.astype(mx.bfloat16), g)
                resid[c] = tree_map(lambda a, b: a - b.astype(mx.float32), g, q)
                g = q
            bytes_per_step += sum(a.nbytes for _, a in tree_flatten(g))
            msgs.append(g)
        avg = tree_map(lambda *ms: sum(m.astype(mx.float32) for m in ms) / N_CREWS, *msgs)
        if step == 0:
            flat = tree_flatten(avg)
            print(f"[{tag:<7}] grad audit: {len(flat)} leaves, zero leaves "
                  f"{[k for k, a in flat if mx.abs(a).max().item() == 0.0]}, message dtype {msgs[0]['l1']['weight'].dtype}, "
                  f"applied dtype {flat[0][1].dtype}")
        opt.learning_rate = lr
        opt.update(model, avg)
        mean_loss = sum(losses) / N_CREWS
        to_eval = [model.parameters(), opt.state, mean_loss]
        if compress:
            to_eval.append(resid)
        mx.eval(*to_eval)
        window.append(mean_loss.item())
    return valid_stats(model)


print(f"spoil logs: train {len(trY_np)} in {N_CREWS} sand-sorted crews, valid {len(vaY_np)}; "
      f"density sd {y_sd:.4f} t/m3")
print(f"predict-the-mean: rmse {float(np.std(vaY_np - y_mu)):.4f} t/m3, val_nll {0.5 * (1 + math.log(2 * math.pi)):+.3f}")
t0 = time.time()
ref = run("ref", compress=False)
ef = run("bf16+ef", compress=True)
print("summary   val_nll   rmse_t/m3   cover90_%")
print(f"ref       {ref[0]:+.3f}    {ref[1]:.4f}      {ref[2]:.1f}")
print(f"bf16+ef   {ef[0]:+.3f}    {ef[1]:.4f}      {ef[2]:.1f}")
print(f"total {time.time() - t0:.1f}s")
