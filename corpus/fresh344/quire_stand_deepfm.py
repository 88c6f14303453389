"""Orchestra music library: will a section player take out a suggested score this week?

DeepFM click model on six one-hot fields, trained with AdaDelta and
gradient accumulation (4 micro-batches per optimizer step).
"""
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

SEED = 7
rng = np.random.default_rng(SEED)
mx.random.seed(SEED)

# ---------------------------------------------------------------- data
N_PLAYER, N_SCORE = 240, 300
FIELDS = {"player": N_PLAYER, "score": N_SCORE, "section": 5, "era": 6,
          "month": 12, "grade": 5}
OFFSETS = np.cumsum([0] + list(FIELDS.values())[:-1])
VOCAB = int(sum(FIELDS.values()))

player_section = rng.integers(0, 5, N_PLAYER)
player_skill = rng.integers(0, 5, N_PLAYER)
score_era = rng.integers(0, 6, N_SCORE)
score_grade = rng.integers(0, 5, N_SCORE)
score_pop = rng.normal(0, 0.6, N_SCORE)
taste_p = rng.normal(0, 1, (N_PLAYER, 4))
taste_s = rng.normal(0, 1, (N_SCORE, 4))
era_by_section = rng.normal(0, 0.8, (5, 6))
month_era = np.zeros((12, 6))
month_era[11, 3] = 1.2      # December: romantic-era seasonal programmes
month_era[6:8, 5] = 0.9     # summer park concerts: jazz


def true_logit(p, s, m):
    sec = player_section[p]
    mism = np.abs(player_skill[p] - score_grade[s])
    return (0.55 * np.sum(taste_p[p] * taste_s[s], axis=1)
            + era_by_section[sec, score_era[s]] + month_era[m, score_era[s]]
            - 0.45 * mism + score_pop[s] - 0.4)


def make(n):
    p = rng.integers(0, N_PLAYER, n)
    s = rng.integers(0, N_SCORE, n)
    m = rng.integers(0, 12, n)
    prob = 1 / (1 + np.exp(-true_logit(p, s, m)))
    y = (rng.random(n) < prob).astype(np.float32)
    cols = np.stack([p, s, player_section[p], score_era[s], m,
                     score_grade[s]], axis=1) + OFFSETS
    return cols.astype(np.int32), y, prob


Xtr, ytr, _ = make(40000)
Xva, yva, pva = make(8000)


def binary_logloss(y, p):
    p = np.clip(p, 1e-7, 1 - 1e-7)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


def auc(y, s):
    order = np.argsort(s)
    r = np.empty(len(s))
    r[order] = np.arange(1, len(s) + 1)
    npos = y.sum()
    return float((r[y == 1].sum() - npos * (npos + 1) / 2) / (npos * (len(y) - npos)))


oracle_ll = binary_logloss(yva, pva)
base_ll = binary_logloss(yva, np.full_like(yva, ytr.mean()))
pop = np.bincount(Xtr[:, 1] - OFFSETS[1], weights=ytr, minlength=N_SCORE) / \
    np.maximum(np.bincount(Xtr[:, 1] - OFFSETS[1], minlength=N_SCORE), 1)
pop_auc = auc(yva, pop[Xva[:, 1] - OFFSETS[1]])


# ---------------------------------------------------------------- model
class DeepFM(nn.Module):
    def __init__(self, vocab, n_fields, k=8):
        super().__init__()
        self.emb = nn.Embedding(vocab, k)
        self.emb.weight = 0.05 * mx.random.normal((vocab, k))
        self.lin = nn.Embedding(vocab, 1)
        self.lin.weight = mx.zeros((vocab, 1))
        self.bias = mx.zeros((1,))
        self.deep = nn.Sequential(nn.Linear(n_fields * k, 64), nn.ReLU(),
                                  nn.Linear(64, 32), nn.ReLU(),
                                  nn.Linear(32, 1))

    def __call__(self, x):
        v = self.emb(x)                                    # (B, F, k)
        first = self.lin(x).sum(axis=(1, 2))
        s = v.sum(axis=1)
        fm = 0.5 * (s * s - (v * v).sum(axis=1)).sum(axis=1)
        deep = self.deep(v.reshape(v.shape[0], -1)).squeeze(-1)
        return self.bias + first + fm + deep, v


def loss_fn(model, x, y):
    logit, v = model(x)
    bce = nn.losses.binary_cross_entropy(logit, y, with_logits=True,
                                         reduction="mean")
    return bce + 1e-5 * (v * v).sum(axis=(1, 2)).mean()


model = DeepFM(VOCAB, len(FIELDS))
opt = optim.AdaDelta(learning_rate=1.0, rho=0.95, eps=1e-6)
grad_fn = nn.value_and_grad(model, loss_fn)

n_params = sum(a.size for _, a in tree_flatten(model.parameters()))


def val_scores():
    out = []
    for i in range(0, len(Xva), 2048):
        logit, _ = model(mx.array(Xva[i:i + 2048]))
        out.append(np.array(mx.sigmoid(logit)))
    return np.concatenate(out)


p0 = val_scores()
print(f"library: {N_PLAYER} players, {N_SCORE} scores, vocab {VOCAB}, "
      f"{len(Xtr)} train / {len(Xva)} val suggestions, take-out rate {ytr.mean():.3f}")
print(f"model: DeepFM k=8, {n_params} parameters; AdaDelta(lr=1.0, rho=0.95); "
      f"micro-batch 128 x accumulate 4")
print(f"reference: constant logloss {base_ll:.4f} | oracle logloss {oracle_ll:.4f} | "
      f"score-popularity AUC {100 * pop_auc:.1f}% | untrained AUC {100 * auc(yva, p0):.1f}%")

_, g = grad_fn(model, mx.array(Xtr[:128]), mx.array(ytr[:128]))
gl = tree_flatten(g)
print(f"grad check: {len(gl)} leaves, all finite={all(bool(mx.isfinite(a).all()) for _, a in gl)}, "
      f"zero leaves={sum(float(mx.abs(a).max()) == 0.0 for _, a in gl)}")

MICRO, ACC, EPOCHS = 128, 4, 16
REPORT = {1, 2, 4, 8, 16}
micro_steps = opt_steps = 0
t0 = time.time()
for epoch in range(1, EPOCHS + 1):
    perm = rng.permutation(len(Xtr))
    acc = None
    tot, cnt, last = 0.0, 0, 0.0
    for j, i in enumerate(range(0, len(perm) - MICRO + 1, MICRO)):
        idx = perm[i:i + MICRO]
        loss, g = grad_fn(model, mx.array(Xtr[idx]), mx.array(ytr[idx]))
        acc = g if acc is None else tree_map(lambda a, b: a + b, acc, g)
        micro_steps += 1
        if (j + 1) % ACC == 0:
            opt.update(model, tree_map(lambda a: a / ACC, acc))
            acc = None
            opt_steps += 1
            mx.eval(model.parameters(), opt.state, loss)
        else:
            mx.eval(acc, loss)
        last = loss.item()
        tot += last
        cnt += 1
    if epoch in REPORT:
        pv = val_scores()
        print(f"CARD {epoch:03d} | micro {micro_steps:5d} opt {opt_steps:4d} | "
              f"train {tot / cnt:.4f} (last {last:.4f}) | val logloss {binary_logloss(yva, pv):.4f} "
              f"floor {oracle_ll:.4f} | AUC {100 * auc(yva, pv):.1f}% vs pop {100 * pop_auc:.1f}% | "
              f"{time.time() - t0:.1f}s")

pv = val_scores()
print(f"done: val logloss {binary_logloss(yva, pv):.4f} (constant {base_ll:.4f}, floor {oracle_ll:.4f}), "
      f"AUC {100 * auc(yva, pv):.1f}% (oracle {100 * auc(yva, pva):.1f}%)")
