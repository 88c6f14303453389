# Bin-picking cell: learn the suction-cup approach offset from demonstrations.
# The parts are symmetric, so the operator grasps from either flank: the 1-D
# lateral offset is +a or -a, i.e. for one
# part pose there are TWO right answers. An implicit (energy-based) policy
# E(obs, action) is trained with InfoNCE against uniform counter-example
# actions and queried by argmin over an action grid; an explicit MSE policy
# is trained on the same demos as a reference.
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(11)
mx.random.seed(11)


def modes(obs):
    u, v, w = obs[:, 0], obs[:, 1], obs[:, 2]
    a1 = 0.3 + 0.25 * np.abs(w) + 0.2 * np.sin(2.0 * u) * v
    return a1[:, None], -a1[:, None]


def demos(n):
    obs = rng.uniform(-1, 1, size=(n, 3)).astype(np.float32)
    up, down = modes(obs)
    side = rng.random(n) < 0.5
    act = np.where(side[:, None], up, down) + rng.normal(0, 0.03, size=(n, 1))
    return obs, np.clip(act, -1, 1).astype(np.float32)


def success(obs, act, tol=0.08):
    up, down = modes(obs)
    d = np.minimum(np.linalg.norm(act - up, axis=1), np.linalg.norm(act - down, axis=1))
    return 100.0 * float(np.mean(d < tol))


obs_tr, act_tr = demos(6000)
obs_te, _ = demos(400)


class Energy(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(4, 64), nn.SiLU(), nn.Linear(64, 64), nn.SiLU(), nn.Linear(64, 1))

    def __call__(self, obs, act):
        # obs (B, 3), act (B, K, 2) -> energies (B, K)
        B, K, _ = act.shape
        o = mx.broadcast_to(obs[:, None, :], (B, K, 3))  # act is (B, K, 1)
        return self.net(mx.concatenate([o, act], axis=-1)).squeeze(-1)


class Explicit(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(3, 64), nn.SiLU(), nn.Linear(64, 64),
                                 nn.SiLU(), nn.Linear(64, 1))

    def __call__(self, obs):
        return self.net(obs)


ebm, mlp = Energy(), Explicit()
mx.eval(ebm.parameters(), mlp.parameters())


def info_nce(model, obs, pos, neg):
    cand = mx.concatenate([pos[:, None, :], neg], axis=1)  # positive in slot 0
    logits = -model(obs, cand)
    return nn.losses.cross_entropy(logits, mx.zeros((obs.shape[0],), dtype=mx.int32),
                                   reduction="mean")


def mse(model, obs, act):
    return nn.losses.mse_loss(model(obs), act)


ebm_grad = nn.value_and_grad(ebm, info_nce)
mlp_grad = nn.value_and_grad(mlp, mse)


GRID = mx.linspace(-1, 1, 161)[None, :, None]


def act_argmin(model, obs):
    """Query the implicit policy: energy over a dense action grid, take the minimum."""
    B = obs.shape[0]
    e = model(obs, mx.broadcast_to(GRID, (B, GRID.shape[1], 1)))
    return mx.take(GRID[0, :, 0], mx.argmin(e, axis=1))[:, None]


def evaluate():
    ob = mx.array(obs_te)
    a_ebm = np.array(act_argmin(ebm, ob))
    a_mlp = np.array(mlp(ob))
    return success(obs_te, a_ebm), success(obs_te, a_mlp)


# chance: a uniform random action in [-1,1]^2
chance = success(obs_te, rng.uniform(-1, 1, size=(len(obs_te), 1)).astype(np.float32))
print(f"demos train={len(obs_tr)} test={len(obs_te)}  chance success={chance:.1f}%")

stages = [("coarse", 15, 1200), ("fine", 63, 250)]
B = 32
t0 = time.time()
for name, n_neg, steps in stages:
    warm = 40
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, 3e-3, warm), optim.cosine_decay(3e-3, steps - warm, 1e-5)],
        [warm])
    opt_e = optim.Adam(learning_rate=sched)
    opt_m = optim.Adam(learning_rate=sched)
    print(f"--- stage {name}: {n_neg} counter-examples per demo, chance InfoNCE ln({n_neg + 1})="
          f"{math.log(n_neg + 1):.3f}")
    run_e, run_m = None, None
    for step in range(steps):
        idx = rng.integers(0, len(obs_tr), size=B)
        ob, ac = mx.array(obs_tr[idx]), mx.array(act_tr[idx])
        neg = mx.random.uniform(-1, 1, (B, n_neg, 1))
        le, ge = ebm_grad(ebm, ob, ac, neg)
        opt_e.update(ebm, ge)
        lm, gm = mlp_grad(mlp, ob, ac)
        opt_m.update(mlp, gm)
        mx.eval(ebm.parameters(), mlp.parameters(), opt_e.state, opt_m.state, le, lm)
        le, lm = le.item(), lm.item()
        run_e = le if run_e is None else 0.95 * run_e + 0.05 * le
        run_m = lm if run_m is None else 0.95 * run_m + 0.05 * lm
        if step % 100 == 0 or step == steps - 1:
            lr = opt_e.learning_rate.item()
            line = (f"[{name}] step {step:4d}/{steps} lr={lr:.2e} infonce={run_e:.3f} "
                    f"mse_policy_loss={run_m:.4f}")
            if step % 400 == 0 or step == steps - 1:
                s_e, s_m = evaluate()
                line += f" | success ebm={s_e:.1f}% mse={s_m:.1f}%"
            print(line, flush=True)

s_e, s_m = evaluate()
print(f"final success (within 0.08 of either grasp): implicit EBM {s_e:.1f}%  "
      f"explicit MSE {s_m:.1f}%  chance {chance:.1f}%  ({time.time() - t0:.1f}s)")
