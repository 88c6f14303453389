import copy
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

# Offline Q-learning from recorded pixel frames of a tiny grid game:
# a forager (red pixel) walks a 5x5 field looking for a berry (green pixel).
# Frames are 5x5x3 images (NHWC). Actions: 0 up, 1 down, 2 left, 3 right.

SIZE = 5
N_ACTIONS = 4
GAMMA = 0.9
MOVES = [(-1, 0), (1, 0), (0, -1), (0, 1)]

rng = np.random.default_rng(0)
mx.random.seed(0)


def render(head, food):
    frame = np.zeros((SIZE, SIZE, 3), dtype=np.float32)
    frame[:, :, 2] = 0.2
    frame[head[0], head[1], 0] = 1.0
    frame[food[0], food[1], 1] = 1.0
    return frame


def new_food(head, r):
    while True:
        f = (int(r.integers(SIZE)), int(r.integers(SIZE)))
        if f != head:
            return f


def env_step(head, food, action, r):
    dr, dc = MOVES[action]
    nh = (min(max(head[0] + dr, 0), SIZE - 1), min(max(head[1] + dc, 0), SIZE - 1))
    if nh == food:
        return nh, new_food(nh, r), 1.0
    return nh, food, -0.02


def record_episodes(n_episodes, steps, r):
    # auto-play recorder: random moves, every transition is kept
    S, A, R, S2, D = [], [], [], [], []
    for _ in range(n_episodes):
        head = (int(r.integers(SIZE)), int(r.integers(SIZE)))
        food = new_food(head, r)
        for t in range(steps):
            a = int(r.integers(N_ACTIONS))
            nh, nf, rew = env_step(head, food, a, r)
            S.append(render(head, food))
            A.append(a)
            R.append(rew)
            S2.append(render(nh, nf))
            D.append(float(t == steps - 1))
            head, food = nh, nf
    return {
        "state": np.stack(S),
        "action": np.array(A),
        "reward": np.array(R, dtype=np.float32),
        "next_state": np.stack(S2),
        "done": np.array(D, dtype=np.float32),
    }


def episode_loader(data, batch_size, r):
    n = len(data["action"])
    perm = r.permutation(n)
    for i in range(0, n - batch_size + 1, batch_size):
        idx = perm[i:i + batch_size]
        yield {k: v[idx] for k, v in data.items()}


class CNNPolicy(nn.Module):
    def __init__(self, in_channel, out_dim):
        super().__init__()
        self.cnn = nn.Sequential(
            nn.Conv2d(in_channel, 16, kernel_size=3, stride=1, padding=1),
            nn.BatchNorm(16),
            nn.ReLU(),
            nn.Conv2d(16, 32, kernel_size=3, stride=2, padding=1),
            nn.BatchNorm(32),
            nn.ReLU(),
        )
        self.linear = nn.Linear(3 * 3 * 32, out_dim)

    def __call__(self, x):
        out = self.cnn(x)
        out = mx.flatten(out).reshape(x.shape[0], -1)
        return self.linear(out)


class DQN(nn.Module):
    def __init__(self, in_dim, n_actions):
        super().__init__()
        self.l1 = nn.Linear(in_dim, 64)
        self.l2 = nn.Linear(64, n_actions)

    def __call__(self, x):
        return self.l2(nn.relu(self.l1(nn.relu(x))))


class ForagerQ(nn.Module):
    def __init__(self, input_channel, n_actions):
        super().__init__()
        self.cnn_policy = CNNPolicy(input_channel, 128)
        self.dqn = DQN(128, n_actions)

    def __call__(self, x):
        return self.dqn(self.cnn_policy(x))


def loss_fn(policy_net, target_net, state_batch, action_batch, reward_batch, next_state_batch, done_batch):
    state_action_values = policy_net(state_batch)
    action_index = action_batch[:, mx.newaxis].astype(mx.int16)
    state_action_values = mx.take_along_axis(state_action_values, action_index, axis=-1)

    next_state_values = target_net(next_state_batch).max(1)

    expected_state_action_values = (next_state_values * GAMMA) + reward_batch
    expected_state_action_values = mx.expand_dims(expected_state_action_values, 1)
    return nn.losses.smooth_l1_loss(state_action_values, expected_state_action_values)


def play_greedy(net, n_episodes, steps, seed):
    r = np.random.default_rng(seed)
    net.eval()
    berries = []
    for _ in range(n_episodes):
        head = (int(r.integers(SIZE)), int(r.integers(SIZE)))
        food = new_food(head, r)
        got = 0
        for _ in range(steps):
            q = net(mx.array(render(head, food)[None]))
            a = int(mx.argmax(q, axis=1).item())
            head, food, rew = env_step(head, food, a, r)
            got += rew > 0
        berries.append(got)
    net.train()
    return float(np.mean(berries))


def play_random(n_episodes, steps, seed):
    r = np.random.default_rng(seed)
    berries = []
    for _ in range(n_episodes):
        head = (int(r.integers(SIZE)), int(r.integers(SIZE)))
        food = new_food(head, r)
        got = 0
        for _ in range(steps):
            head, food, rew = env_step(head, food, int(r.integers(N_ACTIONS)), r)
            got += rew > 0
        berries.append(got)
    return float(np.mean(berries))


data = record_episodes(n_episodes=200, steps=50, r=rng)
print(f"recorded {len(data['action'])} transitions, berries in log: {int((data['reward'] > 0).sum())}")

policy_net = ForagerQ(3, N_ACTIONS)
mx.eval(policy_net.parameters())
target_net = copy.deepcopy(policy_net)
optimizer = optim.AdamW(learning_rate=2e-3)
loss_and_grad_fn = nn.value_and_grad(policy_net, loss_fn)

EVAL_EPISODES, EVAL_STEPS = 10, 30
print(f"random-walk baseline: {play_random(EVAL_EPISODES, EVAL_STEPS, 123):.2f} berries / episode")
print(f"untrained greedy    : {play_greedy(policy_net, EVAL_EPISODES, EVAL_STEPS, 123):.2f} berries / episode")


def train_epoch(policy_net, target_net, train_iter, optimizer, epoch):
    losses = []
    tic = time.perf_counter()
    seen = 0
    for i, batch in enumerate(train_iter):
        state_batch = mx.array(batch["state"]).astype(mx.float16)
        action_batch = mx.array(batch["action"]).astype(mx.float16)
        reward_batch = mx.array(batch["reward"]).astype(mx.float16)
        next_state_batch = mx.array(batch["next_state"]).astype(mx.float16)
        done_batch = mx.array(batch["done"]).astype(mx.float16)

        loss, grads = loss_and_grad_fn(policy_net, target_net, state_batch, action_batch,
                                       reward_batch, next_state_batch, done_batch)
        optimizer.update(policy_net, grads)
        mx.eval(policy_net.parameters(), optimizer.state, loss)
        losses.append(loss.item())
        seen += state_batch.shape[0]

        if i % 20 == 0:
            target_net = copy.deepcopy(policy_net)
        if i % 100 == 0:
            print(f"Epoch {epoch:02d} [{i:03d}] | Train loss {losses[-1]:.4f}")
    toc = time.perf_counter()
    return float(np.mean(losses)), seen / (toc - tic), target_net


epochs = 4
for epoch in range(epochs):
    train_iter = episode_loader(data, 64, rng)
    mean_loss, sps, target_net = train_epoch(policy_net, target_net, train_iter, optimizer, epoch)
    score = play_greedy(policy_net, EVAL_EPISODES, EVAL_STEPS, 123)
    print(f"epoch {epoch} | mean loss {mean_loss:.4f} | {sps:.0f} frames/s | greedy berries {score:.2f}")

final = play_greedy(policy_net, 30, EVAL_STEPS, 999)
base = play_random(30, EVAL_STEPS, 999)
print(f"final greedy berries/episode {final:.2f} (random walk {base:.2f})")
