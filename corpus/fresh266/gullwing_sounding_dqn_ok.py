"""Survey launch in a harbour channel: learn to run the sounding line out to the
far marker with a small DQN (functional loss over parameter dicts)."""
import time
from typing import Callable, Dict

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_map

MlxArray = mx.array

N_CELLS = 10          # depth-marker cells along the channel
GOAL = N_CELLS - 1
MAX_STEPS = 40
N_ENVS = 16
GAMMA = 0.95
BATCH = 64
BUFFER_CAP = 8000
WARMUP = 500
TARGET_SYNC = 150
N_ITERS = 1800
LOG_EVERY = 150

rng = np.random.default_rng(7)
mx.random.seed(7)


class Channel:
    """Vectorised toy channel: 0 hold, 1 ahead, 2 astern; an ebb current
    sets the launch back one cell 10% of the time."""

    def __init__(self, n):
        self.n = n
        self.pos = np.zeros(n, dtype=np.int64)
        self.t = np.zeros(n, dtype=np.int64)
        self.reset_all()

    def reset_all(self):
        self.pos[:] = rng.integers(0, 7, size=self.n)
        self.t[:] = 0

    def obs(self):
        o = np.zeros((self.n, N_CELLS), dtype=np.float32)
        o[np.arange(self.n), self.pos] = 1.0
        return o

    def step(self, a):
        move = np.where(a == 1, 1, np.where(a == 2, -1, 0))
        ebb = (rng.random(self.n) < 0.1).astype(np.int64)
        self.pos = np.clip(self.pos + move - ebb, 0, GOAL)
        self.t += 1
        reached = self.pos == GOAL
        timeout = self.t >= MAX_STEPS
        rew = np.where(reached, 1.0, -0.02).astype(np.float32)
        next_obs = self.obs()
        term = reached.astype(np.float32)
        done = reached | timeout
        if done.any():
            idx = np.where(done)[0]
            self.pos[idx] = rng.integers(0, 7, size=idx.size)
            self.t[idx] = 0
        return next_obs, rew, term, done


class QNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(N_CELLS, 64)
        self.l2 = nn.Linear(64, 64)
        self.l3 = nn.Linear(64, 3)

    def __call__(self, x):
        return self.l3(nn.relu(self.l2(nn.relu(self.l1(x)))))


online = QNet()
_apply_net = QNet()


def q_network_apply_fn(params, obs):
    _apply_net.update(params)
    return _apply_net(obs)


def dqn_functional_loss(
    params: Dict[str, mx.array],
    batch_data: Dict[str, MlxArray],
    q_network_apply_fn: Callable,
    target_params: Dict[str, mx.array],
    gamma: float,
    huber_loss: bool = True,
) -> mx.array:
    obs = batch_data["observations"]
    actions = batch_data["actions"]
    rewards = batch_data["rewards"]
    next_obs = batch_data["next_observations"]
    terminated = batch_data["terminated"]

    # Current Q-values
    q_values = q_network_apply_fn(params, obs)
    current_q_values = mx.take_along_axis(q_values, actions.astype(mx.int32), axis=-1)
    current_q_values = mx.squeeze(current_q_values, axis=-1)

    # Target Q-values (no gradient through target network)
    next_q_values = mx.stop_gradient(q_network_apply_fn(target_params, next_obs))
    max_next_q_values = mx.max(next_q_values, axis=-1)
    target_q_values = rewards + gamma * (1 - terminated) * max_next_q_values

    # Loss computation
    if huber_loss:
        delta = current_q_values - target_q_values
        huber_delta = 1.0
        loss = mx.where(
            mx.abs(delta) < huber_delta,
            0.5 * delta**2,
            huber_delta * (mx.abs(delta) - 0.5 * huber_delta),
        )
        return mx.mean(loss)
    else:
        return mx.mean((current_q_values - target_q_values) ** 2)


def greedy_return(params, episodes=64):
    env = Channel(episodes)
    total = np.zeros(episodes, dtype=np.float64)
    alive = np.ones(episodes, dtype=bool)
    steps_used = np.full(episodes, MAX_STEPS)
    for t in range(MAX_STEPS):
        q = q_network_apply_fn(params, mx.array(env.obs()))
        a = np.array(mx.argmax(q, axis=-1))
        _, r, term, done = env.step(a)
        total += r * alive
        newly = alive & (term > 0)
        steps_used[newly] = t + 1
        alive &= ~done
        if not alive.any():
            break
    return total.mean(), steps_used.mean()


buf = {
    "observations": np.zeros((BUFFER_CAP, N_CELLS), np.float32),
    "actions": np.zeros((BUFFER_CAP, 1), np.int32),
    "rewards": np.zeros(BUFFER_CAP, np.float32),
    "next_observations": np.zeros((BUFFER_CAP, N_CELLS), np.float32),
    "terminated": np.zeros(BUFFER_CAP, np.float32),
}
buf_n = 0
buf_i = 0

params = online.trainable_parameters()
target_params = tree_map(lambda p: mx.array(p), params)
optimizer = optim.Adam(learning_rate=1e-3)
loss_and_grad = mx.value_and_grad(dqn_functional_loss)

env = Channel(N_ENVS)
obs = env.obs()
eps = 1.0
updates = 0
recent_loss = []
t0 = time.time()
ret0, steps0 = greedy_return(params)
print(f"start: greedy return {ret0:+.3f}, mean steps {steps0:.1f}  (random policy rarely reaches the marker)")

for it in range(1, N_ITERS + 1):
    eps = max(0.05, 1.0 - it / 400)
    q = q_network_apply_fn(params, mx.array(obs))
    greedy = np.array(mx.argmax(q, axis=-1))
    rand = rng.integers(0, 3, size=N_ENVS)
    act = np.where(rng.random(N_ENVS) < eps, rand, greedy)
    next_obs, rew, term, done = env.step(act)
    for k in range(N_ENVS):
        buf["observations"][buf_i] = obs[k]
        buf["actions"][buf_i, 0] = act[k]
        buf["rewards"][buf_i] = rew[k]
        buf["next_observations"][buf_i] = next_obs[k]
        buf["terminated"][buf_i] = term[k]
        buf_i = (buf_i + 1) % BUFFER_CAP
        buf_n = min(buf_n + 1, BUFFER_CAP)
    obs = env.obs()

    if buf_n >= WARMUP:
        idx = rng.integers(0, buf_n, size=BATCH)
        batch = {k: mx.array(v[idx]) for k, v in buf.items()}
        loss, grads = loss_and_grad(params, batch, q_network_apply_fn, target_params, GAMMA)
        params = optimizer.apply_gradients(grads, params)
        mx.eval(params, optimizer.state, loss)
        updates += 1
        recent_loss.append(loss.item())
        if updates % TARGET_SYNC == 0:
            target_params = tree_map(lambda p: mx.array(p), params)

    if it % LOG_EVERY == 0:
        ret, steps = greedy_return(params)
        td = np.mean(recent_loss) if recent_loss else float("nan")
        recent_loss = []
        print(
            f"iter {it:4d} | eps {eps:.2f} | replay {buf_n}/{BUFFER_CAP} | updates {updates:4d} "
            f"| td_huber {td:.4f} | greedy return {ret:+.3f} | steps to marker {steps:.1f} | {time.time() - t0:.1f}s"
        )

ret, steps = greedy_return(params, episodes=256)
print(f"done: greedy return {ret:+.3f} over 256 runs, mean steps {steps:.1f} (straight run from the mean start cell: {GOAL - 3} moves + ebb)")
