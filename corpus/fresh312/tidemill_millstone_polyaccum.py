"""Tide-mill millstone dressing condition from 48-sample vibration traces.

4 classes: fresh / glazed / furrow-worn / out-of-true.
Micro-batches of 16 accumulated over 4 before each optimizer update, so the
schedule counts optimizer updates (opt.step), not micro-batches.
Learning rate: linear warm-up from exactly 0 over 25 updates, then a power-2
polynomial decay to 1e-5 at update 300; the last updates run near the floor.
"""
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

rng = np.random.default_rng(11)
mx.random.seed(11)

T = 48
CLASSES = ["fresh", "glazed", "furrow-worn", "out-of-true"]
PRIOR = np.array([0.40, 0.25, 0.20, 0.15])


def make_traces(n):
    y = rng.choice(4, size=n, p=PRIOR)
    t = np.arange(T)[None, :]
    rpm = rng.uniform(0.20, 0.32, (n, 1))
    phase = rng.uniform(0, 2 * np.pi, (n, 1))
    x = np.sin(rpm * t + phase)
    amp = rng.uniform(0.8, 1.2, (n, 1))
    x = amp * x
    # glazed: damped high harmonic
    g = (y == 1)[:, None]
    x = x + g * 0.55 * np.sin(3 * rpm * t + phase)
    # furrow-worn: periodic clicks every 8 samples
    f = (y == 2)[:, None]
    clicks = ((t + rng.integers(0, 8, (n, 1))) % 8 == 0).astype(float)
    x = x + f * 0.9 * clicks
    # out-of-true: slow wobble modulating amplitude
    o = (y == 3)[:, None]
    x = x * (1 + o * 0.6 * np.sin(0.06 * t + phase))
    x = x + rng.normal(0, 0.35, x.shape)
    return x[..., None].astype(np.float32), y.astype(np.int32)


xtr, ytr = make_traces(12000)
xva, yva = make_traces(2000)
Xtr, Ytr = mx.array(xtr), mx.array(ytr)
Xva, Yva = mx.array(xva), mx.array(yva)
majority = float(np.mean(yva == np.bincount(ytr).argmax()))


class StoneNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv1d(1, 16, kernel_size=5, padding=2)
        self.c2 = nn.Conv1d(16, 32, kernel_size=5, padding=2, stride=2)
        self.c3 = nn.Conv1d(32, 32, kernel_size=3, padding=1)
        self.head = nn.Linear(64, 4)

    def __call__(self, x):
        h = nn.gelu(self.c1(x))
        h = nn.gelu(self.c2(h))
        h = nn.gelu(self.c3(h))
        pooled = mx.concatenate([h.mean(axis=1), h.max(axis=1)], axis=-1)
        return self.head(pooled)


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


model = StoneNet()
mx.eval(model.parameters())

PEAK, FLOOR = 3e-3, 1e-5
WARM, TOTAL = 25, 300
DECAY = TOTAL - WARM


def poly2(s):
    frac = mx.minimum(s, DECAY) / DECAY
    return FLOOR + (PEAK - FLOOR) * (1.0 - frac) ** 2


schedule = optim.join_schedules([optim.linear_schedule(0.0, PEAK, WARM), poly2], [WARM])
opt = optim.AdamW(learning_rate=schedule, weight_decay=0.01)
loss_and_grad = nn.value_and_grad(model, loss_fn)

MICRO, ACCUM = 16, 4
UPDATES = 340  # 40 updates past the end of the decay, at the floor


def evaluate():
    logits = model(Xva)
    ce = float(nn.losses.cross_entropy(logits, Yva, reduction="mean"))
    acc = float(mx.mean(mx.argmax(logits, axis=-1) == Yva))
    return ce, acc


ce0, acc0 = evaluate()
print("run:")
print(f"  train: {len(ytr)}\n  valid: {len(yva)}\n  micro_batch: {MICRO}\n  accumulate: {ACCUM}")
print(f"  majority_class_acc: {majority:.4f}\n  chance_ce: {np.log(4):.4f}")
print(f"  untrained_ce: {ce0:.4f}\n  untrained_acc: {acc0:.4f}")
print("log:")

t0 = time.time()
perm = rng.permutation(len(ytr))
cursor = 0
micro_step = 0
window = []
for update in range(1, UPDATES + 1):
    acc_grads = None
    for _ in range(ACCUM):
        if cursor + MICRO > len(perm):
            perm = rng.permutation(len(ytr))
            cursor = 0
        idx = mx.array(perm[cursor:cursor + MICRO])
        cursor += MICRO
        loss, grads = loss_and_grad(model, Xtr[idx], Ytr[idx])
        acc_grads = grads if acc_grads is None else tree_map(mx.add, acc_grads, grads)
        mx.eval(acc_grads, loss)
        window.append(float(loss))
        micro_step += 1
    acc_grads = tree_map(lambda g: g / ACCUM, acc_grads)
    if update == 1:
        flat = tree_flatten(acc_grads)
        print(f"  - grad_check: {{leaves: {len(flat)}, zero: {[k for k, g in flat if float(mx.abs(g).max()) == 0.0]}}}")
    lr_used = float(opt.learning_rate)
    opt.update(model, acc_grads)
    mx.eval(model.parameters(), opt.state)
    if update in (1, 2, 5) or update % 20 == 0:
        ce, acc = evaluate()
        print(f"  - update: {update}\n    micro_step: {micro_step}\n    opt_step: {int(opt.step)}")
        print(f"    lr: {lr_used:.3e}\n    train_ce_window: {np.mean(window):.4f}")
        print(f"    valid_ce: {ce:.4f}\n    valid_acc: {acc:.4f}\n    elapsed_s: {time.time() - t0:.1f}")
        window = []

ce, acc = evaluate()
print("summary:")
print(f"  updates: {UPDATES}\n  micro_steps: {micro_step}\n  final_lr: {float(opt.learning_rate):.3e}")
print(f"  valid_ce: {ce:.4f}\n  valid_acc: {acc:.4f}\n  majority_class_acc: {majority:.4f}")
