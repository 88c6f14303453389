"""Snow-plough lane keeping learned by imitation (DAgger).

An expert (a PD steering rule that knows the road curvature) drives a toy
kinematic plough.  A small MLP policy picks one of 7 steering notches.  Round 0
is plain behaviour cloning on expert-driven states; every later round lets the
learner drive (mixed with the expert with probability beta), labels every state
it visits with the expert's notch and adds them to the aggregated data set.
The data set grows each round until it reaches its cap, then a random subset
of the cap is kept (memory holds).
"""
import logging
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

logging.basicConfig(format="%(asctime)s plough %(levelname)s | %(message)s",
                    datefmt="%H:%M:%S", level=logging.INFO)
log = logging.getLogger("plough")

NOTCHES = np.linspace(-0.45, 0.45, 7).astype(np.float32)   # steering angles (rad)
DT, SPEED, ROAD_HALF = 0.1, 8.0, 1.6
SCALE = np.array([0.8, 0.25, 0.12, 1.0], np.float32)       # feature scales


class Road:
    """Vectorised toy road: lateral offset y, heading error psi, curvature kappa."""

    def __init__(self, n, rng):
        self.rng = rng
        self.y = rng.normal(0, 0.3, n).astype(np.float32)
        self.psi = rng.normal(0, 0.05, n).astype(np.float32)
        self.kappa = rng.normal(0, 0.06, n).astype(np.float32)
        self.grip = rng.uniform(0.7, 1.0, n).astype(np.float32)   # snow on the road
        self.alive = np.ones(n, bool)

    def obs(self):
        return np.stack([self.y, self.psi, self.kappa, self.grip], 1) / SCALE

    def expert(self):
        # feed-forward curvature plus PD on offset / heading, snapped to a notch
        want = (self.kappa - 0.55 * self.y - 1.6 * self.psi) / self.grip
        return np.abs(want[:, None] - NOTCHES[None]).argmin(1)

    def step(self, notch):
        steer = NOTCHES[notch] * self.grip
        self.psi = self.psi + SPEED * DT * 0.12 * (steer - self.kappa) \
            + self.rng.normal(0, 0.01, self.psi.shape).astype(np.float32)
        self.y = self.y + SPEED * DT * np.sin(self.psi)
        self.kappa = np.clip(0.97 * self.kappa
                             + self.rng.normal(0, 0.02, self.kappa.shape), -0.2, 0.2
                             ).astype(np.float32)
        self.alive &= np.abs(self.y) < ROAD_HALF


class Policy(nn.Module):
    def __init__(self, hidden=64):
        super().__init__()
        self.l1 = nn.Linear(4, hidden)
        self.l2 = nn.Linear(hidden, hidden)
        self.out = nn.Linear(hidden, len(NOTCHES))

    def __call__(self, x):
        return self.out(nn.relu(self.l2(nn.relu(self.l1(x)))))


def learner_notch(policy, obs):
    return np.array(mx.argmax(policy(mx.array(obs)), axis=1))


def rollout(policy, beta, n_roads, steps, rng):
    """Drive n_roads plough runs; return visited (obs, expert label) and stats."""
    road = Road(n_roads, rng)
    X, Y = [], []
    agree = total = 0
    abs_off = []
    for _ in range(steps):
        live = road.alive.copy()
        if not live.any():
            break
        o, e = road.obs(), road.expert()
        X.append(o[live]); Y.append(e[live])
        if beta >= 1.0:
            act = e
        else:
            mine = learner_notch(policy, o)
            agree += int((mine[live] == e[live]).sum()); total += int(live.sum())
            use_expert = rng.random(n_roads) < beta
            act = np.where(use_expert, e, mine)
        abs_off.append(np.abs(road.y[live]).mean())
        road.step(act)
    stats = dict(off_road=100.0 * (1 - road.alive.mean()),
                 mean_abs_off=float(np.mean(abs_off)),
                 agree=100.0 * agree / max(total, 1))
    return np.concatenate(X), np.concatenate(Y), stats


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def main():
    mx.random.seed(3)
    rng = np.random.default_rng(3)
    policy = Policy()
    mx.eval(policy.parameters())
    opt = optim.AdamW(learning_rate=2e-3, weight_decay=1e-4)
    step_fn = nn.value_and_grad(policy, loss_fn)

    CAP, ROUNDS, EPOCHS, BS = 14000, 7, 4, 128
    t0 = time.time()
    data_x, data_y, _ = rollout(policy, 1.0, 8, 120, rng)     # round 0: expert drives
    log.info("expert-driven seed data: %d states, notch counts %s",
             len(data_y), np.bincount(data_y, minlength=7).tolist())

    # gradient audit on the first batch
    _, g = step_fn(policy, mx.array(data_x[:BS]), mx.array(data_y[:BS]))
    leaves = tree_flatten(g)
    zero = [k for k, v in leaves if float(mx.abs(v).max()) == 0.0]
    log.info("grad audit: %d leaves, all-zero: %s", len(leaves), zero or "none")

    _, _, st = rollout(policy, 0.0, 64, 150, np.random.default_rng(99))
    log.info("untrained policy | off-road %5.1f%% | expert agreement %5.1f%%",
             st["off_road"], st["agree"])

    for rnd in range(ROUNDS + 1):
        if rnd > 0:
            beta = 0.5 ** rnd
            nx, ny, _ = rollout(policy, beta, 40, 150, rng)
            data_x = np.concatenate([data_x, nx]); data_y = np.concatenate([data_y, ny])
            if len(data_y) > CAP:                        # keep a random subset of the cap
                keep = rng.choice(len(data_y), CAP, replace=False)
                data_x, data_y = data_x[keep], data_y[keep]
        else:
            beta = 1.0
        n = len(data_y)
        X, Y = mx.array(data_x), mx.array(data_y)
        for ep in range(EPOCHS):
            perm = rng.permutation(n)
            tot, cnt = 0.0, 0
            for i in range(0, n - BS + 1, BS):
                idx = mx.array(perm[i:i + BS])
                loss, grads = step_fn(policy, X[idx], Y[idx])
                opt.update(policy, grads)
                mx.eval(policy.parameters(), opt.state, loss)
                tot += loss.item(); cnt += 1
        # held-out evaluation: the learner drives alone on unseen roads
        _, _, st = rollout(policy, 0.0, 64, 150, np.random.default_rng(1000 + rnd))
        log.info("round %d | beta %.3f | data %5d | train_ce %.3f | off-road %5.1f%% "
                 "(lower is better) | mean |offset| %.3f m | expert agreement %5.1f%% | %.1fs",
                 rnd, beta, n, tot / cnt, st["off_road"], st["mean_abs_off"],
                 st["agree"], time.time() - t0)

    _, _, ex = rollout(None, 1.0, 64, 150, np.random.default_rng(1000 + ROUNDS))
    log.info("done | expert on the same roads: off-road %.1f%%, mean |offset| %.3f m",
             ex["off_road"], ex["mean_abs_off"])


if __name__ == "__main__":
    main()
