"""Ferry-master manifest reader: extractive QA over long manifests.

Each manifest lists 14-18 crossings ("<vessel> <cargo words...> ;").  A question
names one vessel; the answer is the cargo span (1-3 tokens) that follows it.
Manifests are ~80 tokens, longer than the model window, so each one is cut into
overlapping windows (doc stride).  Windows that do not hold the whole answer
are labelled with the CLS slot (position 0), the usual SQuAD long-context recipe.
At evaluation the best-scoring span over all windows of a manifest is chosen.

Training: warm-up from exactly 0, cosine decay, a checkpoint written half way,
a fresh model + optimizer restored from it, and training resumed.
"""
import os
import time
import tempfile

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

SEED = 7
rng = np.random.default_rng(SEED)
mx.random.seed(SEED)

# ---------------------------------------------------------------- vocabulary
PAD, CLS, SEP, SEMI = 0, 1, 2, 3
N_VESSEL, N_CARGO = 40, 30
VESSEL0 = 4
CARGO0 = VESSEL0 + N_VESSEL
VOCAB = CARGO0 + N_CARGO

WINDOW = 40          # tokens of manifest per window
STRIDE = 20
Q_LEN = 3            # CLS, vessel, SEP
SEQ = Q_LEN + WINDOW
MAX_ANS = 3


def make_manifest():
    n = int(rng.integers(14, 19))
    vessels = rng.choice(N_VESSEL, size=n, replace=False) + VESSEL0
    toks, spans = [], {}
    for v in vessels:
        toks.append(int(v))
        k = int(rng.integers(1, MAX_ANS + 1))
        start = len(toks)
        toks.extend(int(c) for c in rng.integers(0, N_CARGO, size=k) + CARGO0)
        spans[int(v)] = (start, start + k - 1)
        toks.append(SEMI)
    asked = int(rng.choice(vessels))
    return toks, asked, spans[asked]


def windows_of(toks, asked, span):
    """Cut a manifest into overlapping windows; label each window."""
    out = []
    starts = list(range(0, max(1, len(toks) - WINDOW + STRIDE), STRIDE))
    for w0 in starts:
        piece = toks[w0:w0 + WINDOW]
        ids = [CLS, asked, SEP] + piece + [PAD] * (WINDOW - len(piece))
        s, e = span
        if s >= w0 and e < w0 + len(piece):
            ls, le = s - w0 + Q_LEN, e - w0 + Q_LEN
        else:
            ls, le = 0, 0
        out.append((ids, ls, le, w0, len(piece)))
    return out


def build(n_docs):
    docs = [make_manifest() for _ in range(n_docs)]
    rows = [w for d in docs for w in windows_of(*d)]
    ids = np.array([r[0] for r in rows], dtype=np.int32)
    ls = np.array([r[1] for r in rows], dtype=np.int32)
    le = np.array([r[2] for r in rows], dtype=np.int32)
    return docs, ids, ls, le


train_docs, tr_ids, tr_s, tr_e = build(3000)
val_docs, _, _, _ = build(150)
print(f"train manifests {len(train_docs)}  windows {len(tr_ids)}  "
      f"cls-labelled windows {np.mean(tr_s == 0):.2%}")


# ---------------------------------------------------------------- model
class Reader(nn.Module):
    """Token embedding + exact-match flag for the asked vessel, two Conv1d
    blocks over the window, and a start/end head."""

    def __init__(self, dims=16, width=32):
        super().__init__()
        self.tok = nn.Embedding(VOCAB, dims)
        self.c1 = nn.Conv1d(dims + 1, width, 5, padding=2)
        self.c2 = nn.Conv1d(width, width, 5, padding=2)
        self.head = nn.Linear(width, 2)

    def __call__(self, ids):
        pad = ids == PAD
        match = (ids == ids[:, 1:2]).astype(mx.float32)[..., None]
        h = mx.concatenate([self.tok(ids), match], axis=-1)
        h = nn.relu(self.c1(h))
        h = nn.relu(self.c2(h)) + h
        lg = self.head(h)
        neg = mx.where(pad, -1e9, 0.0)
        return lg[..., 0] + neg, lg[..., 1] + neg


def loss_fn(model, ids, s, e):
    sl, el = model(ids)
    return (nn.losses.cross_entropy(sl, s, reduction="mean")
            + nn.losses.cross_entropy(el, e, reduction="mean")) / 2


# ---------------------------------------------------------------- evaluation
def best_span(sl, el, n_piece):
    best, arg = -np.inf, None
    for i in range(Q_LEN, Q_LEN + n_piece):
        for j in range(i, min(i + MAX_ANS, Q_LEN + n_piece)):
            sc = sl[i] + el[j]
            if sc > best:
                best, arg = sc, (i, j)
    return best, arg


def f1(pred, gold):
    p = set(range(pred[0], pred[1] + 1))
    g = set(range(gold[0], gold[1] + 1))
    ov = len(p & g)
    if ov == 0:
        return 0.0
    pr, rc = ov / len(p), ov / len(g)
    return 2 * pr * rc / (pr + rc)


def evaluate(model, docs):
    em = f1s = 0.0
    for toks, asked, span in docs:
        ws = windows_of(toks, asked, span)
        ids = mx.array(np.array([w[0] for w in ws], dtype=np.int32))
        sl, el = model(ids)
        sl, el = np.array(sl), np.array(el)
        best, pred = -np.inf, None
        for k, (_, _, _, w0, n) in enumerate(ws):
            sc, arg = best_span(sl[k], el[k], n)
            if arg is not None and sc > best:
                best = sc
                pred = (arg[0] - Q_LEN + w0, arg[1] - Q_LEN + w0)
        em += float(pred == span)
        f1s += f1(pred, span)
    return em / len(docs), f1s / len(docs)


def baselines(docs):
    """Two reference readers: the token after the first vessel name, and the
    cargo span after a random vessel in the manifest."""
    em_first = f1_first = em_rand = f1_rand = 0.0
    for toks, asked, span in docs:
        vpos = [i for i, t in enumerate(toks) if VESSEL0 <= t < CARGO0]
        g = (vpos[0] + 1, vpos[0] + 1)
        em_first += float(g == span)
        f1_first += f1(g, span)
        p = int(rng.choice(vpos))
        end = p + 1
        while toks[end + 1] != SEMI:
            end += 1
        r = (p + 1, end)
        em_rand += float(r == span)
        f1_rand += f1(r, span)
    n = len(docs)
    return em_first / n, f1_first / n, em_rand / n, f1_rand / n


b = baselines(val_docs)
print(f"baselines  first-vessel EM {b[0]:.3f} F1 {b[1]:.3f} | "
      f"random-vessel EM {b[2]:.3f} F1 {b[3]:.3f}")

# ---------------------------------------------------------------- training
TOTAL = 500
WARM = 50
BATCH = 32
PEAK = 3e-3
sched = optim.join_schedules(
    [optim.linear_schedule(0.0, PEAK, WARM),
     optim.cosine_decay(PEAK, TOTAL - WARM, 2e-5)], [WARM])


def make_state(seed):
    mx.random.seed(seed)
    m = Reader()
    o = optim.AdamW(learning_rate=sched, weight_decay=0.01)
    return m, o


model, opt = make_state(SEED)
n_par = sum(v.size for _, v in tree_flatten(model.parameters()))
print(f"reader params {n_par}")


def run(model, opt, step0, step1):
    step_fn = nn.value_and_grad(model, loss_fn)
    run_loss = None
    for step in range(step0, step1):
        idx = rng.integers(0, len(tr_ids), size=BATCH)
        ids = mx.array(tr_ids[idx])
        s, e = mx.array(tr_s[idx]), mx.array(tr_e[idx])
        loss, g = step_fn(model, ids, s, e)
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state, loss)
        lv = loss.item()
        run_loss = lv if run_loss is None else 0.95 * run_loss + 0.05 * lv
        if step % 50 == 0 or step == step1 - 1:
            lr = opt.learning_rate.item()
            print(f"step {step:5d}  lr {lr:.2e}  loss {lv:.4f}  ema {run_loss:.4f}")
        if step > 0 and step % 125 == 0:
            em, fs = evaluate(model, val_docs)
            print(f"  val  step {step}  EM {em:.3f}  F1 {fs:.3f}")


t0 = time.time()
HALF = TOTAL // 2
run(model, opt, 0, HALF)

ckdir = tempfile.mkdtemp()
wpath = os.path.join(ckdir, "reader.safetensors")
opath = os.path.join(ckdir, "opt.safetensors")
model.save_weights(wpath)
mx.save_safetensors(opath, dict(tree_flatten(opt.state)))
em_before, f1_before = evaluate(model, val_docs)
print(f"checkpoint at step {HALF}  EM {em_before:.3f}  F1 {f1_before:.3f}")

# new process-like restart: fresh objects, then restore
del model, opt
model, opt = make_state(SEED + 100)
model.load_weights(wpath)
opt.init(model.trainable_parameters())
opt.state = tree_unflatten(list(mx.load(opath).items()))
mx.eval(model.parameters(), opt.state)
em_after, f1_after = evaluate(model, val_docs)
print(f"restored   opt step {opt.step.item()}  lr {opt.learning_rate.item():.2e}  "
      f"EM {em_after:.3f}  F1 {f1_after:.3f}")

run(model, opt, HALF, TOTAL)
em, fs = evaluate(model, val_docs)
print(f"final  EM {em:.3f}  F1 {fs:.3f}  "
      f"(first-vessel F1 {b[1]:.3f}, random-vessel F1 {b[3]:.3f})  "
      f"time {time.time() - t0:.1f}s")
