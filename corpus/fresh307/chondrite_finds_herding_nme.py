"""Meteorite find sorting: chondrite groups arrive a few at a time.

Class-incremental learning in the iCaRL manner:
  * a constant-size memory of K exemplars shared by all groups seen so far,
    chosen per group by herding in the normalised feature space,
  * sigmoid (one-vs-all) outputs; for groups learned earlier the targets are
    the previous network's own sigmoid outputs (distillation),
  * prediction by nearest mean of exemplars (NME) beside the plain head.

Each stage restarts a linear learning-rate warm-up from exactly 0.
"""
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_map

GROUPS = ["H", "L", "LL", "CI", "CM", "CV"]
STAGES = [[0, 1], [2, 3], [4, 5]]
N_FEAT = 8          # e.g. Fe/Si, Mg/Si, d17O, d18O, metal %, chondrule size, ...
MEMORY = 60
STEPS = 400
WARMUP = 60
BATCH = 64
LR = 2e-3

mx.random.seed(0)
rng = np.random.default_rng(7)
centres = rng.normal(0.0, 1.0, size=(len(GROUPS), N_FEAT)) * 1.1
mix = rng.normal(0.0, 0.35, size=(N_FEAT, N_FEAT)) + np.eye(N_FEAT)


def draw(cls, n):
    z = centres[cls] + rng.normal(0.0, 0.8, size=(n, N_FEAT))
    z = z @ mix
    z[:, 0] += 0.3 * np.tanh(z[:, 1] * z[:, 2])
    return z.astype(np.float32)


train = {c: draw(c, 1500) for c in range(len(GROUPS))}
test = {c: draw(c, 400) for c in range(len(GROUPS))}
mu = np.concatenate(list(train.values())).mean(0)
sd = np.concatenate(list(train.values())).std(0)
train = {c: (v - mu) / sd for c, v in train.items()}
test = {c: (v - mu) / sd for c, v in test.items()}


class Sorter(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(
            nn.Linear(N_FEAT, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU()
        )
        self.head = nn.Linear(64, len(GROUPS))

    def features(self, x):
        return self.body(x)

    def __call__(self, x):
        return self.head(self.body(x))


def unit(f):
    return f / (mx.linalg.norm(f, axis=-1, keepdims=True) + 1e-8)


def herd(feats, m):
    """Pick m rows whose running mean tracks the class mean (iCaRL herding)."""
    f = feats / (np.linalg.norm(feats, axis=1, keepdims=True) + 1e-8)
    target = f.mean(0)
    chosen, running = [], np.zeros_like(target)
    for k in range(1, m + 1):
        cand = target - (running + f) / k
        d = np.linalg.norm(cand, axis=1)
        d[chosen] = np.inf
        i = int(np.argmin(d))
        chosen.append(i)
        running += f[i]
    return chosen


model = Sorter()
old = Sorter()
mx.eval(model.parameters())
exemplars = {}   # class -> np.array of stored rows (ordered by herding rank)


def loss_fn(net, x, y_onehot, old_probs, n_old, n_seen):
    logits = net(x)[:, :n_seen]
    target = y_onehot[:, :n_seen]
    if n_old > 0:
        target = mx.concatenate([old_probs[:, :n_old], target[:, n_old:]], axis=1)
    return nn.losses.binary_cross_entropy(logits, target, with_logits=True, reduction="mean")


def evaluate(seen):
    xs = np.concatenate([test[c] for c in seen])
    ys = np.concatenate([np.full(len(test[c]), i) for i, c in enumerate(seen)])
    x = mx.array(xs)
    head_pred = np.array(mx.argmax(model(x)[:, : len(seen)], axis=1))
    means = []
    for c in seen:
        f = unit(model.features(mx.array(exemplars[c])))
        means.append(unit(mx.mean(f, axis=0, keepdims=True)))
    means = mx.concatenate(means, axis=0)
    fx = unit(model.features(x))
    nme_pred = np.array(mx.argmin(
        mx.sum((fx[:, None, :] - means[None, :, :]) ** 2, axis=-1), axis=1))
    old_mask = ys < len(seen) - 2
    out = {
        "head": float((head_pred == ys).mean()),
        "nme": float((nme_pred == ys).mean()),
        "chance": 1.0 / len(seen),
    }
    if old_mask.any():
        out["nme_old"] = float((nme_pred[old_mask] == ys[old_mask]).mean())
    return out


t0 = time.time()
seen = []
for stage, new in enumerate(STAGES):
    n_old = len(seen)
    seen = seen + new
    n_seen = len(seen)
    xs = [train[c] for c in new] + [exemplars[c] for c in seen[:n_old]]
    ys = [np.full(len(train[c]), c) for c in new] + [np.full(len(exemplars[c]), c) for c in seen[:n_old]]
    X = np.concatenate(xs)
    Y = np.concatenate(ys)
    onehot = np.eye(len(GROUPS), dtype=np.float32)[Y]
    if n_old > 0:
        old.update(tree_map(lambda a: a, model.parameters()))
        old_probs_all = np.array(mx.sigmoid(old(mx.array(X))))
    else:
        old_probs_all = np.zeros_like(onehot)

    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, LR, WARMUP), lambda _: mx.array(LR)], [WARMUP]
    )
    opt = optim.Adam(learning_rate=sched)
    step_fn = nn.value_and_grad(model, loss_fn)
    print(f"stage {stage}: new groups {[GROUPS[c] for c in new]}, "
          f"{len(X)} rows ({sum(len(exemplars[c]) for c in seen[:n_old])} from memory)")
    running = []
    for step in range(1, STEPS + 1):
        idx = rng.integers(0, len(X), size=BATCH)
        loss, grads = step_fn(
            model, mx.array(X[idx]), mx.array(onehot[idx]),
            mx.array(old_probs_all[idx]), n_old, n_seen,
        )
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        running.append(loss.item())
        if step == 1 or step % 100 == 0:
            lr_now = sched(step - 1)
            print(f"  step {step:4d}  lr {float(lr_now):.5f}  bce {np.mean(running):.4f}")
            running = []

    # rebuild memory: shrink old groups, herd the new ones
    per = MEMORY // n_seen
    for c in seen[:n_old]:
        exemplars[c] = exemplars[c][:per]
    for c in new:
        feats = np.array(model.features(mx.array(train[c])))
        exemplars[c] = train[c][herd(feats, per)]
    res = evaluate(seen)
    line = (f"  after stage {stage}: {n_seen} groups, memory {per}/group | "
            f"acc nme {res['nme']:.3f} head {res['head']:.3f} chance {res['chance']:.3f}")
    if "nme_old" in res:
        line += f" | nme on earlier groups {res['nme_old']:.3f}"
    print(line)

print(f"done in {time.time() - t0:.1f}s")
