"""Leaded-light restoration bench: panel condition from a few labelled surveys.

Backbone pretrained on a large 6-way weathering survey, then a new 4-way head
is fitted on 200 labelled panels with class-balanced oversampling.  The fit is
stopped after epoch 8 (end of the bench day), written to disk, and resumed in
a fresh model/optimizer the next "day".
"""
import json
import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

rng = np.random.default_rng(11)
mx.random.seed(11)
N_IN = 10
CLASSES = ["sound", "bulging", "corroded_came", "cracked_glass"]

# ---- synthetic survey readings ----------------------------------------------
W_lat = rng.normal(size=(N_IN, 6)) / np.sqrt(N_IN)


def latent(x):
    return np.tanh(x @ W_lat) + 0.3 * np.sin(2.0 * x[:, :6])


def make_source(n):
    x = rng.normal(size=(n, N_IN)).astype(np.float32)
    z = latent(x)
    y = np.argmax(z + 0.25 * rng.normal(size=z.shape), axis=1)
    return x, y


V_tgt = rng.normal(size=(6, 4)) * 2.0
PRIOR = np.log(np.array([0.62, 0.22, 0.11, 0.05]))


def make_target(n):
    x = rng.normal(size=(n, N_IN)).astype(np.float32)
    s = latent(x) @ V_tgt
    s = s - s.mean(0) + PRIOR
    g = rng.gumbel(size=s.shape) * 0.5
    return x, np.argmax(s + g, axis=1)


class Backbone(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(N_IN, 64)
        self.l2 = nn.Linear(64, 64)

    def __call__(self, x):
        return nn.gelu(self.l2(nn.gelu(self.l1(x))))


class Panel(nn.Module):
    def __init__(self, n_out):
        super().__init__()
        self.backbone = Backbone()
        self.head = nn.Linear(64, n_out)

    def __call__(self, x):
        return self.head(self.backbone(x))


def ce(m, x, y):
    return nn.losses.cross_entropy(m(x), y, reduction="mean")


def macro_f1(pred, y, k):
    f1s, rec = [], []
    for c in range(k):
        tp = np.sum((pred == c) & (y == c))
        fp = np.sum((pred == c) & (y != c))
        fn = np.sum((pred != c) & (y == c))
        p = tp / (tp + fp) if tp + fp else 0.0
        r = tp / (tp + fn) if tp + fn else 0.0
        f1s.append(2 * p * r / (p + r) if p + r else 0.0)
        rec.append(r)
    return float(np.mean(f1s)), rec


# ---- stage 0: source pretraining (6-way weathering survey) -------------------
xs, ys = make_source(6000)
src = Panel(6)
opt0 = optim.Adam(learning_rate=2e-3)
vg0 = nn.value_and_grad(src, ce)
t0 = time.time()
for ep in range(4):
    perm = rng.permutation(len(xs))
    run = []
    for i in range(0, len(xs), 128):
        idx = perm[i:i + 128]
        loss, g = vg0(src, mx.array(xs[idx]), mx.array(ys[idx]))
        opt0.update(src, g)
        mx.eval(src.parameters(), opt0.state, loss)
        run.append(loss.item())
print(f"[source] 4 epochs on {len(xs)} survey rows | last-epoch ce {np.mean(run):.3f} "
      f"| {time.time() - t0:.1f}s")

# ---- target data --------------------------------------------------------------
xt, yt = make_target(200)
xv, yv = make_target(800)
counts = np.bincount(yt, minlength=4)
print("[target] labelled panels per class: " +
      ", ".join(f"{c}={n}" for c, n in zip(CLASSES, counts)))
maj = int(np.argmax(counts))
maj_f1, _ = macro_f1(np.full_like(yv, maj), yv, 4)
print(f"[target] majority-class reference on valid: acc {np.mean(yv == maj):.3f} "
      f"macro-F1 {maj_f1:.3f}")

# class-balanced oversampling: every class drawn equally often
samp_w = (1.0 / counts)[yt]
samp_w = samp_w / samp_w.sum()
EPOCH_DRAWS, BS, EPOCHS, STOP_AT = 192, 24, 20, 8
WARM = 40


def build():
    m = Panel(4)
    m.backbone.update(src.backbone.parameters())
    m.freeze()
    m.head.unfreeze()
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, 2e-2, WARM), optim.cosine_decay(2e-2, 160, 1e-3)],
        [WARM])
    return m, optim.Adam(learning_rate=sched)


def evaluate(m):
    logits = m(mx.array(xv))
    vloss = nn.losses.cross_entropy(logits, mx.array(yv), reduction="mean").item()
    pred = np.array(mx.argmax(logits, axis=1))
    f1, rec = macro_f1(pred, yv, 4)
    return vloss, float(np.mean(pred == yv)), f1, rec


def run_epochs(m, opt, first, last, draw_rng):
    vg = nn.value_and_grad(m, ce)
    for ep in range(first, last + 1):
        idx_all = draw_rng.choice(len(xt), size=EPOCH_DRAWS, replace=True, p=samp_w)
        tl = []
        for i in range(0, EPOCH_DRAWS, BS):
            idx = idx_all[i:i + BS]
            loss, g = vg(m, mx.array(xt[idx]), mx.array(yt[idx]))
            opt.update(m, g)
            mx.eval(m.parameters(), opt.state, loss)
            tl.append(loss.item())
        vloss, acc, f1, rec = evaluate(m)
        lr = opt.learning_rate.item()
        print(f"ep {ep:2d} | step {opt.step.item():3d} | lr {lr:.4f} | balanced-draw ce {np.mean(tl):.3f} "
              f"| valid ce {vloss:.3f} | acc {acc:.3f} | macro-F1 {f1:.3f} "
              f"| recall " + " ".join(f"{r:.2f}" for r in rec))


model, opt = build()
n_tr = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
n_all = sum(v.size for _, v in tree_flatten(model.parameters()))
print(f"[fit] trainable {n_tr} of {n_all} parameters (backbone frozen)")
vloss, acc, f1, rec = evaluate(model)
print(f"ep  0 | step   0 | untrained head | valid ce {vloss:.3f} | acc {acc:.3f} | macro-F1 {f1:.3f}")
draw_rng = np.random.default_rng(5)
run_epochs(model, opt, 1, STOP_AT, draw_rng)

with tempfile.TemporaryDirectory() as d:
    model.save_weights(os.path.join(d, "panel.safetensors"))
    mx.save_safetensors(os.path.join(d, "opt.safetensors"), dict(tree_flatten(opt.state)))
    with open(os.path.join(d, "rng.json"), "w") as f:
        json.dump(draw_rng.bit_generator.state, f)
    before = evaluate(model)[0]
    del model, opt
    print(f"[bench closed] checkpoint written after epoch {STOP_AT}")

    model, opt = build()
    model.load_weights(os.path.join(d, "panel.safetensors"), strict=True)
    opt.init(model.trainable_parameters())
    opt.state = tree_unflatten(list(mx.load(os.path.join(d, "opt.safetensors")).items()))
    draw_rng = np.random.default_rng()
    with open(os.path.join(d, "rng.json")) as f:
        draw_rng.bit_generator.state = json.load(f)
    after = evaluate(model)[0]
    print(f"[bench reopened] step {opt.step.item()} restored, valid ce before/after "
          f"{before:.4f}/{after:.4f}")

run_epochs(model, opt, STOP_AT + 1, EPOCHS, draw_rng)
vloss, acc, f1, rec = evaluate(model)
drift = max(float(mx.abs(a - b).max().item()) for (_, a), (_, b) in
            zip(tree_flatten(model.backbone.parameters()), tree_flatten(src.backbone.parameters())))
print(f"[done] valid acc {acc:.3f} macro-F1 {f1:.3f} (majority ref {np.mean(yv == maj):.3f} / "
      f"{maj_f1:.3f}) | backbone drift {drift:.1e}")
