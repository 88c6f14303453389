# Tram depot: wheel-flat severity (none / minor / major) from trackside
# accelerometer summary features of passing bogies. Synthetic data.
# Lion + linear warmup from lr=0, then cosine with warm restarts (SGDR);
# compiled step; JSON lines per epoch.
import json
import math
from functools import partial

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rs = np.random.default_rng(11)
FEATS = ["peak_g", "rms_g", "crest", "kurt", "speed_kmh", "axle_load_t", "temp_c", "rail_age_y"]


def simulate(n):
    X = rs.standard_normal((n, len(FEATS))).astype(np.float32)
    score = 1.4 * X[:, 0] + 0.9 * X[:, 2] + 0.7 * X[:, 3] * (X[:, 4] > 0) - 0.4 * X[:, 6] + 0.5 * rs.standard_normal(n)
    y = np.digitize(score, [0.4, 1.6]).astype(np.int32)
    return X, y


Xtr, ytr = simulate(3000)
Xva, yva = simulate(800)
Xtr, ytr, Xva, yva = map(mx.array, (Xtr, ytr, Xva, yva))
prior = np.bincount(np.array(ytr), minlength=3) / len(ytr)
baseline_ce = float(-(prior * np.log(prior)).sum())


class FlatNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(len(FEATS), 48)
        self.l2 = nn.Linear(48, 48)
        self.out = nn.Linear(48, 3)

    def __call__(self, x):
        h = nn.gelu(self.l1(x))
        h = nn.gelu(self.l2(h)) + h
        return self.out(h)


mx.random.seed(11)
net = FlatNet()
mx.eval(net.parameters())

BATCH = 100
STEPS_PER_EPOCH = 3000 // BATCH
WARM = 30
CYCLES = [4, 8]  # epochs per cosine cycle
PEAK = 1e-3


def lr_at(step):
    if step < WARM:
        return PEAK * step / WARM  # starts at exactly 0
    s = step - WARM
    for ep in CYCLES:
        L = ep * STEPS_PER_EPOCH
        if s < L:
            return 0.5 * PEAK * (1 + math.cos(math.pi * s / L))
        s -= L
    return 0.0


opt = optim.Lion(learning_rate=0.0, weight_decay=1e-3)


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


state = [net.state, opt.state]


@partial(mx.compile, inputs=state, outputs=state)
def step(x, y):
    loss, grads = nn.value_and_grad(net, loss_fn)(net, x, y)
    opt.update(net, grads)
    return loss


def macro_f1(logits, y):
    pred = np.array(mx.argmax(logits, axis=1))
    y = np.array(y)
    f1s = []
    for c in range(3):
        tp = ((pred == c) & (y == c)).sum()
        fp = ((pred == c) & (y != c)).sum()
        fn = ((pred != c) & (y == c)).sum()
        f1s.append(2 * tp / max(2 * tp + fp + fn, 1))
    return float(np.mean(f1s))


total_epochs = sum(CYCLES) + 1
gstep = 0
for epoch in range(total_epochs):
    perm = mx.array(rs.permutation(3000))
    run = 0.0
    lr_first = None
    for b in range(STEPS_PER_EPOCH):
        idx = perm[b * BATCH:(b + 1) * BATCH]
        opt.learning_rate = lr_at(gstep)
        if lr_first is None:
            lr_first = lr_at(gstep)
        loss = step(Xtr[idx], ytr[idx])
        mx.eval(loss, net.parameters(), opt.state)
        run += loss.item()
        gstep += 1
    logits = net(Xva)
    va_ce = nn.losses.cross_entropy(logits, yva, reduction="mean").item()
    rec = {
        "epoch": epoch,
        "lr_start": float(f"{lr_first:.3g}"),
        "train_ce": round(run / STEPS_PER_EPOCH, 4),
        "val_ce": round(va_ce, 4),
        "prior_ce": round(baseline_ce, 4),
        "val_macro_f1": round(macro_f1(logits, yva), 4),
    }
    print(json.dumps(rec))

print(json.dumps({"done": True, "steps": gstep, "final_val_ce": rec["val_ce"], "vs_prior": round(rec["val_ce"] / baseline_ce, 3)}))
