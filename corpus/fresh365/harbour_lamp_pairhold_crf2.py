"""Harbour signal-lamp frame tagging with a SECOND-ORDER linear-chain CRF.

A harbour camera films a ship's signal lamp at two frames per code unit, so a
lamp state is normally held for exactly two frames (a few units are clipped to
one frame or smeared over three).  Each frame is tagged dark / white / red /
green from five noisy photometric readings.  Red and green have almost the
same brightness, and a single frame is often ambiguous; the hold-for-two
rhythm can only be expressed by a transition score that looks two tags back.

Model: GELU MLP emissions over a +-1 frame window, first-order scores for the
first pair of frames and second-order scores trans2[y(t-2), y(t-1), y(t)] for
the rest.  Exact sequence log-likelihood via a forward algorithm over tag
PAIRS (16 pair states), Viterbi over pairs in NumPy.

The printed objective is the mean log-likelihood per frame (negative, higher
is better).  Validation runs only every third epoch.  Training has two legs;
the second leg starts a fresh Adam whose learning rate again climbs from 0.
"""
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

TAGS = ["dark", "white", "red", "green"]
K = len(TAGS)
T = 24
N_FEAT = 5

rng = np.random.default_rng(7)
mx.random.seed(7)

# ------------------------------------------------------------------ data
MEANS = np.array([
    # brightness, warmth, red-green hue, flicker, halo
    [-1.2, 0.0, 0.0, -0.3, -1.0],   # dark
    [0.9, 0.6, 0.0, 0.2, 0.8],      # white
    [0.5, 0.3, 0.55, 0.1, 0.3],     # red
    [0.5, 0.3, -0.55, 0.1, 0.3],    # green
], dtype=np.float32)
NOISE = 0.85


def make_tags(n):
    out = np.zeros((n, T), dtype=np.int64)
    for i in range(n):
        seq = []
        prev = int(rng.integers(K))
        while len(seq) < T:
            u = rng.random()
            hold = 2 if u < 0.88 else (1 if u < 0.94 else 3)
            seq.extend([prev] * hold)
            nxt = int(rng.integers(K - 1))
            prev = nxt if nxt < prev else nxt + 1
        out[i] = seq[:T]
    return out


def make_feats(tags):
    x = MEANS[tags] + NOISE * rng.standard_normal(tags.shape + (N_FEAT,)).astype(np.float32)
    return x.astype(np.float32)


def windowed(x):
    left = np.concatenate([x[:, :1], x[:, :-1]], axis=1)
    right = np.concatenate([x[:, 1:], x[:, -1:]], axis=1)
    return np.concatenate([left, x, right], axis=-1)


tr_y = make_tags(1600)
va_y = make_tags(400)
te_y = make_tags(400)
tr_x, va_x, te_x = (windowed(make_feats(y)) for y in (tr_y, va_y, te_y))


# ------------------------------------------------------------------ model
class PairCRF(nn.Module):
    def __init__(self, d_in, hidden, k):
        super().__init__()
        self.emit = nn.Sequential(nn.Linear(d_in, hidden), nn.GELU(),
                                  nn.Linear(hidden, hidden), nn.GELU(),
                                  nn.Linear(hidden, k))
        self.start = mx.zeros((k,))
        self.trans1 = mx.zeros((k, k))
        self.trans2 = mx.zeros((k, k, k))

    def __call__(self, x):
        return self.emit(x)


def log_partition(model, e):
    # alpha[b, a, c] : best-so-far mass for (y(t-1)=a, y(t)=c)
    alpha = (model.start + e[:, 0])[:, :, None] + model.trans1[None] + e[:, 1][:, None, :]
    for t in range(2, e.shape[1]):
        # new[b, c, d] = logsumexp_a alpha[b, a, c] + trans2[a, c, d]
        s = alpha[:, :, :, None] + model.trans2[None]
        alpha = mx.logsumexp(s, axis=1) + e[:, t][:, None, :]
    return mx.logsumexp(alpha.reshape(alpha.shape[0], -1), axis=1)


def gold_score(model, e, y):
    ey = mx.take_along_axis(e, y[..., None], axis=-1)[..., 0].sum(axis=1)
    s = model.start[y[:, 0]] + model.trans1[y[:, 0], y[:, 1]]
    s = s + model.trans2[y[:, :-2], y[:, 1:-1], y[:, 2:]].sum(axis=1)
    return ey + s


def mean_loglik(model, x, y):
    e = model(x)
    return (gold_score(model, e, y) - log_partition(model, e)).sum() / (y.shape[0] * y.shape[1])


def loss_fn(model, x, y):
    return -mean_loglik(model, x, y)


def viterbi_pairs(e, start, t1, t2):
    n = e.shape[0]
    out = np.zeros((n, T), dtype=np.int64)
    for i in range(n):
        delta = (start + e[i, 0])[:, None] + t1 + e[i, 1][None, :]
        back = []
        for t in range(2, T):
            s = delta[:, :, None] + t2
            back.append(s.argmax(axis=0))
            delta = s.max(axis=0) + e[i, t][None, :]
        a, c = np.unravel_index(delta.argmax(), delta.shape)
        path = [c, a]
        for bp in reversed(back):
            prev = bp[path[-1], path[-2]]
            path.append(prev)
        out[i] = path[::-1]
    return out


def run_lengths_ok(paths):
    good = total = 0
    for p in paths:
        cuts = np.flatnonzero(np.diff(p)) + 1
        lens = np.diff(np.concatenate([[0], cuts, [T]]))[1:-1]
        good += int((lens == 2).sum())
        total += len(lens)
    return 100.0 * good / max(total, 1)


def evaluate(model, x, y):
    xm, ym = mx.array(x), mx.array(y)
    ll = mean_loglik(model, xm, ym).item()
    e = np.array(model(xm))
    st, t1, t2 = np.array(model.start), np.array(model.trans1), np.array(model.trans2)
    p2 = viterbi_pairs(e, st, t1, t2)
    acc2 = 100.0 * (p2 == y).mean()
    acc_e = 100.0 * (e.argmax(-1) == y).mean()
    return ll, acc2, acc_e, run_lengths_ok(p2)


model = PairCRF(3 * N_FEAT, 48, K)
mx.eval(model.parameters())
loss_and_grad = nn.value_and_grad(model, loss_fn)

BATCH = 48
steps_per_epoch = len(tr_y) // BATCH
majority = 100.0 * (va_y == np.bincount(tr_y.ravel()).argmax()).mean()
print(f"frames/seq {T}  train seqs {len(tr_y)}  valid {len(va_y)}  tags {TAGS}")
print(f"majority-tag frame accuracy on valid: {majority:.1f}%")
ll0, a2, ae, rl = evaluate(model, va_x, va_y)
print(f"untrained   valid loglik/frame {ll0:8.4f}  pair-viterbi {a2:5.1f}%")


def run_leg(name, epochs, peak_lr, warm_steps, epoch0):
    opt = optim.Adam(learning_rate=0.0)
    step = 0
    for ep in range(epoch0, epoch0 + epochs):
        perm = rng.permutation(len(tr_y))
        run = 0.0
        t0 = time.time()
        for b in range(steps_per_epoch):
            idx = perm[b * BATCH:(b + 1) * BATCH]
            opt.learning_rate = peak_lr * min(1.0, step / warm_steps)
            loss, grads = loss_and_grad(model, mx.array(tr_x[idx]), mx.array(tr_y[idx]))
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            run += loss.item()
            step += 1
        line = (f"[{name}] epoch {ep:2d}  lr {opt.learning_rate.item():.2e}  "
                f"train loglik/frame {-run / steps_per_epoch:8.4f}  ({time.time() - t0:4.1f}s)")
        if ep % 3 == 2:
            ll, a2, ae, rl = evaluate(model, va_x, va_y)
            line += (f"\n           valid loglik/frame {ll:8.4f}  pair-viterbi {a2:5.1f}%  "
                     f"emission-argmax {ae:5.1f}%  two-frame holds {rl:5.1f}%")
        print(line, flush=True)


run_leg("A", 9, 3e-3, 60, 0)
run_leg("B", 3, 1e-3, 30, 9)

ll, a2, ae, rl = evaluate(model, te_x, te_y)
print(f"test  loglik/frame {ll:.4f}  pair-viterbi {a2:.1f}%  emission-argmax {ae:.1f}%  "
      f"majority {100.0 * (te_y == np.bincount(tr_y.ravel()).argmax()).mean():.1f}%  two-frame holds {rl:.1f}% (data: {run_lengths_ok(te_y):.1f}%)")
t2 = np.array(model.trans2)
print("learned trans2[a, a, c] (stay after a two-frame hold?) diag:",
      " ".join(f"{TAGS[a]}={t2[a, a, a]:+.2f}" for a in range(K)))
print("learned trans2[b, a, a] (hold a second frame?) mean over b!=a:",
      " ".join(f"{TAGS[a]}={np.mean([t2[b, a, a] for b in range(K) if b != a]):+.2f}" for a in range(K)))
