"""Museum audio-guide: recommend which exhibit stop a visitor will play next.

Matrix factorisation with BPR loss over synthetic play logs. Exhibit bias is
set from play counts and kept frozen on purpose. Three seeds, each with early
stopping on HR@10 (patience 4) and restore of the best weights.
Logged as JSON lines through `logging`.
"""
import json
import logging
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", datefmt="%H:%M:%S")
log = logging.getLogger("audioguide")

V, E, K = 400, 80, 6
data_rng = np.random.default_rng(2026)
taste = data_rng.normal(size=(V, K))
feat = data_rng.normal(size=(E, K))
fame = data_rng.normal(0, 1.0, E)
util = taste @ feat.T / np.sqrt(K) * 1.6 + fame + data_rng.gumbel(size=(V, E))
plays = [np.argsort(-util[v])[:12] for v in range(V)]
held = np.array([p[data_rng.integers(0, 12)] for p in plays])
train_pairs = np.array([(v, e) for v, p in enumerate(plays) for e in p if e != held[v]])
seen = np.zeros((V, E), bool)
seen[train_pairs[:, 0], train_pairs[:, 1]] = True
counts = np.bincount(train_pairs[:, 1], minlength=E)
pop_bias = np.log1p(counts).astype(np.float32)
pop_bias = pop_bias - pop_bias.mean()


def hr_at_10(scores):
    s = np.where(seen, -np.inf, scores)
    top = np.argsort(-s, axis=1)[:, :10]
    return 100.0 * np.mean([held[v] in top[v] for v in range(V)])


pop_hr = hr_at_10(np.tile(pop_bias, (V, 1)))


class GuideMF(nn.Module):
    def __init__(self):
        super().__init__()
        self.visitor = nn.Embedding(V, 16)
        self.stop = nn.Embedding(E, 16)
        self.stop_bias = mx.array(pop_bias)

    def score(self, v, e):
        return (self.visitor(v) * self.stop(e)).sum(-1) + self.stop_bias[e]

    def all_scores(self):
        return self.visitor.weight @ self.stop.weight.T + self.stop_bias[None, :]


def bpr(model, v, pos, neg):
    diff = model.score(v, pos) - model.score(v, neg)
    reg = 1e-4 * (model.visitor(v).square().sum() + model.stop(pos).square().sum()) / v.shape[0]
    return -mx.mean(nn.log_sigmoid(diff)) + reg


log.info(json.dumps({"event": "baseline", "pop_hr10_pct": round(pop_hr, 2), "train_pairs": int(len(train_pairs))}))
finals = []
t0 = time.time()
for seed in (11, 12, 13):
    mx.random.seed(seed)
    rng = np.random.default_rng(seed)
    model = GuideMF()
    for emb in (model.visitor, model.stop):
        emb.weight = emb.weight * 0.1
    model.freeze(keys=["stop_bias"])
    mx.eval(model.parameters())
    opt = optim.Adagrad(learning_rate=0.08)
    vg = nn.value_and_grad(model, bpr)
    best, best_w, bad, epoch = -1.0, None, 0, 0
    while bad < 4 and epoch < 60:
        epoch += 1
        perm = rng.permutation(len(train_pairs))
        tot = 0.0
        for b in range(0, len(perm), 256):
            sl = train_pairs[perm[b:b + 256]]
            neg = rng.integers(0, E, len(sl))
            clash = seen[sl[:, 0], neg]
            while clash.any():
                neg[clash] = rng.integers(0, E, clash.sum())
                clash = seen[sl[:, 0], neg]
            loss, g = vg(model, mx.array(sl[:, 0]), mx.array(sl[:, 1]), mx.array(neg))
            if epoch == 1 and b == 0:
                gmin = min(float(mx.abs(x).sum()) for _, x in tree_flatten(g))
            opt.update(model, g)
            mx.eval(loss, model.parameters(), opt.state)
            tot += loss.item() * len(sl)
        hr = hr_at_10(np.array(model.all_scores()))
        rec = {"seed": seed, "epoch": epoch, "bpr": round(tot / len(train_pairs), 4),
               "hr10_pct": round(hr, 2), "pop_hr10_pct": round(pop_hr, 2)}
        if epoch == 1:
            rec["grad_check_min_abs_sum"] = round(gmin, 4)
        if hr > best:
            best, bad = hr, 0
            best_w = tree_map(lambda x: x, model.trainable_parameters())
            rec["best"] = True
        else:
            bad += 1
        log.info(json.dumps(rec))
    model.update(best_w)
    mx.eval(model.parameters())
    restored = hr_at_10(np.array(model.all_scores()))
    log.info(json.dumps({"event": "restore", "seed": seed, "stopped_epoch": epoch, "restored_hr10_pct": round(restored, 2)}))
    finals.append(restored)
log.info(json.dumps({"event": "summary", "hr10_mean_pct": round(float(np.mean(finals)), 2),
                     "hr10_std_pct": round(float(np.std(finals)), 2), "pop_hr10_pct": round(pop_hr, 2),
                     "seconds": round(time.time() - t0, 1)}))
