"""Community radio request line: will a listener keep a suggested track playing
(no skip within 30 s)?  Field-aware factorization machine over four fields
(listener, track, daypart, genre), trained in two sessions with a checkpoint
in between, as the station's nightly job does."""
import math
import os
import tempfile
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten, tree_unflatten

SEED = 7
N_LISTENER, N_TRACK, N_DAYPART, N_GENRE = 200, 120, 6, 8
FIELD_SIZES = [N_LISTENER, N_TRACK, N_DAYPART, N_GENRE]
N_FIELDS = len(FIELD_SIZES)
K = 6
N_TRAIN, N_VAL = 60000, 8000
BATCH = 512
WARMUP = 60
STEPS_SESSION_1 = 700
STEPS_SESSION_2 = 700
PEAK_LR = 0.01


def make_data(rng):
    lis_taste = rng.normal(0, 1, (N_LISTENER, 3))
    trk_style = rng.normal(0, 1, (N_TRACK, 3))
    trk_genre = rng.integers(0, N_GENRE, N_TRACK)
    trk_pop = rng.normal(0, 0.6, N_TRACK)
    lis_night = rng.normal(0, 0.8, N_LISTENER)
    genre_day = rng.normal(0, 0.7, (N_GENRE, N_DAYPART))

    n = N_TRAIN + N_VAL
    lis = rng.integers(0, N_LISTENER, n)
    trk = rng.integers(0, N_TRACK, n)
    day = rng.integers(0, N_DAYPART, n)
    gen = trk_genre[trk]
    logit = (
        0.9 * np.sum(lis_taste[lis] * trk_style[trk], axis=1) / math.sqrt(3)
        + trk_pop[trk]
        + genre_day[gen, day]
        + lis_night[lis] * (day >= 4)
        - 0.3
    )
    p = 1.0 / (1.0 + np.exp(-logit))
    y = (rng.random(n) < p).astype(np.float32)
    offsets = np.cumsum([0] + FIELD_SIZES[:-1])
    idx = np.stack([lis, trk, day, gen], axis=1) + offsets[None, :]
    return idx.astype(np.int32), y, p.astype(np.float32)


class FieldAwareFM(nn.Module):
    def __init__(self, n_features, n_fields, k):
        super().__init__()
        self.linear = nn.Embedding(n_features, 1)
        self.linear.weight = mx.zeros((n_features, 1))
        # one latent vector per (feature, other field)
        self.latent = nn.Embedding(n_features, n_fields * k)
        self.latent.weight = 0.05 * mx.random.normal((n_features, n_fields * k))
        self.bias = mx.zeros((1,))
        self.n_fields = n_fields
        self.k = k

    def __call__(self, idx):
        b = idx.shape[0]
        lin = self.linear(idx).sum(axis=(1, 2))
        v = self.latent(idx).reshape(b, self.n_fields, self.n_fields, self.k)
        inter = mx.zeros((b,))
        for i in range(self.n_fields):
            for j in range(i + 1, self.n_fields):
                inter = inter + mx.sum(v[:, i, j, :] * v[:, j, i, :], axis=-1)
        return self.bias[0] + lin + inter


def loss_fn(model, idx, y):
    logits = model(idx)
    reg = 2e-3 * (mx.sum(model.latent(idx) ** 2) + mx.sum(model.linear(idx) ** 2)) / idx.shape[0]
    return nn.losses.binary_cross_entropy(logits, y, reduction="mean") + reg


def auc(scores, labels):
    order = np.argsort(scores)
    ranks = np.empty(len(scores))
    ranks[order] = np.arange(1, len(scores) + 1)
    pos = labels == 1
    n_pos, n_neg = pos.sum(), (~pos).sum()
    return (ranks[pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)


def logloss(p, y):
    p = np.clip(p, 1e-7, 1 - 1e-7)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


def evaluate(model, idx, y):
    probs = np.array(mx.sigmoid(model(mx.array(idx))))
    return logloss(probs, y), auc(probs, y)


def make_schedule():
    warm = optim.linear_schedule(0.0, PEAK_LR, WARMUP)
    decay = optim.cosine_decay(PEAK_LR, STEPS_SESSION_1 + STEPS_SESSION_2 - WARMUP, 1e-3)
    return optim.join_schedules([warm, decay], [WARMUP])


def run_session(model, opt, tr_idx, tr_y, va_idx, va_y, start, stop, rng):
    loss_and_grad = nn.value_and_grad(model, loss_fn)
    running, seen = 0.0, 0
    for step in range(start, stop):
        sel = rng.integers(0, len(tr_y), BATCH)
        loss, grads = loss_and_grad(model, mx.array(tr_idx[sel]), mx.array(tr_y[sel]))
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        running += loss.item()
        seen += 1
        if (step + 1) % 100 == 0:
            va_ll, va_auc = evaluate(model, va_idx, va_y)
            lr = opt.learning_rate.item()
            print(f"step {step + 1:5d}  lr {lr:.4f}  train_logloss {running / seen:.4f}  "
                  f"val_logloss {va_ll:.4f}  val_auc {va_auc:.4f}")
            running, seen = 0.0, 0


def main():
    t0 = time.time()
    rng = np.random.default_rng(SEED)
    mx.random.seed(SEED)
    idx, y, p_true = make_data(rng)
    tr_idx, tr_y = idx[:N_TRAIN], y[:N_TRAIN]
    va_idx, va_y, va_p = idx[N_TRAIN:], y[N_TRAIN:], p_true[N_TRAIN:]

    base_rate = tr_y.mean()
    track_col = tr_idx[:, 1]
    keep = np.bincount(track_col, weights=tr_y, minlength=sum(FIELD_SIZES))
    plays = np.bincount(track_col, minlength=sum(FIELD_SIZES))
    pop_rate = (keep + base_rate * 20) / (plays + 20)
    pop_val = pop_rate[va_idx[:, 1]]
    print(f"requests train {N_TRAIN} val {N_VAL}  keep rate {base_rate:.3f}")
    print(f"baseline constant   val_logloss {logloss(np.full(N_VAL, base_rate), va_y):.4f}  val_auc 0.5000")
    print(f"baseline track-pop  val_logloss {logloss(pop_val, va_y):.4f}  val_auc {auc(pop_val, va_y):.4f}")
    print(f"oracle (true prob)  val_logloss {logloss(va_p, va_y):.4f}  val_auc {auc(va_p, va_y):.4f}")

    model = FieldAwareFM(sum(FIELD_SIZES), N_FIELDS, K)
    opt = optim.Adam(learning_rate=make_schedule())
    print("session 1")
    run_session(model, opt, tr_idx, tr_y, va_idx, va_y, 0, STEPS_SESSION_1, rng)

    ckpt_dir = tempfile.mkdtemp()
    w_path = os.path.join(ckpt_dir, "ffm.safetensors")
    o_path = os.path.join(ckpt_dir, "ffm_opt.safetensors")
    model.save_weights(w_path)
    mx.save_safetensors(o_path, dict(tree_flatten(opt.state)))
    ll_before, auc_before = evaluate(model, va_idx, va_y)
    print(f"checkpoint written after step {STEPS_SESSION_1}  val_logloss {ll_before:.4f}")
    del model, opt

    # session 2: a fresh process would start here
    model = FieldAwareFM(sum(FIELD_SIZES), N_FIELDS, K)
    model.load_weights(w_path)
    opt = optim.Adam(learning_rate=make_schedule())
    opt.state = tree_unflatten(list(mx.load(o_path).items()))
    mx.eval(model.parameters(), opt.state)
    ll_after, _ = evaluate(model, va_idx, va_y)
    print(f"resumed at step {opt.step.item()}  val_logloss {ll_after:.4f}")
    print("session 2")
    run_session(model, opt, tr_idx, tr_y, va_idx, va_y, STEPS_SESSION_1,
                STEPS_SESSION_1 + STEPS_SESSION_2, rng)

    final_ll, final_auc = evaluate(model, va_idx, va_y)
    print(f"final val_logloss {final_ll:.4f}  val_auc {final_auc:.4f}  "
          f"oracle_logloss {logloss(va_p, va_y):.4f}")
    print(f"done in {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
