# Hot-dip galvanizing line: call the zinc coating of a dipped batch
# (0 = under-coated, 1 = in spec, 2 = over-thick / brittle) from 10 synthetic kettle-log readings.
# Two stages: first only clear-cut batches, then the full log with the borderline ones.
# Stage 2 uses patience-based early stopping and puts the best weights back at the end.
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

rng = np.random.default_rng(2026)


def kettle_log(n):
    bath_c = rng.uniform(440, 465, n)                         # zinc bath temperature
    dip_s = rng.uniform(60, 600, n)                           # immersion time
    si_pct = rng.uniform(0.0, 0.30, n)                        # steel silicon
    p_pct = rng.uniform(0.005, 0.04, n)                       # steel phosphorus
    section_mm = rng.uniform(3, 25, n)
    withdraw = rng.uniform(0.8, 2.5, n)                       # withdrawal speed m/min
    flux_age = rng.integers(0, 30, n).astype(np.float64)      # days since flux refresh
    pickle_min = rng.uniform(10, 60, n)
    al_ppm = rng.uniform(0, 60, n)
    # made-up coating law (micrometres): parabolic growth, Sandelin peak near 0.07% Si,
    # reactive again above 0.22% Si, thicker sections hold heat, aluminium slows growth
    sandelin = 1.0 + 1.6 * np.exp(-((si_pct + 2.5 * p_pct - 0.09) / 0.03) ** 2) \
        + 2.2 / (1 + np.exp(-(si_pct - 0.22) / 0.02))
    growth = 6.0 * np.sqrt(dip_s) * np.exp(0.03 * (bath_c - 450)) * sandelin
    growth = growth * (1 + 0.012 * section_mm) * (1 - 0.004 * al_ppm) * (1 + 0.1 * (withdraw - 1.5))
    growth = growth * (1 - 0.006 * flux_age) + 0.1 * pickle_min
    score = growth + rng.normal(0, 6.0, n)
    y = np.where(score < 85, 0, np.where(score > 160, 2, 1))
    margin = np.minimum(np.abs(score - 85), np.abs(score - 160))
    x = np.stack([bath_c, dip_s, si_pct, p_pct, section_mm, withdraw, flux_age, pickle_min, al_ppm,
                  growth + rng.normal(0, 25.0, n)], 1)          # last: magnetic gauge spot check
    return x.astype(np.float32), y.astype(np.int32), margin


xtr, ytr, mtr = kettle_log(5000)
xva, yva, _ = kettle_log(1200)
m, s = xtr.mean(0), xtr.std(0) + 1e-6
xtr, xva = (xtr - m) / s, (xva - m) / s
Xtr, Ytr, Xva, Yva = map(mx.array, (xtr, ytr, xva, yva))
easy = mx.array(np.nonzero(mtr > 15.0)[0])
print(f"batches: train {len(ytr)} (clear-cut {easy.size}), val {len(yva)}; "
      f"class mix {np.bincount(ytr) / len(ytr)}")

net = nn.Sequential(nn.Linear(10, 64), nn.GELU(), nn.Linear(64, 64), nn.GELU(), nn.Linear(64, 3))
mx.eval(net.parameters())


def nll(model, xb, yb):
    return nn.losses.cross_entropy(model(xb), yb, reduction="mean")


grad_fn = nn.value_and_grad(net, nll)
_, g = grad_fn(net, Xtr[:200], Ytr[:200])
norms = {k: float(mx.linalg.norm(v)) for k, v in tree_flatten(g)}
print("grad check " + " ".join(f"{k}={v:.2e}" for k, v in norms.items()))

opt = optim.SGD(learning_rate=0.05, momentum=0.9, nesterov=True, weight_decay=5e-4)


def run_epoch(pool, bs=100):
    perm = pool[mx.random.permutation(pool.size)]
    tot, nb = 0.0, 0
    for i in range(0, perm.size - bs + 1, bs):
        idx = perm[i:i + bs]
        loss, grads = grad_fn(net, Xtr[idx], Ytr[idx])
        opt.update(net, grads)
        mx.eval(net.parameters(), opt.state, loss)
        tot += loss.item()
        nb += 1
    return tot / nb


def score(X, Y):
    logits = net(X)
    return nn.losses.cross_entropy(logits, Y, reduction="mean").item(), \
        100.0 * (mx.argmax(logits, 1) == Y).astype(mx.float32).mean().item()


hdr = f"{'stg':>3} | {'ep':>3} | {'nll':>7} | {'val_nll':>7} | {'val%':>6} | {'lr':>6} | note"
print(hdr)
print("-" * len(hdr))

# ---- stage 1: clear-cut batches only
for ep in range(1, 9):
    tl = run_epoch(easy)
    vn, va = score(Xva, Yva)
    print(f"{1:>3} | {ep:>3} | {tl:7.4f} | {vn:7.4f} | {va:6.2f} | {opt.learning_rate.item():6.4f} |")

# ---- stage 2: every batch, borderline included, smaller steps, patience 4
opt.learning_rate = 0.02
allpool = mx.arange(Ytr.size)
best, best_ep, wait, snap = 1e9, 0, 0, None
for ep in range(1, 41):
    tl = run_epoch(allpool)
    vn, va = score(Xva, Yva)
    note = ""
    if vn < best - 1e-4:
        best, best_ep, wait = vn, ep, 0
        snap = tree_map(lambda a: mx.array(a), net.parameters())
        note = "*"
    else:
        wait += 1
        note = f"wait {wait}"
    print(f"{2:>3} | {ep:>3} | {tl:7.4f} | {vn:7.4f} | {va:6.2f} | {opt.learning_rate.item():6.4f} | {note}")
    if wait >= 4:
        print(f"stop: no val gain for 4 epochs; restoring epoch {best_ep}")
        break
    if ep % 12 == 0:
        opt.learning_rate = opt.learning_rate * 0.5

net.update(snap)
mx.eval(net.parameters())
vn, va = score(Xva, Yva)
prior = 100.0 * np.bincount(yva).max() / len(yva)
print(f"restored: val_nll {vn:.4f}  val {va:.2f}%  (majority-class {prior:.2f}%)")
