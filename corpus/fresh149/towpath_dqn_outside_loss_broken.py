# DQN on a toy "towpath" chain: a barge horse walks a 1-D towpath of 11 posts;
# reaching the open lock gate (left or right end, shown in the obs) pays +1,
# the closed end costs -0.5, every step costs a little.
import random
from collections import deque, namedtuple

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

N_POSTS = 11
OBS_DIM = N_POSTS + 2
MAX_STEPS = 30

Transition = namedtuple("Transition", ("state", "action", "reward", "next_state"))


class Towpath:
    """Start at the middle post; the open lock gate is at one end (told in the obs)."""

    def reset(self):
        self.pos = N_POSTS // 2
        self.t = 0
        self.gate = random.randint(0, 1)  # 0: gate at post 0, 1: gate at the last post
        return self.obs()

    def obs(self):
        o = np.zeros(OBS_DIM, dtype=np.float32)
        o[self.pos] = 1.0
        o[N_POSTS + self.gate] = 1.0
        return o

    def step(self, a):
        self.t += 1
        self.pos = max(0, min(N_POSTS - 1, self.pos + (1 if a == 1 else -1)))
        if self.pos in (0, N_POSTS - 1):
            right_end = (self.pos == N_POSTS - 1) == (self.gate == 1)
            return self.obs(), (1.0 if right_end else -0.5), True
        return self.obs(), -0.01, self.t >= MAX_STEPS


class ReplayBuffer:
    def __init__(self, capacity):
        self.memory = deque([], maxlen=capacity)

    def push(self, *args):
        self.memory.append(Transition(*args))

    def sample(self, n):
        return random.sample(self.memory, n)

    def __len__(self):
        return len(self.memory)


class Net(nn.Module):
    def __init__(self, num_states, num_actions, hidden_dim):
        super().__init__()
        sizes = [num_states] + [hidden_dim] * 2 + [num_actions]
        self.layers = [nn.Linear(i, o) for i, o in zip(sizes[:-1], sizes[1:])]

    def __call__(self, x):
        for l in self.layers[:-1]:
            x = nn.relu(l(x))
        return self.layers[-1](x)


class DQN:
    def __init__(self, gamma=0.95, tau=0.05, lr=3e-3, batch_size=64):
        self.env = Towpath()
        self.policy_net = Net(OBS_DIM, 2, 64)
        self.target_net = Net(OBS_DIM, 2, 64)
        self.target_net.update(self.policy_net.parameters())
        self.gamma, self.tau, self.batch_size = gamma, tau, batch_size
        self.optimizer = optim.Adam(learning_rate=lr)
        self.replay = ReplayBuffer(5000)
        self.steps_done = 0
        mx.eval(self.policy_net.parameters(), self.target_net.parameters())

    def act(self, obs):
        eps = 0.05 + 0.95 * np.exp(-self.steps_done / 800)
        self.steps_done += 1
        if random.random() > eps:
            return int(mx.argmax(self.policy_net(mx.array(obs[None])), 1).item())
        return random.randint(0, 1)

    def soft_update(self):
        new = {}
        tp, pp = self.target_net.parameters(), self.policy_net.parameters()
        new = [
            {k: tl[k] * (1 - self.tau) + pl[k] * self.tau for k in tl}
            for tl, pl in zip(tp["layers"], pp["layers"])
        ]
        self.target_net.update({"layers": new})
        mx.eval(self.target_net.parameters())

    def update(self):
        if len(self.replay) < self.batch_size:
            return None
        batch = Transition(*zip(*self.replay.sample(self.batch_size)))
        state = mx.array(np.stack(batch.state))
        action = mx.array(np.array(batch.action, dtype=np.int32)[:, None])
        reward = mx.array(np.array(batch.reward, dtype=np.float32))
        nxt = mx.array(np.stack([np.zeros(OBS_DIM, np.float32) if s is None else s for s in batch.next_state]))
        alive = mx.array(np.array([0.0 if s is None else 1.0 for s in batch.next_state], dtype=np.float32))

        q_sa = mx.take_along_axis(self.policy_net(state), action, 1)

        next_v = mx.max(self.target_net(nxt), 1)
        expected = reward + self.gamma * next_v * alive

        loss_fn = nn.losses.smooth_l1_loss
        loss_and_grad_fn = nn.value_and_grad(self.policy_net, loss_fn)
        loss, grads = loss_and_grad_fn(q_sa.squeeze(1), expected)

        self.optimizer.update(self.policy_net, grads)
        mx.eval(self.policy_net.parameters(), self.optimizer.state, loss)
        return loss

    def learn(self, episodes):
        rewards = []
        for i in range(episodes):
            obs = self.env.reset()
            ep_r, dur, loss = 0.0, 0, None
            while True:
                a = self.act(obs)
                nobs, r, done = self.env.step(a)
                ep_r += r
                self.replay.push(obs, a, r, None if done else nobs)
                obs = nobs
                out = self.update()
                loss = out if out is not None else loss
                self.soft_update()
                dur += 1
                if done:
                    break
            rewards.append(ep_r)
            if (i + 1) % 20 == 0:
                print(
                    "step: {}, rew: {:.2f}, avg score: {:.3f}, duration: {}, loss: {:.5f}".format(
                        i + 1, ep_r, np.mean(rewards[-20:]), dur, loss.item() if loss is not None else 0
                    )
                )
        return rewards


if __name__ == "__main__":
    random.seed(0)
    np.random.seed(0)
    mx.random.seed(0)
    agent = DQN()
    w0 = agent.policy_net.layers[0].weight
    rewards = agent.learn(300)
    drift = mx.abs(agent.policy_net.layers[0].weight - w0).max().item()
    print("final avg score (last 20): {:.3f}  first-layer weight drift: {:.4f}".format(np.mean(rewards[-20:]), drift))
