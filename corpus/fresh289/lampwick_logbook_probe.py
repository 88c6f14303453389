"""Keeper's logbook triage: severity of a lighthouse log entry (calm / rough / storm).

Stage 1 pre-trains a small token encoder on a generic multi-label task
(which of 24 word groups appear in an entry). Stage 2 freezes that encoder on
purpose and trains only 4 learned query vectors (attention pooling over the
tokens, CLS-style) plus a linear head on the severity task. The frozen encoder
must not move at all.
"""
import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten

rng = np.random.default_rng(11)
mx.random.seed(11)

VOCAB, N_GROUPS, PER_GROUP = 160, 24, 5     # ids 1..120 are group words, 121..159 filler
PAD, MAX_LEN, N_QUERY, DIM = 0, 16, 4, 32
group_words = np.arange(1, 1 + N_GROUPS * PER_GROUP).reshape(N_GROUPS, PER_GROUP)
filler = np.arange(1 + N_GROUPS * PER_GROUP, VOCAB)
# severity weight of each group: most neutral, a few calm-leaning or storm-leaning
sev_w = np.zeros(N_GROUPS)
sev_w[[0, 1, 2, 3]] = [1.6, 1.3, 1.1, 0.9]          # gale, swell, spray, lantern soot ...
sev_w[[4, 5, 6]] = [-1.2, -1.0, -0.8]               # fair, glass steady, light airs ...


def make_entries(n):
    toks = np.full((n, MAX_LEN), PAD, dtype=np.int32)
    groups = np.zeros((n, N_GROUPS), dtype=np.float32)
    sev = np.zeros(n, dtype=np.int32)
    for i in range(n):
        k = rng.integers(2, 6)
        g = rng.choice(N_GROUPS, size=k, replace=False)
        words = [rng.choice(group_words[j]) for j in g]
        nfill = rng.integers(4, MAX_LEN - k - 1)
        words += list(rng.choice(filler, size=nfill))
        rng.shuffle(words)
        toks[i, : len(words)] = words
        groups[i, g] = 1.0
        score = sev_w[g].sum() + rng.normal(0, 0.35)
        sev[i] = 0 if score < -0.4 else (2 if score > 1.0 else 1)
    return toks, groups, sev


class Encoder(nn.Module):
    """Token encoder: embedding followed by a per-token GELU layer."""

    def __init__(self):
        super().__init__()
        self.tok = nn.Embedding(VOCAB, DIM)
        self.mix = nn.Linear(DIM, DIM)

    def __call__(self, toks):
        h = self.tok(toks)
        return h + nn.gelu(self.mix(h))


class Pretrainer(nn.Module):
    def __init__(self, enc):
        super().__init__()
        self.enc = enc
        self.head = nn.Linear(DIM, N_GROUPS)

    def __call__(self, toks):
        h = self.enc(toks)
        w = (toks != PAD)[..., None].astype(h.dtype)
        pooled = (h * w).sum(1) / mx.maximum(w.sum(1), 1.0)
        return self.head(pooled)


class ProbeTuned(nn.Module):
    """Frozen encoder + learned query vectors that attend over the tokens (a CLS-style probe)."""

    def __init__(self, enc, n_classes=3):
        super().__init__()
        self.enc = enc
        self.queries = mx.random.normal((N_QUERY, DIM)) * 0.02
        self.head = nn.Linear(N_QUERY * DIM, n_classes)

    def __call__(self, toks):
        h = self.enc(toks)                                      # (B, L, D)
        scores = (h @ self.queries.T) / math.sqrt(DIM)          # (B, L, Q)
        scores = mx.where((toks != PAD)[..., None], scores, -1e9)
        att = mx.softmax(scores, axis=1)
        pooled = mx.einsum("blq,bld->bqd", att, h).reshape(toks.shape[0], -1)
        return self.head(pooled)


def macro_f1(pred, y, k=3):
    f = []
    for c in range(k):
        tp = np.sum((pred == c) & (y == c)); fp = np.sum((pred == c) & (y != c)); fn = np.sum((pred != c) & (y == c))
        f.append(0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn))
    return 100 * float(np.mean(f))


t0 = time.time()
Xp, Gp, _ = make_entries(3000)
Xtr, _, Ytr = make_entries(2000)
Xte, _, Yte = make_entries(1500)
counts = np.bincount(Ytr, minlength=3)
print(f"entries: pretrain {len(Xp)}, tune {len(Xtr)}, test {len(Xte)}; tune class shares "
      + " / ".join(f"{c / len(Ytr):.0%}" for c in counts))

# ---------------- stage 1: generic pre-training (silent until done) -------------
enc = Encoder()
pre = Pretrainer(enc)
mx.eval(pre.parameters())
opt1 = optim.Adam(learning_rate=1e-2)


def pre_loss(m, x, g):
    return nn.losses.binary_cross_entropy(m(x), g, with_logits=True, reduction="mean")


pre_step = nn.value_and_grad(pre, pre_loss)
Xp_mx, Gp_mx = mx.array(Xp), mx.array(Gp)
for ep in range(4):
    perm = rng.permutation(len(Xp))
    for s in range(0, len(Xp), 100):
        idx = mx.array(perm[s : s + 100])
        loss, grads = pre_step(pre, Xp_mx[idx], Gp_mx[idx])
        opt1.update(pre, grads)
        mx.eval(pre.parameters(), opt1.state, loss)
logits = pre(Xp_mx[:1000])
hit = ((logits > 0) == (Gp_mx[:1000] > 0.5)).astype(mx.float32).mean().item()
print(f"stage 1 done after 4 epochs: word-group bit accuracy {100 * hit:.1f}% "
      f"(all-absent guess {100 * (1 - Gp[:1000].mean()):.1f}%), {time.time() - t0:.1f}s")

# ---------------- stage 2: query probe on a frozen encoder --------------------
enc.freeze()
model = ProbeTuned(enc)
mx.eval(model.parameters())
frozen_before = {k: np.array(v) for k, v in tree_flatten(enc.parameters())}
trainable = [k for k, _ in tree_flatten(model.trainable_parameters())]
n_frozen = sum(v.size for v in frozen_before.values())
n_train = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
print(f"stage 2: trainable leaves {trainable}; {n_train} trainable vs {n_frozen} frozen values")

steps = 480
sched = optim.join_schedules([optim.linear_schedule(0.0, 2e-2, 40), optim.cosine_decay(2e-2, steps - 40, 5e-4)], [40])
opt2 = optim.AdamW(learning_rate=sched, weight_decay=0.0)


def tune_loss(m, x, y):
    return nn.losses.cross_entropy(m(x), y, reduction="mean")


tune_step = nn.value_and_grad(model, tune_loss)
Xtr_mx, Ytr_mx, Xte_mx = mx.array(Xtr), mx.array(Ytr), mx.array(Xte)
maj = int(np.argmax(counts))
print(f"reference: majority class on test -> acc {100 * np.mean(Yte == maj):.1f}%, macro-F1 {macro_f1(np.full_like(Yte, maj), Yte):.1f}")
print(f"{'step':>5} {'lr':>8} {'train_ce':>9} {'test_ce':>8} {'test_acc%':>9} {'macroF1':>8}")
run = []
queries0 = np.array(model.queries)
for step in range(1, steps + 1):
    idx = mx.array(rng.integers(0, len(Xtr), size=64))
    lr_used = float(sched(opt2.step))
    loss, grads = tune_step(model, Xtr_mx[idx], Ytr_mx[idx])
    opt2.update(model, grads)
    mx.eval(model.parameters(), opt2.state, loss)
    run.append(loss.item())
    if step == 1:
        moved = float(np.abs(np.array(model.queries) - queries0).max())
        gl = [k for k, v in tree_flatten(grads) if float(mx.abs(v).max()) > 0]
        print(f"    step 1 used lr {lr_used:.1e}; query change {moved:.1e}; leaves with non-zero gradient {gl}")
    if step in (1, 20, 40) or step % 80 == 0:
        lt = model(Xte_mx)
        te = nn.losses.cross_entropy(lt, mx.array(Yte), reduction="mean").item()
        pred = np.array(mx.argmax(lt, axis=1))
        print(f"{step:>5} {lr_used:>8.2e} {np.mean(run[-30:]):>9.4f} {te:>8.4f} "
              f"{100 * np.mean(pred == Yte):>9.1f} {macro_f1(pred, Yte):>8.1f}")

drift = max(float(np.abs(np.array(v) - frozen_before[k]).max()) for k, v in tree_flatten(enc.parameters()))
print(f"done in {time.time() - t0:.1f}s; frozen encoder max change {drift:.1e}")
