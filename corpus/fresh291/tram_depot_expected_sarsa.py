# Tram depot overnight heating: 32 parked trams, each step choose heater
# off / low / high to keep the cabin near 12 C as outside air drifts.
# Online semi-gradient Expected SARSA with a small Q network: every step the
# 32 fresh transitions form one minibatch (no replay, no target copy), the
# target averages Q(s', .) under the current epsilon-greedy policy and is
# held constant with stop_gradient. Two curriculum stages: mild nights first,
# then the full cold range (the reward level drops at the switch and recovers).
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

N, HORIZON, GAMMA = 32, 48, 0.9
HEAT = np.array([0.0, 0.6, 1.4], dtype=np.float32)
ENERGY = np.array([0.0, 0.05, 0.14], dtype=np.float32)
STAGES = [("mild", (2.0, 8.0), 1500), ("full", (-12.0, 8.0), 2500)]


class Depot:
    def __init__(self, n, outside_range, seed):
        self.rng = np.random.default_rng(seed)
        self.n, self.lo_hi = n, outside_range
        self.cabin = self.rng.uniform(6, 16, n).astype(np.float32)
        self.outside = self.rng.uniform(*outside_range, n).astype(np.float32)
        self.t = self.rng.integers(0, HORIZON, n)

    def obs(self):
        return np.stack([(self.cabin - 12.0) / 4.0, self.outside / 10.0,
                         np.sin(2 * np.pi * self.t / HORIZON),
                         np.cos(2 * np.pi * self.t / HORIZON)], 1).astype(np.float32)

    def step(self, a):
        leak = 0.08 * (self.cabin - self.outside)
        self.cabin = (self.cabin - leak + HEAT[a] + self.rng.normal(0, 0.2, self.n)).astype(np.float32)
        self.outside = (self.outside + self.rng.normal(0, 0.3, self.n)).astype(np.float32)
        self.t += 1
        r = (-np.abs(self.cabin - 12.0) / 4.0 - ENERGY[a]).astype(np.float32)
        done = self.t >= HORIZON
        if done.any():
            i = np.where(done)[0]
            self.cabin[i] = self.rng.uniform(6, 16, len(i))
            self.outside[i] = self.rng.uniform(*self.lo_hi, len(i))
            self.t[i] = 0
        return r, done


class QNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1, self.l2, self.out = nn.Linear(4, 64), nn.Linear(64, 64), nn.Linear(64, 3)

    def __call__(self, x):
        return self.out(nn.silu(self.l2(nn.silu(self.l1(x)))))


def eps_probs(q, eps):
    greedy = mx.argmax(q, axis=-1)
    p = mx.full(q.shape, eps / 3.0)
    return p + (1.0 - eps) * (mx.arange(3)[None] == greedy[:, None])


def td_loss(model, s, a, r, s2, done, eps):
    q = mx.take_along_axis(model(s), a[:, None], axis=-1)[:, 0]
    q2 = model(s2)
    target = r + GAMMA * (1.0 - done) * (eps_probs(q2, eps) * q2).sum(-1)
    return nn.losses.huber_loss(q, mx.stop_gradient(target), reduction="mean")


def rollout_return(policy, lo_hi, seed=99):
    env = Depot(128, lo_hi, seed)
    env.t[:] = 0
    tot = np.zeros(128, dtype=np.float32)
    for _ in range(HORIZON):
        r, _ = env.step(policy(env.obs()))
        tot += r
    return float(tot.mean())


def thermostat(o):
    dev = o[:, 0] * 4.0
    return np.where(dev < -1.0, 2, np.where(dev < 0.5, 1, 0))


if __name__ == "__main__":
    t0 = time.time()
    mx.random.seed(3)
    rng = np.random.default_rng(5)
    model = QNet()
    opt = optim.Adam(learning_rate=1e-3)
    step_fn = nn.value_and_grad(model, td_loss)
    print("stage\tstep\teps\treward_per_step\ttd_loss\tgreedy_return\tthermostat_return\tall_off_return")
    global_step = 0
    for name, lo_hi, steps in STAGES:
        env = Depot(N, lo_hi, seed=len(name))
        therm = rollout_return(thermostat, lo_hi)
        off = rollout_return(lambda o: np.zeros(len(o), dtype=np.int64), lo_hi)
        rewards, losses = [], []
        for k in range(steps):
            eps = max(0.05, 0.5 * (1 - k / (0.6 * steps)))
            s = env.obs()
            q = np.array(model(mx.array(s)))
            a = np.where(rng.random(N) < eps, rng.integers(0, 3, N), q.argmax(1))
            r, d = env.step(a)
            s2 = env.obs()
            loss, g = step_fn(model, mx.array(s), mx.array(a.astype(np.int32)), mx.array(r),
                              mx.array(s2), mx.array(d.astype(np.float32)), eps)
            opt.update(model, g)
            mx.eval(model.parameters(), opt.state, loss)
            rewards.append(r.mean()); losses.append(loss.item())
            global_step += 1
            if (k + 1) % 500 == 0:
                greedy = rollout_return(lambda o: np.array(mx.argmax(model(mx.array(o)), -1)), lo_hi)
                print(f"{name}\t{global_step}\t{eps:.3f}\t{np.mean(rewards[-500:]):.4f}\t"
                      f"{np.mean(losses[-500:]):.5f}\t{greedy:.3f}\t{therm:.3f}\t{off:.3f}", flush=True)
    print(f"# finished {global_step} steps in {time.time() - t0:.1f}s")
