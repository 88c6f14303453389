# Dry-cured ham (prosciutto) curing room: grade each ham prime / standard / reject
# from seven cellar-log readings. Three seeds, warm-up from lr 0, tqdm-ish progress.
import sys
from functools import partial
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

GRADES = ["prime", "standard", "reject"]


def cellar_log(n, rng):
    green_kg = rng.normal(11.5, 1.2, n)
    salt_days = rng.uniform(10, 24, n)
    rh = rng.uniform(65, 90, n)           # % relative humidity
    temp = rng.uniform(12, 20, n)         # deg C
    fat_mm = rng.gamma(4.0, 4.0, n)       # fat cover
    ph = rng.normal(5.8, 0.15, n)
    weeks = rng.uniform(40, 110, n)
    salt_per_kg = salt_days / green_kg
    loss = 0.18 * weeks - 0.25 * (rh - 78) + 0.6 * (temp - 16) + 3.0 * np.tanh((salt_per_kg - 1.5) * 2)
    defect = (np.abs(rh - 77) > 10) * 2.5 + (fat_mm < 8) * 2.0 + (ph > 6.0) * 1.5 + (salt_per_kg < 1.1) * 2.5
    score = np.tanh((loss - 14) / 4) * 2 - defect + rng.normal(0, 0.6, n)
    y = np.where(score > 0.6, 0, np.where(score > -1.4, 1, 2))
    X = np.stack([green_kg, salt_days, rh, temp, fat_mm, ph, weeks], 1)
    return X.astype(np.float32), y.astype(np.int32)


def bar(frac, width=20):
    k = int(round(frac * width))
    return "#" * k + "." * (width - k)


def run_seed(seed, Xtr, ytr, Xva, yva, steps=360, bs=128):
    mx.random.seed(seed)
    rng = np.random.default_rng(100 + seed)
    model = nn.Sequential(nn.Linear(7, 48), nn.ReLU(), nn.Linear(48, 48), nn.ReLU(), nn.Linear(48, 3))
    mx.eval(model.parameters())
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, 0.08, 60), optim.cosine_decay(0.08, steps - 60, 0.004)], [60])
    opt = optim.SGD(learning_rate=sched, momentum=0.9, nesterov=True, weight_decay=1e-4)
    state = [model.state, opt.state]

    def loss_fn(xb, yb):
        return nn.losses.cross_entropy(model(xb), yb, reduction="mean")

    @partial(mx.compile, inputs=state, outputs=state)
    def step(xb, yb):
        loss, grads = nn.value_and_grad(model, loss_fn)(xb, yb)
        opt.update(model, grads)
        return loss

    n = Xtr.shape[0]
    run_loss = None
    for it in range(1, steps + 1):
        idx = mx.array(rng.integers(0, n, bs))
        lr_now = opt.learning_rate.item()
        loss = step(Xtr[idx], ytr[idx])
        mx.eval(state, loss)
        lv = loss.item()
        run_loss = lv if run_loss is None else 0.9 * run_loss + 0.1 * lv
        if it % 60 == 0 or it == 1:
            acc = (model(Xva).argmax(-1) == yva).mean().item()
            print(f"seed {seed}: {100 * it / steps:5.1f}%|{bar(it / steps)}| {it}/{steps} "
                  f"[lr={lr_now:.4f}, loss={run_loss:.3f}, val={100 * acc:.1f}%]")
            sys.stdout.flush()
    acc = (model(Xva).argmax(-1) == yva).mean().item()
    ce = nn.losses.cross_entropy(model(Xva), yva, reduction="mean").item()
    return acc, ce


def main():
    rng = np.random.default_rng(7)
    X, y = cellar_log(9000, rng)
    mu, sd = X[:7000].mean(0), X[:7000].std(0)
    X = (X - mu) / sd
    Xtr, ytr, Xva, yva = mx.array(X[:7000]), mx.array(y[:7000]), mx.array(X[7000:]), mx.array(y[7000:])
    counts = np.bincount(y[7000:], minlength=3)
    base = counts.max() / counts.sum()
    prior = np.bincount(y[:7000], minlength=3) / 7000
    base_ce = float(-(np.log(prior[y[7000:]])).mean())
    print("grade mix (val): " + ", ".join(f"{g} {c / counts.sum():.0%}" for g, c in zip(GRADES, counts)))
    rows = []
    for seed in (1, 2, 3):
        rows.append((seed,) + run_seed(seed, Xtr, ytr, Xva, yva))
    print("seed | val acc | majority | val CE | prior CE")
    for s, a, c in rows:
        print(f"{s:4d} | {100 * a:6.1f}% | {100 * base:7.1f}% | {c:6.3f} | {base_ce:7.3f}")
    print(f"mean val acc {100 * np.mean([r[1] for r in rows]):.1f}%  (spread {100 * np.ptp([r[1] for r in rows]):.1f} pts)")


if __name__ == "__main__":
    main()
