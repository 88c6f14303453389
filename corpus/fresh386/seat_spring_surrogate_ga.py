"""Tractor seat suspension design search.

A slow quarter-cab simulator (pure Python time stepping over a rough field track)
scores a design by seat vibration plus an end-stop penalty.  A small MLX network
is fitted as a surrogate of the simulator's score; a genetic algorithm searches
the surrogate, and only the most promising designs of each generation are sent
to the simulator (the quiet part of every round).  The new results are added to
the table and the surrogate is refitted.
"""
import math
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(11)
mx.random.seed(11)

# design vector in [0,1]^6 -> physical parameters
LO = np.array([8e3, 300.0, 1.5e4, 400.0, 0.6, 0.02])
HI = np.array([6e4, 4000.0, 8e4, 3000.0, 1.4, 0.10])
NAMES = ["k_cab", "c_cab", "k_seat", "c_seat", "mass_ratio", "travel_m"]

DT = 0.0015
N_STEPS = 4000
_t = np.arange(N_STEPS) * DT
TRACK = (0.012 * np.sin(2 * math.pi * 1.3 * _t) + 0.006 * np.sin(2 * math.pi * 4.7 * _t + 0.4)
         + 0.004 * np.sign(np.sin(2 * math.pi * 0.7 * _t)) + 0.003 * np.random.default_rng(3).standard_normal(N_STEPS))
TRACK = TRACK.tolist()


def simulate(u):
    """Score of one design (lower is better). Pure Python on purpose: it is the slow lab."""
    k1, c1, k2, c2, mr, travel = (LO + u * (HI - LO)).tolist()
    m_cab, m_seat = 900.0 * mr, 110.0
    x1 = v1 = x2 = v2 = 0.0
    acc_sq = 0.0
    stop_hits = 0.0
    for i in range(N_STEPS):
        road = TRACK[i]
        f_cab = k1 * (road - x1) + c1 * (-v1)
        f_seat = k2 * (x1 - x2) + c2 * (v1 - v2)
        rel = x2 - x1
        if abs(rel) > travel:
            f_seat += -2e5 * (rel - math.copysign(travel, rel))
            stop_hits += abs(rel) - travel
        a1 = (f_cab - f_seat) / m_cab
        a2 = f_seat / m_seat
        v1 += a1 * DT; x1 += v1 * DT
        v2 += a2 * DT; x2 += v2 * DT
        acc_sq += a2 * a2
    rms = math.sqrt(acc_sq / N_STEPS)
    return math.log(rms + 1e-6) + 40.0 * stop_hits / N_STEPS + 0.5 * (u[4] - 0.5) ** 2


class Surrogate(nn.Module):
    def __init__(self, hidden=64, p_drop=0.1):
        super().__init__()
        self.l1 = nn.Linear(6, hidden)
        self.l2 = nn.Linear(hidden, hidden)
        self.drop = nn.Dropout(p_drop)
        self.out = nn.Linear(hidden, 1)

    def __call__(self, x):
        h = nn.gelu(self.l1(x))
        h = self.drop(nn.gelu(self.l2(h)))
        return self.out(h).squeeze(-1)


def fit_surrogate(X, y, epochs=120):
    model = Surrogate()
    mx.eval(model.parameters())
    mu, sd = float(y.mean()), float(y.std() + 1e-8)
    Xa = mx.array(X.astype(np.float32)); ya = mx.array(((y - mu) / sd).astype(np.float32))
    n = len(y)
    opt = optim.AdamW(learning_rate=optim.cosine_decay(4e-3, epochs * max(1, n // 32)), weight_decay=1e-3)

    def loss_fn(m, xb, yb):
        return nn.losses.huber_loss(m(xb), yb, delta=1.0).mean()

    lg = nn.value_and_grad(model, loss_fn)
    model.train()
    losses = []
    for ep in range(epochs):
        perm = rng.permutation(n)
        for j in range(0, n, 32):
            idx = mx.array(perm[j:j + 32])
            loss, g = lg(model, Xa[idx], ya[idx])
            opt.update(model, g)
            mx.eval(model.parameters(), opt.state, loss)
        losses.append(loss.item())
    model.eval()
    return model, mu, sd, losses[0], float(np.mean(losses[-10:]))


def predict(model, mu, sd, X, mc=8):
    """MC-dropout mean and spread in score units."""
    Xa = mx.array(X.astype(np.float32))
    model.train()
    draws = mx.stack([model(Xa) for _ in range(mc)])
    model.eval()
    mean = mx.mean(draws, axis=0) * sd + mu
    std = mx.std(draws, axis=0) * sd
    return np.array(mean), np.array(std)


def ga_search(model, mu, sd, seeds, gens=30, pop=256):
    P = np.clip(np.concatenate([seeds, rng.uniform(0, 1, (pop - len(seeds), 6))]), 0, 1)
    for _ in range(gens):
        m, s = predict(model, mu, sd, P, mc=4)
        score = m - 0.5 * s                 # optimistic: favour uncertain designs a little
        order = np.argsort(score)
        parents = P[order[: pop // 4]]
        a = parents[rng.integers(0, len(parents), pop)]
        b = parents[rng.integers(0, len(parents), pop)]
        w = rng.uniform(0, 1, (pop, 6))
        child = w * a + (1 - w) * b + rng.normal(0, 0.05, (pop, 6))
        child[: pop // 8] = parents[: pop // 8]          # elitism
        P = np.clip(child, 0, 1)
    m, s = predict(model, mu, sd, P, mc=8)
    return P[np.argsort(m - 0.5 * s)]


T0 = time.time()
print("# seat suspension surrogate search")
print(f"# simulator: {N_STEPS} steps of {DT * 1000:.1f} ms per design, 6 design variables")
N_INIT, ROUNDS, PER_ROUND = 40, 6, 24
X = rng.uniform(0, 1, (N_INIT, 6))
y = np.array([simulate(u) for u in X])
print(f"# initial lab table: {N_INIT} random designs, best {y.min():.4f}, median {np.median(y):.4f}"
      f"  ({time.time() - T0:.1f}s)")
print(f"{'round':>5} {'evals':>5} {'fit_loss':>17} {'pred_err_new':>12} {'batch_best':>10} "
      f"{'best_so_far':>11} {'secs':>6}")
for r in range(1, ROUNDS + 1):
    model, mu, sd, l0, l1 = fit_surrogate(X, y)
    cand = ga_search(model, mu, sd, X[np.argsort(y)[:16]])
    # de-duplicate: skip candidates closer than 0.03 to something already tested
    picked = []
    for c in cand:
        if np.min(np.linalg.norm(X - c, axis=1)) > 0.03 and all(np.linalg.norm(p - c) > 0.03 for p in picked):
            picked.append(c)
        if len(picked) == PER_ROUND:
            break
    picked = np.array(picked)
    pred, _ = predict(model, mu, sd, picked)
    y_new = np.array([simulate(u) for u in picked])
    err = float(np.mean(np.abs(pred - y_new)))
    X = np.concatenate([X, picked]); y = np.concatenate([y, y_new])
    print(f"{r:>5d} {len(y):>5d} {l0:>8.4f}->{l1:<7.4f} {err:>12.4f} {y_new.min():>10.4f} "
          f"{y.min():>11.4f} {time.time() - T0:>6.1f}")

budget = len(y)
print(f"# reference: pure random search with the same budget of {budget} lab runs")
yr = np.array([simulate(u) for u in rng.uniform(0, 1, (budget, 6))])
best = X[np.argmin(y)]
phys = LO + best * (HI - LO)
print(f"# random search best {yr.min():.4f}   surrogate search best {y.min():.4f}")
print("# best design: " + ", ".join(f"{k}={v:.4g}" for k, v in zip(NAMES, phys)))
print(f"# total {time.time() - T0:.1f}s")
