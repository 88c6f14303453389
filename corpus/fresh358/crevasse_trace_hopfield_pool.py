"""Glacier GPR survey: does a transect (a variable-size bag of radar traces)
cross a hidden void?  Traces are summarised as 10 synthetic features; a void
shows up in only 1-3 traces of a bag, so the bag label is decided by a rare
instance.  The bag is read with Hopfield pooling: a learned state pattern is
updated twice against the stored trace patterns (keys) with a learned
inverse temperature, then the retrieved value vector feeds a logit head.

Curriculum: stage A uses short transects with a strong echo, stage B long
transects with a weaker echo, so the loss steps up at the switch on purpose.
"""
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

SEED = 7
FEAT = 10
HID = 32
KEY = 16
MAX_LEN = 24
BATCH = 64
STEPS_A = 300
STEPS_B = 400
PEAK_LR = 3e-3
WARMUP = 60

rng = np.random.default_rng(SEED)
mx.random.seed(SEED)

echo_dir = rng.normal(size=FEAT)
echo_dir /= np.linalg.norm(echo_dir)
clutter_dir = rng.normal(size=FEAT)
clutter_dir -= clutter_dir.dot(echo_dir) * echo_dir
clutter_dir /= np.linalg.norm(clutter_dir)


def make_bags(n, lo, hi, strength):
    x = np.zeros((n, MAX_LEN, FEAT), dtype=np.float32)
    mask = np.zeros((n, MAX_LEN), dtype=bool)
    y = np.zeros(n, dtype=np.float32)
    hot = np.zeros((n, MAX_LEN), dtype=bool)
    for i in range(n):
        L = int(rng.integers(lo, hi + 1))
        t = rng.normal(scale=1.0, size=(L, FEAT))
        # firn layering: every trace carries a shared slope term
        t += rng.normal(scale=0.6) * np.linspace(-1, 1, FEAT)
        # clutter (boulders) appears in both classes
        nc = int(rng.integers(0, 4))
        if nc:
            idx = rng.choice(L, nc, replace=False)
            t[idx] += 2.2 * clutter_dir
        if rng.random() < 0.5:
            y[i] = 1.0
            k = int(rng.integers(1, 4))
            idx = rng.choice(L, k, replace=False)
            t[idx] += strength * echo_dir
            hot[i, idx] = True
        x[i, :L] = t
        mask[i, :L] = True
    return x, mask, y, hot


class HopfieldPooling(nn.Module):
    def __init__(self, dim, key_dim, n_updates=2):
        super().__init__()
        self.to_key = nn.Linear(dim, key_dim)
        self.to_value = nn.Linear(dim, key_dim)
        self.query_pattern = 0.1 * mx.random.normal((1, key_dim))
        self.log_beta = mx.array([math.log(1.0 / math.sqrt(key_dim))])
        self.n_updates = n_updates

    def attend(self, xi, keys, mask):
        beta = mx.exp(self.log_beta)
        scores = beta * (keys @ xi[:, :, None])[..., 0]
        scores = mx.where(mask, scores, -1e9)
        return mx.softmax(scores, axis=-1)

    def __call__(self, h, mask):
        keys = self.to_key(h)
        values = self.to_value(h)
        xi = mx.broadcast_to(self.query_pattern, (h.shape[0], self.query_pattern.shape[1]))
        for _ in range(self.n_updates):
            p = self.attend(xi, keys, mask)
            xi = (p[:, None, :] @ keys)[:, 0, :]
        p = self.attend(xi, keys, mask)
        pooled = (p[:, None, :] @ values)[:, 0, :]
        return pooled, p


class TransectNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc = nn.Sequential(nn.Linear(FEAT, HID), nn.GELU(), nn.Linear(HID, HID), nn.GELU())
        self.pool = HopfieldPooling(HID, KEY)
        self.head = nn.Linear(KEY, 1)

    def __call__(self, x, mask):
        pooled, p = self.pool(self.enc(x), mask)
        return self.head(pooled)[:, 0], p


def loss_fn(model, x, mask, y):
    logit, _ = model(x, mask)
    return nn.losses.binary_cross_entropy(logit, y, with_logits=True, reduction="mean")


def evaluate(model, data):
    x, mask, y, hot = data
    logit, p = model(mx.array(x), mx.array(mask))
    loss = nn.losses.binary_cross_entropy(logit, mx.array(y), with_logits=True, reduction="mean")
    acc = mx.mean((logit > 0) == (mx.array(y) > 0.5))
    pos = y > 0.5
    p_np = np.array(p)
    echo_mass = float((p_np * hot).sum(axis=1)[pos].mean())
    return loss.item(), acc.item(), echo_mass


model = TransectNet()
mx.eval(model.parameters())
total = STEPS_A + STEPS_B
schedule = optim.join_schedules(
    [optim.linear_schedule(0.0, PEAK_LR, WARMUP), optim.cosine_decay(PEAK_LR, total - WARMUP, 1e-4)],
    [WARMUP],
)
opt = optim.Adam(learning_rate=schedule)
step_fn = nn.value_and_grad(model, loss_fn)

val_a = make_bags(800, 8, 12, 2.6)
val_b = make_bags(800, 16, 24, 1.9)
majority = max(val_b[2].mean(), 1 - val_b[2].mean())
print(f"bags: val_A 800 (8-12 traces), val_B 800 (16-24 traces); majority baseline acc on B = {majority:.3f}")

t0 = time.time()
step = 0
for stage, (n_steps, lo, hi, strength) in (("A", (STEPS_A, 8, 12, 2.6)), ("B", (STEPS_B, 16, 24, 1.9))):
    print(f"-- stage {stage}: transects of {lo}-{hi} traces, echo strength {strength}")
    window = []
    for _ in range(n_steps):
        x, mask, y, _ = make_bags(BATCH, lo, hi, strength)
        lr_now = schedule(opt.step).item()
        loss, grads = step_fn(model, mx.array(x), mx.array(mask), mx.array(y))
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        window.append(loss.item())
        step += 1
        if step % 50 == 0 or step == 1:
            vl, va, em = evaluate(model, val_b)
            beta = math.exp(model.pool.log_beta.item())
            print(f"step {step:4d}  lr {lr_now:.2e}  train_bce {np.mean(window):.4f}  "
                  f"valB_bce {vl:.4f}  valB_acc {va:.3f}  echo_attn {em:.2f}  beta {beta:.3f}")
            window = []

la, aa, ema = evaluate(model, val_a)
lb, ab, emb = evaluate(model, val_b)
print(f"final  val_A acc {aa:.3f} (bce {la:.4f}, echo attention {ema:.2f})")
print(f"final  val_B acc {ab:.3f} (bce {lb:.4f}, echo attention {emb:.2f})  vs majority {majority:.3f}")
print(f"done in {time.time() - t0:.1f}s")
