"""Tea-garden leaf sampler: learn the joint law of (leaf moisture %, caffeine mg/g)
across four harvest flushes, trained in two sessions with a checkpoint in between."""
import json
import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

rng = np.random.default_rng(7)
mx.random.seed(7)

# flush: (share, mean moisture %, mean caffeine mg/g, sd moist, sd caff, corr)
FLUSHES = {
    "first":   (0.30, 74.0, 38.0, 1.2, 2.0, -0.5),
    "second":  (0.30, 76.5, 33.0, 1.0, 1.6, -0.3),
    "monsoon": (0.25, 80.0, 26.0, 1.5, 2.4, 0.2),
    "autumn":  (0.15, 71.5, 29.0, 0.9, 1.4, 0.0),
}


def pick_leaves(n):
    names = list(FLUSHES)
    shares = np.array([FLUSHES[k][0] for k in names])
    which = rng.choice(len(names), size=n, p=shares)
    out = np.empty((n, 2), np.float32)
    for i, k in enumerate(names):
        _, mm, mc, sm, sc, r = FLUSHES[k]
        cov = np.array([[sm * sm, r * sm * sc], [r * sm * sc, sc * sc]])
        idx = np.where(which == i)[0]
        out[idx] = rng.multivariate_normal([mm, mc], cov, size=len(idx))
    return out


pool = pick_leaves(16000)
hold_a = pick_leaves(1500)
hold_b = pick_leaves(1500)
MU, SD = pool.mean(0), pool.std(0)
pool_z = mx.array((pool - MU) / SD)


def energy_distance(a, b):
    a = (a - MU) / SD
    b = (b - MU) / SD
    def md(x, y):
        d = x[:, None, :] - y[None, :, :]
        return np.sqrt((d * d).sum(-1)).mean()
    return 2 * md(a, b) - md(a, a) - md(b, b)


class Plucker(nn.Module):
    def __init__(self, zdim=4, h=64):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(zdim, h), nn.LeakyReLU(0.2),
                                  nn.Linear(h, h), nn.LeakyReLU(0.2),
                                  nn.Linear(h, 2))

    def __call__(self, z):
        return self.body(z)


class Taster(nn.Module):
    def __init__(self, h=64):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(2, h), nn.LeakyReLU(0.2),
                                  nn.Linear(h, h), nn.LeakyReLU(0.2),
                                  nn.Linear(h, 1))

    def __call__(self, x):
        return self.body(x).squeeze(-1)


ZDIM, BATCH = 4, 128
STEPS_S1, STEPS_S2 = 900, 1100
EMA_DECAY = 0.995


def d_objective(taster, real, fake):
    # least-squares targets: real -> 1, fake -> 0
    return 0.5 * (mx.mean((taster(real) - 1.0) ** 2) + mx.mean(taster(fake) ** 2))


def g_objective(plucker, taster, z):
    return 0.5 * mx.mean((taster(plucker(z)) - 1.0) ** 2)


def build(lr_warm_steps):
    plucker, taster = Plucker(ZDIM), Taster()
    mx.eval(plucker.parameters(), taster.parameters())
    # the taster's learning rate climbs from exactly 0 before it holds steady
    d_lr = optim.join_schedules(
        [optim.linear_schedule(0.0, 1e-3, lr_warm_steps), lambda s: mx.array(1e-3)],
        [lr_warm_steps])
    opt_d = optim.Adam(learning_rate=d_lr, betas=[0.5, 0.999])
    opt_g = optim.Adam(learning_rate=8e-4, betas=[0.5, 0.999])
    return plucker, taster, opt_d, opt_g


def sample(plucker, n, seed):
    z = mx.random.normal((n, ZDIM), key=mx.random.key(seed))
    x = np.array(plucker(z))
    return x * SD + MU


def run_session(plucker, ema, taster, opt_d, opt_g, start, stop, t0):
    d_step = nn.value_and_grad(taster, d_objective)
    g_step = nn.value_and_grad(plucker, lambda p, z: g_objective(p, taster, z))
    win_d, win_g = [], []
    for it in range(start, stop):
        idx = mx.array(rng.integers(0, pool_z.shape[0], BATCH))
        real = pool_z[idx]
        fake = mx.stop_gradient(plucker(mx.random.normal((BATCH, ZDIM))))
        ld, gd = d_step(taster, real, fake)
        opt_d.update(taster, gd)
        mx.eval(taster.parameters(), opt_d.state)

        lg, gg = g_step(plucker, mx.random.normal((BATCH, ZDIM)))
        opt_g.update(plucker, gg)
        mx.eval(plucker.parameters(), opt_g.state)

        # slow-moving copy of the plucker, used for the second column of metrics
        new = tree_flatten(plucker.parameters())
        old = dict(tree_flatten(ema.parameters()))
        ema.update(tree_unflatten([(k, EMA_DECAY * old[k] + (1 - EMA_DECAY) * v) for k, v in new]))
        mx.eval(ema.parameters())

        win_d.append(ld.item())
        win_g.append(lg.item())
        if (it + 1) % 200 == 0:
            raw = energy_distance(sample(plucker, 1500, 11), hold_a)
            smooth = energy_distance(sample(ema, 1500, 11), hold_a)
            lr_now = opt_d.learning_rate.item()
            print(f"| {it + 1:5d} | {np.mean(win_d):.4f} | {np.mean(win_g):.4f} | {lr_now:.2e} "
                  f"| {raw:.4f} | {smooth:.4f} | {time.time() - t0:5.1f} |")
            win_d, win_g = [], []


def save_ckpt(folder, plucker, ema, taster, opt_d, opt_g, step):
    plucker.save_weights(os.path.join(folder, "plucker.safetensors"))
    ema.save_weights(os.path.join(folder, "plucker_ema.safetensors"))
    taster.save_weights(os.path.join(folder, "taster.safetensors"))
    mx.save_safetensors(os.path.join(folder, "opt_d.safetensors"), dict(tree_flatten(opt_d.state)))
    mx.save_safetensors(os.path.join(folder, "opt_g.safetensors"), dict(tree_flatten(opt_g.state)))
    with open(os.path.join(folder, "meta.json"), "w") as f:
        json.dump({"step": step, "rng": rng.bit_generator.state}, f)


def load_ckpt(folder):
    plucker, taster, opt_d, opt_g = build(lr_warm_steps=200)
    ema = Plucker(ZDIM)
    plucker.load_weights(os.path.join(folder, "plucker.safetensors"))
    ema.load_weights(os.path.join(folder, "plucker_ema.safetensors"))
    taster.load_weights(os.path.join(folder, "taster.safetensors"))
    opt_d.state = tree_unflatten(list(mx.load(os.path.join(folder, "opt_d.safetensors")).items()))
    opt_g.state = tree_unflatten(list(mx.load(os.path.join(folder, "opt_g.safetensors")).items()))
    with open(os.path.join(folder, "meta.json")) as f:
        meta = json.load(f)
    rng.bit_generator.state = meta["rng"]
    mx.eval(plucker.parameters(), ema.parameters(), taster.parameters(), opt_d.state, opt_g.state)
    return plucker, ema, taster, opt_d, opt_g, meta["step"]


def main():
    t0 = time.time()
    floor = energy_distance(hold_b, hold_a)
    print(f"leaves: pool {len(pool)}, held-out 2 x {len(hold_a)}; "
          f"held-out vs held-out energy distance {floor:.4f}")
    plucker, taster, opt_d, opt_g = build(lr_warm_steps=200)
    ema = Plucker(ZDIM)
    ema.update(plucker.parameters())
    mx.eval(ema.parameters())
    print(f"untrained plucker energy distance {energy_distance(sample(plucker, 1500, 11), hold_a):.4f}")
    print()
    print("| step | taster | plucker | taster lr | ED raw | ED ema | sec |")
    print("|---|---|---|---|---|---|---|")
    run_session(plucker, ema, taster, opt_d, opt_g, 0, STEPS_S1, t0)

    folder = tempfile.mkdtemp("_flush")
    save_ckpt(folder, plucker, ema, taster, opt_d, opt_g, STEPS_S1)
    ref = sample(plucker, 64, 3)
    del plucker, ema, taster, opt_d, opt_g
    plucker, ema, taster, opt_d, opt_g, step = load_ckpt(folder)
    diff = np.abs(sample(plucker, 64, 3) - ref).max()
    print(f"| -- | session 2 from {os.path.basename(folder)} at step {step}, "
          f"taster opt step {opt_d.step.item()}, max sample diff {diff:.1e} | | | | | |")
    run_session(plucker, ema, taster, opt_d, opt_g, step, STEPS_S1 + STEPS_S2, t0)

    print()
    gen = sample(ema, 4000, 99)
    print("moments        real            ema plucker")
    print(f"moisture %     {hold_a[:, 0].mean():6.2f} +- {hold_a[:, 0].std():4.2f}   "
          f"{gen[:, 0].mean():6.2f} +- {gen[:, 0].std():4.2f}")
    print(f"caffeine mg/g  {hold_a[:, 1].mean():6.2f} +- {hold_a[:, 1].std():4.2f}   "
          f"{gen[:, 1].mean():6.2f} +- {gen[:, 1].std():4.2f}")
    wet = (gen[:, 0] > 78.5).mean() * 100
    print(f"leaves above 78.5 % moisture: real {(hold_a[:, 0] > 78.5).mean() * 100:.1f} %, ema plucker {wet:.1f} %")
    print(f"final energy distance ema {energy_distance(gen[:1500], hold_a):.4f} (floor {floor:.4f})")


if __name__ == "__main__":
    main()
