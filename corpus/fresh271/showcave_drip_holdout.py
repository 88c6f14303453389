"""Show-cave drip loggers: predict log10 drip interval (s) of a stalactite
from surface weather and chamber readings.

The loggers sometimes write the same record twice, so exact repeats are
dropped before anything else.  Rows from one chamber share a hidden
chamber effect, so the hold-out set is whole chambers (grouped split), and
the scaler is fitted on the training chambers only.

Training uses input jitter and dropout, so the printed train loss is taken
on perturbed inputs and sits above the clean hold-out loss.
"""
import hashlib
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

SEED = 7
N_CHAMBERS = 40
ROWS_PER_CHAMBER = 75
HOLDOUT_CHAMBERS = 8
EPOCHS = 24
BATCH = 64
JITTER = 0.35
DROPOUT = 0.3

rng = np.random.default_rng(SEED)
mx.random.seed(SEED)


def make_logs():
    chamber_effect = rng.normal(0.0, 0.12, N_CHAMBERS)
    ceiling = rng.uniform(5.0, 60.0, N_CHAMBERS)  # metres of rock above
    rows, ys, groups = [], [], []
    for c in range(N_CHAMBERS):
        n = ROWS_PER_CHAMBER
        rain1 = rng.gamma(1.2, 4.0, n)
        rain3 = rain1 * 0.5 + rng.gamma(1.5, 5.0, n)
        rain7 = rain3 * 0.6 + rng.gamma(2.0, 8.0, n)
        air_t = rng.normal(11.0, 1.5, n)
        co2 = rng.normal(1200.0, 350.0, n)
        humid = np.clip(rng.normal(96.0, 2.5, n), 80, 100)
        thick = np.full(n, ceiling[c]) + rng.normal(0, 0.5, n)
        # made-up drip law: more rain -> shorter interval, lagged by rock thickness
        lag_mix = np.where(thick > 30, rain7 / 3.0, rain3 / 1.5)
        y = (2.1 + 0.012 * thick - 0.35 * np.log1p(lag_mix) - 0.05 * np.log1p(rain1)
             + 0.00012 * (co2 - 1200) - 0.01 * (humid - 96) + 0.02 * (air_t - 11)
             + chamber_effect[c] + rng.normal(0, 0.06, n))
        rows.append(np.stack([thick, rain1, rain3, rain7, air_t, co2, humid], 1))
        ys.append(y)
        groups.append(np.full(n, c))
    X = np.concatenate(rows).astype(np.float32)
    y = np.concatenate(ys).astype(np.float32)
    g = np.concatenate(groups)
    # logger double-writes: about 8% of records appear twice
    dup = rng.choice(len(X), int(0.08 * len(X)), replace=False)
    X = np.concatenate([X, X[dup]])
    y = np.concatenate([y, y[dup]])
    g = np.concatenate([g, g[dup]])
    order = rng.permutation(len(X))
    return X[order], y[order], g[order], chamber_effect


def row_hash(x, y):
    return hashlib.sha1(np.round(np.append(x, y), 4).tobytes()).hexdigest()


class DripNet(nn.Module):
    def __init__(self, d_in, width=64, p=DROPOUT):
        super().__init__()
        self.l1 = nn.Linear(d_in, width)
        self.l2 = nn.Linear(width, width)
        self.out = nn.Linear(width, 1)
        self.drop = nn.Dropout(p)

    def __call__(self, x):
        h = self.drop(nn.gelu(self.l1(x)))
        h = self.drop(nn.gelu(self.l2(h)))
        return self.out(h).squeeze(-1)


def main():
    t0 = time.perf_counter()
    X, y, g, chamber_effect = make_logs()
    n_raw = len(X)
    hashes = np.array([row_hash(a, b) for a, b in zip(X, y)])
    _, keep = np.unique(hashes, return_index=True)
    keep = np.sort(keep)
    X, y, g, hashes = X[keep], y[keep], g[keep], hashes[keep]
    print(f"records read {n_raw}, exact repeats dropped {n_raw - len(X)}, kept {len(X)}")

    chambers = rng.permutation(N_CHAMBERS)
    val_ch = set(chambers[:HOLDOUT_CHAMBERS].tolist())
    is_val = np.array([c in val_ch for c in g])
    Xtr, ytr, gtr, htr = X[~is_val], y[~is_val], g[~is_val], hashes[~is_val]
    Xva, yva, gva, hva = X[is_val], y[is_val], g[is_val], hashes[is_val]
    shared_ch = len(set(gtr.tolist()) & set(gva.tolist()))
    shared_rows = len(set(htr.tolist()) & set(hva.tolist()))
    print(f"train chambers {N_CHAMBERS - HOLDOUT_CHAMBERS} ({len(Xtr)} rows) | "
          f"hold-out chambers {HOLDOUT_CHAMBERS} ({len(Xva)} rows) | "
          f"shared chambers {shared_ch} | shared records {shared_rows}")

    mu, sd = Xtr.mean(0), Xtr.std(0) + 1e-6
    ymu, ysd = ytr.mean(), ytr.std()
    Xtr_s, Xva_s = (Xtr - mu) / sd, (Xva - mu) / sd
    ytr_s, yva_s = (ytr - ymu) / ysd, (yva - ymu) / ysd
    Xtr_m, ytr_m = mx.array(Xtr_s), mx.array(ytr_s)
    Xva_m, yva_m = mx.array(Xva_s), mx.array(yva_s)

    base_mse = float(np.mean(yva_s ** 2))
    floor = float(np.var(chamber_effect) + 0.06 ** 2) / ysd ** 2
    print(f"hold-out baseline (train mean) mse {base_mse:.4f} | "
          f"irreducible for unseen chambers ~{floor:.4f} (z units)")

    model = DripNet(X.shape[1])
    mx.eval(model.parameters())
    steps_per_epoch = len(Xtr) // BATCH
    warm = 2 * steps_per_epoch
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, 2e-3, warm),
         optim.cosine_decay(2e-3, EPOCHS * steps_per_epoch - warm, 5e-5)],
        [warm])
    opt = optim.AdamW(learning_rate=sched, weight_decay=1e-3)

    def loss_fn(m, xb, yb):
        return mx.mean(mx.square(m(xb) - yb))

    grad_fn = nn.value_and_grad(model, loss_fn)

    def evaluate(Xe, ye):
        model.eval()
        v = loss_fn(model, Xe, ye).item()
        model.train()
        return v

    print("epoch\tlr_start\ttrain_mse_jittered\tholdout_mse\tholdout_minus_train\tsec")
    model.train()
    for ep in range(1, EPOCHS + 1):
        lr_start = float(sched(opt.step))
        perm = mx.array(rng.permutation(len(Xtr)))
        tot, cnt = 0.0, 0
        for i in range(steps_per_epoch):
            idx = perm[i * BATCH:(i + 1) * BATCH]
            xb = Xtr_m[idx]
            xb = xb + JITTER * mx.random.normal(xb.shape)
            loss, grads = grad_fn(model, xb, ytr_m[idx])
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item()
            cnt += 1
        tr = tot / cnt
        va = evaluate(Xva_m, yva_m)
        print(f"{ep}\t{lr_start:.2e}\t{tr:.4f}\t{va:.4f}\t{va - tr:+.4f}\t"
              f"{time.perf_counter() - t0:.1f}")

    model.eval()
    pred = np.array(model(Xva_m)) * ysd + ymu
    mae = float(np.mean(np.abs(pred - yva)))
    within = float(np.mean(np.abs(10 ** pred / 10 ** yva - 1) < 0.25) * 100)
    r2 = 1 - float(np.mean((pred - yva) ** 2) / np.var(yva))
    print(f"hold-out chambers: MAE {mae:.3f} log10 s | within 25% of interval "
          f"{within:.1f}% | R^2 {r2:.3f} | baseline R^2 "
          f"{1 - float(np.mean((ymu - yva) ** 2) / np.var(yva)):.3f}")
    print(f"finished in {time.perf_counter() - t0:.1f}s")


if __name__ == "__main__":
    main()
