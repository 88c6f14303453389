# Contextual-bandit value learning from a replay buffer. The buffer is a
# preallocated ring buffer: memory grows while it fills (pages get touched),
# then stays flat once it wraps around.
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

rng = np.random.default_rng(7)
OBS, ACTIONS = 256, 4
CAPACITY = 60_000
PER_STEP = 200
STEPS = 1500

obs_buf = np.zeros((CAPACITY, OBS), dtype=np.float32)
act_buf = np.zeros((CAPACITY,), dtype=np.int32)
rew_buf = np.zeros((CAPACITY,), dtype=np.float32)
ptr, size = 0, 0

true_w = rng.normal(size=(OBS, ACTIONS)).astype(np.float32) / np.sqrt(OBS)


def collect(n):
    global ptr, size
    o = rng.normal(size=(n, OBS)).astype(np.float32)
    a = rng.integers(0, ACTIONS, size=n)
    r = np.tanh((o @ true_w)[np.arange(n), a]) + 0.1 * rng.normal(size=n)
    idx = (ptr + np.arange(n)) % CAPACITY
    obs_buf[idx], act_buf[idx], rew_buf[idx] = o, a, r
    ptr = (ptr + n) % CAPACITY
    size = min(size + n, CAPACITY)


qnet = nn.Sequential(nn.Linear(OBS, 64), nn.ReLU(), nn.Linear(64, ACTIONS))
mx.eval(qnet.parameters())
opt = optim.SGD(learning_rate=0.05, momentum=0.9)


def td_loss(model, o, a, r):
    q = mx.take_along_axis(model(o), a[:, None], axis=1).squeeze(1)
    return nn.losses.huber_loss(q, r, reduction="mean")


vg = nn.value_and_grad(qnet, td_loss)
t0 = time.time()
avg = None
for step in range(1, STEPS + 1):
    collect(PER_STEP)
    idx = rng.integers(0, size, size=128)
    loss, g = vg(qnet, mx.array(obs_buf[idx]), mx.array(act_buf[idx]), mx.array(rew_buf[idx]))
    opt.update(qnet, g)
    mx.eval(qnet.parameters(), opt.state, loss)
    avg = loss.item() if avg is None else 0.95 * avg + 0.05 * loss.item()
    if step % 150 == 0:
        print(f"step {step:4d} | td_loss {avg:.4f} | buffer {size:6d}/{CAPACITY} ({100 * size / CAPACITY:5.1f}%) | {time.time() - t0:5.1f}s")
