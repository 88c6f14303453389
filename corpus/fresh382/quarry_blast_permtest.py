# Quarry blasts: does the net really predict vibration-limit exceedance?
# Real labels vs three runs on permuted labels (same net, same budget).
import time
from functools import partial
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(21)
N_TR, N_TE = 600, 2000


def blasts(n):
    charge = rng.lognormal(5.0, 0.4, n)          # kg per delay
    dist = rng.uniform(150, 900, n)              # m to nearest house
    burden = rng.normal(3.5, 0.5, n)
    stem = rng.normal(2.8, 0.6, n)
    delay = rng.choice([17, 25, 42], n).astype(float)
    rock = rng.normal(0, 1, n)
    moist = rng.uniform(0, 1, n)
    sd_ = dist / np.sqrt(charge)
    logit = 9.0 - 6.0 * np.log10(sd_) + 0.8 * rock - 0.03 * (delay - 25) + 0.6 * (stem < 2.4)
    y = (rng.uniform(size=n) < 1 / (1 + np.exp(-logit))).astype(np.float32)
    x = np.stack([np.log(charge), np.log(dist), burden, stem, delay, rock, moist], 1).astype(np.float32)
    return x, y


xtr, ytr = blasts(N_TR)
xte, yte = blasts(N_TE)
mu, sd = xtr.mean(0), xtr.std(0)
Xtr, Xte = mx.array((xtr - mu) / sd), mx.array((xte - mu) / sd)
print(f"blasts\ttrain {N_TR}\ttest {N_TE}\texceed share {ytr.mean():.3f}")


def auc(score, y):
    order = np.argsort(score)
    ranks = np.empty(len(score)); ranks[order] = np.arange(1, len(score) + 1)
    pos = y == 1
    return (ranks[pos].sum() - pos.sum() * (pos.sum() + 1) / 2) / (pos.sum() * (~pos).sum())


def run(labels, seed):
    mx.random.seed(seed)
    model = nn.Sequential(nn.Linear(7, 64), nn.GELU(), nn.Linear(64, 64), nn.GELU(), nn.Linear(64, 1))
    sched = optim.step_decay(0.05, 0.5, 150)
    opt = optim.SGD(learning_rate=sched, momentum=0.9)
    Y = mx.array(labels)

    def loss_fn(x, y):
        return nn.losses.binary_cross_entropy(model(x)[:, 0], y, with_logits=True, reduction="mean")

    @partial(mx.compile, inputs=[model.state, opt.state], outputs=[model.state, opt.state])
    def step(x, y):
        loss, g = nn.value_and_grad(model, loss_fn)(x, y)
        opt.update(model, g)
        return loss

    hist = []
    for s in range(600):
        idx = mx.array(rng.integers(0, N_TR, 64))
        loss = step(Xtr[idx], Y[idx])
        mx.eval(loss, model.state, opt.state)
        if (s + 1) % 150 == 0:
            tr = loss_fn(Xtr, Y).item()
            te = loss_fn(Xte, mx.array(yte)).item()
            hist.append((s + 1, tr, te))
    score = np.array(model(Xte)[:, 0])
    return hist, auc(score, yte)


t0 = time.time()
results = {}
for name, labels, seed in [("real", ytr, 1)] + [(f"permuted_{i}", rng.permutation(ytr), 10 + i) for i in range(3)]:
    hist, a = run(labels, seed)
    results[name] = a
    print(f"run\t{name}")
    for s, tr, te in hist:
        print(f"\tstep {s}\ttrain_bce {tr:.4f}\ttest_bce {te:.4f}")
    print(f"\ttest_auc_pct {100 * a:.1f}")

prior = float(ytr.mean())
base = -(yte * np.log(prior) + (1 - yte) * np.log(1 - prior)).mean()
null = [v for k, v in results.items() if k != "real"]
p = (1 + sum(v >= results["real"] for v in null)) / (1 + len(null))
print(f"summary\tprior_only_test_bce {base:.4f}\treal_auc_pct {100 * results['real']:.1f}\t"
      f"permuted_auc_pct {np.mean(null) * 100:.1f} +- {np.std(null) * 100:.1f}\tperm_p {p:.2f}\t{time.time() - t0:.1f}s")
