"""Who is talking on the trawler bridge: end-to-end two-speaker diarisation.

Each clip is 50 frames x 12 log bands from the wheelhouse microphone. Two crew
members (skipper and mate) each have a voice template (formant bumps + pitch
ripple, varied per clip); their speech turns can overlap; engine drone sits
under everything. The network outputs one activity logit per speaker per frame.
Which output is 'speaker 1' is arbitrary, so the loss is the permutation-
invariant BCE (the better of the two speaker orderings for each clip).
Stage A has little overlap; stage B is the crowded watch change with a lot
of crosstalk, so the loss goes up when stage B starts.
"""
import itertools
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

T, B, S, D = 50, 12, 2, 32
rng = np.random.default_rng(3)
mx.random.seed(3)
bands = np.arange(B)


def voice(rng):
    f1, f2 = rng.uniform(1.5, 5.0), rng.uniform(6.0, 10.5)
    return (1.4 * np.exp(-0.5 * ((bands - f1) / 1.1) ** 2)
            + 1.0 * np.exp(-0.5 * ((bands - f2) / 1.3) ** 2))


def make_clips(n, overlap, rng):
    x = np.zeros((n, T, B), np.float32)
    y = np.zeros((n, T, S), np.float32)
    for i in range(n):
        x[i] = 0.8 * np.exp(-bands / 4.0)[None] + rng.normal(0, 0.3, (T, B))
        temps = [voice(rng) for _ in range(S)]
        t = 0
        who = int(rng.integers(0, S))
        while t < T:
            L = int(rng.integers(5, 13))
            y[i, t:t + L, who] = 1
            if rng.random() < overlap:  # the other one cuts in
                o0 = t + int(rng.integers(0, max(1, L - 2)))
                y[i, o0:o0 + int(rng.integers(3, 8)), 1 - who] = 1
            t += L + int(rng.integers(0, 5))
            who = 1 - who if rng.random() < 0.8 else who
        for s in range(S):
            ripple = 0.3 * np.sin(np.arange(T)[:, None] * rng.uniform(0.3, 0.9) + bands[None])
            x[i] += y[i, :, s:s + 1] * (temps[s][None] + ripple)
    return x, y


class Diariser(nn.Module):
    def __init__(self):
        super().__init__()
        self.inp = nn.Conv1d(B, D, kernel_size=5, padding=2)
        self.pos = nn.Embedding(T, D)
        self.ctx = nn.TransformerEncoder(num_layers=2, dims=D, num_heads=4, mlp_dims=64)
        self.out = nn.Linear(D, S)

    def __call__(self, x):
        h = nn.gelu(self.inp(x)) + self.pos(mx.arange(T))
        return self.out(self.ctx(h, None))


PERMS = list(itertools.permutations(range(S)))


def pit_bce(model, x, y):
    logits = model(x)
    per = []
    for p in PERMS:
        yp = y[..., list(p)]
        per.append(nn.losses.binary_cross_entropy(logits, yp, with_logits=True,
                                                  reduction="none").mean(axis=(1, 2)))
    return mx.min(mx.stack(per, axis=1), axis=1).mean()


def der(pred, ref):
    """Diarisation error rate (missed + false alarm + confusion) / reference speech,
    with the better speaker mapping chosen per clip."""
    miss = fa = conf = 0.0
    total = ref.sum()
    for i in range(len(ref)):
        best = None
        for p in PERMS:
            r = ref[i][:, list(p)]
            nr, nh = r.sum(1), pred[i].sum(1)
            nc = (r * pred[i]).sum(1)
            m = np.maximum(nr - nh, 0).sum()
            f = np.maximum(nh - nr, 0).sum()
            c = (np.minimum(nr, nh) - nc).sum()
            if best is None or m + f + c < sum(best):
                best = (m, f, c)
        miss, fa, conf = miss + best[0], fa + best[1], conf + best[2]
    return 100 * miss / total, 100 * fa / total, 100 * conf / total, 100 * (miss + fa + conf) / total


t0 = time.time()
val_x, val_y = make_clips(160, 0.5, rng)
model = Diariser()
mx.eval(model.parameters())

empty = der(np.zeros_like(val_y), val_y)[3]
both = der(np.ones_like(val_y), val_y)[3]
print(f"trawler bridge diarisation | 2 speakers | {T} frames x {B} bands")
print(f"references on the held-out watch: nobody-talks DER {empty:.1f}%  "
      f"both-always DER {both:.1f}%  (lower is better)")
print(f"{'stage':<6}{'ep':>3}{'lr':>10}{'pit_bce':>9}{'val_bce':>9}"
      f"{'miss%':>7}{'fa%':>7}{'conf%':>7}{'DER%':>7}")

lg = nn.value_and_grad(model, pit_bce)
stages = [("A", 0.1, 6), ("B", 0.6, 6)]
bs = 32
for name, overlap, epochs in stages:
    tr_x, tr_y = make_clips(448, overlap, rng)
    steps = epochs * (len(tr_x) // bs)
    # cosine that restarts at each stage, warm-up from exactly zero
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, 3e-3, 20), optim.cosine_decay(3e-3, steps - 20, 1e-4)],
        [20])
    opt = optim.Adafactor(learning_rate=sched, relative_step=False,
                          scale_parameter=False)
    for ep in range(1, epochs + 1):
        perm = rng.permutation(len(tr_x))
        tot = 0.0
        for s in range(0, len(perm) - bs + 1, bs):
            b = perm[s:s + bs]
            loss, g = lg(model, mx.array(tr_x[b]), mx.array(tr_y[b]))
            opt.update(model, g)
            mx.eval(model.parameters(), opt.state, loss)
            tot += float(loss)
        tr = tot / (len(perm) // bs)
        if name == "A" and ep not in (1, epochs):
            continue  # stage A is quiet between its first and last epoch
        vb = float(pit_bce(model, mx.array(val_x), mx.array(val_y)))
        pred = (np.array(mx.sigmoid(model(mx.array(val_x)))) > 0.5).astype(np.float32)
        m, f, c, d = der(pred, val_y)
        print(f"{name:<6}{ep:>3}{float(opt.learning_rate):>10.2e}{tr:>9.4f}{vb:>9.4f}"
              f"{m:>7.1f}{f:>7.1f}{c:>7.1f}{d:>7.1f}")

print(f"done in {time.time() - t0:.1f}s")
