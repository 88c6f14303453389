"""Online value regression with a large experience-replay buffer.

Every step a simulator produces 1000 fresh transitions that go into a
pre-allocated ring buffer (400k x 64 float32, ~100 MB); the learner samples
minibatches uniformly from what is stored so far.  Resident memory grows while
the buffer fills (first ~400 steps) and then stays flat: the ring buffer
overwrites its oldest entries once it is full.
"""
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(2)
mx.random.seed(2)
OBS, CAP, PER_STEP, BATCH = 64, 400_000, 1000, 256
W_TRUE = rng.normal(size=(OBS,)).astype(np.float32) / 8.0


class ReplayBuffer:
    def __init__(self, capacity, dim):
        self.obs = np.zeros((capacity, dim), np.float32)   # pages are touched as it fills
        self.ret = np.zeros((capacity, 1), np.float32)
        self.capacity, self.size, self.ptr = capacity, 0, 0

    def add(self, obs, ret):
        n = obs.shape[0]
        idx = (self.ptr + np.arange(n)) % self.capacity
        self.obs[idx], self.ret[idx] = obs, ret
        self.ptr = (self.ptr + n) % self.capacity
        self.size = min(self.size + n, self.capacity)

    def sample(self, n):
        idx = rng.integers(0, self.size, n)
        return mx.array(self.obs[idx]), mx.array(self.ret[idx])


def simulate(n):
    obs = rng.normal(size=(n, OBS)).astype(np.float32)
    ret = np.tanh(obs @ W_TRUE)[:, None] + 0.05 * rng.normal(size=(n, 1)).astype(np.float32)
    return obs, ret.astype(np.float32)


critic = nn.Sequential(nn.Linear(OBS, 64), nn.ReLU(), nn.Linear(64, 1))
opt = optim.Adam(learning_rate=1e-3)


def td_loss(model, o, r):
    return nn.losses.huber_loss(model(o), r, delta=1.0, reduction="mean")


grad_fn = nn.value_and_grad(critic, td_loss)
buf = ReplayBuffer(CAP, OBS)
t0 = time.time()
for step in range(1, 801):
    buf.add(*simulate(PER_STEP))
    for _ in range(2):
        o, r = buf.sample(BATCH)
        loss, grads = grad_fn(critic, o, r)
        opt.update(critic, grads)
        mx.eval(critic.parameters(), opt.state, loss)
    if step % 50 == 0:
        print(f"step {step:3d}  huber {loss.item():.5f}  buffer {buf.size:6d}/{CAP}  ({time.time() - t0:.1f}s)")
