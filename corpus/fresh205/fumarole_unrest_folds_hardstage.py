"""Fumarole gas monitoring: which unrest level does a gas sample point to?

Classes: 0 background, 1 elevated, 2 pre-eruptive.  Features come from a
multi-gas station on the crater rim (synthetic).  Each fold trains in two
stages: first on clear-cut samples only, then the ambiguous samples near the
level boundaries are added (the 'hard' stage), so the training loss jumps up
when stage 2 starts and then works its way down again.
"""
import logging

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

logging.basicConfig(format="%(levelname).1s %(name)s | %(message)s", level=logging.INFO)
log = logging.getLogger("rimstation")

rng = np.random.default_rng(42)
N = 1350
co2_so2 = rng.lognormal(1.2, 0.6, N)        # molar ratio
h2s_so2 = rng.lognormal(-0.5, 0.7, N)
vent_t = rng.uniform(90.0, 420.0, N)        # degC
so2_flux = rng.lognormal(5.5, 0.8, N)       # t/day
lp_events = rng.poisson(6.0, N).astype(float)  # long-period quakes per day
rain_mm = rng.exponential(4.0, N)           # nuisance: scrubs SO2

score = (0.9 * np.log(co2_so2) - 0.4 * np.log(h2s_so2) + 0.006 * (vent_t - 250)
         + 0.5 * (np.log(so2_flux) - 5.5) + 0.12 * (lp_events - 6) - 0.03 * rain_mm)
score += rng.normal(0.0, 0.35, N)
cuts = np.quantile(score, [0.55, 0.85])
label = np.digitize(score, cuts)
# distance to the nearest level boundary decides "clear-cut" vs "ambiguous"
margin = np.min(np.abs(score[:, None] - cuts[None, :]), axis=1)
clear = margin > 0.35

X = np.stack([np.log(co2_so2), np.log(h2s_so2), vent_t, np.log(so2_flux),
              lp_events, rain_mm], axis=1)
X = ((X - X.mean(0)) / X.std(0)).astype(np.float32)
label = label.astype(np.int32)

K = 3
fold_of = rng.permutation(N) % K
LEVELS = ["background", "elevated", "pre-eruptive"]


def macro_f1(pred, true):
    f = []
    for c in range(3):
        tp = np.sum((pred == c) & (true == c))
        fp = np.sum((pred == c) & (true != c))
        fn = np.sum((pred != c) & (true == c))
        f.append(0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn))
    return float(np.mean(f))


def xent(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


summary = []
for fold in range(K):
    tr = np.where(fold_of != fold)[0]
    te = np.where(fold_of == fold)[0]
    majority = np.bincount(label[tr]).argmax()
    base_acc = 100.0 * np.mean(label[te] == majority)

    mx.random.seed(100 + fold)
    net = nn.Sequential(nn.Linear(6, 32), nn.Tanh(), nn.Linear(32, 32), nn.Tanh(),
                        nn.Linear(32, 3))
    opt = optim.SGD(learning_rate=0.05, momentum=0.9, nesterov=True, weight_decay=5e-4)
    step_fn = nn.value_and_grad(net, xent)
    Xte, yte = mx.array(X[te]), mx.array(label[te])

    for stage, pool in (("clear", tr[clear[tr]]), ("hard", tr)):
        log.info("fold %d/%d stage=%s pool=%d samples", fold + 1, K, stage, len(pool))
        for ep in range(1, 19):   # epoch counter restarts every stage
            order = rng.permutation(pool)
            tot, cnt = 0.0, 0
            for i in range(0, len(order), 96):
                b = order[i:i + 96]
                loss, g = step_fn(net, mx.array(X[b]), mx.array(label[b]))
                opt.update(net, g)
                mx.eval(net.parameters(), opt.state, loss)
                tot += loss.item() * len(b)
                cnt += len(b)
            if ep % 3 == 0 or ep == 1:
                pred = np.array(mx.argmax(net(Xte), axis=1))
                acc = 100.0 * np.mean(pred == label[te])
                log.info("  ep %02d  xent %.4f  test_acc %5.1f%%  (majority %.1f%%)",
                         ep, tot / cnt, acc, base_acc)

    pred = np.array(mx.argmax(net(Xte), axis=1))
    acc = 100.0 * np.mean(pred == label[te])
    f1 = macro_f1(pred, label[te])
    te_loss = xent(net, Xte, yte).item()
    summary.append((fold + 1, te_loss, acc, f1, base_acc))

log.info("fold | test xent | acc    | macro-F1 | majority acc")
for f, l, a, m, b in summary:
    log.info("  %d  |  %.4f   | %5.1f%% |  %.3f   | %5.1f%%", f, l, a, m, b)
arr = np.array([s[1:] for s in summary])
log.info("mean |  %.4f   | %5.1f%% |  %.3f   | %5.1f%%", *arr.mean(0))
