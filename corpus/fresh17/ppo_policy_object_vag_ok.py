"""Minimal PPO (stable-baselines3 style) on a tiny corridor environment, MLX port."""
import time
from collections import deque

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim


class Corridor:
    """Agent starts in the middle of a 1-D corridor; +1 for reaching the right end,
    -0.01 per step, episode capped at 30 steps."""

    def __init__(self, length=9, max_steps=30, seed=0):
        self.length, self.max_steps = length, max_steps
        self.rng = np.random.default_rng(seed)
        self.observation_space = (length,)
        self.action_space = 2

    def _obs(self):
        o = np.zeros(self.length, dtype=np.float32)
        o[self.pos] = 1.0
        return o

    def reset(self):
        self.pos, self.t = self.length // 2, 0
        return self._obs()

    def step(self, a):
        self.t += 1
        self.pos = int(np.clip(self.pos + (1 if a == 1 else -1), 0, self.length - 1))
        done = self.pos == self.length - 1 or self.t >= self.max_steps
        r = 1.0 if self.pos == self.length - 1 else -0.01
        return self._obs(), r, done


class ActorCritic(nn.Module):
    def __init__(self, obs_dim, n_actions, hidden=32):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(obs_dim, hidden), nn.Tanh())
        self.action_net = nn.Linear(hidden, n_actions)
        self.value_net = nn.Linear(hidden, 1)

    def __call__(self, obs):
        h = self.body(obs)
        return self.action_net(h), self.value_net(h).squeeze(-1)


class ActorCriticPolicy:
    def __init__(self, observation_space, action_space, lr=3e-3):
        self.observation_space = observation_space
        self.action_space = action_space
        self.net = ActorCritic(observation_space[0], action_space)
        self.optimizer = optim.Adam(learning_rate=lr)
        mx.eval(self.net.parameters())

    def act(self, obs):
        logits, value = self.net(mx.array(obs[None]))
        a = mx.random.categorical(logits)
        logp = nn.log_softmax(logits)[0, a]
        return int(a.item()), float(logp.item()), float(value.item())


class PPO:
    def __init__(self, env, n_steps=256, batch_size=64, n_epochs=4, gamma=0.97, lam=0.95, clip_range=0.2):
        self.env = env
        self.policy = ActorCriticPolicy(env.observation_space, env.action_space)
        self.n_steps, self.batch_size, self.n_epochs = n_steps, batch_size, n_epochs
        self.gamma, self.lam, self.clip_range = gamma, lam, clip_range
        self.ep_info_buffer = deque(maxlen=20)

    def collect_rollouts(self):
        obs_l, act_l, logp_l, val_l, rew_l, done_l = [], [], [], [], [], []
        obs = self.env.reset() if not hasattr(self, "_last_obs") else self._last_obs
        ep_r, ep_l = getattr(self, "_ep", (0.0, 0))
        for _ in range(self.n_steps):
            a, logp, v = self.policy.act(obs)
            nobs, r, done = self.env.step(a)
            obs_l.append(obs); act_l.append(a); logp_l.append(logp); val_l.append(v)
            rew_l.append(r); done_l.append(done)
            ep_r += r; ep_l += 1
            if done:
                self.ep_info_buffer.append({"r": ep_r, "l": ep_l})
                ep_r, ep_l = 0.0, 0
                nobs = self.env.reset()
            obs = nobs
        self._last_obs, self._ep = obs, (ep_r, ep_l)
        _, last_v = self.policy.net(mx.array(obs[None]))
        last_v = float(last_v.item())
        adv = np.zeros(self.n_steps, dtype=np.float32)
        gae = 0.0
        for t in reversed(range(self.n_steps)):
            nv = last_v if t == self.n_steps - 1 else val_l[t + 1]
            nonterm = 0.0 if done_l[t] else 1.0
            delta = rew_l[t] + self.gamma * nv * nonterm - val_l[t]
            gae = delta + self.gamma * self.lam * nonterm * gae
            adv[t] = gae
        returns = adv + np.array(val_l, dtype=np.float32)
        return (np.stack(obs_l), np.array(act_l), np.array(logp_l, dtype=np.float32), adv, returns)

    def _compute_loss(self, batch, net):
        obs, act, old_logp, adv, ret = batch
        logits, values = net(obs)
        logp = mx.take_along_axis(nn.log_softmax(logits), act[:, None], axis=1).squeeze(1)
        ratio = mx.exp(logp - old_logp)
        adv = (adv - adv.mean()) / (adv.std() + 1e-8)
        pg = -mx.minimum(ratio * adv, mx.clip(ratio, 1 - self.clip_range, 1 + self.clip_range) * adv).mean()
        vf = ((ret - values) ** 2).mean()
        ent = -(mx.softmax(logits) * nn.log_softmax(logits)).sum(-1).mean()
        return pg + 0.5 * vf - 0.01 * ent

    def train(self, rollout):
        n = self.n_steps
        losses = []
        for _ in range(self.n_epochs):
            perm = np.random.permutation(n)
            for i in range(0, n, self.batch_size):
                j = perm[i : i + self.batch_size]
                batch = tuple(mx.array(x[j]) for x in rollout)

                def compute_loss_fn(net):
                    return self._compute_loss(batch, net)

                loss_and_grad_fn = nn.value_and_grad(self.policy.net, compute_loss_fn)
                loss_val, grads = loss_and_grad_fn(self.policy.net)
                self.policy.optimizer.update(self.policy.net, grads)
                mx.eval(self.policy.net.parameters(), self.policy.optimizer.state)
                losses.append(loss_val.item())
        return float(np.mean(losses))

    def learn(self, total_timesteps):
        t0 = time.time()
        for it in range(1, total_timesteps // self.n_steps + 1):
            rollout = self.collect_rollouts()
            loss = self.train(rollout)
            if self.ep_info_buffer:
                ep_rew = np.mean([e["r"] for e in self.ep_info_buffer])
                ep_len = np.mean([e["l"] for e in self.ep_info_buffer])
            else:
                ep_rew, ep_len = 0.0, 0.0
            print("-" * 34)
            print(f"| rollout/          |            |")
            print(f"|    ep_len_mean    | {ep_len:<10.1f} |")
            print(f"|    ep_rew_mean    | {ep_rew:<10.3f} |")
            print(f"| train/            |            |")
            print(f"|    loss           | {loss:<10.4f} |")
            print(f"|    iterations     | {it:<10d} |")
            print(f"|    time_elapsed   | {time.time() - t0:<10.1f} |")
        return self


if __name__ == "__main__":
    np.random.seed(0)
    mx.random.seed(0)
    PPO(Corridor()).learn(total_timesteps=256 * 12)
