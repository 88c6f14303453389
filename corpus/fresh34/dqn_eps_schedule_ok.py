"""Tiny DQN on a contextual 'signal routing' task (1-step episodes).

Observation: 6-dim noisy one-hot of which of 4 channels is active (+2 noise dims).
Action: pick a channel (4 actions). Reward +1 if correct, 0 otherwise.
Epsilon-greedy exploration annealed linearly over the first 30% of training,
SB3-style: the schedule takes progress_remaining (1 -> 0).
"""
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(3)
mx.random.seed(3)
N_ACT, OBS = 4, 6


def linear_schedule(initial_value, final_value=0.0):
    # value at progress_remaining=1.0 is initial_value, at 0.0 is final_value
    def schedule_fn(progress_remaining):
        progress_remaining = max(0.0, min(1.0, progress_remaining))
        return final_value + progress_remaining * (initial_value - final_value)
    return schedule_fn


class Env:
    def reset(self):
        self.k = int(rng.integers(N_ACT))
        obs = rng.normal(0, 0.3, OBS).astype(np.float32)
        obs[self.k] += 1.0
        return obs

    def step(self, a):
        return 1.0 if a == self.k else 0.0


class QNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(OBS, 32)
        self.l2 = nn.Linear(32, N_ACT)

    def __call__(self, x):
        return self.l2(nn.relu(self.l1(x)))


total_timesteps = 6000
exploration_fraction = 0.3
exploration_schedule = linear_schedule(1.0, 0.05)
num_timesteps = 0


def get_exploration_rate():
    exploration_steps = int(exploration_fraction * total_timesteps)
    if num_timesteps >= exploration_steps:
        progress = 1.0
    else:
        progress = num_timesteps / exploration_steps
    progress_remaining = max(0.0, 1.0 - progress)
    return float(exploration_schedule(progress_remaining))


q_net, q_target = QNet(), QNet()
mx.eval(q_net.parameters())
q_target.update(q_net.parameters())
opt = optim.Adam(learning_rate=1e-3)


def td_loss(model, obs, act, rew):
    q = model(obs)
    q_a = mx.take_along_axis(q, act[:, None], axis=1).squeeze(1)
    return nn.losses.huber_loss(q_a, rew, reduction="mean")


loss_and_grad = nn.value_and_grad(q_net, td_loss)

buf_obs = np.zeros((5000, OBS), np.float32)
buf_act = np.zeros(5000, np.int32)
buf_rew = np.zeros(5000, np.float32)
buf_n = 0
env = Env()
ep_rewards, losses = [], []
t0 = time.time()
for num_timesteps in range(1, total_timesteps + 1):
    obs = env.reset()
    eps = get_exploration_rate()
    if rng.random() < eps:
        a = int(rng.integers(N_ACT))
    else:
        a = int(mx.argmax(q_net(mx.array(obs[None])), axis=1).item())
    r = env.step(a)
    i = buf_n % 5000
    buf_obs[i], buf_act[i], buf_rew[i] = obs, a, r
    buf_n += 1
    ep_rewards.append(r)

    if num_timesteps > 200 and num_timesteps % 4 == 0:
        idx = rng.integers(min(buf_n, 5000), size=64)
        loss, grads = loss_and_grad(q_net, mx.array(buf_obs[idx]), mx.array(buf_act[idx]), mx.array(buf_rew[idx]))
        opt.update(q_net, grads)
        mx.eval(q_net.parameters(), opt.state, loss)
        losses.append(loss.item())
    if num_timesteps % 500 == 0:
        q_target.update(q_net.parameters())

    if num_timesteps % 1000 == 0:
        rows = [
            ("rollout/", ""),
            ("   ep_rew_mean", f"{np.mean(ep_rewards[-500:]):.3f}"),
            ("   exploration_rate", f"{eps:.3f}"),
            ("time/", ""),
            ("   total_timesteps", f"{num_timesteps}"),
            ("   time_elapsed", f"{int(time.time() - t0)}"),
            ("train/", ""),
            ("   loss", f"{np.mean(losses[-100:]) if losses else float('nan'):.4f}"),
            ("   n_updates", f"{len(losses)}"),
        ]
        print("-" * 36)
        for k, v in rows:
            print(f"| {k:<20} | {v:<9} |")
        print("-" * 36, flush=True)
