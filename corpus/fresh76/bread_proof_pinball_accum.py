# Bakery: predict how long a sourdough loaf needs to proof (minutes) as three
# quantiles (10th / 50th / 90th) with the pinball loss.  Small micro-batches are
# accumulated into one update (weighted by their sizes, so the short tail batch
# of each epoch counts exactly as much as its samples), with a learning rate
# that warms up from exactly 0.
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_map, tree_flatten

QUANTS = mx.array([0.1, 0.5, 0.9])
CFG = dict(micro=28, accum=4, epochs=10, peak_lr=2e-3, warmup=60, seed=5)


def bake_log(n, rng):
    starter = rng.uniform(0.1, 0.35, n)        # starter fraction of flour
    hydration = rng.uniform(0.62, 0.85, n)
    dough_t = rng.normal(25, 2.5, n)           # dough temperature C
    rye = rng.uniform(0, 0.3, n)               # rye share
    salt = rng.uniform(0.015, 0.025, n)
    starter_age = rng.uniform(2, 14, n)        # hours since last feed
    base = 240 * np.exp(-0.09 * (dough_t - 24)) * (0.22 / starter) ** 0.6
    base *= 1 + 0.8 * (salt - 0.02) / 0.01 * 0.1 - 0.4 * rye + 0.3 * (hydration - 0.72)
    base *= 1 + 0.03 * np.abs(starter_age - 6)
    spread = 0.12 + 0.25 * rye                 # rye doughs are less predictable
    minutes = base * np.exp(rng.normal(0, spread, n))
    X = np.stack([starter, hydration, dough_t, rye, salt, starter_age], 1).astype(np.float32)
    return X, minutes.astype(np.float32)


class ProofNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(6, 64), nn.SiLU(), nn.Linear(64, 64), nn.SiLU())
        self.head = nn.Linear(64, 3)

    def __call__(self, x):
        raw = self.head(self.body(x))
        # monotone quantiles: median plus non-negative gaps
        lo = raw[:, 1:2] - nn.softplus(raw[:, 0:1])
        hi = raw[:, 1:2] + nn.softplus(raw[:, 2:3])
        return mx.concatenate([lo, raw[:, 1:2], hi], axis=1)


def pinball_sum(model, x, y):
    err = y[:, None] - model(x)
    return mx.sum(mx.maximum(QUANTS * err, (QUANTS - 1) * err))


def report(model, X, y, scale, shift):
    q = model(X) * scale + shift
    yy = y * scale + shift
    err = yy[:, None] - q
    pin = mx.mean(mx.maximum(QUANTS * err, (QUANTS - 1) * err)).item()
    cover = mx.mean((yy >= q[:, 0]) & (yy <= q[:, 2])).item()
    mae = mx.mean(mx.abs(yy - q[:, 1])).item()
    return pin, cover, mae


def main():
    t0 = time.time()
    rng = np.random.default_rng(CFG["seed"])
    X, m = bake_log(7000, rng)
    mu, sd = X[:6000].mean(0), X[:6000].std(0)
    X = (X - mu) / sd
    shift, scale = float(np.median(m[:6000])), float(m[:6000].std())
    yn = (m - shift) / scale
    Xtr, ytr = mx.array(X[:6000]), mx.array(yn[:6000])
    Xte, yte = mx.array(X[6000:]), mx.array(yn[6000:])
    mx.random.seed(CFG["seed"])
    model = ProofNet()
    mx.eval(model.parameters())
    n, mb, k = 6000, CFG["micro"], CFG["accum"]
    n_micro = -(-n // mb)                    # 215 micro-batches, the last one has 8 loaves
    n_updates = CFG["epochs"] * (-(-n_micro // k))
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, CFG["peak_lr"], CFG["warmup"]),
         optim.cosine_decay(CFG["peak_lr"], n_updates - CFG["warmup"], 1e-5)],
        [CFG["warmup"]])
    opt = optim.RMSprop(learning_rate=sched, alpha=0.95)
    vg = nn.value_and_grad(model, pinball_sum)

    _, g0 = vg(model, Xtr[:mb], ytr[:mb])
    flat = tree_flatten(g0)
    print({"event": "grad_check", "leaves": len(flat),
           "zero_leaves": [p for p, v in flat if mx.abs(v).max().item() == 0],
           "lr_first_update": float(sched(mx.array(0)))})
    pin, cov, mae = report(model, Xte, yte, scale, shift)
    print({"epoch": 0, "test_pinball_min": round(pin, 2), "coverage_10_90_pct": round(100 * cov, 1),
           "median_abs_err_min": round(mae, 1)})

    perm_rng = np.random.default_rng(CFG["seed"] + 1)
    updates = 0
    for ep in range(1, CFG["epochs"] + 1):
        order = perm_rng.permutation(n)
        starts = list(range(0, n, mb))          # last micro-batch is short; kept
        ep_loss, ep_count = 0.0, 0
        for g_start in range(0, len(starts), k):
            group = starts[g_start:g_start + k]
            acc, seen, tot = None, 0, 0.0
            for s in group:
                idx = mx.array(order[s:s + mb])
                loss, g = vg(model, Xtr[idx], ytr[idx])
                acc = g if acc is None else tree_map(mx.add, acc, g)
                seen += idx.shape[0]
                tot += loss.item()
            grads = tree_map(lambda a: a / (3 * seen), acc)
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state)
            updates += 1
            ep_loss += tot
            ep_count += seen
        pin, cov, mae = report(model, Xte, yte, scale, shift)
        print({"epoch": ep, "updates": updates, "lr": round(float(opt.learning_rate), 6),
               "train_pinball_std": round(ep_loss / (3 * ep_count), 4),
               "test_pinball_min": round(pin, 2), "coverage_10_90_pct": round(100 * cov, 1),
               "median_abs_err_min": round(mae, 1), "secs": round(time.time() - t0, 1)})
    print({"event": "done", "target_coverage_pct": 80.0, "secs": round(time.time() - t0, 1)})


if __name__ == "__main__":
    main()
