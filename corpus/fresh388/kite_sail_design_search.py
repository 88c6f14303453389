"""Kite-sail design search for a cargo ship: an ensemble surrogate of four small
MLPs is refitted each round on the whole archive of simulated designs, then
picks the next batch by an upper confidence bound over a fresh random pool.
The archive and the log of every scored pool are kept for plots.
"""
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(21)
PARAMS = ["area", "aspect", "tether", "fig8_width", "angle_of_attack"]


def simulate_thrust(u, noisy=True):
    """u in [0,1]^5 -> towing thrust in kN (made-up law, 1.5 kN sea-state noise)."""
    a, ar, t, w, aoa = u.T
    lift = 60 * a * (1 - np.exp(-3 * ar)) * np.exp(-((aoa - 0.62) / 0.22) ** 2)
    wind = 1 + 0.8 * np.tanh(4 * (t - 0.3))
    drag = 25 * a * (aoa ** 2) + 10 * (w - 0.55) ** 2 * 8
    thrust = lift * wind - drag - 15 * (a * ar - 0.45) ** 2 * 10
    if noisy:
        thrust = thrust + rng.normal(scale=1.5, size=len(u))
    return thrust.astype(np.float32)


class Member(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(5, 48)
        self.l2 = nn.Linear(48, 48)
        self.out = nn.Linear(48, 1)

    def __call__(self, x):
        return self.out(nn.silu(self.l2(nn.silu(self.l1(x)))))[:, 0]


class Ensemble(nn.Module):
    def __init__(self, n=4):
        super().__init__()
        self.members = [Member() for _ in range(n)]

    def __call__(self, x):
        return mx.stack([m(x) for m in self.members])


def loss_fn(model, x, y):
    return mx.mean((model(x) - y[None, :]) ** 2)


pool_ref = rng.random((200000, 5))
best_possible = float(simulate_thrust(pool_ref, noisy=False).max())

X = rng.random((40, 5)).astype(np.float32)
Y = simulate_thrust(X)
Y_MU, Y_SD = float(Y.mean()), float(Y.std())
rand_best = float(simulate_thrust(rng.random((40 + 10 * 24, 5)), noisy=False).max())

mx.random.seed(2)
model = Ensemble()
mx.eval(model.parameters())
vg = nn.value_and_grad(model, loss_fn)
ROUNDS, STEPS, BATCH_NEW, POOL, BETA = 10, 100, 24, 20000, 1.5
acq_log = []

print(f"design space: {', '.join(PARAMS)} (unit cube)  sea-state noise 1.5 kN")
print(f"reference best thrust (dense noiseless scan) {best_possible:.1f} kN; random search with the same budget {rand_best:.1f} kN")
print(f"initial archive {len(X)} designs, best measured {Y.max():.1f} kN")
t0 = time.time()
for rnd in range(1, ROUNDS + 1):
    opt = optim.Adam(learning_rate=3e-3)  # new optimizer each round, weights carried over
    xa, ya = mx.array(X), mx.array((Y - Y_MU) / Y_SD)
    first = None
    for s in range(STEPS):
        loss, grads = vg(model, xa, ya)
        opt.update(model, grads)
        mx.eval(loss, model.parameters(), opt.state)
        if first is None:
            first = loss.item()
    fit = loss.item()

    cand = rng.random((POOL, 5)).astype(np.float32)
    preds = model(mx.array(cand))
    mean, std = mx.mean(preds, axis=0), mx.std(preds, axis=0)
    ucb = mean + BETA * std
    mx.eval(mean, std, ucb)
    acq_log.append(np.concatenate([cand.astype(np.float64), np.array(mean)[:, None], np.array(std)[:, None]], axis=1))
    pick = np.argsort(-np.array(ucb))[:BATCH_NEW]
    new_x = cand[pick]
    new_y = simulate_thrust(new_x)
    X = np.concatenate([X, new_x])
    Y = np.concatenate([Y, new_y])
    true_best = float(simulate_thrust(X[[np.argmax(Y)]], noisy=False)[0])
    log_mb = sum(a.nbytes for a in acq_log) / 1e6
    print(
        f"round {rnd:02d} > fit mse {first:.3f} -> {fit:.3f} (scaled) > batch mean {new_y.mean():6.1f} kN"
        f" > best measured {Y.max():6.1f} kN (true {true_best:5.1f}) > gap {best_possible - true_best:5.1f} kN"
        f" > archive {len(X)} rows > pool log {len(acq_log) * POOL} rows / {log_mb:5.1f} MB > {time.time() - t0:4.1f}s"
    )

log = np.concatenate(acq_log)
print(f"pool log {log.shape[0]} x {log.shape[1]} ({log.nbytes / 1e6:.1f} MB), mean ensemble spread first/last round "
      f"{acq_log[0][:, -1].mean() * Y_SD:.2f} / {acq_log[-1][:, -1].mean() * Y_SD:.2f} kN")
ibest = int(np.argmax(Y))
print("chosen design: " + ", ".join(f"{k}={v:.2f}" for k, v in zip(PARAMS, X[ibest])))
print(f"done: surrogate search {float(simulate_thrust(X[[ibest]], noisy=False)[0]):.1f} kN vs random {rand_best:.1f} kN "
      f"vs reference {best_possible:.1f} kN, {time.time() - t0:.1f}s")
