"""Keep a mill pond in its working band with a learned sluice-gate policy.

Toy simulator: the pond level rises with the stream and with rain showers
(the keeper hears the forecast one half-hour ahead) and falls with the gate
opening.  The wheel turns (+1 per half-hour) while the level sits in the
working band and the water goes through it (half gate; the open gate
bypasses the wheel); an overtopped dam costs 5, a pond too low to turn the wheel
costs 1.

Double DQN: an online Q-net, a target Q-net that is a frozen copy refreshed
every TARGET_EVERY updates, a replay memory that fills up to its capacity and
then overwrites its oldest entries, Huber TD loss, Adam.
"""
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

HOURS = 48                 # half-hour slots in one day
OUTFLOW = np.array([0.0, 0.03, 0.12])    # closed / half (through the wheel) / open bypass
N_ACT = len(OUTFLOW)


class Ponds:
    """Several independent ponds stepped together (numpy)."""

    def __init__(self, n, rng):
        self.n, self.rng = n, rng

    def reset(self):
        self.t = 0
        self.level = self.rng.uniform(0.35, 0.85, self.n)
        self.rain = (self.rng.random(self.n) < 0.2).astype(np.float64)
        self.rain_next = (self.rng.random(self.n) < 0.2).astype(np.float64)
        return self.obs()

    def obs(self):
        return np.stack([self.level, self.rain, self.rain_next,
                         np.full(self.n, self.t / HOURS)], axis=1).astype(np.float32)

    def step(self, act):
        inflow = 0.03 + 0.10 * self.rain * self.rng.uniform(0.6, 1.4, self.n)
        self.level = self.level + inflow - OUTFLOW[act] + self.rng.normal(0, 0.005, self.n)
        over = self.level > 1.0
        low = self.level < 0.25
        self.level = np.clip(self.level, 0.0, 1.05)
        # the wheel turns on the half gate; the open gate bypasses it
        milling = (self.level >= 0.35) & (self.level <= 0.9) & (act == 1)
        reward = milling * 1.0 - over * 5.0 - low * 1.0
        self.rain = self.rain_next
        # showers come in spells
        p = np.where(self.rain > 0, 0.6, 0.12)
        self.rain_next = (self.rng.random(self.n) < p).astype(np.float64)
        self.t += 1
        done = self.t >= HOURS
        return self.obs(), reward.astype(np.float32), done, over, milling


class QNet(nn.Module):
    def __init__(self, hidden=64):
        super().__init__()
        self.l1 = nn.Linear(4, hidden)
        self.l2 = nn.Linear(hidden, hidden)
        self.head = nn.Linear(hidden, N_ACT)

    def __call__(self, s):
        h = nn.relu(self.l1(s))
        h = nn.relu(self.l2(h))
        return self.head(h)


class Replay:
    """Fills up to `cap` transitions, then overwrites the oldest."""

    def __init__(self, cap):
        self.cap, self.rows, self.pos = cap, [], 0

    def add_batch(self, s, a, r, s2, d):
        for i in range(len(a)):
            row = (s[i], a[i], r[i], s2[i], d)
            if len(self.rows) < self.cap:
                self.rows.append(row)
            else:
                self.rows[self.pos] = row
                self.pos = (self.pos + 1) % self.cap

    def sample(self, rng, k):
        idx = rng.integers(0, len(self.rows), k)
        s, a, r, s2, d = zip(*(self.rows[i] for i in idx))
        return (mx.array(np.stack(s)), mx.array(np.array(a, dtype=np.int32)),
                mx.array(np.array(r, dtype=np.float32)), mx.array(np.stack(s2)),
                mx.array(np.array(d, dtype=np.float32)))

    def __len__(self):
        return len(self.rows)


GAMMA = 0.95
TARGET_EVERY = 200


def td_loss(online, target, s, a, r, s2, d):
    q = mx.take_along_axis(online(s), a[:, None], axis=1).squeeze(1)
    # double DQN: online net picks, target net scores
    a2 = mx.argmax(online(s2), axis=1)
    q2 = mx.take_along_axis(target(s2), a2[:, None], axis=1).squeeze(1)
    y = mx.stop_gradient(r + GAMMA * (1.0 - d) * q2)
    return nn.losses.huber_loss(q, y, delta=1.0, reduction="mean")


def greedy_eval(online, seed, n=32):
    env = Ponds(n, np.random.default_rng(seed))
    s = env.reset()
    ret = np.zeros(n)
    over_h = mill_h = 0
    for _ in range(HOURS):
        a = np.array(mx.argmax(online(mx.array(s)), axis=1))
        s, r, done, over, milling = env.step(a)
        ret += r
        over_h += over.sum()
        mill_h += milling.sum()
    return ret.mean(), 100.0 * over_h / (n * HOURS), 100.0 * mill_h / (n * HOURS)


def fixed_policy_eval(policy, seed, n=32):
    env = Ponds(n, np.random.default_rng(seed))
    rng = np.random.default_rng(seed + 1)
    s = env.reset()
    ret = np.zeros(n)
    over_h = mill_h = 0
    for _ in range(HOURS):
        a = policy(s, rng)
        s, r, done, over, milling = env.step(a)
        ret += r
        over_h += over.sum()
        mill_h += milling.sum()
    return ret.mean(), 100.0 * over_h / (n * HOURS), 100.0 * mill_h / (n * HOURS)


def block(title, items):
    print(f"== {title} ==")
    for k, v in items:
        print(f"  {k} {'.' * (22 - len(k))} {v}")


def main():
    rng = np.random.default_rng(5)
    mx.random.seed(5)
    online, target = QNet(), QNet()
    target.update(tree_map(lambda p: p, online.parameters()))
    target.freeze()                       # the target net is never trained
    mx.eval(online.parameters(), target.parameters())

    opt = optim.Adam(learning_rate=1e-3)
    vg = nn.value_and_grad(online, td_loss)
    memory = Replay(cap=6000)
    env = Ponds(8, rng)

    rounds, batch = 120, 64
    eps_end_round = 50
    updates = 0

    r_rand = fixed_policy_eval(lambda s, g: g.integers(0, N_ACT, len(s)), 777)
    r_half = fixed_policy_eval(lambda s, g: np.ones(len(s), dtype=int), 777)
    block("baselines (32 ponds, one day)", [
        ("random gate: return", f"{r_rand[0]:.1f}"),
        ("random gate: overtop", f"{r_rand[1]:.1f}% of pond-hours"),
        ("always half: return", f"{r_half[0]:.1f}"),
        ("always half: overtop", f"{r_half[1]:.1f}% of pond-hours"),
    ])

    t0 = time.perf_counter()
    ep_returns = []
    for rnd in range(1, rounds + 1):
        eps = max(0.05, 1.0 - 0.95 * (rnd - 1) / eps_end_round)
        s = env.reset()
        ret = np.zeros(env.n)
        td_sum, td_n = 0.0, 0
        for _ in range(HOURS):
            greedy = np.array(mx.argmax(online(mx.array(s)), axis=1))
            explore = rng.random(env.n) < eps
            a = np.where(explore, rng.integers(0, N_ACT, env.n), greedy)
            s2, r, done, _, _ = env.step(a)
            memory.add_batch(s, a, r, s2, float(done))
            ret += r
            s = s2
            if len(memory) >= 500:
                batch_t = memory.sample(rng, batch)
                loss, grads = vg(online, target, *batch_t)
                if updates == 0:
                    flat = tree_flatten(grads)
                    zero = [k for k, g in flat if mx.abs(g).max().item() == 0.0]
                    n_frozen = len(tree_flatten(target.trainable_parameters()))
                    block("first update", [
                        ("gradient leaves", str(len(flat))),
                        ("zero leaves", ", ".join(zero) or "none"),
                        ("target trainable", str(n_frozen)),
                    ])
                opt.update(online, grads)
                mx.eval(online.parameters(), opt.state, loss)
                td_sum += loss.item()
                td_n += 1
                updates += 1
                if updates % TARGET_EVERY == 0:
                    target.update(tree_map(lambda p: p, online.parameters()))
                    mx.eval(target.parameters())
        ep_returns.append(ret.mean())
        if rnd % 20 == 0 or rnd == 5:
            g_ret, g_over, g_mill = greedy_eval(online, 777)
            block(f"round {rnd}/{rounds}", [
                ("epsilon", f"{eps:.2f}"),
                ("replay memory", f"{len(memory)}/{memory.cap}"),
                ("updates", str(updates)),
                ("td huber (round)", f"{td_sum / max(td_n, 1):.4f}"),
                ("behaviour return", f"{np.mean(ep_returns[-5:]):.1f}"),
                ("greedy return", f"{g_ret:.1f}"),
                ("greedy overtop", f"{g_over:.1f}% of pond-hours"),
                ("greedy milling", f"{g_mill:.1f}% of pond-hours"),
                ("wall", f"{time.perf_counter() - t0:.1f}s"),
            ])
    drift = sum(float(mx.abs(a - b).max().item())
                for (_, a), (_, b) in zip(tree_flatten(online.parameters()),
                                          tree_flatten(target.parameters())))
    print(f"done: {updates} updates, target refreshed {updates // TARGET_EVERY} times, "
          f"online-target gap {drift:.3f}")


if __name__ == "__main__":
    main()
