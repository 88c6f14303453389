"""Bike-share pickups per dock-hour; new docks open every week, so the dock table grows."""
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(11)
mx.random.seed(11)
EMB = 8
WEEKS = 9
STEPS = 130
docks_open = [36] + [14] * (WEEKS - 1)          # docks opened each week

true_pop = rng.normal(0.0, 0.6, sum(docks_open)).astype(np.float32)
true_commute = rng.uniform(0.0, 1.0, sum(docks_open)).astype(np.float32)


def week_of_trips(n_docks, week):
    hours = np.arange(24 * 7)
    d = np.repeat(np.arange(n_docks), len(hours))
    h = np.tile(hours, n_docks)
    hod, dow = h % 24, h // 24
    rain = (rng.random(len(d)) < 0.15).astype(np.float32)
    temp = (12 + 6 * np.sin(2 * np.pi * (week * 7 + dow) / 60) + rng.normal(0, 2, len(d))).astype(np.float32)
    peak = np.exp(-0.5 * ((hod - 8) / 1.5) ** 2) + np.exp(-0.5 * ((hod - 17.5) / 1.8) ** 2)
    weekend = (dow >= 5).astype(np.float32)
    leisure = np.exp(-0.5 * ((hod - 14) / 3.0) ** 2)
    log_rate = (0.2 + true_pop[d] + 1.3 * true_commute[d] * peak * (1 - weekend)
                + 0.9 * (1 - true_commute[d]) * leisure * (0.4 + weekend)
                - 0.7 * rain + 0.03 * (temp - 12) - 1.2 * (hod < 6))
    y = rng.poisson(np.exp(log_rate)).astype(np.float32)
    feats = np.stack([np.sin(2 * np.pi * hod / 24), np.cos(2 * np.pi * hod / 24), weekend, rain,
                      (temp - 12) / 6, (hod < 6).astype(np.float32)], 1).astype(np.float32)
    return d.astype(np.int32), feats, y


class DockRate(nn.Module):
    def __init__(self, capacity):
        super().__init__()
        self.table = mx.random.normal((capacity, EMB)) * 0.05
        self.l1 = nn.Linear(EMB + 6, 64)
        self.l2 = nn.Linear(64, 64)
        self.head = nn.Linear(64, 1)

    def __call__(self, d, x):
        h = mx.concatenate([self.table[d], x], axis=1)
        h = nn.silu(self.l1(h))
        h = nn.silu(self.l2(h))
        return self.head(h).squeeze(-1)


def nll(m, d, x, y):
    lr_ = m(d, x)
    return mx.mean(mx.exp(lr_) - y * lr_)


def grow_table(model, opt, need):
    cap = model.table.shape[0]
    if need <= cap:
        return cap
    new_cap = cap
    while new_cap < need:
        new_cap *= 2
    extra = new_cap - cap
    model.table = mx.concatenate([model.table, mx.random.normal((extra, EMB)) * 0.05], axis=0)
    st = opt.state.get("table")
    if st is not None:
        for key in ("m", "v"):
            st[key] = mx.concatenate([st[key], mx.zeros((extra, EMB), st[key].dtype)], axis=0)
    mx.eval(model.parameters(), opt.state)
    return new_cap


model = DockRate(capacity=32)
opt = optim.Adam(learning_rate=1e-2)
step_fn = nn.value_and_grad(model, nll)
mx.eval(model.parameters())

log_d, log_x, log_y = [], [], []
table_history = []
n_docks = 0
t0 = time.time()
print("week,docks,table_rows,table_kb,log_rows,steps,train_nll,heldout_nll_old,new_docks_cold,new_docks_after,"
      "dev_explained_pct,flat_rate_nll,sec")
for week in range(WEEKS):
    n_docks += docks_open[week]
    cap = grow_table(model, opt, n_docks)
    d, x, y = week_of_trips(n_docks, week)
    hold = rng.random(len(y)) < 0.2
    log_d.append(d[~hold]); log_x.append(x[~hold]); log_y.append(y[~hold])
    D, X, Y = (mx.array(np.concatenate(a)) for a in (log_d, log_x, log_y))
    hd, hx, hy = mx.array(d[hold]), mx.array(x[hold]), mx.array(y[hold])
    # held-out scores of this week BEFORE training on it
    first_new = n_docks - docks_open[week]
    is_new = np.array(d[hold]) >= first_new if week > 0 else np.zeros(int(hold.sum()), bool)
    lo = model(hd, hx)
    per_before = np.array(mx.exp(lo) - hy * lo)
    cold = per_before[is_new].mean() if is_new.any() else float("nan")
    losses = []
    for it in range(STEPS):
        idx = mx.array(rng.integers(0, Y.shape[0], 256))
        loss, g = step_fn(model, D[idx], X[idx], Y[idx])
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state, loss)
        losses.append(loss.item())
    lo = model(hd, hx)
    per_after = np.array(mx.exp(lo) - hy * lo)
    table_history.append(np.array(model.table[:n_docks]))
    old_nll = per_after[~is_new].mean()
    new_nll = per_after[is_new].mean() if is_new.any() else float("nan")
    yh = np.array(hy)
    mean_rate = float(np.concatenate(log_y).mean())
    flat = float(np.mean(mean_rate - yh * np.log(mean_rate)))
    mu = np.exp(np.array(model(hd, hx)))
    with np.errstate(divide="ignore", invalid="ignore"):
        t1 = np.where(yh > 0, yh * np.log(yh / mu), 0.0)
        t0d = np.where(yh > 0, yh * np.log(yh / mean_rate), 0.0)
    dev = 2 * np.sum(t1 - (yh - mu))
    dev0 = 2 * np.sum(t0d - (yh - mean_rate))
    print(f"{week},{n_docks},{cap},{model.table.nbytes / 1024:.1f},{Y.shape[0]},{STEPS * (week + 1)},"
          f"{np.mean(losses[-40:]):.4f},{old_nll:.4f},{cold:.4f},{new_nll:.4f},{100 * (1 - dev / dev0):.1f},"
          f"{flat:.4f},{time.time() - t0:.1f}")

drift = [float(np.abs(table_history[-1][:36] - t[:36]).mean()) for t in table_history]
print("first-36 dock rows, mean |row - final row| by week: " + " ".join(f"{v:.3f}" for v in drift))
print(f"done: {n_docks} docks in a {model.table.shape[0]}-row table, "
      f"{sum(a.shape[0] for a in log_y)} logged dock-hours, {time.time() - t0:.1f}s")
