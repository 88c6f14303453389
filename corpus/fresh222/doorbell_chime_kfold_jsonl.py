# Doorbell chime recogniser: which of 4 chime tunes is ringing, from log-mel-ish
# spectrogram frames of a synthetic 0.5 s recording. 3-fold CV, warm-up from lr=0.
import json
import math
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

SR = 4000
N = 360
FRAME = 128
HOP = 64
TUNES = [  # note sequences (Hz) of four chimes
    [659, 523],            # ding-dong
    [523, 659, 784],       # rising triad
    [784, 659, 523, 392],  # westminster-ish fall
    [440, 440, 880],       # repeat + octave
]
rng = np.random.default_rng(7)


def render(tune):
    n = SR // 2
    t = np.arange(n) / SR
    sig = np.zeros(n)
    seg = n // len(tune)
    detune = rng.uniform(0.97, 1.03)
    for i, f in enumerate(tune):
        tt = t[: n - i * seg]
        env = np.exp(-tt * rng.uniform(4, 9))
        sig[i * seg:] += env * np.sin(2 * math.pi * f * detune * tt)
    sig += rng.normal(0, 1.6, n)
    frames = np.stack([sig[s:s + FRAME] * np.hanning(FRAME)
                       for s in range(0, n - FRAME, HOP)])
    spec = np.abs(np.fft.rfft(frames, axis=1))[:, 4:52]
    return np.log1p(spec).astype(np.float32)


labels = rng.integers(0, 4, N)
X = np.stack([render(TUNES[k]) for k in labels])
X = (X - X.mean()) / X.std()
Y = labels.astype(np.int32)


class ChimeNet(nn.Module):
    def __init__(self, bins, classes):
        super().__init__()
        self.c1 = nn.Conv1d(bins, 32, kernel_size=3, padding=1)
        self.c2 = nn.Conv1d(32, 32, kernel_size=3, padding=1)
        self.head = nn.Linear(32, classes)

    def __call__(self, x):
        h = nn.gelu(self.c1(x))
        h = nn.gelu(self.c2(h))
        return self.head(h.max(axis=1))


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


folds = np.array_split(rng.permutation(N), 3)
EPOCHS, BS = 14, 24
summary = []
for k in range(3):
    va = folds[k]
    tr = np.concatenate([folds[j] for j in range(3) if j != k])
    mx.random.seed(100 + k)
    model = ChimeNet(X.shape[2], 4)
    steps_per_epoch = math.ceil(len(tr) / BS)
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, 3e-3, 2 * steps_per_epoch),
         optim.cosine_decay(3e-3, (EPOCHS - 2) * steps_per_epoch, 1e-4)],
        [2 * steps_per_epoch])
    opt = optim.AdamW(learning_rate=sched, weight_decay=1e-3)
    step = nn.value_and_grad(model, loss_fn)
    Xv, Yv = mx.array(X[va]), mx.array(Y[va])
    for ep in range(EPOCHS):
        perm = rng.permutation(tr)
        tot = 0.0
        for b in range(0, len(perm), BS):
            idx = perm[b:b + BS]
            loss, g = step(model, mx.array(X[idx]), mx.array(Y[idx]))
            opt.update(model, g)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item() * len(idx)
        logits = model(Xv)
        vl = nn.losses.cross_entropy(logits, Yv, reduction="mean").item()
        acc = (logits.argmax(axis=1) == Yv).mean().item()
        print(json.dumps({"fold": k, "epoch": ep, "lr": round(float(opt.learning_rate.item()), 6),
                          "train_xent": round(tot / len(tr), 4), "val_xent": round(vl, 4),
                          "val_acc_pct": round(100 * acc, 1), "chance_pct": 25.0}))
    summary.append(acc)
print(json.dumps({"cv_mean_acc_pct": round(100 * float(np.mean(summary)), 2),
                  "per_fold": [round(100 * a, 1) for a in summary]}))
