# Surf lifesaving: 3-way rip-current flag (green / yellow / red) from beach readings.
# Last season's logs pre-train a base model; this season's smaller log fine-tunes
# five "ingredients" from that base with different recipes, and their weights are
# then averaged into a uniform soup and a greedy soup.
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_map, tree_flatten

rng = np.random.default_rng(7)
FEATURES = ["wave_m", "period_s", "tide_sin", "tide_cos", "onshore_kt", "bar_gap_m", "slope_deg"]
FLAGS = ["green", "yellow", "red"]


def beach_log(n, season_shift=0.0):
    wave = rng.gamma(2.0, 0.6, n)
    period = rng.uniform(5, 15, n)
    tide = rng.uniform(0, 2 * np.pi, n)
    wind = rng.normal(8, 6, n)
    gap = rng.uniform(20, 200, n)
    slope = rng.uniform(1, 8, n)
    risk = (1.3 * wave * (period / 10.0) ** 1.5 + 0.8 * np.cos(tide) * (wave > 1.0)
            + 0.05 * np.clip(wind, 0, None) - 0.008 * gap + 0.25 * slope
            + season_shift * (wave - 1.0) + rng.logistic(0, 0.35, n))
    y = np.digitize(risk, [1.2, 2.4])
    x = np.stack([wave, period, np.sin(tide), np.cos(tide), wind, gap, slope], 1)
    return x.astype(np.float32), y.astype(np.int32)


x_old, y_old = beach_log(9000)
x_new, y_new = beach_log(1200, season_shift=0.6)
x_val, y_val = beach_log(800, season_shift=0.6)
x_test, y_test = beach_log(3000, season_shift=0.6)
mu, sd = x_old.mean(0), x_old.std(0)
std = lambda a: mx.array((a - mu) / sd)
X_old, Y_old = std(x_old), mx.array(y_old)
X_new, Y_new = std(x_new), mx.array(y_new)
X_val, Y_val = std(x_val), mx.array(y_val)
X_test, Y_test = std(x_test), mx.array(y_test)


class FlagNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(7, 64)
        self.l2 = nn.Linear(64, 64)
        self.out = nn.Linear(64, 3)

    def __call__(self, x):
        return self.out(nn.silu(self.l2(nn.silu(self.l1(x)))))


def accuracy(model, X, Y):
    return float(mx.mean(mx.argmax(model(X), axis=1) == Y).item())


def ce(model, X, Y):
    return float(nn.losses.cross_entropy(model(X), Y, reduction="mean").item())


def train(model, X, Y, steps, lr, wd, smooth, jitter, seed, batch=64, warm=60):
    mx.random.seed(seed)
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, lr, warm), optim.cosine_decay(lr, steps - warm, lr * 0.02)], [warm])
    opt = optim.AdamW(learning_rate=sched, weight_decay=wd)

    def loss_fn(m, xb, yb):
        xb = xb + jitter * mx.random.normal(xb.shape)
        return nn.losses.cross_entropy(m(xb), yb, label_smoothing=smooth, reduction="mean")

    step_fn = nn.value_and_grad(model, loss_fn)
    order = np.random.default_rng(seed).permutation(X.shape[0])
    cur, trace = 0, []
    for s in range(steps):
        if cur + batch > len(order):
            order, cur = np.random.default_rng(seed + s).permutation(X.shape[0]), 0
        idx = mx.array(order[cur:cur + batch])
        cur += batch
        loss, grads = step_fn(model, X[idx], Y[idx])
        if s == 0:
            leaves = tree_flatten(grads)
            zero = [k for k, g in leaves if float(mx.abs(g).max().item()) == 0.0]
            first = (len(leaves), zero, float(opt.learning_rate.item()))
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        trace.append(loss.item())
    return trace, first


t0 = time.time()
majority = int(np.bincount(y_new).argmax())
print("rip-flag soup kitchen")
print(f"├─ data: last season {len(y_old)} rows, this season {len(y_new)} train / {len(y_val)} val / {len(y_test)} test")
print(f"├─ flag mix this season: " + ", ".join(f"{f} {100*np.mean(y_test==i):.1f}%" for i, f in enumerate(FLAGS)))
print(f"├─ baseline majority ({FLAGS[majority]}): test acc {100*np.mean(y_test==majority):.1f}%")

base = FlagNet()
mx.eval(base.parameters())
print(f"├─ untrained: test acc {100*accuracy(base, X_test, Y_test):.1f}%  test ce {ce(base, X_test, Y_test):.3f}")
trace, first = train(base, X_old, Y_old, steps=1400, lr=3e-3, wd=1e-4, smooth=0.0, jitter=0.0, seed=1)
print(f"├─ base (last season, 1400 steps): first step {first[0]} grad leaves, zero={first[1]}, lr={first[2]:.1f}")
print(f"│   train ce  start {np.mean(trace[:20]):.3f} -> end {np.mean(trace[-100:]):.3f}")
print(f"│   this-season val acc {100*accuracy(base, X_val, Y_val):.1f}%  test acc {100*accuracy(base, X_test, Y_test):.1f}%")
base_params = tree_map(lambda p: mx.array(p), base.parameters())

recipes = [
    dict(lr=1e-3, wd=1e-4, smooth=0.0, jitter=0.0, seed=11),
    dict(lr=3e-3, wd=1e-3, smooth=0.0, jitter=0.0, seed=12),
    dict(lr=2e-3, wd=1e-4, smooth=0.1, jitter=0.0, seed=13),
    dict(lr=2e-3, wd=1e-4, smooth=0.0, jitter=0.15, seed=14),
    dict(lr=6e-3, wd=1e-2, smooth=0.05, jitter=0.05, seed=15),
]
ingredients = []
print("├─ ingredients (fine-tuned from base, 500 steps each, warm-up from lr 0 over 60 steps)")
for k, r in enumerate(recipes):
    m = FlagNet()
    m.update(tree_map(lambda p: mx.array(p), base_params))
    trace, first = train(m, X_new, Y_new, steps=500, **r)
    va, ta = accuracy(m, X_val, Y_val), accuracy(m, X_test, Y_test)
    ingredients.append((va, k, tree_map(lambda p: mx.array(p), m.parameters())))
    tag = "└" if k == len(recipes) - 1 else "├"
    print(f"│   {tag}─ #{k} lr={r['lr']:.0e} wd={r['wd']:.0e} smooth={r['smooth']:.2f} jitter={r['jitter']:.2f} "
          f"| lr@1={first[2]:.1f} | train ce {np.mean(trace[:10]):.3f}->{np.mean(trace[-50:]):.3f} "
          f"| val {100*va:.1f}% test {100*ta:.1f}%")

probe = FlagNet()


def soup_of(trees):
    return tree_map(lambda *xs: sum(xs) / len(xs), *trees)


probe.update(soup_of([t for _, _, t in ingredients]))
uni_val, uni_test = accuracy(probe, X_val, Y_val), accuracy(probe, X_test, Y_test)

ranked = sorted(ingredients, key=lambda e: -e[0])
chosen = [ranked[0]]
probe.update(ranked[0][2])
best_val = accuracy(probe, X_val, Y_val)
log = [f"start with #{ranked[0][1]} (val {100*best_val:.1f}%)"]
for va, k, tree in ranked[1:]:
    probe.update(soup_of([t for _, _, t in chosen] + [tree]))
    cand = accuracy(probe, X_val, Y_val)
    if cand >= best_val:
        chosen.append((va, k, tree))
        best_val = cand
        log.append(f"add #{k} -> val {100*cand:.1f}%")
    else:
        log.append(f"skip #{k} (val would be {100*cand:.1f}%)")
probe.update(soup_of([t for _, _, t in chosen]))
greedy_test = accuracy(probe, X_test, Y_test)
best_single = max(ingredients, key=lambda e: e[0])
probe.update(best_single[2])
single_test = accuracy(probe, X_test, Y_test)

print("├─ soups (weights averaged with tree_map, never trained as such)")
print(f"│   ├─ uniform of 5: val {100*uni_val:.1f}%  test {100*uni_test:.1f}%")
for line in log:
    print(f"│   ├─ greedy: {line}")
print(f"│   └─ greedy of {len(chosen)}: val {100*best_val:.1f}%  test {100*greedy_test:.1f}%")
print(f"└─ summary: majority {100*np.mean(y_test==majority):.1f}% | base {100*accuracy(base, X_test, Y_test):.1f}% | "
      f"best single #{best_single[1]} {100*single_test:.1f}% | uniform {100*uni_test:.1f}% | greedy {100*greedy_test:.1f}% "
      f"| {time.time()-t0:.1f}s")
