"""Beekeeping supply shop: find the catalogue line a customer typed at the till.

DSSM-style retrieval: queries and catalogue titles are hashed into letter-trigram
count vectors, two tanh towers map them to 48-d, cosine similarity scaled by a
constant smoothing factor is soft-maxed over the titles in the batch (in-batch
negatives).
The objective printed is the mean log-likelihood of the true title, so it is
negative and should go UP. A random ranking is printed as the baseline.
SGD with momentum, three stages with a 10x step-down each.
"""

import time
import zlib

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(11)
mx.random.seed(11)

HEADS = ["smoker", "hive", "frame", "foundation", "veil", "glove", "feeder", "queen",
         "extractor", "uncapping", "strainer", "bucket", "excluder", "roof", "floor",
         "brood", "super", "nuc", "swarm", "pollen", "propolis", "wax", "candle", "jar"]
MODS = ["national", "langstroth", "dadant", "cedar", "pine", "poly", "stainless",
        "plastic", "wired", "unwired", "deep", "shallow", "mini", "ventilated",
        "mesh", "cotton", "leather", "tangential", "radial", "electric", "manual",
        "heavy", "fine", "coarse", "clear", "amber", "marking", "travel"]
PACKS = ["single", "pack of 5", "pack of 10", "kit", "spare", "refill", "large", "small"]

titles = set()
while len(titles) < 600:
    words = [rng.choice(MODS), rng.choice(MODS), rng.choice(HEADS), rng.choice(PACKS)]
    if words[0] != words[1]:
        titles.add(" ".join(words))
titles = sorted(titles)
N_T = len(titles)
KEYS = "abcdefghijklmnopqrstuvwxyz"


def typed_query(title):
    """What a customer says at the till: words dropped, swapped, misspelt."""
    words = title.split()
    keep = [w for w in words if rng.random() > 0.3] or [words[2]]
    if len(keep) > 1 and rng.random() < 0.5:
        i, j = rng.choice(len(keep), size=2, replace=False)
        keep[i], keep[j] = keep[j], keep[i]
    out = []
    for w in keep:
        w = list(w)
        for _ in range(rng.integers(0, 3)):
            if len(w) < 3:
                break
            k = rng.integers(len(w))
            op = rng.integers(3)
            if op == 0:
                del w[k]
            elif op == 1:
                w[k] = KEYS[rng.integers(26)]
            else:
                w.insert(k, KEYS[rng.integers(26)])
        out.append("".join(w))
    return " ".join(out)


N_BUCKETS = 256


def hash_trigrams(text):
    v = np.zeros(N_BUCKETS, dtype=np.float32)
    for w in text.split():
        w = f"#{w}#"
        for i in range(len(w) - 2):
            v[zlib.crc32(w[i:i + 3].encode()) % N_BUCKETS] += 1.0
    return v


T = np.stack([hash_trigrams(t) for t in titles])
train_ids = rng.integers(0, N_T, size=8000)
test_ids = rng.integers(0, N_T, size=500)
Q_train = np.stack([hash_trigrams(typed_query(titles[i])) for i in train_ids])
Q_test = np.stack([hash_trigrams(typed_query(titles[i])) for i in test_ids])


def rank_metrics(q_vecs, t_vecs, gold):
    q = q_vecs / (np.linalg.norm(q_vecs, axis=1, keepdims=True) + 1e-8)
    t = t_vecs / (np.linalg.norm(t_vecs, axis=1, keepdims=True) + 1e-8)
    s = q @ t.T
    gold_s = s[np.arange(len(gold)), gold]
    rank = (s >= gold_s[:, None]).sum(axis=1)      # ties count against the gold title
    return float((rank == 1).mean()), float((rank <= 5).mean()), float((1.0 / rank).mean())


class Tower(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(N_BUCKETS, 128)
        self.l2 = nn.Linear(128, 128)
        self.l3 = nn.Linear(128, 48)

    def __call__(self, x):
        x = mx.tanh(self.l1(mx.log1p(x)))
        x = mx.tanh(self.l2(x))
        return mx.tanh(self.l3(x))


class DSSM(nn.Module):
    def __init__(self):
        super().__init__()
        self.query = Tower()
        self.doc = Tower()


GAMMA = 10.0
BATCH = 128


def cosine(a, b):
    a = a / (mx.linalg.norm(a, axis=-1, keepdims=True) + 1e-6)
    b = b / (mx.linalg.norm(b, axis=-1, keepdims=True) + 1e-6)
    return (a * b).sum(axis=-1)


def neg_loglik(model, q, docs, clash):
    # every query is scored against every title in the batch; row i's own title is
    # on the diagonal, other copies of that same title are masked out
    qe = model.query(q)[:, None, :]
    de = model.doc(docs)[None, :, :]
    logits = GAMMA * cosine(qe, de)
    logits = mx.where(clash, -1e9, logits)
    return -(mx.diagonal(logits) - mx.logsumexp(logits, axis=1)).mean()


def batch_docs(gold):
    clash = (gold[:, None] == gold[None, :]) & ~np.eye(len(gold), dtype=bool)
    return mx.array(T[gold]), mx.array(clash)


def model_metrics(model):
    qe = np.array(model.query(mx.array(Q_test)))
    de = np.array(model.doc(mx.array(T)))
    return rank_metrics(qe, de, test_ids)


print(f"catalogue {N_T} lines, {len(train_ids)} till queries, {len(test_ids)} held out")
print(f"baseline  random         recall@1 {1 / N_T:.3f}  mrr {np.mean(1 / np.arange(1, N_T + 1)):.3f}")
print(f"chance log-likelihood with {BATCH} candidates: {-np.log(BATCH):.3f}")

model = DSSM()
mx.eval(model.parameters())
opt = optim.SGD(learning_rate=0.1, momentum=0.9)
step_fn = nn.value_and_grad(model, neg_loglik)

stages = [(0.1, 12), (0.01, 4), (0.001, 2)]
t0 = time.time()
epoch = 0
for lr, n_ep in stages:
    opt.learning_rate = lr
    print(f"-- stage lr {lr}")
    for _ in range(n_ep):
        perm = rng.permutation(len(train_ids))
        tot, nb = 0.0, 0
        for s in range(0, len(perm) - BATCH + 1, BATCH):
            idx = perm[s:s + BATCH]
            loss, grads = step_fn(model, mx.array(Q_train[idx]), *batch_docs(train_ids[idx]))
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item()
            nb += 1
        epoch += 1
        r1, r5, mrr = model_metrics(model)
        print(f"epoch {epoch:2d}  train loglik {-tot / nb:+.4f}  test recall@1 {r1:.3f}"
              f"  recall@5 {r5:.3f}  mrr {mrr:.3f}  ({time.time() - t0:.1f}s)")

r1, r5, mrr = model_metrics(model)
print(f"final  dssm recall@1 {r1:.3f}  recall@5 {r5:.3f}  mrr {mrr:.3f}")
