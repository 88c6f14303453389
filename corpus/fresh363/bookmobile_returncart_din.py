"""County bookmobile: will a patron borrow the title offered at the van door?

Deep Interest Network style click model: the patron's recent loans are pooled
with attention weights computed against the offered title, then an MLP scores
the pair. Synthetic loan logs; the true borrow probability is known, so the
Bayes log-loss and AUC are printed next to the model as reference points.
"""

import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

rng = np.random.default_rng(7)
mx.random.seed(7)

N_TITLES = 400          # id 0 is the padding slot
N_GENRES = 12
LATENT = 6
MAX_HIST = 10
N_TRAIN, N_TEST = 20000, 3000

genre_of = rng.integers(0, N_GENRES, size=N_TITLES)
genre_of[0] = 0
genre_centre = rng.normal(size=(N_GENRES, LATENT))
title_vec = genre_centre[genre_of] + 0.5 * rng.normal(size=(N_TITLES, LATENT))
title_vec /= np.linalg.norm(title_vec, axis=1, keepdims=True)
shelf_pull = rng.normal(scale=0.4, size=N_TITLES)   # some titles are just popular


def make_rows(n):
    hist = np.zeros((n, MAX_HIST), dtype=np.int32)
    lens = rng.integers(3, MAX_HIST + 1, size=n)
    target = np.zeros(n, dtype=np.int32)
    for r in range(n):
        fav = rng.choice(N_GENRES, size=2, replace=False)
        pool = np.flatnonzero(np.isin(genre_of[1:], fav)) + 1
        hist[r, : lens[r]] = rng.choice(pool, size=lens[r])
        if rng.random() < 0.5:
            target[r] = rng.choice(pool)
        else:
            target[r] = rng.integers(1, N_TITLES)
    # borrow probability: the closest past loan matters, not the average one
    sims = np.einsum("rk,rhk->rh", title_vec[target], title_vec[hist])
    sims = np.where(hist > 0, sims, -np.inf)
    best = sims.max(axis=1)
    logit = 4.0 * best - 2.2 + shelf_pull[target]
    p = 1.0 / (1.0 + np.exp(-logit))
    y = (rng.random(n) < p).astype(np.float32)
    return hist, lens, target, y, p


tr = make_rows(N_TRAIN)
te = make_rows(N_TEST)


def auc(scores, labels):
    order = np.argsort(scores)
    ranks = np.empty(len(scores))
    ranks[order] = np.arange(1, len(scores) + 1)
    pos = labels > 0.5
    n_pos, n_neg = pos.sum(), (~pos).sum()
    return (ranks[pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)


def logloss(p, y):
    p = np.clip(p, 1e-7, 1 - 1e-7)
    return float(-(y * np.log(p) + (1 - y) * np.log(1 - p)).mean())


class Dice(nn.Module):
    """Data-adaptive PReLU from the DIN paper (batch statistics, eps-stable)."""

    def __init__(self, dims):
        super().__init__()
        self.alpha = mx.zeros((dims,))

    def __call__(self, x):
        mean = x.mean(axis=0, keepdims=True)
        var = x.var(axis=0, keepdims=True)
        gate = mx.sigmoid((x - mean) / mx.sqrt(var + 1e-8))
        return gate * x + (1 - gate) * self.alpha * x


class BorrowDIN(nn.Module):
    def __init__(self, d_title=8, d_genre=4):
        super().__init__()
        self.title_emb = nn.Embedding(N_TITLES, d_title)
        self.genre_emb = nn.Embedding(N_GENRES, d_genre)
        d = d_title + d_genre
        self.att1 = nn.Linear(4 * d, 16)
        self.att_act = Dice(16)
        self.att2 = nn.Linear(16, 1)
        self.fc1 = nn.Linear(3 * d, 32)
        self.act1 = Dice(32)
        self.fc2 = nn.Linear(32, 16)
        self.act2 = Dice(16)
        self.out = nn.Linear(16, 1)

    def item(self, ids, genres):
        return mx.concatenate([self.title_emb(ids), self.genre_emb(genres)], axis=-1)

    def __call__(self, hist, hist_genre, target, target_genre):
        h = self.item(hist, hist_genre)                      # B,H,d
        t = self.item(target, target_genre)                  # B,d
        tb = mx.broadcast_to(t[:, None, :], h.shape)
        a_in = mx.concatenate([h, tb, h - tb, h * tb], axis=-1)
        B, H, D4 = a_in.shape
        a = self.att2(self.att_act(self.att1(a_in.reshape(B * H, D4))))
        a = a.reshape(B, H) * (hist > 0)                     # padded slots get weight 0
        pooled = (a[:, :, None] * h).sum(axis=1)
        z = mx.concatenate([pooled, t, pooled * t], axis=-1)
        z = self.act1(self.fc1(z))
        z = self.act2(self.fc2(z))
        return self.out(z).squeeze(-1)


def batch_arrays(data, idx):
    hist, _, target, y, _ = data
    h = hist[idx]
    return (mx.array(h), mx.array(genre_of[h]), mx.array(target[idx]),
            mx.array(genre_of[target[idx]]), mx.array(y[idx]))


def loss_fn(model, h, hg, t, tg, y):
    logits = model(h, hg, t, tg)
    return nn.losses.binary_cross_entropy(logits, y, with_logits=True, reduction="mean")


def predict(model, data):
    out = []
    for s in range(0, len(data[0]), 1000):
        idx = np.arange(s, min(s + 1000, len(data[0])))
        h, hg, t, tg, _ = batch_arrays(data, idx)
        out.append(np.array(mx.sigmoid(model(h, hg, t, tg))))
    return np.concatenate(out)


BATCH = 256
EPOCHS = 6
steps_per_epoch = N_TRAIN // BATCH
total_steps = EPOCHS * steps_per_epoch
warm = 120
lr_sched = optim.join_schedules(
    [optim.linear_schedule(0.0, 2e-3, warm),
     optim.cosine_decay(2e-3, total_steps - warm, 1e-4)],
    [warm],
)


def fresh_run():
    model = BorrowDIN()
    opt = optim.AdamW(learning_rate=lr_sched, weight_decay=0.05)
    return model, opt


# reference numbers before training
y_te, p_te = te[3], te[4]
base_rate = float(tr[3].mean())
pop_count = np.bincount(tr[2], weights=tr[3], minlength=N_TITLES) + 1.0
pop_seen = np.bincount(tr[2], minlength=N_TITLES) + 2.0
print(f"train rows {N_TRAIN}  test rows {N_TEST}  borrow rate {base_rate:.3f}")
print(f"reference  constant-rate logloss {logloss(np.full_like(y_te, base_rate), y_te):.4f}  auc 0.500")
print(f"reference  title-popularity      logloss {logloss((pop_count / pop_seen)[te[2]], y_te):.4f}"
      f"  auc {auc((pop_count / pop_seen)[te[2]], y_te):.3f}")
print(f"reference  true probability      logloss {logloss(p_te, y_te):.4f}  auc {auc(p_te, y_te):.3f}"
      "  (noise floor)")

ckpt_dir = tempfile.mkdtemp()
model, opt = fresh_run()
mx.eval(model.parameters())
loss_and_grad = nn.value_and_grad(model, loss_fn)

t0 = time.time()
step = 0
resume_epoch = 3
epoch = 0
while epoch < EPOCHS:
    perm = rng.permutation(N_TRAIN)
    run = 0.0
    for b in range(steps_per_epoch):
        idx = perm[b * BATCH:(b + 1) * BATCH]
        loss, grads = loss_and_grad(model, *batch_arrays(tr, idx))
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        run += loss.item()
        step += 1
        if step % 200 == 0:
            print(f"  step {step:5d}  lr {opt.learning_rate.item():.2e}  train bce {run / (b + 1):.4f}")
    p = predict(model, te)
    print(f"epoch {epoch + 1}  test logloss {logloss(p, y_te):.4f}  auc {auc(p, y_te):.3f}"
          f"  ({time.time() - t0:.1f}s)")
    epoch += 1

    if epoch == resume_epoch:
        # write a checkpoint, throw the live objects away and carry on from disk
        model.save_weights(os.path.join(ckpt_dir, "model.safetensors"))
        flat_state = dict(tree_flatten(opt.state))
        mx.save_safetensors(os.path.join(ckpt_dir, "opt.safetensors"), flat_state)
        before = logloss(p, y_te)
        del model, opt, loss_and_grad
        model, opt = fresh_run()
        model.load_weights(os.path.join(ckpt_dir, "model.safetensors"))
        opt.state = tree_unflatten(list(mx.load(os.path.join(ckpt_dir, "opt.safetensors")).items()))
        mx.eval(model.parameters(), opt.state)
        loss_and_grad = nn.value_and_grad(model, loss_fn)
        after = logloss(predict(model, te), y_te)
        print(f"checkpoint written and reloaded at step {step} (optimizer step {opt.step.item()}),"
              f" test logloss {before:.4f} -> {after:.4f}")

p = predict(model, te)
print(f"final  model logloss {logloss(p, y_te):.4f}  auc {auc(p, y_te):.3f}")
print(f"final  gap to noise floor {logloss(p, y_te) - logloss(p_te, y_te):+.4f}")
