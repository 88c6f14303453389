# Frame-level voice-activity detector on synthetic 16-band energy frames.
# Linear warm-up from exactly 0, early stopping with best-weight restore, F1 beside an all-speech baseline.
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(3)
T, B = 40, 16

def clip(n):
    lab = np.zeros((n, T), np.float32)
    for i in range(n):
        t = 0
        while t < T:
            seg = rng.integers(3, 9)
            lab[i, t:t + seg] = rng.random() < 0.45
            t += seg
    band = np.linspace(0, 1, 16)
    speech = np.exp(-((band - 0.3) ** 2) / 0.02)
    x = rng.normal(0, 0.6, (n, T, 16)) + lab[..., None] * speech * 0.9
    return x.astype(np.float32), lab

xtr, ytr = clip(480)
xva, yva = clip(160)

class VAD(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv1d(16, 32, 5, padding=2)
        self.c2 = nn.Conv1d(32, 32, 5, padding=2)
        self.head = nn.Linear(32, 1)
    def __call__(self, x):
        h = nn.gelu(self.c1(x))
        h = nn.gelu(self.c2(h)) + h
        return self.head(h).squeeze(-1)

def loss_fn(m, x, y):
    return nn.losses.binary_cross_entropy(m(x), y, with_logits=True, reduction="mean")

def f1(m, x, y):
    p = (m(mx.array(x)) > 0).astype(mx.float32)
    y = mx.array(y)
    tp = (p * y).sum(); fp = (p * (1 - y)).sum(); fn = ((1 - p) * y).sum()
    return (2 * tp / mx.maximum(2 * tp + fp + fn, 1)).item()

base_f1 = 2 * yva.mean() / (1 + yva.mean())
mx.random.seed(3)
model = VAD()
steps_per_epoch = len(xtr) // B
sched = optim.join_schedules([optim.linear_schedule(0.0, 2e-3, steps_per_epoch), optim.cosine_decay(2e-3, 20 * steps_per_epoch, 1e-4)], [steps_per_epoch])
opt = optim.AdamW(learning_rate=sched, weight_decay=1e-2)
lvg = nn.value_and_grad(model, loss_fn)
best, best_w, patience, bad = -1.0, None, 3, 0
print(f"all-speech baseline F1 {base_f1:.3f}")
print("epoch | lr_start | train_bce | val_bce | val_F1")
for ep in range(20):
    lr0 = opt.learning_rate.item()
    perm = rng.permutation(len(xtr)); tl = []
    for i in range(steps_per_epoch):
        idx = perm[i * B:(i + 1) * B]
        l, g = lvg(model, mx.array(xtr[idx]), mx.array(ytr[idx]))
        opt.update(model, g); mx.eval(model.parameters(), opt.state)
        tl.append(l.item())
    vl = loss_fn(model, mx.array(xva), mx.array(yva)).item()
    vf = f1(model, xva, yva)
    print(f"{ep:5d} | {lr0:.2e} | {np.mean(tl):.4f} | {vl:.4f} | {vf:.3f}")
    if vf > best + 1e-3:
        best, bad = vf, 0
        best_w = [(k, mx.array(v)) for k, v in tree_flatten(model.parameters())]
    else:
        bad += 1
        if bad >= patience:
            print(f"no F1 gain for {patience} epochs, stopping at epoch {ep}")
            break
model.load_weights(best_w)
print(f"restored best weights: val F1 {f1(model, xva, yva):.3f} (baseline {base_f1:.3f})")
