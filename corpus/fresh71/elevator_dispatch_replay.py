"""Hall-call dispatching for a 3-car, 12-floor bank, learned from experience.

Each hall call is a one-step decision (which car answers it); the reward is minus the
passenger's wait in seconds / 30. A Q-network predicts the reward of each car and is trained
on minibatches drawn from a replay buffer that grows to CAP transitions and then recycles
its oldest slots. Exploration is epsilon-greedy with epsilon decaying 1.0 -> 0.05.
"""
import time, resource
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

FLOORS, CARS = 12, 3
CAP = 40000
rng = np.random.default_rng(11)
mx.random.seed(11)


def sample_calls(n):
    call = rng.integers(0, FLOORS, n)
    up = rng.integers(0, 2, n) * 2 - 1               # +1 up, -1 down
    pos = rng.uniform(0, FLOORS - 1, (n, CARS))
    heading = rng.integers(-1, 2, (n, CARS))          # -1 down, 0 idle, +1 up
    load = rng.uniform(0, 1, (n, CARS))
    stops = rng.integers(0, 5, (n, CARS))
    return call, up, pos, heading, load, stops


def wait_seconds(call, up, pos, heading, load, stops, car):
    n = len(call)
    r = np.arange(n)
    p, h, l, s = pos[r, car], heading[r, car], load[r, car], stops[r, car]
    dist = np.abs(p - call)
    toward = (np.sign(call - p) == h) | (h == 0)
    same_dir = (h == up) | (h == 0)
    # a car heading away must finish its run first (to the end of the shaft and back)
    detour = np.where(toward, 0.0, 2.0 * np.where(h > 0, FLOORS - 1 - p, p))
    w = 1.6 * (dist + detour) + 7.0 * s + np.where(same_dir, 0.0, 9.0) + 25.0 * (l > 0.85)
    return w + rng.exponential(2.0, n)


def features(call, up, pos, heading, load, stops):
    rel = (pos - call[:, None]) / FLOORS
    return np.concatenate([
        (call[:, None] / FLOORS), up[:, None].astype(float), rel, heading, load, stops / 4.0,
    ], 1).astype(np.float32)


class QNet(nn.Module):
    def __init__(self, d_in=14, hidden=64):
        super().__init__()
        self.l1 = nn.Linear(d_in, hidden)
        self.l2 = nn.Linear(hidden, hidden)
        self.out = nn.Linear(hidden, CARS)

    def __call__(self, x):
        return self.out(nn.relu(self.l2(nn.relu(self.l1(x)))))


def loss_fn(model, x, a, r):
    q = mx.take_along_axis(model(x), a[:, None], axis=1).squeeze(1)
    return nn.losses.huber_loss(q, r, delta=1.0, reduction="mean")


# replay storage: plain Python lists that grow until CAP, then a ring
buf_x, buf_a, buf_r = [], [], []
head = 0


def push(x, a, r):
    global head
    for i in range(len(a)):
        if len(buf_a) < CAP:
            buf_x.append(x[i]); buf_a.append(int(a[i])); buf_r.append(float(r[i]))
        else:
            buf_x[head] = x[i]; buf_a[head] = int(a[i]); buf_r[head] = float(r[i])
            head = (head + 1) % CAP


# fixed evaluation calls
ev = sample_calls(3000)
ev_x = mx.array(features(*ev))


def policy_wait(choice):
    global rng
    saved = rng
    rng = np.random.default_rng(99)           # same passenger noise for every policy
    w = wait_seconds(*ev, choice).mean()
    rng = saved
    return w


nearest = np.argmin(np.abs(ev[2] - ev[0][:, None]), 1)
base_random = policy_wait(np.random.default_rng(5).integers(0, CARS, 3000))
base_nearest = policy_wait(nearest)
oracle = policy_wait(np.argmin(np.stack([wait_seconds(*ev, np.full(3000, c)) for c in range(CARS)], 1), 1))

model = QNet()
mx.eval(model.parameters())
opt = optim.Adam(learning_rate=1e-3)
vg = nn.value_and_grad(model, loss_fn)

STEPS, CALLS_PER_STEP, BATCH = 1500, 48, 256
print(f"{'step':>5} | {'eps':>5} | {'buffer':>6} | {'rss_MB':>6} | {'huber':>7} | {'greedy_wait_s':>13} | {'vs_nearest_s':>12}")
print("-" * 74)
t0 = time.time()
hub = []
for step in range(1, STEPS + 1):
    eps = max(0.05, 1.0 - step / 600)
    calls = sample_calls(CALLS_PER_STEP)
    x = features(*calls)
    greedy = np.array(mx.argmax(model(mx.array(x)), 1))
    explore = rng.random(CALLS_PER_STEP) < eps
    act = np.where(explore, rng.integers(0, CARS, CALLS_PER_STEP), greedy)
    rew = -wait_seconds(*calls, act) / 30.0
    push(x, act, rew)

    idx = rng.integers(0, len(buf_a), BATCH)
    bx = mx.array(np.stack([buf_x[i] for i in idx]))
    ba = mx.array(np.array([buf_a[i] for i in idx], dtype=np.int32))
    br = mx.array(np.array([buf_r[i] for i in idx], dtype=np.float32))
    loss, grads = vg(model, bx, ba, br)
    if step == 1:
        leaves = tree_flatten(grads)
        nz = sum(float(mx.abs(g).max()) > 0 for _, g in leaves)
        print(f"  (first update: {nz}/{len(leaves)} gradient leaves non-zero; "
              f"random policy waits {base_random:.1f} s, nearest-car rule {base_nearest:.1f} s, "
              f"best car in hindsight {oracle:.1f} s)")
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    hub.append(loss.item())
    if step % 100 == 0:
        gw = policy_wait(np.array(mx.argmax(model(ev_x), 1)))
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"{step:>5} | {eps:>5.2f} | {len(buf_a):>6} | {rss:>6.0f} | {np.mean(hub):>7.4f} | "
              f"{gw:>13.2f} | {gw - base_nearest:>+12.2f}")
        hub = []
print("-" * 74)
print(f"finished {STEPS} updates in {time.time() - t0:.1f} s; "
      f"final greedy wait {gw:.2f} s (nearest-car {base_nearest:.2f} s, hindsight {oracle:.2f} s)")
