# Sequence recognition with a hand-written CTC loss (forward algorithm in log
# space) on synthetic "utterances": each label symbol is rendered as a run of
# 2-4 noisy frames of a symbol prototype, with noise frames in between.
# CTC training typically sits on a "blank plateau" first (the net predicts only
# blanks, so the label error rate stays at 100%) before alignments are found.
import random
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

random.seed(5)
mx.random.seed(5)

N_SYM = 6            # real symbols 1..6, 0 = blank
FEAT = 10
T = 28
LMAX = 5
NEG = -1e9
protos = mx.random.normal((N_SYM + 1, FEAT)) * 1.2


def make_utt():
    L = random.randint(3, LMAX)
    labels = [random.randint(1, N_SYM) for _ in range(L)]
    frames = []
    for i, s in enumerate(labels):
        frames += [0] * random.randint(0, 2)
        frames += [s] * random.randint(2, 4)
    frames = (frames + [0] * T)[:T]
    return frames, labels


def make_set(n):
    fr, lab = zip(*[make_utt() for _ in range(n)])
    ids = mx.array(list(fr))
    x = protos[ids] + 0.9 * mx.random.normal((n, T, FEAT))
    L = mx.array([len(l) for l in lab])
    y = mx.array([l + [0] * (LMAX - len(l)) for l in lab])
    return x, y, L, [list(l) for l in lab]


class FrameNet(nn.Module):
    def __init__(self, hid=48):
        super().__init__()
        self.c1 = nn.Conv1d(FEAT, hid, kernel_size=5, padding=2)
        self.c2 = nn.Conv1d(hid, hid, kernel_size=5, padding=2)
        self.out = nn.Linear(hid, N_SYM + 1)

    def __call__(self, x):
        h = nn.relu(self.c1(x))
        h = nn.relu(self.c2(h))
        return self.out(h)


def ctc_loss(logits, y, L):
    B = y.shape[0]
    S = 2 * LMAX + 1
    lp = nn.log_softmax(logits, axis=-1)                      # (B, T, C)
    ext = mx.zeros((B, S), dtype=mx.int32)
    ext[:, 1::2] = y                                          # blank, y1, blank, y2, ...
    emit = mx.take_along_axis(lp, mx.broadcast_to(ext[:, None, :], (B, T, S)), axis=2)
    prev2 = mx.concatenate([mx.full((B, 2), -1, dtype=mx.int32), ext[:, :-2]], axis=1)
    can_skip = (ext != 0) & (ext != prev2)
    s_idx = mx.arange(S)[None, :]
    alpha = mx.where(s_idx < 2, emit[:, 0, :], NEG)
    for t in range(1, T):
        a1 = mx.concatenate([mx.full((B, 1), NEG), alpha[:, :-1]], axis=1)
        a2 = mx.concatenate([mx.full((B, 2), NEG), alpha[:, :-2]], axis=1)
        a2 = mx.where(can_skip, a2, NEG)
        alpha = mx.logaddexp(mx.logaddexp(alpha, a1), a2) + emit[:, t, :]
    last = 2 * L                                              # index of final blank
    a_last = mx.take_along_axis(alpha, last[:, None], axis=1).squeeze(1)
    a_prev = mx.take_along_axis(alpha, (last - 1)[:, None], axis=1).squeeze(1)
    return -mx.mean(mx.logaddexp(a_last, a_prev) / L)        # per-symbol NLL


def loss_fn(model, x, y, L):
    return ctc_loss(model(x), y, L)


def edit(a, b):
    d = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        prev, d[0] = d[0], i
        for j in range(1, len(b) + 1):
            cur = min(d[j] + 1, d[j - 1] + 1, prev + (a[i - 1] != b[j - 1]))
            prev, d[j] = d[j], cur
    return d[-1]


def greedy_ler(model, x, labs):
    best = mx.argmax(model(x), axis=-1).tolist()
    errs = tot = 0
    for path, ref in zip(best, labs):
        hyp, last = [], 0
        for p in path:
            if p != last and p != 0:
                hyp.append(p)
            last = p
        errs += edit(hyp, ref)
        tot += len(ref)
    return errs / tot


xtr, ytr, Ltr, _ = make_set(2048)
xva, yva, Lva, lab_va = make_set(300)
model = FrameNet()
mx.eval(model.parameters())
opt = optim.Adam(learning_rate=1e-3)
vg = nn.value_and_grad(model, loss_fn)

BATCH = 64
t0 = time.time()
step = 0
for epoch in range(1, 11):
    perm = mx.random.permutation(xtr.shape[0])
    run = 0.0
    nb = 0
    for s in range(0, xtr.shape[0], BATCH):
        idx = perm[s : s + BATCH]
        loss, grads = vg(model, xtr[idx], ytr[idx], Ltr[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        run += loss.item()
        nb += 1
        step += 1
        if step % 16 == 0:
            print(f"  step {step:5d}  ctc/sym {run / nb:7.4f}", flush=True)
    ler = greedy_ler(model, xva, lab_va)
    print(f"== epoch {epoch:2d} | train ctc/sym {run / nb:.4f} | val LER {100 * ler:5.1f}% | {time.time() - t0:5.1f}s", flush=True)
print("finished")
