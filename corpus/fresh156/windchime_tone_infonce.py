"""Wind-chime tube identification by contrastive embedding.

Each of 24 synthetic chime tubes has a partial spectrum (inharmonic free-bar
ratios 1 : 2.76 : 5.40 : 8.93 scaled by the tube's fundamental). Two random
"gusts" of the same tube (different strike strength, damping, wind noise) are
the positive pair; InfoNCE over the batch. The log-mel-like front end is a
fixed random projection, frozen on purpose. A soft-clip with a hand-written
VJP keeps the embedding norms in range. SGD + Nesterov with cosine warm
restarts; early stopping on held-out top-1 with restore of the best weights.
Prints one JSON object per line.
"""
import json
import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

mx.random.seed(5)

N_BINS = 96
N_TUBES = 16
RATIOS = mx.array([1.0, 2.756, 5.404, 8.933])


def tube_table(key):
    f0 = mx.sort(mx.random.uniform(0.04, 0.11, (N_TUBES,), key=key))
    return f0


F0 = tube_table(mx.random.key(1))


def gust(tube_ids, key):
    k1, k2, k3 = mx.random.split(key, 3)
    n = tube_ids.shape[0]
    f = F0[tube_ids][:, None] * RATIOS[None, :] * (1 + 0.01 * mx.random.normal((n, 1), key=k1))
    amp = mx.random.uniform(0.4, 1.0, (n, 4), key=k2) * mx.array([1.0, 0.6, 0.35, 0.2])
    bins = mx.arange(N_BINS)[None, None, :] / N_BINS
    spec = mx.sum(amp[:, :, None] * mx.exp(-((bins - f[:, :, None]) ** 2) / (2 * 0.006 ** 2)), axis=1)
    spec = spec + 0.05 * mx.abs(mx.random.normal(spec.shape, key=k3))
    return mx.log1p(8 * spec)


@mx.custom_function
def soft_clip(x):
    return 3.0 * mx.tanh(x / 3.0)


@soft_clip.vjp
def soft_clip_vjp(primals, cotangent, output):
    x = primals[0] if isinstance(primals, (tuple, list)) else primals
    t = mx.tanh(x / 3.0)
    return cotangent * (1 - t * t)


class ChimeEncoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.front = nn.Linear(N_BINS, 64, bias=False)  # fixed random filterbank
        self.h = nn.Linear(64, 96)
        self.proj = nn.Linear(96, 32)

    def __call__(self, s):
        z = nn.gelu(self.h(self.front(s)))
        e = soft_clip(self.proj(z))
        return e / (mx.linalg.norm(e, axis=-1, keepdims=True) + 1e-6)


def info_nce(model, a, b, tau):
    ea, eb = model(a), model(b)
    logits = ea @ eb.T / tau
    labels = mx.arange(a.shape[0])
    return 0.5 * (nn.losses.cross_entropy(logits, labels, reduction="mean")
                  + nn.losses.cross_entropy(logits.T, labels, reduction="mean"))


def top1(model, key):
    ka, kb = mx.random.split(key)
    ids = mx.arange(N_TUBES)
    bank = model(gust(ids, ka))
    q_ids = mx.random.randint(0, N_TUBES, (240,), key=kb)
    q = model(gust(q_ids, mx.random.split(kb)[0]))
    hit = mx.argmax(q @ bank.T, axis=-1) == q_ids
    return mx.mean(hit.astype(mx.float32)).item()


model = ChimeEncoder()
model.front.freeze()
mx.eval(model.parameters())

TAU = 0.1
_, g = nn.value_and_grad(model, info_nce)(model, gust(mx.arange(N_TUBES), mx.random.key(7)),
                                          gust(mx.arange(N_TUBES), mx.random.key(8)), TAU)
gn = {k: mx.linalg.norm(v).item() for k, v in tree_flatten(g)}
assert all(v > 0 for v in gn.values()) and not any(k.startswith("front") for k in gn), gn
print(json.dumps({"event": "grad_check", "trainable": len(gn), "frozen": ["front.weight"],
                  "min_norm": round(min(gn.values()), 5)}))

CYCLE = 80
N_CYCLES = 6
sched = optim.cosine_decay(0.6, CYCLE, 0.005)


def lr_at(step):
    return sched(step % CYCLE)


opt = optim.SGD(learning_rate=0.25, momentum=0.9, nesterov=True, weight_decay=5e-5)
grad_fn = nn.value_and_grad(model, info_nce)

best = (-1.0, None, -1)
patience, bad = 3, 0
key = mx.random.key(2024)
t0 = time.time()
step = 0
chance = 1.0 / N_TUBES
for cycle in range(1, N_CYCLES + 1):
    run = 0.0
    for it in range(CYCLE):
        key, k_ids, ka, kb = mx.random.split(key, 4)
        ids = mx.random.permutation(N_TUBES, key=k_ids)[:12]
        opt.learning_rate = lr_at(step)
        loss, grads = grad_fn(model, gust(ids, ka), gust(ids, kb), TAU)
        opt.update(model, grads)
        mx.eval(loss, model.parameters(), opt.state)
        run += loss.item()
        step += 1
        if it % 20 == 0:
            print(json.dumps({"cycle": cycle, "it": it, "nce": round(loss.item(), 4),
                              "lr": round(float(opt.learning_rate.item()), 4)}))
    acc = top1(model, mx.random.key(99))  # fixed held-out gusts
    rec = {"cycle": cycle, "nce_mean": round(run / CYCLE, 4), "top1_pct": round(100 * acc, 1),
           "chance_pct": round(100 * chance, 1), "secs": round(time.time() - t0, 2)}
    if acc > best[0]:
        best = (acc, tree_map(lambda p: mx.array(p), model.trainable_parameters()), cycle)
        bad = 0
        rec["best"] = True
    else:
        bad += 1
    print(json.dumps(rec))
    if bad >= patience:
        print(json.dumps({"event": "early_stop", "cycle": cycle}))
        break

model.update(best[1])
mx.eval(model.parameters())
final = top1(model, mx.random.key(99))
fresh = top1(model, mx.random.key(1234))
print(json.dumps({"event": "restored", "from_cycle": best[2], "top1_pct": round(100 * final, 1),
                  "fresh_top1_pct": round(100 * fresh, 1), "chance_pct": round(100 * chance, 1)}))
