"""Clipped-surrogate policy optimisation (PPO-style) on a contextual bandit,
trained in chunks with an SB3-like ``learn(total_timesteps, reset_num_timesteps)``
API so that we can evaluate the greedy policy between chunks.
"""
import json
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

N_CTX, N_ARMS = 12, 6
rng = np.random.default_rng(11)
mx.random.seed(11)
# success probability of each arm in each context; best arm differs per context
PAY = rng.uniform(0.25, 0.5, size=(N_CTX, N_ARMS))
PAY[np.arange(N_CTX), rng.integers(0, N_ARMS, N_CTX)] = 0.62


class Policy(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(N_CTX, 256), nn.Tanh(), nn.Linear(256, N_ARMS))

    def __call__(self, x):
        return self.body(x)


class PPO:
    def __init__(self, n_steps=512, n_epochs=6, clip=0.2, lr=1e-4):
        self.policy = Policy()
        mx.eval(self.policy.parameters())
        self.opt = optim.Adam(learning_rate=lr)
        self.n_steps, self.n_epochs, self.clip = n_steps, n_epochs, clip
        self.num_timesteps = 0
        self._grad = nn.value_and_grad(self.policy, self._loss)

    def _loss(self, policy, obs, act, old_logp, adv):
        logp_all = nn.log_softmax(policy(obs), axis=-1)
        logp = mx.take_along_axis(logp_all, act[:, None], axis=1).squeeze(1)
        ratio = mx.exp(logp - old_logp)
        surr = mx.minimum(ratio * adv, mx.clip(ratio, 1 - self.clip, 1 + self.clip) * adv)
        entropy = -mx.sum(mx.exp(logp_all) * logp_all, axis=-1)
        return -mx.mean(surr) - 0.01 * mx.mean(entropy)

    def collect_rollouts(self):
        ctx = rng.integers(0, N_CTX, self.n_steps)
        obs = mx.array(np.eye(N_CTX, dtype=np.float32)[ctx])
        logits = self.policy(obs)
        act = mx.random.categorical(logits)
        logp = mx.take_along_axis(nn.log_softmax(logits, axis=-1), act[:, None], axis=1).squeeze(1)
        a_np = np.array(act)
        rew = (rng.random(self.n_steps) < PAY[ctx, a_np]).astype(np.float32)
        self.num_timesteps += self.n_steps
        return obs, act, mx.stop_gradient(logp), rew

    def train(self, obs, act, old_logp, rew):
        adv = mx.array((rew - rew.mean()) / (rew.std() + 1e-8))
        for _ in range(self.n_epochs):
            loss, grads = self._grad(self.policy, obs, act, old_logp, adv)
            self.opt.update(self.policy, grads)
            mx.eval(self.policy.parameters(), self.opt.state, loss)
        return loss.item()

    def _setup_learn(self, total_timesteps, reset_num_timesteps):
        if reset_num_timesteps:
            self.num_timesteps = 0
        return total_timesteps

    def learn(self, total_timesteps, reset_num_timesteps=True):
        total_timesteps = self._setup_learn(total_timesteps, reset_num_timesteps)
        n_updates, last_loss = 0, float("nan")
        while self.num_timesteps < total_timesteps:
            rollout = self.collect_rollouts()
            last_loss = self.train(*rollout)
            n_updates += 1
        return n_updates, last_loss


def evaluate(policy, n=200000):
    ctx = rng.integers(0, N_CTX, n)
    greedy = np.array(mx.argmax(policy(mx.array(np.eye(N_CTX, dtype=np.float32)[ctx])), axis=1))
    return float(PAY[ctx, greedy].mean()), float((greedy == PAY[ctx].argmax(1)).mean())


agent = PPO()
t0 = time.time()
print(json.dumps({"chunk": 0, "timesteps": 0, "expected_reward": round(evaluate(agent.policy)[0], 4),
                  "optimal_arm_rate": round(evaluate(agent.policy)[1], 4)}))
for chunk in range(1, 21):
    # keep counting timesteps across chunks (resume-style training)
    n_up, loss = agent.learn(total_timesteps=4096, reset_num_timesteps=False)
    exp_r, opt_rate = evaluate(agent.policy)
    print(json.dumps({"chunk": chunk, "timesteps": agent.num_timesteps, "updates": n_up,
                      "surrogate_loss": None if np.isnan(loss) else round(loss, 4),
                      "expected_reward": round(exp_r, 4), "optimal_arm_rate": round(opt_rate, 4),
                      "elapsed_s": round(time.time() - t0, 1)}), flush=True)
print("best achievable expected reward:", round(float(PAY.max(1).mean()), 4))
