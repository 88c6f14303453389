# Humpback call-type classifier: 3-fold CV over synthetic spectro-temporal frames,
# small transformer-ish encoder with learned frame positions, AdamW with warmup from 0.
import json, math, time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(7)
N_CALLS, FRAMES, BINS, KINDS = 600, 12, 10, 4

def synth_calls(n):
    y = rng.integers(0, KINDS, size=n)
    t = np.arange(FRAMES)[None, :, None]
    b = np.arange(BINS)[None, None, :]
    # each call type = a frequency sweep with its own direction / start
    start = np.array([1.0, 8.0, 3.0, 6.0])[y][:, None, None]
    slope = np.array([0.6, -0.6, 0.0, 0.25])[y][:, None, None]
    centre = start + slope * t
    x = np.exp(-0.5 * (b - centre) ** 2) + 0.35 * rng.normal(size=(n, FRAMES, BINS))
    return x.astype(np.float32), y.astype(np.int32)

X, Y = synth_calls(N_CALLS)

class CallNet(nn.Module):
    def __init__(self, d=32):
        super().__init__()
        self.inp = nn.Linear(BINS, d)
        self.pos = nn.Embedding(FRAMES, d)
        self.att = nn.MultiHeadAttention(d, 4)
        self.norm = nn.LayerNorm(d)
        self.head = nn.Linear(d, KINDS)
    def __call__(self, x):
        h = self.inp(x) + self.pos(mx.arange(x.shape[1]))
        h = self.norm(h + self.att(h, h, h))
        return self.head(h.mean(axis=1))

def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")

folds = np.array_split(rng.permutation(N_CALLS), 3)
EPOCHS, BS, PEAK = 14, 40, 3e-3
t0 = time.time()
fold_acc = []
for k in range(3):
    mx.random.seed(100 + k)
    va_idx = folds[k]
    tr_idx = np.concatenate([folds[j] for j in range(3) if j != k])
    steps_per_epoch = math.ceil(len(tr_idx) / BS)
    total = EPOCHS * steps_per_epoch
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, PEAK, 20), optim.cosine_decay(PEAK, total - 20)], [20])
    model = CallNet()
    opt = optim.AdamW(learning_rate=sched, weight_decay=0.01)
    vg = nn.value_and_grad(model, loss_fn)
    if k == 0:
        _, g0 = vg(model, mx.array(X[tr_idx[:BS]]), mx.array(Y[tr_idx[:BS]]))
        from mlx.utils import tree_flatten
        zero = [n for n, v in tree_flatten(g0) if float(mx.abs(v).sum()) == 0.0]
        print(json.dumps({"event": "grad_check", "zero_grad_params": zero}))
    step = 0
    for ep in range(1, EPOCHS + 1):
        perm = rng.permutation(tr_idx)
        tot = 0.0
        for i in range(0, len(perm), BS):
            b = perm[i:i + BS]
            lr_now = float(opt.learning_rate)
            loss, g = vg(model, mx.array(X[b]), mx.array(Y[b]))
            opt.update(model, g)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item() * len(b)
            step += 1
        pred = mx.argmax(model(mx.array(X[va_idx])), axis=1)
        acc = float((pred == mx.array(Y[va_idx])).astype(mx.float32).mean())
        if ep in (1, 2, 4, 7, 10, 14):
            print(json.dumps({"fold": k, "epoch": ep, "step": step, "lr": round(lr_now, 6),
                              "train_xent": round(tot / len(perm), 4),
                              "val_acc_pct": round(100 * acc, 1), "chance_pct": 25.0}))
    fold_acc.append(acc)
print(json.dumps({"event": "cv_summary", "fold_acc_pct": [round(100 * a, 1) for a in fold_acc],
                  "mean_pct": round(100 * float(np.mean(fold_acc)), 1),
                  "wall_s": round(time.time() - t0, 1)}))
