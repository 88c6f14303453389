"""Pub jukebox: which songs will a regular request next?

Mult-VAE collaborative filtering (multinomial likelihood over the song
catalogue, Gaussian latent, KL weight annealed from 0 up to a cap).
Metrics are written as OpenMetrics-style sample lines.
"""
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(7)
mx.random.seed(7)

N_PATRONS, N_SONGS, N_GENRES = 900, 320, 8
N_HELD = 150          # patrons kept out of training entirely
HOLD_FRAC = 0.2       # share of a held patron's requests hidden for scoring

# ---------------------------------------------------------------- data
genre_of_song = rng.integers(0, N_GENRES, N_SONGS)
song_pop = rng.gamma(1.2, 1.0, N_SONGS)
taste = rng.dirichlet(np.full(N_GENRES, 0.35), N_PATRONS)
X = np.zeros((N_PATRONS, N_SONGS), dtype=np.float32)
for u in range(N_PATRONS):
    w = taste[u, genre_of_song] * song_pop
    w = w / w.sum()
    k = int(rng.integers(12, 40))
    X[u, rng.choice(N_SONGS, size=k, replace=False, p=w)] = 1.0

perm = rng.permutation(N_PATRONS)
held_ids, train_ids = perm[:N_HELD], perm[N_HELD:]
X_train = X[train_ids]
X_held = X[held_ids]
fold_in = np.zeros_like(X_held)
target = np.zeros_like(X_held)
for i in range(N_HELD):
    items = np.flatnonzero(X_held[i])
    rng.shuffle(items)
    n_hide = max(1, int(round(HOLD_FRAC * len(items))))
    target[i, items[:n_hide]] = 1.0
    fold_in[i, items[n_hide:]] = 1.0


# ---------------------------------------------------------------- metrics
def recall_at(scores, truth, k):
    top = np.argpartition(-scores, k, axis=1)[:, :k]
    hit = np.take_along_axis(truth, top, axis=1).sum(1)
    return float(np.mean(hit / np.minimum(k, truth.sum(1))))


def ndcg_at(scores, truth, k):
    top = np.argsort(-scores, axis=1)[:, :k]
    gains = np.take_along_axis(truth, top, axis=1)
    disc = 1.0 / np.log2(np.arange(2, k + 2))
    dcg = (gains * disc).sum(1)
    ideal = np.array([disc[: int(min(n, k))].sum() for n in truth.sum(1)])
    return float(np.mean(dcg / ideal))


pop_scores = np.tile(X_train.sum(0), (N_HELD, 1)).astype(np.float32)
pop_scores[fold_in > 0] = -np.inf
POP_R20 = recall_at(pop_scores, target, 20)
POP_N50 = ndcg_at(pop_scores, target, 50)


# ---------------------------------------------------------------- model
class MultVAE(nn.Module):
    def __init__(self, n_items, hidden=128, latent=32, drop=0.5):
        super().__init__()
        self.drop = nn.Dropout(drop)
        self.enc = nn.Linear(n_items, hidden)
        self.enc_out = nn.Linear(hidden, 2 * latent)
        self.dec = nn.Linear(latent, hidden)
        self.dec_out = nn.Linear(hidden, n_items)
        self.latent = latent

    def __call__(self, x):
        h = x / mx.maximum(mx.sqrt((x * x).sum(-1, keepdims=True)), 1e-8)
        h = self.drop(h)
        h = mx.tanh(self.enc(h))
        stats = self.enc_out(h)
        mu, logvar = stats[:, : self.latent], stats[:, self.latent:]
        if self.training:
            z = mu + mx.exp(0.5 * logvar) * mx.random.normal(mu.shape)
        else:
            z = mu
        logits = self.dec_out(mx.tanh(self.dec(z)))
        return logits, mu, logvar


def loss_fn(model, x, beta):
    logits, mu, logvar = model(x)
    nll = -(nn.log_softmax(logits, axis=-1) * x).sum(-1).mean()
    kl = (-0.5 * (1 + logvar - mu * mu - mx.exp(logvar)).sum(-1)).mean()
    return nll + beta * kl, (nll, kl)


model = MultVAE(N_SONGS)
mx.eval(model.parameters())

EPOCHS, BATCH = 60, 50
steps_per_epoch = math.ceil(len(train_ids) / BATCH)
total_steps = EPOCHS * steps_per_epoch
WARM = 40
lr_sched = optim.join_schedules(
    [optim.linear_schedule(0.0, 2e-3, WARM),
     optim.cosine_decay(2e-3, total_steps - WARM, 2e-4)],
    [WARM],
)
opt = optim.Adam(learning_rate=lr_sched)
BETA_CAP, ANNEAL_STEPS = 0.2, 20 * steps_per_epoch

vg = nn.value_and_grad(model, loss_fn)


def evaluate():
    model.eval()
    logits, _, _ = model(mx.array(fold_in))
    s = np.array(logits)
    model.train()
    s[fold_in > 0] = -np.inf
    return recall_at(s, target, 20), ndcg_at(s, target, 50)


def emit(name, labels, value):
    lab = ",".join(f'{k}="{v}"' for k, v in labels.items())
    print(f"jukebox_{name}{{{lab}}} {value}")


print("# TYPE jukebox_popularity_recall20 gauge")
emit("popularity_recall20", {"split": "held"}, f"{POP_R20:.4f}")
emit("popularity_ndcg50", {"split": "held"}, f"{POP_N50:.4f}")
r0, n0 = evaluate()
emit("recall20", {"epoch": 0}, f"{r0:.4f}")
emit("ndcg50", {"epoch": 0}, f"{n0:.4f}")

# one-off gradient audit before the first update (lr is exactly 0 at step 0)
(_, _), g = vg(model, mx.array(X_train[:BATCH]), 0.0)
leaf_max = [float(mx.abs(v).max()) for _, v in tree_flatten(g)]
emit("grad_leaf_absmax_min", {"step": 0}, f"{min(leaf_max):.3e}")

model.train()
step = 0
t0 = time.time()
for epoch in range(1, EPOCHS + 1):
    order = rng.permutation(len(train_ids))
    tot = nll_s = kl_s = 0.0
    for b in range(steps_per_epoch):
        idx = order[b * BATCH:(b + 1) * BATCH]
        beta = min(BETA_CAP, BETA_CAP * step / ANNEAL_STEPS)
        (loss, (nll, kl)), grads = vg(model, mx.array(X_train[idx]), beta)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss, nll, kl)
        tot += loss.item()
        nll_s += nll.item()
        kl_s += kl.item()
        step += 1
    n = steps_per_epoch
    emit("loss", {"epoch": epoch}, f"{tot / n:.3f}")
    emit("nll", {"epoch": epoch}, f"{nll_s / n:.3f}")
    emit("kl", {"epoch": epoch}, f"{kl_s / n:.3f}")
    emit("beta", {"epoch": epoch}, f"{beta:.3f}")
    if epoch % 10 == 0:
        r, nd = evaluate()
        emit("recall20", {"epoch": epoch}, f"{r:.4f}")
        emit("ndcg50", {"epoch": epoch}, f"{nd:.4f}")
        emit("lr", {"epoch": epoch}, f"{float(opt.learning_rate):.2e}")

r, nd = evaluate()
emit("final_recall20", {"vs": "popularity"}, f"{r:.4f} {POP_R20:.4f}")
emit("final_ndcg50", {"vs": "popularity"}, f"{nd:.4f} {POP_N50:.4f}")
emit("wall_seconds", {}, f"{time.time() - t0:.1f}")
print("# EOF")
