# Snow-groomer dispatch on a 9-segment piste: quantile-regression DQN (QR-DQN).
# Segment 0 is the garage (small sure bonus), segment 8 the summit lift (large but noisy bonus).
import os, tempfile
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_map, tree_flatten

N_SEG, N_ACT, N_Q = 9, 2, 21
GAMMA, HORIZON, N_ENV = 0.9, 24, 16
START = 3
rng = np.random.default_rng(7)
mx.random.seed(7)


class Piste:
    def __init__(self, n):
        self.n = n
        self.reset_all()

    def reset_all(self):
        self.pos = np.full(self.n, START)
        self.t = np.zeros(self.n, dtype=int)

    def step(self, a):
        slip = rng.random(self.n) < 0.15
        move = np.where(a == 1, 1, -1)
        move = np.where(slip, -move, move)
        self.pos = np.clip(self.pos + move, 0, N_SEG - 1)
        self.t += 1
        r = np.full(self.n, -0.02)
        at_garage = self.pos == 0
        at_lift = self.pos == N_SEG - 1
        r[at_garage] += 0.3
        r[at_lift] += rng.normal(1.0, 0.8, size=at_lift.sum())
        done = at_garage | at_lift | (self.t >= HORIZON)
        return self.pos.copy(), r, done


def onehot(s):
    x = np.zeros((len(s), N_SEG), dtype=np.float32)
    x[np.arange(len(s)), s] = 1.0
    return mx.array(x)


class QuantileNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(N_SEG, 64)
        self.l2 = nn.Linear(64, 64)
        self.out = nn.Linear(64, N_ACT * N_Q)

    def __call__(self, x):
        h = nn.relu(self.l2(nn.relu(self.l1(x))))
        return self.out(h).reshape(-1, N_ACT, N_Q)


taus = mx.array((np.arange(N_Q) + 0.5) / N_Q, dtype=mx.float32)


def quantile_huber(model, s, a, target):
    q = model(s)                                      # B, A, Q
    qa = mx.take_along_axis(q, a[:, None, None].astype(mx.int32) * mx.ones((1, 1, N_Q), mx.int32), axis=1)[:, 0]
    u = target[:, None, :] - qa[:, :, None]           # B, Q(pred), Q(target)
    k = 1.0
    hub = mx.where(mx.abs(u) <= k, 0.5 * u * u, k * (mx.abs(u) - 0.5 * k))
    w = mx.abs(taus[None, :, None] - (u < 0).astype(mx.float32))
    return (w * hub / k).sum(axis=1).mean()


def greedy_eval(model, episodes=400):
    env = Piste(episodes)
    total = np.zeros(episodes)
    alive = np.ones(episodes, bool)
    s = env.pos.copy()
    disc = 1.0
    for _ in range(HORIZON):
        q = model(onehot(s)).mean(axis=2)
        a = np.array(mx.argmax(q, axis=1))
        s, r, d = env.step(a)
        total += disc * r * alive
        alive &= ~d
        disc *= GAMMA
        if not alive.any():
            break
    return total.mean()


def policy_value(policy_fn, episodes=4000):
    env = Piste(episodes)
    total = np.zeros(episodes)
    alive = np.ones(episodes, bool)
    s = env.pos.copy()
    disc = 1.0
    for _ in range(HORIZON):
        s, r, d = env.step(policy_fn(s))
        total += disc * r * alive
        alive &= ~d
        disc *= GAMMA
    return total.mean()


random_base = policy_value(lambda s: rng.integers(0, 2, size=len(s)))
garage_base = policy_value(lambda s: np.zeros(len(s), dtype=int))
summit_base = policy_value(lambda s: np.ones(len(s), dtype=int))
print(f"baselines (discounted return from segment {START}): random {random_base:.3f}  "
      f"always-garage {garage_base:.3f}  always-summit {summit_base:.3f}")

model = QuantileNet()
target_net = QuantileNet()
target_net.update(model.parameters())
mx.eval(model.parameters(), target_net.parameters())

TOTAL_UPDATES, WARM = 1600, 300
sched = optim.join_schedules([optim.linear_schedule(0.0, 1e-3, WARM), optim.cosine_decay(1e-3, TOTAL_UPDATES - WARM, 1e-4)], [WARM])
opt = optim.Adam(learning_rate=sched)
loss_and_grad = nn.value_and_grad(model, quantile_huber)

CAP = 20000
buf_s = np.zeros(CAP, int); buf_a = np.zeros(CAP, int); buf_r = np.zeros(CAP, np.float32)
buf_s2 = np.zeros(CAP, int); buf_d = np.zeros(CAP, np.float32)
n_buf = 0

env = Piste(N_ENV)
s = env.pos.copy()
eps = 1.0
updates = 0
env_steps = 0
log_loss = []
ckpt = os.path.join(tempfile.mkdtemp(), "groomer_qr.safetensors")

while updates < TOTAL_UPDATES:
    if n_buf < 2000:
        a = rng.integers(0, 2, size=N_ENV)
    else:
        q = model(onehot(s)).mean(axis=2)
        g = np.array(mx.argmax(q, axis=1))
        a = np.where(rng.random(N_ENV) < eps, rng.integers(0, 2, size=N_ENV), g)
    s2, r, d = env.step(a)
    idx = (np.arange(N_ENV) + n_buf) % CAP
    buf_s[idx], buf_a[idx], buf_r[idx], buf_s2[idx], buf_d[idx] = s, a, r, s2, d.astype(np.float32)
    n_buf += N_ENV
    env_steps += N_ENV
    if d.any():
        s2 = s2.copy()
        env.pos[d] = START
        env.t[d] = 0
        s2[d] = START
    s = s2
    if n_buf < 2000:
        continue  # filling replay before learning starts
    eps = max(0.05, 1.0 - updates / 800)
    j = rng.integers(0, min(n_buf, CAP), size=128)
    tq = target_net(onehot(buf_s2[j]))                          # B, A, Q
    a_star = mx.argmax(tq.mean(axis=2), axis=1)
    tq_star = mx.take_along_axis(tq, a_star[:, None, None] * mx.ones((1, 1, N_Q), mx.int32), axis=1)[:, 0]
    target = mx.array(buf_r[j])[:, None] + GAMMA * (1 - mx.array(buf_d[j]))[:, None] * tq_star
    target = mx.stop_gradient(target)
    loss, grads = loss_and_grad(model, onehot(buf_s[j]), mx.array(buf_a[j]), target)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    updates += 1
    log_loss.append(loss.item())
    if updates % 100 == 0:
        target_net.update(model.parameters())
        mx.eval(target_net.parameters())
    if updates % 200 == 0:
        ret = greedy_eval(model)
        lr = sched(opt.step).item()
        print(f"update {updates:5d} env_steps {env_steps:6d} lr {lr:.2e} eps {eps:.2f} "
              f"qr_loss {np.mean(log_loss[-200:]):.4f} greedy_return {ret:.3f}")
    if updates == TOTAL_UPDATES // 2:
        model.save_weights(ckpt)
        before = greedy_eval(model, 1)
        fresh = QuantileNet()
        fresh.load_weights(ckpt)
        same = all(bool(mx.array_equal(p, q)) for (_, p), (_, q) in zip(tree_flatten(model.parameters()), tree_flatten(fresh.parameters())))
        model = fresh
        loss_and_grad = nn.value_and_grad(model, quantile_huber)
        print(f"checkpoint saved and reloaded at update {updates}; weights identical: {same}")

final = greedy_eval(model, 4000)
q0 = model(onehot(np.arange(N_SEG))).mean(axis=2)
pol = "".join(">" if x else "<" for x in np.array(mx.argmax(q0, axis=1)))
spread = model(onehot(np.array([N_SEG - 2])))[0, 1]
print(f"final greedy return {final:.3f} (random {random_base:.3f}, always-summit {summit_base:.3f})")
print(f"greedy policy per segment: {pol}")
print(f"return quantiles next to the lift, drive up: 10% {spread[2].item():.2f}  50% {spread[10].item():.2f}  90% {spread[18].item():.2f}")
