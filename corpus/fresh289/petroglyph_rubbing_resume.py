"""Rock-art survey: sort petroglyph rubbings into four motif families.

Synthetic 16x16 grey rubbings (NHWC, one channel): spiral, concentric rings,
zigzag band, stick figure. Rock grain, uneven rubbing pressure and small
shifts are simulated. A small CNN with BatchNorm is trained with label
smoothing, a linear warmup that starts at lr = 0, cosine decay, and the run is
checkpointed half-way and resumed into fresh objects, as a field laptop would.
"""

import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

SIZE = 16
MOTIFS = ["spiral", "rings", "zigzag", "figure"]
rng = np.random.default_rng(7)


def stamp(img, ys, xs):
    ys = np.clip(np.round(ys).astype(int), 0, SIZE - 1)
    xs = np.clip(np.round(xs).astype(int), 0, SIZE - 1)
    img[ys, xs] = 1.0


def draw(kind):
    img = np.zeros((SIZE, SIZE), np.float32)
    cy, cx = 7.5 + rng.uniform(-1.5, 1.5, 2)
    if kind == 0:  # spiral
        t = np.linspace(0, 4 * np.pi, 120)
        r = 0.45 * t + rng.uniform(0, 0.5)
        ph = rng.uniform(0, 2 * np.pi)
        stamp(img, cy + r * np.sin(t + ph), cx + r * np.cos(t + ph))
    elif kind == 1:  # concentric rings
        t = np.linspace(0, 2 * np.pi, 80)
        for r in (2.0, 4.2, 6.3)[: rng.integers(2, 4)]:
            stamp(img, cy + r * np.sin(t), cx + r * np.cos(t))
    elif kind == 2:  # zigzag band
        xs = np.linspace(1, SIZE - 2, 90)
        period = rng.uniform(3.0, 5.0)
        ys = cy + 3.0 * (2 * np.abs(((xs / period) % 1.0) - 0.5) * 2 - 1)
        stamp(img, ys, xs)
        if rng.random() < 0.5:
            stamp(img, ys + 1, xs)
    else:  # stick figure
        ys = np.linspace(cy - 5, cy + 2, 30)
        stamp(img, ys, np.full_like(ys, cx))
        a = np.linspace(-4, 4, 30)
        stamp(img, np.full_like(a, cy - 2 + rng.uniform(-1, 1)), cx + a)
        leg = np.linspace(0, 4, 20)
        stamp(img, cy + 2 + leg, cx - leg * 0.8)
        stamp(img, cy + 2 + leg, cx + leg * 0.8)
        t = np.linspace(0, 2 * np.pi, 20)
        stamp(img, cy - 6.2 + 1.2 * np.sin(t), cx + 1.2 * np.cos(t))
    pressure = rng.uniform(0.5, 1.3)
    grain = rng.normal(0.0, 0.35, (SIZE, SIZE))
    shade = np.linspace(0, rng.uniform(-0.4, 0.4), SIZE)[None, :]
    return img * pressure + grain + shade + 0.3


def make(n):
    y = rng.integers(0, 4, n)
    x = np.stack([draw(k) for k in y])[..., None]  # N H W C
    return x.astype(np.float32), y.astype(np.int32)


x_tr, y_tr = make(1280)
x_va, y_va = make(320)
mu, sd = x_tr.mean(), x_tr.std()  # statistics of the training rubbings only
x_tr = (x_tr - mu) / sd
x_va = (x_va - mu) / sd
x_tr, y_tr, x_va, y_va = map(mx.array, (x_tr, y_tr, x_va, y_va))
majority = np.bincount(np.array(y_va)).max() / len(y_va)


class MotifNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(1, 16, 3, padding=1)
        self.b1 = nn.BatchNorm(16)
        self.c2 = nn.Conv2d(16, 32, 3, padding=1)
        self.b2 = nn.BatchNorm(32)
        self.pool = nn.MaxPool2d(2, 2)
        self.head = nn.Linear(32, 4)

    def __call__(self, x):
        x = self.pool(nn.relu(self.b1(self.c1(x))))
        x = self.pool(nn.relu(self.b2(self.c2(x))))
        return self.head(x.mean(axis=(1, 2)))


BATCH, EPOCHS, WARM = 64, 6, 30
steps_per_epoch = x_tr.shape[0] // BATCH
total = EPOCHS * steps_per_epoch
peak = 3e-3


def make_optimizer():
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, peak, WARM), optim.cosine_decay(peak, total - WARM, 1e-4)],
        [WARM],
    )
    return optim.AdamW(learning_rate=sched, weight_decay=1e-4)


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, label_smoothing=0.1, reduction="mean")


def evaluate(model):
    model.eval()
    logits = model(x_va)
    acc = (mx.argmax(logits, axis=1) == y_va).mean().item()
    ce = nn.losses.cross_entropy(logits, y_va, reduction="mean").item()
    model.train()
    return acc, ce


def run_epochs(model, opt, first, last):
    step_fn = nn.value_and_grad(model, loss_fn)
    for epoch in range(first, last):
        perm = mx.array(rng.permutation(x_tr.shape[0]))
        losses = []
        for i in range(steps_per_epoch):
            idx = perm[i * BATCH:(i + 1) * BATCH]
            if epoch == 0 and i == 0:
                w_before = mx.array(model.head.weight)
            loss, grads = step_fn(model, x_tr[idx], y_tr[idx])
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state)
            losses.append(loss.item())
            if epoch == 0 and i == 0:
                moved = mx.abs(model.head.weight - w_before).max().item()
                print(f"  step 1: lr used {opt.learning_rate.item():.5f}, loss {losses[-1]:.4f}, "
                      f"max head weight change {moved:.2e}")
        acc, ce = evaluate(model)
        lr = opt.learning_rate.item()
        print(f"epoch {epoch + 1}/{EPOCHS}  train_loss(smoothed) {np.mean(losses):.4f}  "
              f"val_ce {ce:.4f}  val_acc {acc:.3f}  (majority baseline {majority:.3f})  lr {lr:.5f}")


t0 = time.time()
print(f"rubbings: train {x_tr.shape}, val {x_va.shape}, pixel mean {mu:.3f} sd {sd:.3f}")
mx.random.seed(3)
model = MotifNet()
opt = make_optimizer()
mx.eval(model.parameters())
n_params = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
print(f"MotifNet trainable parameters: {n_params}")
acc0, ce0 = evaluate(model)
print(f"before training: val_ce {ce0:.4f} val_acc {acc0:.3f}")

half = EPOCHS // 2
run_epochs(model, opt, 0, half)

ckdir = tempfile.mkdtemp(prefix="rockart_")
wpath = os.path.join(ckdir, "motifnet.safetensors")
opath = os.path.join(ckdir, "adamw_state.safetensors")
model.save_weights(wpath)
mx.save_safetensors(opath, dict(tree_flatten(opt.state)))
saved_step = opt.state["step"].item()
print(f"checkpoint written after step {saved_step}; leaving the field session")
del model, opt

model = MotifNet()
model.load_weights(wpath)
opt = make_optimizer()
opt.state = tree_unflatten(list(mx.load(opath).items()))
mx.eval(model.parameters(), opt.state)
acc_r, ce_r = evaluate(model)
print(f"resumed at step {opt.state['step'].item()}: val_ce {ce_r:.4f} val_acc {acc_r:.3f} "
      f"lr {opt.learning_rate.item():.5f}")
run_epochs(model, opt, half, EPOCHS)

acc, ce = evaluate(model)
model.eval()
pred = np.array(mx.argmax(model(x_va), axis=1))
yv = np.array(y_va)
per = "  ".join(f"{m} {np.mean(pred[yv == k] == k):.2f}" for k, m in enumerate(MOTIFS))
print(f"final val_acc {acc:.3f} val_ce {ce:.4f} | per motif: {per}")
q = np.array([0.9 + 0.1 / 4] + [0.1 / 4] * 3)
print(f"smoothed-loss floor (entropy of the smoothed target) {-(q * np.log(q)).sum():.3f} nats; "
      f"wall {time.time() - t0:.1f}s")
