"""Shop catalogue: route product titles to one of 4 aisles with a character CNN.

Aisles are imbalanced (55/25/15/5 %).  Training draws class-BALANCED minibatches,
so the running train loss is measured on a different class mix than the
validation set (natural mix).  The learning rate follows a step schedule that
RESTARTS at epoch 5, and the run is checkpointed after epoch 3 and resumed from
disk into a fresh model and optimizer.
"""
import os
import shutil
import random
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

random.seed(7); np.random.seed(7); mx.random.seed(7)

AISLES = ["hardware", "garden", "kitchen", "toys"]
SHARE = [0.55, 0.25, 0.15, 0.05]
STEMS = {
    "hardware": ["bolt", "hinge", "drill", "wrench", "clamp", "rivet", "socket", "chisel"],
    "garden": ["hose", "trowel", "seedling", "rake", "mulch", "planter", "shears", "compost"],
    "kitchen": ["whisk", "skillet", "ladle", "kettle", "colander", "grater", "teapot", "spatula"],
    "toys": ["puzzle", "doll", "kite", "yoyo", "blocks", "marble", "robot", "teddy"],
}
SHARED = ["steel", "green", "large", "mini", "pro", "set", "pack", "deluxe", "2pc", "blue", "oak"]
ALPHA = "abcdefghijklmnopqrstuvwxyz0123456789 "
CH = {c: i + 1 for i, c in enumerate(ALPHA)}
L = 40


def title(aisle):
    words = [random.choice(SHARED) for _ in range(random.randint(1, 3))]
    words.insert(random.randint(0, len(words)), random.choice(STEMS[aisle]))
    if random.random() < 0.12:       # confusable second stem from another aisle
        words.append(random.choice(STEMS[random.choice(AISLES)]))
    return " ".join(words)[:L]


def build(n):
    ys = np.random.choice(4, size=n, p=SHARE)
    xs = np.zeros((n, L), dtype=np.int32)
    for i, y in enumerate(ys):
        t = title(AISLES[y])
        if random.random() < 0.04:   # catalogue data-entry slips
            y = random.randrange(4); ys[i] = y
        xs[i, :len(t)] = [CH[c] for c in t]
    return xs, ys.astype(np.int32)


xtr, ytr = build(6000)
xva, yva = build(1500)
Xtr, Ytr, Xva, Yva = map(mx.array, (xtr, ytr, xva, yva))
cls_freq = np.bincount(ytr, minlength=4) / len(ytr)
draw_p = (1.0 / cls_freq)[ytr]; draw_p /= draw_p.sum()


class AisleCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(len(ALPHA) + 1, 16)
        self.conv = nn.Conv1d(16, 48, kernel_size=5, padding=2)
        self.head = nn.Linear(48, 4)

    def __call__(self, x):
        h = nn.relu(self.conv(self.emb(x)))            # (B, L, 48), channels last
        h = mx.where((x > 0)[..., None], h, -1e4)       # padding never wins the max
        return self.head(h.max(axis=1))


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def lr_at(epoch):                                       # epochs 1-4, restart 5-8
    e = (epoch - 1) % 4
    return 0.05 * (0.3 ** (e // 2))


def evaluate(model):
    logits = model(Xva)
    ce = loss_fn(model, Xva, Yva).item()
    pred = np.array(mx.argmax(logits, axis=1))
    acc = float((pred == yva).mean())
    rec = [float((pred[yva == k] == k).mean()) for k in range(4)]
    return ce, acc, rec


def make(state_dir=None):
    m = AisleCNN()
    o = optim.SGD(learning_rate=lr_at(1), momentum=0.9, nesterov=True)
    if state_dir is not None:
        m.load_weights(os.path.join(state_dir, "aisle.safetensors"))
        o.state = tree_unflatten(list(mx.load(os.path.join(state_dir, "opt.safetensors")).items()))
    mx.eval(m.parameters())
    return m, o


model, opt = make()
print(f"titles train {len(ytr)} valid {len(yva)} | aisle shares "
      + " ".join(f"{a}={s:.2f}" for a, s in zip(AISLES, cls_freq))
      + f" | majority-guess acc {cls_freq.max():.3f}")
ce0, acc0, _ = evaluate(model)
print(f"untrained | valid ce {ce0:.4f} | acc {acc0:.3f}")
print("epoch | lr     | balanced train ce | valid ce | valid acc | macro recall | per-aisle recall | s")

ckpt = tempfile.mkdtemp()
grad_fn = nn.value_and_grad(model, loss_fn)
t0 = time.perf_counter()
for epoch in range(1, 9):
    if epoch == 4:                                      # resume from disk
        model, opt = make(ckpt)
        grad_fn = nn.value_and_grad(model, loss_fn)
        ce_r, _, _ = evaluate(model)
        print(f"  resumed from {os.path.basename(ckpt)}: valid ce {ce_r:.4f} "
              f"(saved {saved_ce:.4f}), optimizer step {int(opt.state['step'].item())}")
    opt.learning_rate = lr_at(epoch)
    run, nb = 0.0, 0
    for _ in range(len(ytr) // 96):
        ids = mx.array(np.random.choice(len(ytr), size=96, p=draw_p))
        loss, grads = grad_fn(model, Xtr[ids], Ytr[ids])
        if epoch == 1 and nb == 0:
            leaves = tree_flatten(grads)
            zero = [k for k, g in leaves if float(mx.abs(g).max().item()) == 0.0]
            print(f"  gradient leaves {len(leaves)}, all-zero leaves {zero if zero else 'none'}")
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        run += loss.item(); nb += 1
    ce, acc, rec = evaluate(model)
    print(f"{epoch:5d} | {lr_at(epoch):.4f} | {run / nb:17.4f} | {ce:8.4f} | {acc:9.3f} | "
          f"{np.mean(rec):12.3f} | " + " ".join(f"{r:.2f}" for r in rec)
          + f" | {time.perf_counter() - t0:.1f}")
    if epoch == 3:
        model.save_weights(os.path.join(ckpt, "aisle.safetensors"))
        mx.save_safetensors(os.path.join(ckpt, "opt.safetensors"), dict(tree_flatten(opt.state)))
        saved_ce = ce
        del model, opt
shutil.rmtree(ckpt)
print("finished")
