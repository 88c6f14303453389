"""Gibbon field-recorder phrase tagger.

Synthetic 24-frame x 16-band log-spectrogram patches from canopy recorders,
5 phrase types: background, male coda, female great call, duet, alarm hoot.
Small Conv1d over time. Linear warmup from 0, cosine with one warm restart,
label smoothing, checkpoint + resume into a fresh model/optimizer.
"""
import math
import os
import tempfile

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

T, B, K = 24, 16, 5
NAMES = ["background", "male_coda", "great_call", "duet", "alarm"]
rng = np.random.default_rng(7)


def make_patch(label, r):
    x = r.normal(0.0, 0.6, size=(T, B))  # canopy noise floor
    x += np.linspace(0.8, -0.4, B)[None, :]  # rain/insect tilt
    t = np.arange(T)
    if label in (1, 3):  # male coda: short rising notes, low bands
        for s in range(r.integers(2, 4)):
            c = r.integers(2, T - 3)
            band = 3 + s + r.integers(0, 2)
            x[c:c + 2, band:band + 2] += 2.0
    if label in (2, 3):  # female great call: long upward sweep
        start = r.integers(0, 6)
        for k in range(14):
            f = min(B - 1, 4 + int(k * 0.8) + r.integers(0, 2))
            if start + k < T:
                x[start + k, f] += 2.2
    if label == 4:  # alarm hoot: repeated broadband pulses
        ph = r.integers(0, 4)
        x[(t + ph) % 4 == 0, 2:12] += 1.6
    return x.astype(np.float32)


def make_set(n, seed):
    r = np.random.default_rng(seed)
    y = r.choice(K, size=n, p=[0.4, 0.15, 0.15, 0.2, 0.1])
    X = np.stack([make_patch(int(v), r) for v in y])
    noisy = r.random(n) < 0.08  # annotator disagreement
    y_obs = np.where(noisy, r.integers(0, K, size=n), y)
    return X, y_obs.astype(np.int32)


class PhraseTagger(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv1d(B, 32, kernel_size=5, padding=2)
        self.c2 = nn.Conv1d(32, 32, kernel_size=5, padding=2)
        self.head = nn.Linear(64, K)

    def __call__(self, x):
        h = nn.gelu(self.c1(x))
        h = nn.gelu(self.c2(h))
        pooled = mx.concatenate([h.mean(axis=1), h.max(axis=1)], axis=-1)
        return self.head(pooled)


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, label_smoothing=0.1).mean()


def evaluate(model, X, y):
    logits = model(mx.array(X))
    loss = nn.losses.cross_entropy(logits, mx.array(y)).mean()
    acc = (mx.argmax(logits, axis=-1) == mx.array(y)).astype(mx.float32).mean()
    return loss.item(), acc.item()


def lr_at(step, total, warm=40, peak=2e-3):
    # linear warmup from exactly 0, then cosine with one restart at half
    if step < warm:
        return peak * step / warm
    half = total // 2
    s = step - warm if step < half else step - half
    span = (half - warm) if step < half else (total - half)
    return 0.5 * peak * (1 + math.cos(math.pi * s / span))


Xtr, ytr = make_set(6000, 1)
Xva, yva = make_set(1000, 2)
maj = np.bincount(ytr, minlength=K).argmax()
print(f"train {len(ytr)}  val {len(yva)}  classes {NAMES}")
print(f"majority-class baseline val acc {np.mean(yva == maj):.3f}  chance {1/K:.3f}")

TOTAL, BS = 360, 64
ckpt_dir = tempfile.mkdtemp()
wpath = os.path.join(ckpt_dir, "model.safetensors")
opath = os.path.join(ckpt_dir, "opt.safetensors")


def run(model, opt, start, stop, seed):
    r = np.random.default_rng(seed)
    step_fn = nn.value_and_grad(model, loss_fn)
    for step in range(start, stop):
        opt.learning_rate = lr_at(step, TOTAL)
        idx = r.integers(0, len(ytr), size=BS)
        loss, grads = step_fn(model, mx.array(Xtr[idx]), mx.array(ytr[idx]))
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        if step % 40 == 0 or step == stop - 1:
            vl, va = evaluate(model, Xva, yva)
            print(f"step {step:4d}  lr {lr_at(step, TOTAL):.2e}  train_ce {loss.item():.4f}"
                  f"  val_ce {vl:.4f}  val_acc {va:.3f}")


mx.random.seed(0)
model = PhraseTagger()
opt = optim.AdamW(learning_rate=0.0, weight_decay=1e-4)
mx.eval(model.parameters())
run(model, opt, 0, TOTAL // 2 + 20, seed=11)

# checkpoint, then continue in a fresh process-like setup
model.save_weights(wpath)
mx.save_safetensors(opath, dict(tree_flatten(opt.state)))
before = evaluate(model, Xva, yva)
print(f"saved checkpoint at step {TOTAL // 2 + 20}: val_ce {before[0]:.4f} val_acc {before[1]:.3f}")

mx.random.seed(123)
model2 = PhraseTagger()
model2.load_weights(wpath)
opt2 = optim.AdamW(learning_rate=0.0, weight_decay=1e-4)
opt2.state = tree_unflatten(list(mx.load(opath).items()))
after = evaluate(model2, Xva, yva)
print(f"resumed: val_ce {after[0]:.4f} val_acc {after[1]:.3f}  (diff {abs(after[0]-before[0]):.2e})")
run(model2, opt2, TOTAL // 2 + 20, TOTAL, seed=12)

vl, va = evaluate(model2, Xva, yva)
pred = np.array(mx.argmax(model2(mx.array(Xva)), axis=-1))
print(f"final val_ce {vl:.4f}  val_acc {va:.3f}  (majority {np.mean(yva == maj):.3f})")
for k, n in enumerate(NAMES):
    m = yva == k
    print(f"  {n:11s} n={m.sum():4d}  recall {np.mean(pred[m] == k):.3f}")
