"""Falconry telemetry: outcome of a free flight (back on the lure / perched off / out of sight)
from seven tracker readings, with the batch size grown by the measured gradient noise scale.

Each epoch ends with an estimate of the simple noise scale B = tr(Sigma)/|G|^2 from
gradients at two batch sizes (McCandlish et al. 2018, appendix A); the next epoch uses
the nearest power of two in [32, 512] and a learning rate scaled with it.  Per-layer
gradient norms are monitored.  Every record is one JSON object per line.
"""
import json
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(5)
mx.random.seed(5)
CLASSES = ["lure", "perched", "lost"]


def flights(n):
    weight_g = rng.normal(0, 1, n)        # flying weight vs. target (std units)
    wind = rng.gamma(2.0, 1.2, n)         # m/s
    thermals = rng.uniform(0, 1, n)
    distance = rng.gamma(2.0, 0.4, n)     # km from falconer at release
    age_y = rng.integers(1, 12, n).astype(float)
    hunger = rng.uniform(0, 1, n)
    cover = rng.uniform(0, 1, n)          # tree cover share
    s_perch = 0.9 * cover + 0.6 * weight_g - 0.8 * hunger + 0.1 * wind
    s_lost = 0.5 * wind + 1.4 * thermals * weight_g.clip(0) + 0.9 * distance - 0.15 * age_y - 1.2
    logits = np.stack([np.zeros(n), s_perch, s_lost], 1) * 1.6
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    y = np.array([rng.choice(3, p=pi) for pi in p])
    X = np.stack([weight_g, wind, thermals, distance, age_y, hunger, cover], 1)
    return X.astype(np.float32), y.astype(np.int32), p


Xtr, ytr, _ = flights(12000)
Xte, yte, p_te = flights(3000)
bayes_ce = float(-np.mean(np.log(p_te[np.arange(len(yte)), yte])))
mu, sd = Xtr.mean(0), Xtr.std(0)
Xtr, Xte = (Xtr - mu) / sd, (Xte - mu) / sd
Xtr_m, ytr_m = mx.array(Xtr), mx.array(ytr)
Xte_m, yte_m = mx.array(Xte), mx.array(yte)


class FlightNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.inp = nn.Linear(7, 96)
        self.mid = nn.Linear(96, 96)
        self.norm = nn.LayerNorm(96)
        self.out = nn.Linear(96, 3)

    def __call__(self, x):
        h = nn.silu(self.inp(x))
        h = self.norm(h + nn.silu(self.mid(h)))
        return self.out(h)


model = FlightNet()
mx.eval(model.parameters())
BASE_LR, BASE_B = 0.02, 32
opt = optim.SGD(learning_rate=BASE_LR, momentum=0.9)


def loss_fn(m, x, y):
    return mx.mean(nn.losses.cross_entropy(m(x), y))


loss_and_grad = nn.value_and_grad(model, loss_fn)


def sq_norm(tree):
    return sum(mx.sum(g * g) for _, g in tree_flatten(tree))


def noise_scale(b_small=32, b_big=512, pairs=6):
    gs, gb = [], []
    for _ in range(pairs):
        i_s = mx.array(rng.choice(len(Xtr), b_small, replace=False))
        i_b = mx.array(rng.choice(len(Xtr), b_big, replace=False))
        _, g_s = loss_and_grad(model, Xtr_m[i_s], ytr_m[i_s])
        _, g_b = loss_and_grad(model, Xtr_m[i_b], ytr_m[i_b])
        a, b = sq_norm(g_s), sq_norm(g_b)
        mx.eval(a, b)
        gs.append(float(a.item()))
        gb.append(float(b.item()))
    s2, b2 = float(np.mean(gs)), float(np.mean(gb))
    g2 = (b_big * b2 - b_small * s2) / (b_big - b_small)
    tr = (s2 - b2) / (1.0 / b_small - 1.0 / b_big)
    if g2 <= 0:  # true gradient indistinguishable from sampling noise at these sizes
        return None, g2, tr
    return tr / g2, g2, tr


def test_metrics():
    logits = model(Xte_m)
    ce = float(mx.mean(nn.losses.cross_entropy(logits, yte_m)).item())
    acc = float(mx.mean(mx.argmax(logits, 1) == yte_m).item())
    return ce, acc


def emit(**rec):
    print(json.dumps(rec, separators=(",", ":")))


counts = np.bincount(ytr, minlength=3) / len(ytr)
prior_ce = float(-(np.bincount(yte, minlength=3) / len(yte) * np.log(counts)).sum())
emit(event="data", train=len(Xtr), test=len(Xte),
     class_share={c: round(float(s), 3) for c, s in zip(CLASSES, counts)},
     prior_ce=round(prior_ce, 4), true_prob_ce=round(bayes_ce, 4))
ce0, acc0 = test_metrics()
emit(event="untrained", test_ce=round(ce0, 4), test_acc=round(acc0, 4))

_, g_first = loss_and_grad(model, Xtr_m[:64], ytr_m[:64])
emit(event="grad_check", leaves=len(tree_flatten(g_first)),
     zero_leaves=[k for k, g in tree_flatten(g_first) if float(mx.abs(g).max().item()) == 0.0])

batch = BASE_B
t0 = time.perf_counter()
for ep in range(1, 11):
    opt.learning_rate = min(BASE_LR * batch / BASE_B, 0.16)
    perm = rng.permutation(len(Xtr))
    n_steps = len(Xtr) // batch
    tot, layer_acc, clip_hits = 0.0, {}, 0
    for s in range(n_steps):
        idx = mx.array(perm[s * batch:(s + 1) * batch])
        loss, grads = loss_and_grad(model, Xtr_m[idx], ytr_m[idx])
        grads, gnorm = optim.clip_grad_norm(grads, max_norm=2.0)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss, gnorm)
        tot += float(loss.item())
        clip_hits += int(float(gnorm.item()) > 2.0)
        for name, g in tree_flatten(grads):
            if name.endswith("weight") and g.ndim == 2:
                layer_acc[name] = layer_acc.get(name, 0.0) + float(mx.sqrt(mx.sum(g * g)).item())
    b_simple, g2, tr = noise_scale()
    ce, acc = test_metrics()
    emit(event="epoch", epoch=ep, batch=batch, steps=n_steps, lr=round(float(opt.learning_rate.item()), 4),
         train_ce=round(tot / n_steps, 4), test_ce=round(ce, 4), test_acc=round(acc, 4),
         clipped=clip_hits,
         layer_grad_norm={k.split(".")[0]: round(v / n_steps, 4) for k, v in layer_acc.items()},
         noise_scale=None if b_simple is None else round(b_simple, 1), grad_sq=round(g2, 5), trace_cov=round(tr, 3),
         secs=round(time.perf_counter() - t0, 2))
    b_next = 512 if b_simple is None else min(max(b_simple, 32), 512)
    batch = int(2 ** round(math.log2(b_next)))

ce, acc = test_metrics()
emit(event="done", final_batch=batch, test_ce=round(ce, 4), test_acc=round(acc, 4))
