"""Cable-ferry crossing logs: fuel burned per crossing (litres) from the
variable-length track of GPS/engine pings recorded during the crossing.

Tracks are padded to one of three bucket lengths and every batch holds exactly
64 rows (short batches are filled with zero-weight rows), so the compiled step
sees only three input shapes and is traced once per bucket.
"""
import time
from functools import partial

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(23)
mx.random.seed(23)

N_TRAIN, N_VAL = 1800, 450
FEATS = 4  # current speed (m/s), wind across (m/s), engine load share, heading error (rad)


def make_crossings(n):
    lens = rng.integers(10, 61, size=n)
    tracks, fuel = [], []
    for L in lens:
        tide = rng.normal(0.0, 1.0)
        cur = tide * np.sin(np.linspace(0, np.pi, L)) + rng.normal(0, 0.15, L)
        wind = rng.normal(0, 1.0) + rng.normal(0, 0.3, L)
        load = np.clip(0.55 + 0.12 * np.abs(cur) + 0.05 * wind + rng.normal(0, 0.05, L), 0.05, 1.0)
        head = 0.2 * cur + 0.1 * wind + rng.normal(0, 0.05, L)
        x = np.stack([cur, wind, load, head], axis=1).astype(np.float32)
        # made-up fuel law: longer and harder crossings burn more; gusty days are noisier
        mean = 0.06 * L * (0.6 + load.mean()) + 0.8 * np.abs(head).max() + 0.3 * np.maximum(wind, 0).mean()
        sd = 0.08 + 0.12 * np.abs(wind).mean()
        tracks.append(x)
        fuel.append(mean + rng.normal(0, sd))
    return tracks, np.array(fuel, dtype=np.float32)


tr_x, tr_y = make_crossings(N_TRAIN)
va_x, va_y = make_crossings(N_VAL)
y_mu, y_sd = float(tr_y.mean()), float(tr_y.std())


BUCKETS = (20, 40, 60)


def batches(tracks, y, bsz, shuffle):
    lens = np.array([len(t) for t in tracks])
    chunks = []
    lo = 0
    for L in BUCKETS:
        idx = np.where((lens > lo) & (lens <= L))[0]
        if shuffle:
            rng.shuffle(idx)
        chunks += [(L, idx[i:i + bsz]) for i in range(0, len(idx), bsz)]
        lo = L
    if shuffle:
        rng.shuffle(chunks)
    for L, idx in chunks:
        xb = np.zeros((bsz, L, FEATS), np.float32)
        mb = np.zeros((bsz, L), np.float32)
        yb = np.zeros((bsz,), np.float32)
        wb = np.zeros((bsz,), np.float32)
        for r, i in enumerate(idx):
            n = len(tracks[i])
            xb[r, :n] = tracks[i]
            mb[r, :n] = 1.0
            yb[r] = (y[i] - y_mu) / y_sd
            wb[r] = 1.0
        mb[len(idx):, 0] = 1.0  # filler rows: one dummy ping so pooling stays finite
        yield mx.array(xb), mx.array(mb), mx.array(yb), mx.array(wb)


class TrackNet(nn.Module):
    def __init__(self, d=32):
        super().__init__()
        self.point = nn.Sequential(nn.Linear(FEATS, d), nn.SiLU(), nn.Linear(d, d), nn.SiLU())
        self.trunk = nn.Sequential(nn.Linear(2 * d + 1, d), nn.SiLU())
        self.mu = nn.Linear(d, 1)
        self.logvar = nn.Linear(d, 1)

    def __call__(self, x, m):
        h = self.point(x)
        cnt = m.sum(axis=1, keepdims=True)
        mean_pool = (h * m[..., None]).sum(axis=1) / cnt
        max_pool = mx.where(m[..., None] > 0, h, -1e4).max(axis=1)
        z = self.trunk(mx.concatenate([mean_pool, max_pool, cnt / 60.0], axis=1))
        return self.mu(z).squeeze(-1), mx.clip(self.logvar(z).squeeze(-1), -7.0, 3.0)


def nll(model, x, m, y, w):
    mu, logvar = model(x, m)
    per = 0.5 * (logvar + (y - mu) ** 2 * mx.exp(-logvar) + np.log(2 * np.pi))
    return (per * w).sum() / w.sum()


model = TrackNet()
mx.eval(model.parameters())
EPOCHS, BSZ = 12, 64
steps_per_epoch = sum(1 for _ in batches(tr_x, tr_y, BSZ, False))
total = EPOCHS * steps_per_epoch
warm = steps_per_epoch
lr_sched = optim.join_schedules(
    [optim.linear_schedule(0.0, 2e-3, warm), optim.cosine_decay(2e-3, total - warm, 5e-5)], [warm]
)
opt = optim.AdamW(learning_rate=lr_sched, weight_decay=1e-4)
opt.init(model.trainable_parameters())

# eager gradient audit before anything is compiled
xb, mb, yb, wb = next(batches(tr_x, tr_y, BSZ, False))
_, g0 = nn.value_and_grad(model, nll)(model, xb, mb, yb, wb)
flat = [(k, float(mx.abs(v).max())) for k, v in tree_flatten(g0)]
zero = [k for k, v in flat if v == 0.0]
print(f"# grad audit: {len(flat)} leaves, zero-gradient leaves: {zero if zero else 'none'}")

state = [model.state, opt.state]
TRACES = []


@partial(mx.compile, inputs=state, outputs=state)
def step(x, m, y, w):
    TRACES.append(tuple(x.shape))  # Python side effect: runs only while tracing
    loss, grads = nn.value_and_grad(model, nll)(model, x, m, y, w)
    opt.update(model, grads)
    return loss


def evaluate():
    model.eval()
    tot, n, se, ae = 0.0, 0, 0.0, 0.0
    for x, m, y, w in batches(va_x, va_y, BSZ, False):
        mu, _ = model(x, m)
        k = float(w.sum())
        tot += float(nll(model, x, m, y, w)) * k
        d = (mu - y) * y_sd * w
        se += float((d * d).sum())
        ae += float(mx.abs(d).sum())
        n += k
    model.train()
    return tot / n, (se / n) ** 0.5, ae / n


base_mae = float(np.abs(va_y - np.median(tr_y)).mean())
v0 = evaluate()
print("epoch\tlr_end\ttrain_nll\tval_nll\tval_rmse_l\tval_mae_l\tmedian_guess_mae_l\ttraces\tactive_mb\tsec")
print(f"0\t{0.0:.2e}\t-\t{v0[0]:.4f}\t{v0[1]:.3f}\t{v0[2]:.3f}\t{base_mae:.3f}\t{len(TRACES)}\t{mx.get_active_memory() / 2**20:.1f}\t0.0")
for ep in range(1, EPOCHS + 1):
    t0 = time.perf_counter()
    run, cnt = 0.0, 0
    for x, m, y, w in batches(tr_x, tr_y, BSZ, True):
        loss = step(x, m, y, w)
        mx.eval(loss, state)
        run += float(loss)
        cnt += 1
    v = evaluate()
    print(
        f"{ep}\t{float(opt.learning_rate):.2e}\t{run / cnt:.4f}\t{v[0]:.4f}\t{v[1]:.3f}\t{v[2]:.3f}"
        f"\t{base_mae:.3f}\t{len(TRACES)}\t{mx.get_active_memory() / 2**20:.1f}\t{time.perf_counter() - t0:.1f}"
    )
print(f"# done: {cnt * EPOCHS} updates, compiled step traced {len(TRACES)} times: {sorted(set(TRACES))}")
