"""Frame-level phone tagger trained from transcripts only (no time marks).

Harbour-office tannoy announcements, synthesised: each utterance is
sil + 3..6 phones + sil, every segment 2..6 frames long, 16-d noisy frames.
We only know the phone SEQUENCE.  Round 0 trains on a flat (uniform)
segmentation; after every round the tagger's log-probs are used for a
Viterbi forced alignment that gives the next round's frame targets.
"""
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

N_PH = 8          # 0 = silence, 1..7 phones
DIM = 16
TMAX = 40
CTX = 2           # +-2 frames of context
ROUNDS = 4
EPOCHS = 3
BATCH = 64

rng = np.random.default_rng(316)
protos = rng.normal(0, 1.0, (N_PH, DIM)).astype(np.float32)
protos[0] *= 0.3


def make_set(n):
    X = np.zeros((n, TMAX, DIM), np.float32)
    truth = np.zeros((n, TMAX), np.int32)
    lens = np.zeros(n, np.int32)
    seqs = []
    for i in range(n):
        while True:
            k = rng.integers(3, 7)
            ph = [0]
            for _ in range(k):
                p = int(rng.integers(1, N_PH))
                while p == ph[-1]:
                    p = int(rng.integers(1, N_PH))
                ph.append(p)
            ph.append(0)
            durs = rng.integers(2, 7, len(ph))
            if durs.sum() <= TMAX:
                break
        frames = np.concatenate([[p] * d for p, d in zip(ph, durs)])
        T = len(frames)
        x = protos[frames] + rng.normal(0, 0.9, (T, DIM)).astype(np.float32)
        x[1:] = 0.7 * x[1:] + 0.3 * x[:-1]
        X[i, :T] = x
        truth[i, :T] = frames
        lens[i] = T
        seqs.append(ph)
    return X, truth, lens, seqs


def uniform_align(seq, T):
    edges = np.linspace(0, T, len(seq) + 1).round().astype(int)
    out = np.zeros(TMAX, np.int32)
    for s, (a, b) in enumerate(zip(edges[:-1], edges[1:])):
        out[a:b] = seq[s]
    return out


def viterbi_align(logp, seq):
    """Monotone forced alignment: every transcript symbol gets >= 1 frame."""
    T, S = logp.shape[0], len(seq)
    em = logp[:, seq]                       # (T, S)
    score = np.full((T, S), -np.inf)
    back = np.zeros((T, S), np.int8)
    score[0, 0] = em[0, 0]
    for t in range(1, T):
        stay = score[t - 1]
        move = np.concatenate([[-np.inf], score[t - 1, :-1]])
        back[t] = move > stay
        score[t] = np.maximum(stay, move) + em[t]
    path = np.zeros(T, np.int32)
    s = S - 1
    for t in range(T - 1, -1, -1):
        path[t] = s
        if t > 0 and back[t, s]:
            s -= 1
    out = np.zeros(TMAX, np.int32)
    out[:T] = np.asarray(seq)[path]
    return out


def with_context(X):
    pads = np.pad(X, ((0, 0), (CTX, CTX), (0, 0)))
    return np.concatenate([pads[:, k:k + TMAX] for k in range(2 * CTX + 1)], -1)


class Tagger(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(DIM * (2 * CTX + 1), 96)
        self.l2 = nn.Linear(96, 96)
        self.out = nn.Linear(96, N_PH)

    def __call__(self, x):
        h = nn.gelu(self.l1(x))
        h = nn.gelu(self.l2(h)) + h
        return self.out(h)


def masked_ce(model, x, y, m):
    ce = nn.losses.cross_entropy(model(x), y, reduction="none")
    return (ce * m).sum() / m.sum()


Xtr, Ttr, Ltr, Str = make_set(1200)
Xva, Tva, Lva, Sva = make_set(300)
Ctr, Cva = mx.array(with_context(Xtr)), mx.array(with_context(Xva))
Mtr = mx.array((np.arange(TMAX)[None] < Ltr[:, None]).astype(np.float32))
Mva_np = np.arange(TMAX)[None] < Lva[:, None]


def frame_agree(align, truth, mask):
    return 100.0 * (align == truth)[mask].mean()


def realign(model, C, lens, seqs):
    logp = np.array(nn.log_softmax(model(C), axis=-1))
    return np.stack([viterbi_align(logp[i, :lens[i]], seqs[i])
                     for i in range(len(seqs))])


mx.random.seed(316)
model = Tagger()
mx.eval(model.parameters())
loss_and_grad = nn.value_and_grad(model, masked_ce)

targets = np.stack([uniform_align(s, l) for s, l in zip(Str, Ltr)])
flat_va = np.stack([uniform_align(s, l) for s, l in zip(Sva, Lva)])
flat_acc = frame_agree(flat_va, Tva, Mva_np)
steps_per_epoch = len(Xtr) // BATCH

print("tannoy tagger | train 1200 utt | valid 300 utt | frames/utt 16..40 | phones 7 + sil")
print(f"reference | flat segmentation agrees with true frame labels on {flat_acc:.1f}% of valid frames")
print("round|epoch|lr_end|train_ce_vs_targets|valid_frame_acc_%|targets_vs_truth_%|sec")

t0 = time.time()
for rnd in range(ROUNDS):
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, 2e-3, steps_per_epoch),
         optim.cosine_decay(2e-3, steps_per_epoch * (EPOCHS - 1), 2e-4)],
        [steps_per_epoch])
    opt = optim.AdamW(learning_rate=sched, weight_decay=1e-4)
    Ytr = mx.array(targets)
    tgt_truth = frame_agree(targets, Ttr, np.array(Mtr) > 0)
    for ep in range(1, EPOCHS + 1):
        perm = rng.permutation(len(Xtr))
        tot = 0.0
        for b in range(steps_per_epoch):
            idx = mx.array(perm[b * BATCH:(b + 1) * BATCH])
            loss, g = loss_and_grad(model, Ctr[idx], Ytr[idx], Mtr[idx])
            if rnd == 0 and ep == 1 and b == 0:
                zero = [k for k, v in tree_flatten(g) if float(mx.abs(v).max()) == 0.0]
                print(f"check|first batch|lr={float(opt.learning_rate):.1e}|loss={loss.item():.4f}|zero-grad leaves={len(zero)}")
            opt.update(model, g)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item()
        pred = np.array(mx.argmax(model(Cva), axis=-1))
        acc = 100.0 * (pred == Tva)[Mva_np].mean()
        print(f"{rnd}|{ep}|{float(opt.learning_rate):.2e}|{tot / steps_per_epoch:.4f}|{acc:.1f}|{tgt_truth:.1f}|{time.time() - t0:.1f}")
    targets = realign(model, Ctr, Ltr, Str)

va_align = realign(model, Cva, Lva, Sva)
print(f"done|forced alignment of valid agrees with truth on {frame_agree(va_align, Tva, Mva_np):.1f}% of frames "
      f"(flat segmentation {flat_acc:.1f}%)|{time.time() - t0:.1f}s")
