"""Bakery dough-retarder / proofer cabinet: learn the cabinet's heat and steam
response from logged runs, then drive it with model-predictive control
(cross-entropy-method planning through the learned model).

Each round: fit the dynamics net on every transition logged so far, then run a
few proofing batches under MPC (quiet: thousands of planned rollouts), log them,
and report.  The pre-fit error on the newest batches is expected to be higher
than the fitted error: MPC drives the cabinet into regions the random
warm-up runs never visited.
"""
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(7)
mx.random.seed(7)

T_SET, H_SET = 32.0, 78.0          # proof at 32 C / 78 % RH
EPISODE = 24
ROUNDS = 5
BATCHES_PER_ROUND = 3


def cabinet_step(s, a):
    """True (unknown to the learner) cabinet physics, one 2-minute tick."""
    T, H = s
    heat, steam = a
    dT = 1.9 * heat * (1.0 - 0.012 * (T - 20.0)) - 0.09 * (T - 20.0) + 0.25 * steam
    dH = 14.0 * steam * (1.0 - H / 100.0) - 0.06 * (H - 40.0) - 0.35 * heat * (H / 100.0) * 4.0
    T2 = T + dT + rng.normal(0, 0.08)
    H2 = np.clip(H + dH + rng.normal(0, 0.4), 5.0, 100.0)
    return np.array([T2, H2])


def cost_np(s, a):
    return ((s[0] - T_SET) / 2.0) ** 2 + ((s[1] - H_SET) / 8.0) ** 2 + 0.05 * (a[0] + a[1])


def fresh_start():
    return np.array([rng.uniform(17, 23), rng.uniform(35, 50)])


S_MU = np.array([26.0, 60.0]); S_SD = np.array([6.0, 18.0])
D_SD = np.array([1.0, 4.0])


class Dynamics(nn.Module):
    def __init__(self, hidden=64):
        super().__init__()
        self.l1 = nn.Linear(4, hidden)
        self.l2 = nn.Linear(hidden, hidden)
        self.out = nn.Linear(hidden, 2)

    def __call__(self, s_norm, a):
        x = mx.concatenate([s_norm, a], axis=-1)
        x = nn.silu(self.l1(x))
        x = nn.silu(self.l2(x))
        return self.out(x)            # normalised state delta


def predict_next(model, s, a):
    """s in physical units (N,2) mx array -> next state (N,2)."""
    sn = (s - mx.array(S_MU, dtype=mx.float32)) / mx.array(S_SD, dtype=mx.float32)
    d = model(sn, a) * mx.array(D_SD, dtype=mx.float32)
    return s + d


class CEMPlanner:
    """Receding-horizon CEM; the previous plan, shifted by one tick, seeds the next search."""

    def __init__(self, model, horizon=5, pop=96, elites=12, iters=4):
        self.model, self.h, self.pop, self.k, self.iters = model, horizon, pop, elites, iters
        self.mean = np.full((horizon, 2), 0.5)

    def __call__(self, s0):
        mean = self.mean.copy()
        std = np.full((self.h, 2), 0.4)
        for _ in range(self.iters):
            acts = np.clip(mean + std * rng.standard_normal((self.pop, self.h, 2)), 0.0, 1.0)
            acts[0] = np.clip(mean, 0.0, 1.0)
            A = mx.array(acts, dtype=mx.float32)
            s = mx.broadcast_to(mx.array(s0, dtype=mx.float32), (self.pop, 2))
            total = mx.zeros((self.pop,))
            for h in range(self.h):
                a = A[:, h, :]
                s = predict_next(self.model, s, a)
                total = total + ((s[:, 0] - T_SET) / 2.0) ** 2 + ((s[:, 1] - H_SET) / 8.0) ** 2 \
                    + 0.05 * mx.sum(a, axis=1)
            order = np.argsort(np.array(total))[: self.k]
            el = acts[order]
            mean = el.mean(axis=0)
            std = el.std(axis=0) + 0.02
        self.mean = np.concatenate([mean[1:], mean[-1:]], axis=0)
        return np.clip(mean[0], 0.0, 1.0)


EVAL_STARTS = [np.array([17.5, 36.0]), np.array([20.0, 42.0]), np.array([22.5, 48.0])]


def run_batch(policy, start=None):
    s = fresh_start() if start is None else start.copy()
    trans, total, tail = [], 0.0, []
    for t in range(EPISODE):
        a = policy(s)
        s2 = cabinet_step(s, a)
        total += cost_np(s2, a)
        trans.append((s.copy(), np.asarray(a, dtype=float), s2.copy()))
        if t >= EPISODE - 10:
            tail.append(abs(s2[0] - T_SET) + abs(s2[1] - H_SET) / 4.0)
        s = s2
    return trans, total / EPISODE, float(np.mean(tail))


def random_policy(s):
    return rng.uniform(0, 1, size=2)


def thermostat_policy(s):
    return np.array([1.0 if s[0] < T_SET else 0.0, 1.0 if s[1] < H_SET else 0.0])


def to_arrays(trans):
    S = np.stack([t[0] for t in trans]); A = np.stack([t[1] for t in trans])
    S2 = np.stack([t[2] for t in trans])
    X = ((S - S_MU) / S_SD).astype(np.float32)
    Y = ((S2 - S) / D_SD).astype(np.float32)
    return mx.array(X), mx.array(A.astype(np.float32)), mx.array(Y)


def loss_fn(model, X, A, Y):
    return nn.losses.mse_loss(model(X, A), Y)


def fit(model, trans, steps=250, batch=128, peak=3e-3):
    X, A, Y = to_arrays(trans)
    n = X.shape[0]
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, peak, 25), optim.cosine_decay(peak, steps - 25, 1e-4)], [25])
    opt = optim.Adam(learning_rate=sched)
    lg = nn.value_and_grad(model, loss_fn)
    first = last = None
    for step in range(steps):
        idx = mx.array(rng.integers(0, n, size=min(batch, n)))
        loss, g = lg(model, X[idx], A[idx], Y[idx])
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state, loss)
        if first is None:
            first = loss.item()
        last = loss.item()
    full = loss_fn(model, X, A, Y)
    return first, last, full.item()


def log(**kw):
    parts = [f"ts={time.time() - T0:06.2f}s"]
    for k, v in kw.items():
        if isinstance(v, float):
            parts.append(f"{k}={v:.4f}")
        else:
            parts.append(f"{k}={v}")
    print(" ".join(parts), flush=True)


T0 = time.time()
log(level="info", msg="warm-up logging", policy="random", batches=8)
data = []
rand_costs = []
for _ in range(8):
    tr, c, _ = run_batch(random_policy)
    data += tr
    rand_costs.append(c)
thermo = [run_batch(thermostat_policy, st)[1:] for st in EVAL_STARTS]
thermo_cost = float(np.mean([c for c, _ in thermo]))
thermo_tail = float(np.mean([e for _, e in thermo]))
log(level="info", msg="baselines", random_cost=float(np.mean(rand_costs)),
    thermostat_cost=thermo_cost, thermostat_tail_err=thermo_tail, transitions=len(data))

model = Dynamics()
mx.eval(model.parameters())
newest = None
for r in range(1, ROUNDS + 1):
    if newest is not None:
        Xn, An, Yn = to_arrays(newest)
        prefit = loss_fn(model, Xn, An, Yn).item()
    else:
        prefit = float("nan")
    first, last, full = fit(model, data)
    t_plan = time.time()
    newest, costs, tails = [], [], []
    for st in EVAL_STARTS[:BATCHES_PER_ROUND]:
        tr, c, e = run_batch(CEMPlanner(model), st)
        newest += tr
        costs.append(c)
        tails.append(e)
    data += newest
    log(level="info", msg="round", round=r, transitions=len(data),
        newest_prefit_mse=prefit, fit_first=first, fit_last=last, fit_all=full,
        mpc_cost=float(np.mean(costs)), mpc_tail_err=float(np.mean(tails)),
        plan_secs=float(time.time() - t_plan))

log(level="info", msg="done", mpc_cost=float(np.mean(costs)), mpc_tail_err=float(np.mean(tails)),
    thermostat_cost=thermo_cost, thermostat_tail_err=thermo_tail,
    random_cost=float(np.mean(rand_costs)))
