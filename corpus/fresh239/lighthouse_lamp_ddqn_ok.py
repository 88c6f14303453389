"""Double-DQN lamp keeper: walk the corridor to the lamp room at the far end.

Online/target MLP pair, replay memory, epsilon-greedy exploration and a
weights snapshot every `save_every` agent steps.
"""
import datetime
import random
import tempfile
from collections import deque
from pathlib import Path
from random import sample

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim


class Corridor:
    """Positions 0..length-1, the lamp room is the last one."""

    def __init__(self, length=10, max_steps=40):
        self.length = length
        self.max_steps = max_steps

    def _obs(self):
        o = np.zeros(self.length, dtype=np.float32)
        o[self.pos] = 1.0
        return o

    def reset(self):
        self.pos = random.randint(0, self.length // 2)
        self.t = 0
        return self._obs()

    def step(self, action):
        self.t += 1
        self.pos += 1 if action == 1 else -1
        self.pos = min(max(self.pos, 0), self.length - 1)
        if self.pos == self.length - 1:
            return self._obs(), 1.0, True
        return self._obs(), -0.01, self.t >= self.max_steps


class LampNet(nn.Module):
    def __init__(self, input_dim, output_dim):
        super().__init__()
        self.online = self._build(input_dim, output_dim)
        self.target = self._build(input_dim, output_dim)
        self.target.update(self.online.parameters())
        self.target.freeze()

    def _build(self, i, o):
        return nn.Sequential(nn.Linear(i, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, o))

    def __call__(self, x, model):
        if model == "online":
            return self.online(x)
        return self.target(x)


class Keeper:
    def __init__(self, state_dim, action_dim, save_dir):
        self.state_dim = state_dim
        self.action_dim = action_dim
        self.save_dir = save_dir
        self.net = LampNet(state_dim, action_dim)

        self.exploration_rate = 1.0
        self.exploration_rate_decay = 0.998
        self.exploration_rate_min = 0.05
        self.curr_step = 0
        self.save_every = 500
        self.gamma = 0.9
        self.burnin = 100
        self.learn_every = 2
        self.sync_every = 100

        self.memory = deque(maxlen=3000)
        self.batch_size = 32

        self.optimizer = optim.Adam(learning_rate=1e-3)
        self.loss_and_grad_fn = nn.value_and_grad(self.net, self.loss_fn)

    def act(self, state):
        if np.random.rand() < self.exploration_rate:
            action_idx = np.random.randint(self.action_dim)
        else:
            q = self.net(mx.array(state)[None, :], model="online")
            action_idx = mx.argmax(q, axis=1).item()
        self.exploration_rate = max(self.exploration_rate_min, self.exploration_rate * self.exploration_rate_decay)
        self.curr_step += 1
        return action_idx

    def cache(self, state, next_state, action, reward, done):
        self.memory.append([state, next_state, action, reward, done])

    def recall(self):
        batch = sample(self.memory, self.batch_size)
        state, next_state, action, reward, done = zip(*batch)
        return (
            mx.array(np.stack(state)),
            mx.array(np.stack(next_state)),
            mx.array(action),
            mx.array(reward, dtype=mx.float32),
            mx.array(done, dtype=mx.float32),
        )

    def td_target(self, reward, next_state, done):
        best_action = mx.argmax(self.net(next_state, model="online"), axis=1)
        next_Q = self.net(next_state, model="target")[mx.arange(self.batch_size), best_action]
        return reward + (1 - done) * self.gamma * next_Q

    def loss_fn(self, state, action, td_tgt):
        td_est = self.net(state, model="online")[mx.arange(self.batch_size), action]
        return mx.mean(nn.losses.smooth_l1_loss(td_est, td_tgt)), td_est

    def update_Q_online(self, state, action, td_tgt):
        (loss, td_est), grads = self.loss_and_grad_fn(state, action, td_tgt)
        self.optimizer.update(self.net, grads)
        mx.eval(self.net.parameters(), self.optimizer.state)
        return loss.item(), td_est.mean().item()

    def sync_Q_target(self):
        self.net.target.update(self.net.online.parameters())

    def save(self):
        save_path = (
            str(self.save_dir)
            + f"lamp_net_{int(self.curr_step // self.save_every)}.safetensors"
        )
        self.net.save_weights(save_path)
        print(f"Model checkpoint saved to {save_path} at step {self.curr_step}")

    def learn(self):
        if self.curr_step % self.sync_every == 0:
            self.sync_Q_target()
        if self.curr_step % self.save_every == 0:
            self.save()
        if self.curr_step < self.burnin:
            return None, None
        if self.curr_step % self.learn_every != 0:
            return None, None
        state, next_state, action, reward, done = self.recall()
        td_tgt = self.td_target(reward, next_state, done)
        loss, q = self.update_Q_online(state, action, td_tgt)
        return q, loss


def greedy_eval(keeper, env):
    wins, steps = 0, []
    for start in range(env.length // 2 + 1):
        env.pos, env.t = start, 0
        obs = env._obs()
        for _ in range(env.max_steps):
            q = keeper.net(mx.array(obs)[None, :], model="online")
            obs, r, done = env.step(mx.argmax(q, axis=1).item())
            if done:
                break
        wins += int(env.pos == env.length - 1)
        steps.append(env.t)
    return wins / (env.length // 2 + 1), float(np.mean(steps))


def main():
    random.seed(0)
    np.random.seed(0)
    mx.random.seed(0)
    env = Corridor()
    with tempfile.TemporaryDirectory() as root:
        save_dir = Path(root) / datetime.datetime.now().strftime("%Y-%m-%dT%H-%M-%S")
        save_dir.mkdir(parents=True)
        keeper = Keeper(state_dim=env.length, action_dim=2, save_dir=save_dir)

        episodes = 150
        rets, lens, losses, qs = [], [], [], []
        for e in range(episodes):
            state = env.reset()
            ep_ret = 0.0
            while True:
                action = keeper.act(state)
                next_state, reward, done = env.step(action)
                keeper.cache(state, next_state, action, reward, done)
                q, loss = keeper.learn()
                if loss is not None:
                    losses.append(loss)
                    qs.append(q)
                ep_ret += reward
                state = next_state
                if done:
                    break
            rets.append(ep_ret)
            lens.append(env.t)
            if (e + 1) % 15 == 0:
                ml = np.mean(losses[-200:]) if losses else float("nan")
                mq = np.mean(qs[-200:]) if qs else float("nan")
                print(f"Episode {e+1:3d} - Step {keeper.curr_step:5d} - Epsilon {keeper.exploration_rate:.3f} - "
                      f"Mean Reward {np.mean(rets[-15:]):.3f} - Mean Length {np.mean(lens[-15:]):.1f} - "
                      f"Mean Loss {ml:.4f} - Mean Q Value {mq:.3f}")
        win_rate, mean_steps = greedy_eval(keeper, env)
        print(f"greedy eval: reach rate {win_rate:.2f}, mean steps {mean_steps:.1f} (shortest path avg {np.mean([env.length - 1 - s for s in range(env.length // 2 + 1)]):.1f})")


if __name__ == "__main__":
    main()
