"""Reservoir sluice gate: learn a latent model of the reservoir from logged gate operations.

Representation net h(obs) -> s0, dynamics g(s, a) -> s', reward head r(s, a) and a
level decoder d(s).  Training unrolls the dynamics K steps from a logged observation and
fits the logged rewards and the logged levels at every step.  As in MuZero, the gradient
that flows back into each unrolled latent state is halved (identity forward, 0.5 x
cotangent backward), and every step's loss is divided by K.

Unroll length grows 1 -> 3 -> 5 in three stages, so the loss goes up at each stage change.
"""
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(7)
mx.random.seed(7)

N_ACT = 3            # gate closed / half / open
OUTFLOW = np.array([0.0, 0.05, 0.10], dtype=np.float32)
TRAJ, LEN = 1500, 14
REWARD_NOISE = 0.05


def simulate(n_traj, length):
    obs = np.zeros((n_traj, length + 1, 4), np.float32)
    acts = rng.integers(0, N_ACT, size=(n_traj, length))
    rew = np.zeros((n_traj, length), np.float32)
    level = rng.uniform(0.2, 0.8, size=n_traj).astype(np.float32)
    phase = rng.uniform(0, 2 * np.pi, size=n_traj).astype(np.float32)
    for t in range(length + 1):
        inflow = 0.05 + 0.04 * np.sin(phase)
        obs[:, t] = np.stack([level, inflow * 10, np.sin(phase), np.cos(phase)], 1)
        if t == length:
            break
        level = np.clip(level + inflow - OUTFLOW[acts[:, t]]
                        + rng.normal(0, 0.005, n_traj), 0.0, 1.0).astype(np.float32)
        phase = phase + 0.35
        rew[:, t] = -4.0 * np.abs(level - 0.5) + rng.normal(0, REWARD_NOISE, n_traj)
    return obs, acts, rew


obs_tr, act_tr, rew_tr = simulate(TRAJ, LEN)
obs_te, act_te, rew_te = simulate(300, LEN)


@mx.custom_function
def scale_gradient(x, scale):
    return x


@scale_gradient.vjp
def scale_gradient_vjp(primals, cotangent, output):
    _, scale = primals
    return cotangent * scale, mx.zeros_like(scale)


class LatentModel(nn.Module):
    def __init__(self, d_obs=4, d_lat=32, hidden=64):
        super().__init__()
        self.represent = nn.Sequential(nn.Linear(d_obs, hidden), nn.SiLU(),
                                       nn.Linear(hidden, d_lat))
        self.dynamics = nn.Sequential(nn.Linear(d_lat + N_ACT, hidden), nn.SiLU(),
                                      nn.Linear(hidden, d_lat))
        self.reward = nn.Sequential(nn.Linear(d_lat + N_ACT, 32), nn.SiLU(),
                                    nn.Linear(32, 1))
        self.level = nn.Linear(d_lat, 1)

    def initial(self, o):
        return mx.tanh(self.represent(o))

    def step(self, s, a_onehot):
        sa = mx.concatenate([s, a_onehot], axis=-1)
        return mx.tanh(self.dynamics(sa)), self.reward(sa).squeeze(-1)


def unroll_losses(model, o0, acts, rews, levels, k, half):
    s = model.initial(o0)
    rew_terms, lev_terms = [], []
    for j in range(k):
        a = mx.eye(N_ACT)[acts[:, j]]
        s, r_hat = model.step(s, a)
        s = scale_gradient(s, half)
        l_hat = model.level(s).squeeze(-1)
        rew_terms.append(mx.mean(mx.square(r_hat - rews[:, j])))
        lev_terms.append(mx.mean(mx.square(l_hat - levels[:, j])))
    return rew_terms, lev_terms


def loss_fn(model, o0, acts, rews, levels, k, half):
    rew_terms, lev_terms = unroll_losses(model, o0, acts, rews, levels, k, half)
    return sum(r + 10.0 * l for r, l in zip(rew_terms, lev_terms)) / k


def windows(obs, act, rew, k, idx, starts):
    o0 = obs[idx, starts]
    a = np.stack([act[idx, starts + j] for j in range(k)], 1)
    r = np.stack([rew[idx, starts + j] for j in range(k)], 1)
    lv = np.stack([obs[idx, starts + j + 1, 0] for j in range(k)], 1)
    return mx.array(o0), mx.array(a), mx.array(r), mx.array(lv)


def horizon_rmse(model, k_max=5):
    idx = np.arange(obs_te.shape[0])
    starts = np.zeros_like(idx)
    o0, a, r, lv = windows(obs_te, act_te, rew_te, k_max, idx, starts)
    rew_terms, lev_terms = unroll_losses(model, o0, a, r, lv, k_max, mx.array(0.5))
    return ([float(mx.sqrt(t)) for t in rew_terms], [float(mx.sqrt(t)) for t in lev_terms])


model = LatentModel()
mx.eval(model.parameters())
stages = [(1, 400), (3, 400), (5, 600)]
total = sum(n for _, n in stages)
sched = optim.join_schedules([optim.linear_schedule(0.0, 2e-3, 100),
                              optim.cosine_decay(2e-3, total - 100, 1e-4)], [100])
opt = optim.Adam(learning_rate=sched)
loss_and_grad = nn.value_and_grad(model, loss_fn)
half = mx.array(0.5)

# baseline: predict the training-set mean reward at every horizon
base_rmse = float(np.sqrt(np.mean((rew_te[:, :5] - rew_tr.mean()) ** 2)))
print(f"weir | {TRAJ} logged runs x {LEN} gate moves | reward noise floor "
      f"{REWARD_NOISE:.3f} | mean-reward baseline rmse {base_rmse:.3f}")

# first-step gradient audit on the deepest unroll
o0, a, r, lv = windows(obs_tr, act_tr, rew_tr, 5, np.arange(64), np.zeros(64, int))
_, g0 = loss_and_grad(model, o0, a, r, lv, 5, half)
from mlx.utils import tree_flatten
leaves = tree_flatten(g0)
zero = [k for k, v in leaves if float(mx.abs(v).max()) == 0.0]
print(f"grad audit | {len(leaves)} leaves | all-zero leaves: {len(zero)}")

t0 = time.time()
upd = 0
for k, n_steps in stages:
    print(f"-- stage unroll={k} ({n_steps} updates)")
    ema, ema_w = 0.0, 0.0
    for i in range(n_steps):
        idx = rng.integers(0, TRAJ, 64)
        starts = rng.integers(0, LEN - k + 1, 64)
        o0, a, r, lv = windows(obs_tr, act_tr, rew_tr, k, idx, starts)
        loss, grads = loss_and_grad(model, o0, a, r, lv, k, half)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        upd += 1
        ema = 0.95 * ema + 0.05 * float(loss)
        ema_w = 0.95 * ema_w + 0.05
        if (i + 1) % 100 == 0:
            print(f"   upd {upd:4d} | lr {float(sched(upd)):.2e} | loss/K {ema / ema_w:.4f}"
                  f" | {time.time() - t0:5.1f}s")
    rr, lr_ = horizon_rmse(model)
    print("   reward rmse by horizon  " + "  ".join(f"h{j + 1}={v:.3f}" for j, v in enumerate(rr)))
    print("   level  rmse by horizon  " + "  ".join(f"h{j + 1}={v:.3f}" for j, v in enumerate(lr_)))

rr, _ = horizon_rmse(model)
print(f"done | {upd} updates | h1 reward rmse {rr[0]:.3f} vs baseline {base_rmse:.3f} | "
      f"h5 {rr[4]:.3f} | {time.time() - t0:.1f}s")
