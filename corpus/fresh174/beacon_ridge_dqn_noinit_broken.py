# DQN on a small ridge-walk: the keeper must climb to the beacon at the top.
import random
import time
from collections import deque, namedtuple

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

random.seed(3)
np.random.seed(3)
mx.random.seed(3)

N_CELLS = 9          # cell 8 is the beacon
MAX_STEPS = 30


class Ridge:
    def reset(self):
        self.pos = 0
        self.t = 0
        return self.obs()

    def obs(self):
        v = np.zeros(N_CELLS, dtype=np.float32)
        v[self.pos] = 1.0
        return v

    def step(self, a):
        self.t += 1
        self.pos = max(0, min(N_CELLS - 1, self.pos + (1 if a == 1 else -1)))
        terminated = self.pos == N_CELLS - 1
        reward = 1.0 if terminated else -0.02
        truncated = self.t >= MAX_STEPS
        return self.obs(), reward, terminated, truncated


class DQN(nn.Module):
    def __init__(self, input_dims: int, output_dims: int):
        self.fc1 = nn.Linear(input_dims, 32)
        self.fc2 = nn.Linear(32, output_dims)
        self.relu = nn.ReLU()

    def __call__(self, x):
        return self.fc2(self.relu(self.fc1(x)))


Transition = namedtuple("Transition", ("state", "action", "next_state", "reward"))


class ReplayBuffer:
    def __init__(self, capacity):
        self.memory = deque([], maxlen=capacity)

    def push(self, *args):
        self.memory.append(Transition(*args))

    def sample(self, batch_size):
        return random.sample(self.memory, batch_size)

    def len(self):
        return len(self.memory)


"""Hyperparameters"""
lr = 3e-3
epoch = 60
batch_size = 32
gamma = 0.9

env = Ridge()
model = DQN(N_CELLS, 2)
mx.eval(model.parameters())
optimizer = optim.AdamW(learning_rate=lr)
memory = ReplayBuffer(2000)


def loss_fn(X, y):
    return mx.mean(nn.losses.mse_loss(X, y))


def q_loss(states, actions, targets):
    q = model(states)[mx.arange(states.shape[0]), actions]
    return loss_fn(q, targets)


loss_and_grad_fn = nn.value_and_grad(model, q_loss)


def optimize():
    if memory.len() < batch_size:
        return None
    batch = Transition(*zip(*memory.sample(batch_size)))
    state_batch = mx.array(np.stack(batch.state))
    action_batch = mx.array(batch.action)
    reward_batch = mx.array(batch.reward, dtype=mx.float32)
    non_final = mx.array([s is not None for s in batch.next_state])
    nxt = mx.array(np.stack([s if s is not None else np.zeros(N_CELLS, np.float32) for s in batch.next_state]))
    next_values = mx.where(non_final, mx.max(model(nxt), axis=1), 0.0)
    targets = mx.stop_gradient(reward_batch + gamma * next_values)
    loss, grad = loss_and_grad_fn(state_batch, action_batch, targets)
    optimizer.update(model, grad)
    mx.eval(model.parameters(), optimizer.state)
    return loss.item()


warmup_steps = 64
total = 0
for e in range(epoch):
    tic = time.perf_counter()
    state = env.reset()
    losses = []
    episode_reward = 0.0
    eps = max(0.05, 1.0 - e / 30)
    for c in range(MAX_STEPS):
        if random.random() < eps:
            action = random.randrange(2)
        else:
            action = int(model(mx.array(state)[None]).argmax().item())
        observation, reward, terminated, truncated = env.step(action)
        episode_reward += reward
        next_state = None if terminated else observation
        memory.push(state, action, next_state, reward)
        state = observation
        total += 1
        if total >= warmup_steps:
            loss = optimize()
            if loss is not None:
                losses.append(loss)
        if terminated or truncated:
            break
    toc = time.perf_counter()
    avg = f"{np.mean(losses):.4f}" if losses else "  -   "
    print(f"Episode: {e} | Average Loss: {avg} | Return: {episode_reward:+.2f} | Steps: {c + 1} | eps {eps:.2f} | Time: {toc - tic:.3f}")

q = model(mx.eye(N_CELLS))
greedy = np.array(q.argmax(axis=1)).tolist()
print("greedy actions per cell:", greedy[:-1])
print("Complete")
