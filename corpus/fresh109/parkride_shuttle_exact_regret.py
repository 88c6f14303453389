"""When should the park-and-ride shuttle bus leave the car-park stop for the terminal?

State: passengers waiting (0..11) and time-of-day slot (4 slots, one step = 15 minutes).
Actions: 0 = wait another step, 1 = depart now (fuel/driver cost, seats 8 passengers).
Waiting passengers cost 0.15 each per step. Arrivals are Poisson with a rate per slot.

Q-learning with a small network, a replay buffer (grows to 4000, then overwrites the
oldest), a Polyak-averaged target network (tau 0.01 every update, done with tree_map),
epsilon-greedy exploration and a hand-written momentum SGD (tree_map + model.update).
The small MDP is solved exactly by value iteration so the greedy policy of the network
can be scored by its exact discounted value (regret in %, lower is better).
The TD loss is printed as a bias-corrected exponential moving average.
"""
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
from mlx.utils import tree_flatten, tree_map

NQ, NH, CAP = 12, 4, 8
RATES = np.array([0.6, 2.2, 1.4, 0.4])
WAIT_COST, FUEL = 0.15, 2.0
GAMMA = 0.95
NS = NQ * NH


def sid(q, h):
    return q * NH + h


def poisson_pmf(lam, kmax):
    p = np.array([math.exp(-lam) * lam ** k / math.factorial(k) for k in range(kmax + 1)])
    p[-1] += 1.0 - p.sum()  # everything above kmax is clipped at the stop's capacity
    return p


def build_mdp():
    P = np.zeros((NS, 2, NS))
    R = np.zeros((NS, 2))
    for q in range(NQ):
        for h in range(NH):
            s = sid(q, h)
            h2 = (h + 1) % NH
            for a in (0, 1):
                left = q if a == 0 else max(q - CAP, 0)
                R[s, a] = -WAIT_COST * left - (FUEL if a == 1 else 0.0)
                pk = poisson_pmf(RATES[h], NQ - 1 - left)
                for k, pr in enumerate(pk):
                    P[s, a, sid(left + k, h2)] += pr
    return P, R


def value_iteration(P, R):
    V = np.zeros(NS)
    for _ in range(2000):
        Q = R + GAMMA * P @ V
        V2 = Q.max(1)
        if np.abs(V2 - V).max() < 1e-10:
            break
        V = V2
    return V2


def policy_value(P, R, pi):
    Ppi = P[np.arange(NS), pi]
    Rpi = R[np.arange(NS), pi]
    return np.linalg.solve(np.eye(NS) - GAMMA * Ppi, Rpi)


def encode(states):
    q, h = states // NH, states % NH
    x = np.zeros((len(states), NQ + NH), dtype=np.float32)
    x[np.arange(len(states)), q] = 1.0
    x[np.arange(len(states)), NQ + h] = 1.0
    return x


class QNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(NQ + NH, 48), nn.ReLU(), nn.Linear(48, 48), nn.ReLU())
        self.out = nn.Linear(48, 2)

    def __call__(self, x):
        return self.out(self.body(x))


class Replay:
    def __init__(self, cap, rng):
        self.cap, self.rng = cap, rng
        self.s = np.zeros(cap, np.int64)
        self.a = np.zeros(cap, np.int64)
        self.r = np.zeros(cap, np.float32)
        self.s2 = np.zeros(cap, np.int64)
        self.n = 0
        self.pos = 0

    def add(self, s, a, r, s2):
        self.s[self.pos], self.a[self.pos], self.r[self.pos], self.s2[self.pos] = s, a, r, s2
        self.pos = (self.pos + 1) % self.cap
        self.n = min(self.n + 1, self.cap)

    def sample(self, bs):
        i = self.rng.integers(0, self.n, bs)
        return self.s[i], self.a[i], self.r[i], self.s2[i]


def main():
    rng = np.random.default_rng(11)
    mx.random.seed(11)
    P, R = build_mdp()
    v_star = value_iteration(P, R)
    all_x = mx.array(encode(np.arange(NS)))
    pi_always = np.ones(NS, np.int64)
    base = policy_value(P, R, pi_always).mean()
    print(f"[shuttle] exact optimum: mean start value {v_star.mean():.3f} | 'always depart' {base:.3f}")

    online, target = QNet(), QNet()
    mx.eval(online.parameters())
    target.update(tree_map(lambda a: mx.array(a), online.parameters()))
    target.freeze()
    lr, mom, tau = 0.02, 0.9, 0.01
    velocity = tree_map(mx.zeros_like, online.trainable_parameters())

    def td_loss(model, x, a, r, x2):
        q = model(x)
        q_sa = mx.take_along_axis(q, a[:, None], axis=1).squeeze(1)
        y = r + GAMMA * mx.stop_gradient(target(x2).max(axis=1))
        return nn.losses.mse_loss(q_sa, y, reduction="mean")

    vg = nn.value_and_grad(online, td_loss)
    buf = Replay(4000, rng)

    def env_step(s, a):
        pr = P[s, a]
        return R[s, a], int(rng.choice(NS, p=pr))

    s = sid(0, 0)
    for _ in range(300):  # random warm-up transitions before any update
        a = int(rng.integers(0, 2))
        r, s2 = env_step(s, a)
        buf.add(s, a, r, s2)
        s = s2

    def greedy_regret():
        pi = np.array(mx.argmax(online(all_x), axis=1)).astype(np.int64)
        v_pi = policy_value(P, R, pi).mean()
        return v_pi, 100.0 * (v_star.mean() - v_pi) / abs(v_star.mean())

    v0, reg0 = greedy_regret()
    print(f"[shuttle] untrained greedy policy: value {v0:.3f} | regret {reg0:.2f}%")

    total, bs, beta = 6000, 64, 0.98
    ema = 0.0
    t0 = time.time()
    for t in range(1, total + 1):
        eps = max(0.05, 1.0 - t / 3000)
        if rng.random() < eps:
            a = int(rng.integers(0, 2))
        else:
            qv = online(mx.array(encode(np.array([s]))))
            a = int(mx.argmax(qv, axis=1).item())
        r, s2 = env_step(s, a)
        buf.add(s, a, r, s2)
        s = s2

        bs_, ba, br, bs2 = buf.sample(bs)
        x, x2 = mx.array(encode(bs_)), mx.array(encode(bs2))
        loss, g = vg(online, x, mx.array(ba), mx.array(br), x2)
        if t == 1:
            flat = tree_flatten(g)
            nz = sum(1 for _, v in flat if mx.abs(v).max().item() > 0)
            print(f"[shuttle] first update: {nz}/{len(flat)} online arrays have a non-zero gradient; "
                  f"target arrays trainable: {len(tree_flatten(target.trainable_parameters()))}")
        velocity = tree_map(lambda v, gr: mom * v + gr, velocity, g)
        online.update(tree_map(lambda p, v: p - lr * v, online.trainable_parameters(), velocity))
        target.update(tree_map(lambda pt, po: (1 - tau) * pt + tau * po,
                               target.parameters(), online.parameters()))
        mx.eval(online.parameters(), target.parameters(), velocity, loss)
        ema = beta * ema + (1 - beta) * loss.item()
        if t == 150 or t % 750 == 0:
            v_pi, regret = greedy_regret()
            print(f"[shuttle] update {t:5d} | buffer {buf.n:4d}/{buf.cap} | eps {eps:.2f} "
                  f"| td_ema {ema / (1 - beta ** t):.4f} | greedy value {v_pi:8.3f} "
                  f"| regret {regret:6.2f}% | {time.time() - t0:5.1f}s")
    pi = np.array(mx.argmax(online(all_x), axis=1)).astype(np.int64)
    thresholds = []
    for h in range(NH):
        dep = [q for q in range(NQ) if pi[sid(q, h)] == 1]
        thresholds.append(min(dep) if dep else None)
    v_opt_pi = np.argmax(R + GAMMA * P @ v_star, axis=1)
    opt_thr = []
    for h in range(NH):
        dep = [q for q in range(NQ) if v_opt_pi[sid(q, h)] == 1]
        opt_thr.append(min(dep) if dep else None)
    print(f"[shuttle] learned departure threshold per slot {thresholds} | optimal {opt_thr}")


if __name__ == "__main__":
    main()
