"""Milking-robot session phase tagging: BiGRU emissions + masked linear-chain CRF.

Each milking session is logged once per 10 s by the robot (milk flow, vacuum,
teat-cup pressure, conductivity).  Sessions have different lengths (18-30
readings) and are padded to 30 in a batch.  Every reading is tagged with the
session phase:  attach / let-down / peak / taper / detach.

Model: a forward nn.GRU and a backward nn.GRU (run on the time-reversed,
per-sequence-aligned input) feed a linear emission layer; a linear-chain CRF
with start, transition and end scores sits on top.  The forward algorithm and
the gold-path score honour the padding mask, so padded readings never enter
the likelihood.

Training details: the optimizer sees the average gradient of 3 micro-batches,
gradients are clipped to norm 5, the learning rate is halved every 60 updates,
and an exponential moving average (EMA) of the weights is kept and evaluated
beside the raw weights.  The printed loss is the CRF negative log-likelihood
per SESSION (about 40 untrained; it levels off well above 0 because the
readings are noisy).  Metrics are printed only every 30 updates.
"""
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_map

PHASES = ["attach", "letdown", "peak", "taper", "detach"]
K = len(PHASES)
TMAX = 30
NF = 4

rng = np.random.default_rng(11)
mx.random.seed(11)

# --------------------------------------------------------------- data
PHASE_MEAN = np.array([
    # flow, vacuum, cup pressure, conductivity
    [-1.0, 0.8, -0.6, 0.0],
    [0.1, 0.3, 0.2, 0.0],
    [1.1, 0.1, 0.5, 0.0],
    [0.1, 0.3, 0.2, 0.4],     # taper looks like let-down except conductivity drift
    [-1.0, -0.9, -0.8, 0.4],
], dtype=np.float32)


def make_session():
    n = int(rng.integers(18, TMAX + 1))
    weights = np.array([0.10, 0.15, 0.40, 0.25, 0.10]) * n
    counts = np.maximum(1, np.round(weights + rng.normal(0, 1.0, K))).astype(int)
    while counts.sum() > n:
        counts[np.argmax(counts)] -= 1
    while counts.sum() < n:
        counts[2] += 1
    tags = np.repeat(np.arange(K), counts)
    x = PHASE_MEAN[tags] + 1.15 * rng.standard_normal((n, NF)).astype(np.float32)
    return x.astype(np.float32), tags


def make_set(m):
    X = np.zeros((m, TMAX, NF), np.float32)
    Y = np.zeros((m, TMAX), np.int64)
    L = np.zeros((m,), np.int64)
    for i in range(m):
        x, y = make_session()
        X[i, :len(y)] = x
        Y[i, :len(y)] = y
        L[i] = len(y)
    return X, Y, L


trX, trY, trL = make_set(1500)
vaX, vaY, vaL = make_set(300)
teX, teY, teL = make_set(300)


def reverse_within_length(x, lengths):
    # index j -> L-1-j for j < L, padding stays in place
    idx = np.arange(TMAX)[None, :]
    rev = np.where(idx < lengths[:, None], lengths[:, None] - 1 - idx, idx)
    return rev


# --------------------------------------------------------------- model
class Tagger(nn.Module):
    def __init__(self, hidden=16):
        super().__init__()
        self.fwd = nn.GRU(NF, hidden)
        self.bwd = nn.GRU(NF, hidden)
        self.out = nn.Linear(2 * hidden, K)
        self.start = mx.zeros((K,))
        self.trans = mx.zeros((K, K))
        self.end = mx.zeros((K,))

    def emissions(self, x, rev_idx):
        hf = self.fwd(x)
        xr = mx.take_along_axis(x, rev_idx[..., None], axis=1)
        hb = self.bwd(xr)
        hb = mx.take_along_axis(hb, rev_idx[..., None], axis=1)   # same permutation is its own inverse
        return self.out(mx.concatenate([hf, hb], axis=-1))


def crf_nll(model, e, y, mask, lengths):
    B = e.shape[0]
    alpha = model.start + e[:, 0]
    for t in range(1, TMAX):
        nxt = mx.logsumexp(alpha[:, :, None] + model.trans[None], axis=1) + e[:, t]
        alpha = mx.where(mask[:, t:t + 1], nxt, alpha)
    log_z = mx.logsumexp(alpha + model.end, axis=1)

    ey = mx.take_along_axis(e, y[..., None], axis=-1)[..., 0]
    unary = (ey * mask).sum(axis=1)
    pair = (model.trans[y[:, :-1], y[:, 1:]] * mask[:, 1:]).sum(axis=1)
    last = mx.take_along_axis(y, (lengths - 1)[:, None], axis=1)[:, 0]
    gold = model.start[y[:, 0]] + unary + pair + model.end[last]
    return (log_z - gold).mean()


def loss_fn(model, x, rev, y, mask, lengths):
    return crf_nll(model, model.emissions(x, rev), y, mask, lengths)


def batch(X, Y, L, idx):
    lengths = L[idx]
    mask = (np.arange(TMAX)[None, :] < lengths[:, None]).astype(np.float32)
    return (mx.array(X[idx]), mx.array(reverse_within_length(X[idx], lengths)),
            mx.array(Y[idx]), mx.array(mask), mx.array(lengths))


def viterbi(e, start, trans, end, n):
    delta = start + e[0]
    back = []
    for t in range(1, n):
        s = delta[:, None] + trans
        back.append(s.argmax(0))
        delta = s.max(0) + e[t]
    path = [int((delta + end).argmax())]
    for bp in reversed(back):
        path.append(int(bp[path[-1]]))
    return path[::-1]


def evaluate(model, X, Y, L):
    x, rev, y, mask, lengths = batch(X, Y, L, np.arange(len(Y)))
    e_mx = model.emissions(x, rev)
    nll = crf_nll(model, e_mx, y, mask, lengths).item()
    e = np.array(e_mx)
    st, tr, en = np.array(model.start), np.array(model.trans), np.array(model.end)
    right = total = peak_tp = peak_fp = peak_fn = 0
    arg_right = 0
    for i in range(len(Y)):
        n = int(L[i])
        p = np.array(viterbi(e[i], st, tr, en, n))
        g = Y[i, :n]
        right += int((p == g).sum())
        arg_right += int((e[i, :n].argmax(-1) == g).sum())
        total += n
        peak_tp += int(((p == 2) & (g == 2)).sum())
        peak_fp += int(((p == 2) & (g != 2)).sum())
        peak_fn += int(((p != 2) & (g == 2)).sum())
    f1 = 200.0 * peak_tp / max(2 * peak_tp + peak_fp + peak_fn, 1)
    return nll, 100.0 * right / total, 100.0 * arg_right / total, f1


model = Tagger()
mx.eval(model.parameters())
ema = Tagger()
ema.update(tree_map(lambda p: mx.array(p), model.parameters()))
mx.eval(ema.parameters())
EMA_DECAY = 0.95

lr_sched = optim.step_decay(6e-3, 0.5, 45)
opt = optim.Adam(learning_rate=lr_sched)
loss_and_grad = nn.value_and_grad(model, loss_fn)

MICRO = 16
ACCUM = 3
n_updates = 120
valid_tags = vaL.sum()
maj = np.bincount(np.concatenate([trY[i, :trL[i]] for i in range(len(trY))])).argmax()
maj_acc = 100.0 * np.mean(np.concatenate([vaY[i, :vaL[i]] for i in range(len(vaY))]) == maj)
print(f"sessions: train {len(trY)} valid {len(vaY)} test {len(teY)}; lengths {trL.min()}-{trL.max()}")
print(f"valid readings {valid_tags}; majority phase '{PHASES[maj]}' gets {maj_acc:.1f}%")

u = evaluate(model, vaX, vaY, vaL)
print(f"untrained   valid nll/session {u[0]:7.3f}  viterbi acc {u[1]:5.1f}%")
perm = rng.permutation(len(trY))
cursor = 0
t0 = time.time()
window = []
for upd in range(1, n_updates + 1):
    acc = None
    for _ in range(ACCUM):
        if cursor + MICRO > len(perm):
            perm = rng.permutation(len(trY))
            cursor = 0
        idx = perm[cursor:cursor + MICRO]
        cursor += MICRO
        loss, g = loss_and_grad(model, *batch(trX, trY, trL, idx))
        acc = g if acc is None else tree_map(lambda a, b: a + b, acc, g)
        window.append(loss.item())
    acc = tree_map(lambda a: a / ACCUM, acc)
    acc, gnorm = optim.clip_grad_norm(acc, 5.0)
    opt.update(model, acc)
    ema.update(tree_map(lambda e, p: EMA_DECAY * e + (1 - EMA_DECAY) * p,
                        ema.parameters(), model.parameters()))
    mx.eval(model.parameters(), opt.state, ema.parameters())
    if upd % 30 == 0:
        v_raw = evaluate(model, vaX, vaY, vaL)
        v_ema = evaluate(ema, vaX, vaY, vaL)
        print(f"update {upd:3d}  lr {opt.learning_rate.item():.1e}  train nll/session {np.mean(window):7.3f}  "
              f"grad-norm {gnorm.item():6.2f}  ({time.time() - t0:4.1f}s)")
        print(f"            valid nll/session raw {v_raw[0]:7.3f} ema {v_ema[0]:7.3f} | "
              f"viterbi acc raw {v_raw[1]:5.1f}% ema {v_ema[1]:5.1f}% | emission-argmax {v_raw[2]:5.1f}% | "
              f"peak F1 raw {v_raw[3]:5.1f} ema {v_ema[3]:5.1f}", flush=True)
        window = []

nll, acc, arg, f1 = evaluate(ema, teX, teY, teL)
print(f"test (ema weights): nll/session {nll:.3f}  viterbi acc {acc:.1f}%  emission-argmax {arg:.1f}%  peak F1 {f1:.1f}")
tr = np.array(ema.trans)
print("learned transition scores (row = from):")
for a in range(K):
    print(f"  {PHASES[a]:>8s} " + " ".join(f"{tr[a, b]:+5.2f}" for b in range(K)))
