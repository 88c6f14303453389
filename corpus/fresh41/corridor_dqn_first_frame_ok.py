# Double-DQN on a tiny corridor world with a 2-frame observation stack.
# Right after a reset only one frame exists, so the agent has to explore
# on that step (there is nothing to stack yet).
import random
from collections import deque

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

N_POS = 8
N_FRAMES = 2
MAX_T = 24

random.seed(3)
np.random.seed(3)
mx.random.seed(3)


class Corridor:
    """Walk left/right; +1 for reaching the right wall, -0.05 per step."""

    def reset(self):
        self.pos = np.random.randint(1, N_POS - 1)
        self.t = 0
        self.frames = deque([self._frame()], maxlen=N_FRAMES)
        return self._obs()

    def _frame(self):
        f = np.zeros(N_POS, dtype=np.float32)
        f[self.pos] = 1.0
        return f

    def _obs(self):
        return mx.array(np.stack(self.frames))  # (n_frames_so_far, N_POS)

    def step(self, a):
        self.pos += 1 if a == 1 else -1
        self.t += 1
        if self.pos >= N_POS - 1:
            r, done = 1.0, True
        elif self.pos <= 0:
            r, done = -1.0, True
        else:
            r, done = -0.05, self.t >= MAX_T
        self.frames.append(self._frame())
        return self._obs(), r, done


class QNet(nn.Module):
    def __init__(self, n_in, n_act):
        super().__init__()
        self.l1 = nn.Linear(n_in, 32)
        self.l2 = nn.Linear(32, n_act)

    def __call__(self, x):
        x = x.reshape(x.shape[0], -1)
        return self.l2(nn.relu(self.l1(x)))


class Agent:
    def __init__(self, n_act=2):
        self.n_act = n_act
        self.online = QNet(N_POS * N_FRAMES, n_act)
        self.target = QNet(N_POS * N_FRAMES, n_act)
        self.target.update(self.online.parameters())
        self.exploration_rate = 1.0
        self.exploration_rate_decay = 0.997
        self.exploration_rate_min = 0.05
        self.gamma = 0.9
        self.memory = deque(maxlen=3000)
        self.batch_size = 32
        self.burnin = 400
        self.opt = optim.Adam(learning_rate=2e-3)
        self.loss_and_grad = nn.value_and_grad(self.online, self.loss_fn)
        self.curr_step = 0

    def act(self, state):
        # EXPLORE
        if (np.random.rand() < self.exploration_rate) or (state.shape[0] == 1):
            action_idx = np.random.randint(self.n_act)
        # EXPLOIT
        else:
            q = self.online(state[None])
            action_idx = mx.argmax(q, axis=1).item()
        if len(self.memory) >= self.burnin:  # keep acting randomly until the buffer is warm
            self.exploration_rate = max(self.exploration_rate_min,
                                        self.exploration_rate * self.exploration_rate_decay)
        self.curr_step += 1
        return action_idx

    def cache(self, s, s2, a, r, d):
        if s.shape[0] == N_FRAMES:
            self.memory.append((np.array(s), np.array(s2), a, r, d))

    def loss_fn(self, model, s, a, target):
        q = model(s)[mx.arange(s.shape[0]), a]
        return nn.losses.smooth_l1_loss(q, target)

    def learn(self):
        if self.curr_step % 100 == 0:
            self.target.update(self.online.parameters())
        if len(self.memory) < self.burnin:
            return None
        batch = random.sample(self.memory, self.batch_size)
        s, s2, a, r, d = map(np.array, zip(*batch))
        s, s2 = mx.array(s), mx.array(s2)
        a = mx.array(a.astype(np.int32))
        r = mx.array(r.astype(np.float32))
        d = mx.array(d.astype(np.float32))
        best = mx.argmax(self.online(s2), axis=1)
        next_q = self.target(s2)[mx.arange(s2.shape[0]), best]
        target = mx.stop_gradient(r + (1.0 - d) * self.gamma * next_q)
        loss, grads = self.loss_and_grad(self.online, s, a, target)
        self.opt.update(self.online, grads)
        mx.eval(self.online.parameters(), self.opt.state)
        return loss.item()


def main():
    env, agent = Corridor(), Agent()
    returns, losses = [], []
    for ep in range(1, 601):
        state, done, ret = env.reset(), False, 0.0
        while not done:
            a = agent.act(state)
            nxt, r, done = env.step(a)
            agent.cache(state, nxt, a, r, done)
            l = agent.learn()
            if l is not None:
                losses.append(l)
            state, ret = nxt, ret + r
        returns.append(ret)
        if ep % 20 == 0:
            avg_l = f"{np.mean(losses[-200:]):.4f}" if losses else "warmup"
            print(f"Episode {ep:4d} - Step {agent.curr_step:5d} - Epsilon {agent.exploration_rate:.3f} "
                  f"- Mean Reward {np.mean(returns[-25:]):+.3f} - Mean Loss {avg_l}")

    # greedy evaluation from every start cell
    wins = 0
    for start in range(1, N_POS - 1):
        env.reset()
        env.pos = start
        env.frames = deque([env._frame()], maxlen=N_FRAMES)
        s, r, done = env.step(1)  # one forced step so the stack is full
        while not done:
            a = mx.argmax(agent.online(s[None]), axis=1).item()
            s, r, done = env.step(a)
        wins += int(r == 1.0)
    print(f"greedy eval: reached the goal from {wins}/{N_POS - 2} start cells")


if __name__ == "__main__":
    main()
