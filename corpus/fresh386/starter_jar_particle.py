"""Sourdough starter monitoring.

A jar sensor reads the rise height of the starter every 20 minutes; the hidden
quantity is the culture's activity, which grows with warmth, decays when the
starter goes hungry and jumps after a feed.  A transition net (with a learned
process-noise scale) is trained on calibration runs where activity was measured
directly.  Every few epochs the net is scored the way it will be used: a
bootstrap particle filter runs over held-out sensor logs (quiet, a few seconds)
and reports the per-reading log-likelihood and the filtered activity error.
"""
import math
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(5)
mx.random.seed(5)

K_CAP = 2.5
Q_TRUE = 0.04                       # process noise sd (activity units)
R_OBS = 0.30                        # sensor noise sd (cm)
H0, H1 = 1.5, 2.0                   # height = H0 + H1 * activity


def growth(temp):
    return np.exp(-((temp - 27.0) / 6.0) ** 2)


def true_step(x, temp, feed):
    g = 0.25 * growth(temp) * x * (1 - x / K_CAP) - 0.05 * x + 0.6 * feed * (1 - x / K_CAP)
    return np.maximum(x + g, 0.01)


def make_run(T):
    temp = 22 + 5 * np.sin(np.arange(T) * 2 * math.pi / 72 + rng.uniform(0, 6)) + rng.normal(0, 0.5, T)
    feed = np.zeros(T)
    feed[rng.integers(0, 20)::int(rng.integers(30, 45))] = 1.0
    x = np.zeros(T + 1)
    x[0] = rng.uniform(0.3, 1.5)
    for t in range(T):
        x[t + 1] = max(true_step(x[t], temp[t], feed[t]) + rng.normal(0, Q_TRUE), 0.01)
    y = H0 + H1 * x[1:] + rng.normal(0, R_OBS, T)
    return temp, feed, x, y


# calibration runs (activity known) -> transition pairs
pairs = []
for _ in range(60):
    temp, feed, x, _ = make_run(120)
    for t in range(120):
        pairs.append((x[t], (temp[t] - 22) / 5, feed[t], x[t + 1]))
P = np.array(pairs, dtype=np.float32)
perm = rng.permutation(len(P))
P_tr, P_va = P[perm[:6000]], P[perm[6000:]]
heldout = [make_run(240) for _ in range(6)]


class Transition(nn.Module):
    def __init__(self, hidden=48):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(3, hidden), nn.Tanh(), nn.Linear(hidden, hidden), nn.Tanh(),
                                 nn.Linear(hidden, 1))
        self.log_q = mx.array(math.log(0.5))

    def mean(self, x, temp_n, feed):
        inp = mx.stack([x, temp_n, feed], axis=-1)
        return x + self.net(inp).squeeze(-1)

    def __call__(self, x, temp_n, feed):
        return self.mean(x, temp_n, feed), mx.exp(self.log_q)


def nll(model, b):
    mu, q = model(b[:, 0], b[:, 1], b[:, 2])
    return mx.mean(0.5 * ((b[:, 3] - mu) / q) ** 2 + mx.log(q) + 0.5 * math.log(2 * math.pi))


def particle_filter(step_fn, n_part=1000):
    """Bootstrap PF over all held-out logs at once. Returns mean log-lik per reading, activity RMSE."""
    S = len(heldout)
    T = len(heldout[0][3])
    temps = mx.array(np.stack([(h[0] - 22) / 5 for h in heldout]).astype(np.float32))
    feeds = mx.array(np.stack([h[1] for h in heldout]).astype(np.float32))
    ys = mx.array(np.stack([h[3] for h in heldout]).astype(np.float32))
    xs_true = np.stack([h[2][1:] for h in heldout])
    parts = mx.array(rng.uniform(0.2, 1.8, (S, n_part)).astype(np.float32))
    loglik = mx.zeros((S,))
    est = []
    for t in range(T):
        mu, q = step_fn(parts, mx.broadcast_to(temps[:, t:t + 1], parts.shape),
                        mx.broadcast_to(feeds[:, t:t + 1], parts.shape))
        parts = mx.maximum(mu + q * mx.random.normal(parts.shape), 0.01)
        logw = -0.5 * ((ys[:, t:t + 1] - (H0 + H1 * parts)) / R_OBS) ** 2 - math.log(R_OBS * math.sqrt(2 * math.pi))
        lse = mx.logsumexp(logw, axis=1)
        loglik = loglik + lse - math.log(n_part)
        w = mx.exp(logw - lse[:, None])
        est.append(mx.sum(w * parts, axis=1))
        mx.eval(w, est[-1])
        # systematic resampling (numpy, per log)
        cdf = np.cumsum(np.array(w), axis=1)
        u = (np.arange(n_part)[None, :] + rng.uniform(0, 1, (S, 1))) / n_part
        idx = np.stack([np.minimum(np.searchsorted(cdf[i], u[i]), n_part - 1) for i in range(S)])
        parts = mx.take_along_axis(parts, mx.array(idx), axis=1)
        mx.eval(parts, loglik)
    est = np.array(mx.stack(est, axis=1))
    return float(np.array(loglik).sum() / (S * T)), float(np.sqrt(np.mean((est - xs_true) ** 2)))


def true_fn(x, temp_n, feed):
    temp = temp_n * 5 + 22
    g = 0.25 * mx.exp(-((temp - 27.0) / 6.0) ** 2) * x * (1 - x / K_CAP) - 0.05 * x + 0.6 * feed * (1 - x / K_CAP)
    return mx.maximum(x + g, 0.01), Q_TRUE


def still_fn(x, temp_n, feed):
    return x, 0.15


def show_pf(tag, res, secs):
    print(f"  particle filter [{tag}]  loglik/reading {res[0]:+.4f}   activity rmse {res[1]:.4f}   ({secs:.1f}s)",
          flush=True)


T0 = time.time()
raw_rmse = float(np.sqrt(np.mean(np.concatenate([((h[3] - H0) / H1 - h[2][1:]) ** 2 for h in heldout]))))
print(f"calibration pairs {len(P_tr)} train / {len(P_va)} valid, held-out logs {len(heldout)} x 240 readings")
print(f"reference: sensor inverted directly, activity rmse {raw_rmse:.4f}")
t = time.time(); show_pf("known physics", particle_filter(true_fn), time.time() - t)
t = time.time(); show_pf("no-change walk", particle_filter(still_fn), time.time() - t)

model = Transition()
mx.eval(model.parameters())
EPOCHS, BS = 30, 100
steps_per = len(P_tr) // BS
warm = steps_per
sched = optim.join_schedules([optim.linear_schedule(0.0, 2e-3, warm),
                              optim.cosine_decay(2e-3, EPOCHS * steps_per - warm, 2e-5)], [warm])
opt = optim.AdamW(learning_rate=sched, weight_decay=1e-4)
lg = nn.value_and_grad(model, nll)
Ptr = mx.array(P_tr); Pva = mx.array(P_va)
t = time.time(); show_pf("epoch 0", particle_filter(lambda *a: model(*a)), time.time() - t)
for ep in range(1, EPOCHS + 1):
    order = mx.array(rng.permutation(len(P_tr)))
    tot = 0.0
    for j in range(steps_per):
        loss, g = lg(model, Ptr[order[j * BS:(j + 1) * BS]])
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state, loss)
        tot += loss.item()
    if ep in (1, 2, 5, 10, 20, 30):
        print(f"epoch {ep:2d}  train nll {tot / steps_per:+.4f}  valid nll {nll(model, Pva).item():+.4f}  "
              f"q {math.exp(model.log_q.item()):.4f}  lr {opt.learning_rate.item():.2e}", flush=True)
    if ep in (10, 30):
        t = time.time(); show_pf(f"epoch {ep}", particle_filter(lambda *a: model(*a)), time.time() - t)
print(f"true process noise {Q_TRUE}, learned {math.exp(model.log_q.item()):.4f}; total {time.time() - T0:.1f}s")
