"""Henhouse vocalisation monitor: classify 0.6 s barn clips into four call types.

contented trill / alarm cackle / gakel (frustration) / distress peep.
Classes are imbalanced the way a real barn is (mostly trills, few distress peeps),
so the loss is class-weighted and the report shows macro-F1 and balanced accuracy
next to what a majority-class guess would score.
"""
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

SR = 4000
N_SAMP = 2400          # 0.6 s
N_FFT = 128
HOP = 64
N_MELS = 20
CLASSES = ["trill", "alarm", "gakel", "peep"]
PRIOR = np.array([0.55, 0.2, 0.17, 0.08])

rng = np.random.default_rng(11)
mx.random.seed(11)


def call_wave(c, r):
    t = np.arange(N_SAMP) / SR
    y = np.zeros(N_SAMP)
    if c == 0:  # low trill: 350-450 Hz fundamental, amplitude pulsing 18-25 Hz
        f0 = r.uniform(330, 460)
        am = 0.5 + 0.5 * np.sin(2 * np.pi * r.uniform(18, 25) * t)
        for h in (1, 2, 3):
            y += am * np.sin(2 * np.pi * f0 * h * t) / h
    elif c == 1:  # alarm cackle: several short broadband-ish bursts around 900-1400 Hz
        for _ in range(r.integers(3, 6)):
            s = r.integers(0, N_SAMP - 200)
            n = r.integers(80, 200)
            f = r.uniform(900, 1400)
            seg = np.sin(2 * np.pi * f * t[:n]) + 0.6 * r.normal(size=n)
            y[s:s + n] += seg * np.hanning(n)
    elif c == 2:  # gakel: long call, rising then level, 600-800 Hz with a strong 2nd harmonic
        f0 = r.uniform(600, 800)
        s = r.integers(0, 600)
        n = r.integers(1200, 1700)
        n = min(n, N_SAMP - s)
        tt = t[:n]
        inst = f0 * (1 + 0.25 * np.minimum(tt / 0.15, 1.0))
        ph = 2 * np.pi * np.cumsum(inst) / SR
        y[s:s + n] += (np.sin(ph) + 0.8 * np.sin(2 * ph)) * np.hanning(n) ** 0.3
    else:  # distress peep: high 1500-1800 Hz descending sweeps, repeated
        for _ in range(r.integers(2, 5)):
            s = r.integers(0, N_SAMP - 300)
            n = r.integers(160, 300)
            tt = t[:n]
            f = r.uniform(1500, 1800) - 900 * tt / tt[-1] * 0.4
            ph = 2 * np.pi * np.cumsum(f) / SR
            y[s:s + n] += np.sin(ph) * np.hanning(n)
    # barn background: fans (hum at 100 Hz + harmonics) and broadband noise
    hum = 0.3 * np.sin(2 * np.pi * 100 * t + r.uniform(0, 6.3))
    y = y * r.uniform(0.4, 1.0) + hum + r.uniform(0.3, 0.8) * r.normal(size=N_SAMP)
    return y


def mel_bank():
    def hz2mel(f):
        return 2595 * np.log10(1 + f / 700)

    def mel2hz(m):
        return 700 * (10 ** (m / 2595) - 1)

    pts = mel2hz(np.linspace(hz2mel(60), hz2mel(SR / 2), N_MELS + 2))
    bins = np.fft.rfftfreq(N_FFT, 1 / SR)
    fb = np.zeros((N_MELS, len(bins)))
    for m in range(N_MELS):
        lo, mid, hi = pts[m], pts[m + 1], pts[m + 2]
        fb[m] = np.clip(np.minimum((bins - lo) / (mid - lo), (hi - bins) / (hi - mid)), 0, None)
    return fb


FB = mel_bank()
WIN = np.hanning(N_FFT)


def logmel(y):
    n_frames = 1 + (len(y) - N_FFT) // HOP
    idx = np.arange(N_FFT)[None, :] + HOP * np.arange(n_frames)[:, None]
    spec = np.abs(np.fft.rfft(y[idx] * WIN, axis=1)) ** 2
    return np.log(spec @ FB.T + 1e-6)


def make_set(n, r):
    labels = r.choice(4, size=n, p=PRIOR)
    feats = np.stack([logmel(call_wave(int(c), r)) for c in labels])
    return feats.astype(np.float32), labels.astype(np.int32)


t0 = time.time()
Xtr, ytr = make_set(1800, rng)
Xva, yva = make_set(600, rng)
mu = Xtr.mean(axis=(0, 1), keepdims=True)
sd = Xtr.std(axis=(0, 1), keepdims=True) + 1e-5
Xtr = (Xtr - mu) / sd
Xva = (Xva - mu) / sd
T = Xtr.shape[1]
counts = np.bincount(ytr, minlength=4)
class_w = counts.sum() / (4.0 * counts)
class_w_mx = mx.array(class_w.astype(np.float32))


def spec_augment(xb, r):
    xb = xb.copy()
    for i in range(len(xb)):
        f = r.integers(0, 4)
        f0 = r.integers(0, N_MELS - f + 1)
        xb[i, :, f0:f0 + f] = 0.0
        w = r.integers(0, 7)
        s0 = r.integers(0, T - w + 1)
        xb[i, s0:s0 + w, :] = 0.0
    return xb


class AttentiveStatsPool(nn.Module):
    def __init__(self, dim, hidden=16):
        super().__init__()
        self.score = nn.Sequential(nn.Linear(dim, hidden), nn.Tanh(), nn.Linear(hidden, 1))

    def __call__(self, h):  # h: (B, T, C)
        a = mx.softmax(self.score(h), axis=1)
        mean = (a * h).sum(axis=1)
        var = (a * (h - mean[:, None, :]) ** 2).sum(axis=1)
        return mx.concatenate([mean, mx.sqrt(var + 1e-5)], axis=-1)


class CallNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.inp = nn.Conv1d(N_MELS, 32, kernel_size=3, padding=1)
        self.dw = nn.Conv1d(32, 32, kernel_size=5, padding=2, groups=32)
        self.pw = nn.Conv1d(32, 48, kernel_size=1)
        self.norm = nn.LayerNorm(48)
        self.pool = AttentiveStatsPool(48)
        self.head = nn.Linear(96, 4)

    def __call__(self, x):
        h = nn.gelu(self.inp(x))
        h = nn.gelu(self.pw(nn.gelu(self.dw(h))))
        h = self.norm(h)
        return self.head(self.pool(h))


model = CallNet()
mx.eval(model.parameters())
ema_params = tree_map(lambda p: mx.array(p), model.trainable_parameters())
ema_model = CallNet()
ema_model.update(ema_params)
EMA_DECAY = 0.98

BATCH = 64
EPOCHS = 12
steps_per_epoch = len(Xtr) // BATCH
warm = 40
sched = optim.join_schedules(
    [optim.linear_schedule(0.0, 0.05, warm),
     optim.step_decay(0.05, 0.3, 4 * steps_per_epoch)],
    [warm],
)
opt = optim.SGD(learning_rate=sched, momentum=0.9, nesterov=True, weight_decay=1e-4)


def loss_fn(m, xb, yb):
    logits = m(xb)
    w = class_w_mx[yb]
    ce = nn.losses.cross_entropy(logits, yb, weights=w, reduction="sum")
    return ce / w.sum()


vg = nn.value_and_grad(model, loss_fn)


def scores(m, X, y):
    preds = []
    for i in range(0, len(X), 400):
        preds.append(np.array(mx.argmax(m(mx.array(X[i:i + 400])), axis=1)))
    p = np.concatenate(preds)
    recalls, f1s = [], []
    for c in range(4):
        tp = np.sum((p == c) & (y == c))
        fn = np.sum((p != c) & (y == c))
        fp = np.sum((p == c) & (y != c))
        rec = tp / max(tp + fn, 1)
        prec = tp / max(tp + fp, 1)
        recalls.append(rec)
        f1s.append(0.0 if tp == 0 else 2 * prec * rec / (prec + rec))
    return 100 * np.mean(f1s), 100 * np.mean(recalls), 100 * np.mean(p == y)


maj = np.bincount(ytr).argmax()
maj_f1 = 100 * (2 * np.mean(yva == maj) / (1 + np.mean(yva == maj))) / 4
print(f"# henhouse calls: train {len(Xtr)} clips, valid {len(Xva)} clips, {T} frames x {N_MELS} mel, "
      f"prep {time.time() - t0:.1f}s")
print("# train counts " + " ".join(f"{n}={k}" for n, k in zip(CLASSES, counts)) +
      "  class weights " + " ".join(f"{w:.2f}" for w in class_w))
print(f"# majority-guess baseline: macroF1 {maj_f1:.1f}%  balanced_acc 25.0%  acc {100 * np.mean(yva == maj):.1f}%")

xb0 = mx.array(Xtr[:BATCH])
yb0 = mx.array(ytr[:BATCH])
_, g0 = vg(model, xb0, yb0)
flat = [v for _, v in tree_flatten(g0)]
nz = sum(int(mx.any(v != 0).item()) for v in flat)
print(f"# gradient check: {nz}/{len(flat)} parameter tensors get a nonzero gradient")

print("epoch\tstep\tlr\twloss\tval_macroF1\tval_balacc\tema_macroF1\tema_balacc\tsecs")
step = 0
aug_rng = np.random.default_rng(5)
for ep in range(1, EPOCHS + 1):
    perm = aug_rng.permutation(len(Xtr))
    tot, nb = 0.0, 0
    for b in range(steps_per_epoch):
        idx = perm[b * BATCH:(b + 1) * BATCH]
        xb = mx.array(spec_augment(Xtr[idx], aug_rng))
        yb = mx.array(ytr[idx])
        lr_now = float(sched(mx.array(step)))
        loss, grads = vg(model, xb, yb)
        opt.update(model, grads)
        ema_params = tree_map(lambda e, p: EMA_DECAY * e + (1 - EMA_DECAY) * p,
                              ema_params, model.trainable_parameters())
        mx.eval(model.parameters(), opt.state, ema_params, loss)
        tot += loss.item()
        nb += 1
        step += 1
    if ep % 2 == 0:
        ema_model.update(ema_params)
        f1, bal, _ = scores(model, Xva, yva)
        ef1, ebal, _ = scores(ema_model, Xva, yva)
        print(f"{ep}\t{step}\t{lr_now:.4f}\t{tot / nb:.4f}\t{f1:.1f}\t{bal:.1f}\t{ef1:.1f}\t{ebal:.1f}\t{time.time() - t0:.1f}")

ema_model.update(ema_params)
f1, bal, acc = scores(ema_model, Xva, yva)
print(f"# final (EMA weights): macroF1 {f1:.1f}%  balanced_acc {bal:.1f}%  acc {acc:.1f}%  "
      f"vs majority guess macroF1 {maj_f1:.1f}%")
