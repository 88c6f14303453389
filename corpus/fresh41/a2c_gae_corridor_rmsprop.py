"""Synchronous advantage actor-critic (A2C) with GAE on a tiny corridor world.

8 copies of a 1-D corridor run in lock-step (numpy).  The agent starts in cell 3
of 0..15; reaching cell 15 pays +1, falling off at cell 0 pays -1, every step
costs 0.01, episodes time out after 60 steps.  One shared MLP trunk with a
policy head and a value head, RMSprop, entropy bonus, grad-norm clipping.
Returns are noisy by nature (on-policy sampling), so the printed return is a
moving average over the last 50 finished episodes.
"""
import collections
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

N_CELLS, START, N_ENVS, HORIZON, ROLLOUT = 16, 3, 8, 60, 16
GAMMA, LAM = 0.97, 0.92
mx.random.seed(3)
rng = np.random.default_rng(3)


class Corridor:
    def __init__(self, n):
        self.pos = np.full(n, START)
        self.t = np.zeros(n, dtype=np.int64)

    def obs(self):
        o = np.zeros((len(self.pos), N_CELLS + 1), dtype=np.float32)
        o[np.arange(len(self.pos)), self.pos] = 1.0
        o[:, -1] = self.t / HORIZON
        return o

    def step(self, act):
        self.pos = self.pos + np.where(act == 1, 1, -1)
        self.t += 1
        rew = np.full(len(self.pos), -0.01, dtype=np.float32)
        win, lose = self.pos >= N_CELLS - 1, self.pos <= 0
        rew[win] += 1.0
        rew[lose] -= 1.0
        done = win | lose | (self.t >= HORIZON)
        self.pos[done] = START
        self.t[done] = 0
        return rew, done


class ActorCritic(nn.Module):
    def __init__(self, d_in, hidden=32, n_act=2):
        super().__init__()
        self.trunk = nn.Sequential(nn.Linear(d_in, hidden), nn.Tanh(),
                                   nn.Linear(hidden, hidden), nn.Tanh())
        self.pi = nn.Linear(hidden, n_act)
        self.v = nn.Linear(hidden, 1)

    def __call__(self, x):
        h = self.trunk(x)
        return self.pi(h), self.v(h).squeeze(-1)


def gae(rews, vals, dones, last_val):
    adv = np.zeros_like(rews)
    running = np.zeros(rews.shape[1], dtype=np.float32)
    for t in reversed(range(rews.shape[0])):
        nxt = last_val if t == rews.shape[0] - 1 else vals[t + 1]
        nonterm = 1.0 - dones[t]
        delta = rews[t] + GAMMA * nxt * nonterm - vals[t]
        running = delta + GAMMA * LAM * nonterm * running
        adv[t] = running
    return adv, adv + vals


def a2c_loss(model, obs, act, adv, ret):
    logits, v = model(obs)
    logp = logits - mx.logsumexp(logits, axis=-1, keepdims=True)
    logp_a = mx.take_along_axis(logp, act[:, None], axis=-1).squeeze(-1)
    ent = -(mx.exp(logp) * logp).sum(-1).mean()
    pg = -(logp_a * adv).mean()
    vf = ((v - ret) ** 2).mean()
    return pg + 0.5 * vf - 0.01 * ent, (pg, vf, ent)


model = ActorCritic(N_CELLS + 1)
mx.eval(model.parameters())
opt = optim.RMSprop(learning_rate=2.5e-4, alpha=0.99, eps=1e-5)
grad_fn = nn.value_and_grad(model, lambda m, *a: a2c_loss(m, *a)[0])

env = Corridor(N_ENVS)
obs = env.obs()
ep_ret = np.zeros(N_ENVS, dtype=np.float32)
finished = collections.deque(maxlen=50)
t0 = time.time()
steps = 0
win_steps, win_t0 = 0, time.time()
for update in range(1, 401):
    b_obs, b_act, b_rew, b_done, b_val = [], [], [], [], []
    for _ in range(ROLLOUT):
        logits, v = model(mx.array(obs))
        act = mx.random.categorical(logits)
        mx.eval(act, v)
        a_np = np.array(act)
        rew, done = env.step(a_np)
        b_obs.append(obs); b_act.append(a_np); b_rew.append(rew)
        b_done.append(done.astype(np.float32)); b_val.append(np.array(v))
        ep_ret += rew
        for r in ep_ret[done]:
            finished.append(float(r))
        ep_ret[done] = 0.0
        obs = env.obs()
        steps += N_ENVS
        win_steps += N_ENVS
    _, last_v = model(mx.array(obs))
    adv, ret = gae(np.stack(b_rew), np.stack(b_val), np.stack(b_done), np.array(last_v))
    adv = (adv - adv.mean()) / (adv.std() + 1e-6)
    batch = (mx.array(np.concatenate(b_obs)), mx.array(np.concatenate(b_act)),
             mx.array(adv.reshape(-1)), mx.array(ret.reshape(-1)))
    loss, grads = grad_fn(model, *batch)
    grads, gnorm = optim.clip_grad_norm(grads, max_norm=0.5)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state)
    if update % 25 == 0:
        _, (pg, vf, ent) = a2c_loss(model, *batch)
        avg = np.mean(finished) if finished else float("nan")
        print(f"upd {update:04d} | ret(avg50) {avg:+.3f} | v_loss {vf.item():.4f} "
              f"| H {ent.item():.3f} | |g| {gnorm.item():.3f} | {win_steps / (time.time() - win_t0):6.0f} steps/s")
        win_steps, win_t0 = 0, time.time()

print(f"done: {steps} env steps, final avg return {np.mean(finished):+.3f} "
      f"(uniform-random policy ~ -0.90, optimal ~ +0.88)")
