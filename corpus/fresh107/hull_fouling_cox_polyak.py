"""Days until a ship's antifouling coating needs a hull clean (deep Cox model).

Synthetic fleet records: water temperature, idle fraction, speed, coating age,
copper content, salinity and a route id. Ships still clean at the last
inspection are right-censored. Risk scores come from a small MLP; the loss is
the Breslow negative partial log-likelihood per event inside each minibatch
(risk sets via mx.logcumsumexp over time-sorted rows).

An exponential moving average (Polyak) of the weights is kept beside the
trained weights and evaluated on its own model instance. Learning rate warms
up linearly from exactly 0. Reports go through the logging module; the
concordance index (C-index) is higher-is-better, 0.5 = random ranking.
"""
import logging
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

logging.basicConfig(level=logging.INFO, format="%(levelname)-5s hull | %(message)s")
log = logging.getLogger("hull")

N_TRAIN, N_TEST = 8000, 2000
BATCH = 256
STEPS = 1500
WARMUP = 150
EMA_DECAY = 0.99
REPORT_AT = {1, 25, 150, 300, 600, 900, 1200, 1500}


def simulate_fleet(n, rng):
    temp = rng.uniform(4, 30, n)            # mean sea temperature C
    idle = rng.beta(2, 5, n)                # fraction of days alongside
    speed = rng.uniform(8, 22, n)           # service speed kn
    age = rng.uniform(0, 4, n)              # coating age at start, years
    copper = rng.uniform(0.2, 1.0, n)       # biocide loading
    salin = rng.normal(34, 2, n)
    route = rng.integers(0, 5, n)
    route_eff = np.array([0.0, 0.3, -0.2, 0.5, -0.4])[route]
    log_hazard = (0.08 * (temp - 17) + 2.2 * (idle - 0.3) - 0.06 * (speed - 15)
                  + 0.35 * age - 1.4 * (copper - 0.6) + 0.6 * np.tanh(0.08 * (temp - 17) * idle * 4)
                  + route_eff)
    base_rate = 1 / 400.0
    t_event = rng.exponential(1 / (base_rate * np.exp(log_hazard)))
    t_cens = rng.uniform(60, 900, n)        # last inspection date
    time_obs = np.minimum(t_event, t_cens)
    event = (t_event <= t_cens).astype(np.float32)
    feats = np.stack([temp, idle, speed, age, copper, salin], axis=1)
    onehot = np.eye(5)[route]
    X = np.concatenate([feats, onehot], axis=1).astype(np.float32)
    return X, time_obs.astype(np.float32), event, log_hazard


class RiskNet(nn.Module):
    def __init__(self, d_in=11, hidden=48):
        super().__init__()
        self.l1 = nn.Linear(d_in, hidden)
        self.l2 = nn.Linear(hidden, hidden)
        # the partial likelihood is shift-invariant, so the head has no bias
        self.head = nn.Linear(hidden, 1, bias=False)

    def __call__(self, x):
        h = nn.silu(self.l1(x))
        h = nn.silu(self.l2(h))
        return self.head(h).squeeze(-1)


def cox_nll(model, x, t, e):
    risk = model(x)
    order = mx.argsort(-t)                   # longest survivors first
    r, ev = risk[order], e[order]
    log_risk_set = mx.logcumsumexp(r, axis=0)
    n_ev = mx.maximum(ev.sum(), 1.0)
    return -mx.sum((r - log_risk_set) * ev) / n_ev


def c_index(risk, t, e):
    """Harrell's C on a numpy subsample: a pair is usable when the earlier time is an event."""
    risk, t, e = np.asarray(risk), np.asarray(t), np.asarray(e)
    ti, tj = t[:, None], t[None, :]
    usable = (ti < tj) & (e[:, None] == 1)
    conc = (risk[:, None] > risk[None, :]) & usable
    ties = (risk[:, None] == risk[None, :]) & usable
    return (conc.sum() + 0.5 * ties.sum()) / usable.sum()


def main():
    t0 = time.time()
    rng = np.random.default_rng(11)
    X, T, E, true_lh = simulate_fleet(N_TRAIN + N_TEST, rng)
    mu, sd = X[:N_TRAIN].mean(0), X[:N_TRAIN].std(0) + 1e-6
    X = (X - mu) / sd
    Xtr, Ttr, Etr = X[:N_TRAIN], T[:N_TRAIN], E[:N_TRAIN]
    Xtr_m, Ttr_m, Etr_m = mx.array(Xtr), mx.array(Ttr), mx.array(Etr)
    Xte, Tte, Ete = mx.array(X[N_TRAIN:]), T[N_TRAIN:], E[N_TRAIN:]
    log.info("fleet %d/%d ships, censored %.1f%% (train), oracle test C-index %.3f",
             N_TRAIN, N_TEST, 100 * (1 - Etr.mean()),
             c_index(true_lh[N_TRAIN:], Tte, Ete))

    mx.random.seed(5)
    model = RiskNet()
    shadow = RiskNet()                       # holds the Polyak-averaged weights
    mx.eval(model.parameters())
    ema = tree_map(lambda p: mx.array(p), model.parameters())
    shadow.update(ema)

    schedule = optim.join_schedules(
        [optim.linear_schedule(0.0, 2e-3, WARMUP), optim.cosine_decay(2e-3, STEPS - WARMUP, 1e-4)],
        [WARMUP])
    opt = optim.Adam(learning_rate=schedule)
    loss_and_grad = nn.value_and_grad(model, cox_nll)

    def evaluate(m):
        risk = m(Xte)
        nll = cox_nll(m, Xte, mx.array(Tte), mx.array(Ete)).item()
        return nll, c_index(np.array(risk), Tte, Ete)

    nll0, c0 = evaluate(model)
    log.info("untrained: test nll/event %.4f  C-index %.3f", nll0, c0)

    cursor, order = 0, rng.permutation(N_TRAIN)
    window = []
    for step in range(1, STEPS + 1):
        if cursor + BATCH > N_TRAIN:
            cursor, order = 0, rng.permutation(N_TRAIN)
        idx = mx.array(order[cursor:cursor + BATCH])
        cursor += BATCH
        xb, tb, eb = Xtr_m[idx], Ttr_m[idx], Etr_m[idx]
        lr_used = schedule(opt.step).item()
        loss, grads = loss_and_grad(model, xb, tb, eb)
        if step == 1:
            flat = tree_flatten(grads)
            zero = [k for k, g in flat if mx.all(g == 0).item()]
            log.info("grad check: %d leaves, all-zero %s, lr of first update %.1e",
                     len(flat), zero, lr_used)
        opt.update(model, grads)
        ema = tree_map(lambda a, p: EMA_DECAY * a + (1 - EMA_DECAY) * p, ema, model.parameters())
        mx.eval(loss, model.parameters(), opt.state, ema)
        window.append(loss.item())
        if step in REPORT_AT:
            shadow.update(ema)
            nll_m, c_m = evaluate(model)
            nll_s, c_s = evaluate(shadow)
            log.info("step %4d lr %.2e | train nll/event %.4f | test nll/event %.4f "
                     "C %.3f | polyak nll/event %.4f C %.3f | %.1fs",
                     step, lr_used, float(np.mean(window)), nll_m, c_m, nll_s, c_s,
                     time.time() - t0)
            window = []
    log.info("done: %d steps, final polyak C-index %.3f (oracle %.3f)", STEPS, c_s,
             c_index(true_lh[N_TRAIN:], Tte, Ete))


if __name__ == "__main__":
    main()
