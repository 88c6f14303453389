"""Change ringing: which striking fault a tower's recorded row shows.

Four classes from 12 inter-blow gaps of a 12-bell row (even / late treble /
clashing pair / odd-struck backstroke).  The run is split into two sessions:
session one trains 600 steps and writes a checkpoint (weights, optimizer
state, step) every 100 steps; session two builds a fresh model and optimizer,
resumes from the newest checkpoint and trains to step 1200.  At the end the
last five checkpoints are averaged uniformly into one model.
"""
import json
import math
import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map, tree_unflatten

rng = np.random.default_rng(20247)
mx.random.seed(20247)

N_BELLS = 12
CLASSES = ["even", "late_treble", "clash", "odd_backstroke"]


def make_rows(n):
    y = rng.integers(0, 4, n)
    gaps = rng.normal(1.0, 0.07, (n, N_BELLS))
    for i in range(n):
        if y[i] == 1:
            gaps[i, 0] += rng.uniform(0.15, 0.45)
            gaps[i, 1] -= rng.uniform(0.05, 0.25)
        elif y[i] == 2:
            j = rng.integers(1, N_BELLS - 1)
            gaps[i, j] -= rng.uniform(0.3, 0.6)
            gaps[i, j + 1] += rng.uniform(0.0, 0.3)
        elif y[i] == 3:
            gaps[i, 1::2] += rng.uniform(0.04, 0.14)
            gaps[i, 0::2] -= rng.uniform(0.02, 0.10)
    gaps += rng.normal(0, 0.03, (n, N_BELLS))
    return gaps.astype(np.float32), y.astype(np.int32)


x_tr, y_tr = make_rows(8000)
x_va, y_va = make_rows(2000)
m, s = x_tr.mean(0), x_tr.std(0)
X_tr, Y_tr = mx.array((x_tr - m) / s), mx.array(y_tr)
X_va, Y_va = mx.array((x_va - m) / s), mx.array(y_va)


class StrikeNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(N_BELLS, 64)
        self.l2 = nn.Linear(64, 64)
        self.drop = nn.Dropout(0.15)
        self.out = nn.Linear(64, 4)

    def __call__(self, x):
        h = self.drop(nn.gelu(self.l1(x)))
        h = self.drop(nn.gelu(self.l2(h)))
        return self.out(h)


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def evaluate(model):
    model.eval()
    logits = model(X_va)
    ce = float(nn.losses.cross_entropy(logits, Y_va, reduction="mean"))
    acc = float(mx.mean(mx.argmax(logits, -1) == Y_va))
    model.train()
    return ce, acc


TOTAL, SESSION_ONE, EVERY, BATCH = 1200, 600, 100, 128


def make_optimizer():
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, 3e-3, 80), optim.cosine_decay(3e-3, TOTAL - 80, 1e-4)],
        [80],
    )
    return optim.AdamW(learning_rate=sched, weight_decay=0.01)


def save_ckpt(folder, step, model, opt):
    model.save_weights(os.path.join(folder, f"w_{step:05d}.safetensors"))
    mx.save_safetensors(os.path.join(folder, f"o_{step:05d}.safetensors"),
                        dict(tree_flatten(opt.state)))
    with open(os.path.join(folder, "latest.json"), "w") as f:
        json.dump({"step": step}, f)


def run_steps(model, opt, start, stop, folder):
    step_fn = nn.value_and_grad(model, loss_fn)
    acc_loss, n = 0.0, 0
    for step in range(start + 1, stop + 1):
        idx = mx.array(rng.integers(0, X_tr.shape[0], BATCH))
        loss, grads = step_fn(model, X_tr[idx], Y_tr[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        acc_loss += loss.item()
        n += 1
        if step % EVERY == 0:
            ce, acc = evaluate(model)
            print(f"step {step:4d}  train_ce {acc_loss / n:.4f}  valid_ce {ce:.4f}  "
                  f"valid_logprob {-ce:.4f}  valid_acc {acc:.3f}  lr {float(opt.learning_rate):.2e}")
            acc_loss, n = 0.0, 0
            save_ckpt(folder, step, model, opt)


counts = np.bincount(y_tr, minlength=4)
print("classes:", dict(zip(CLASSES, counts.tolist())))
print(f"baselines: majority-class valid_acc {np.mean(y_va == counts.argmax()):.3f}, "
      f"uniform-guess ce {math.log(4):.4f}")

t0 = time.perf_counter()
with tempfile.TemporaryDirectory() as folder:
    # ---- session one
    model = StrikeNet()
    mx.eval(model.parameters())
    opt = make_optimizer()
    run_steps(model, opt, 0, SESSION_ONE, folder)
    del model, opt
    print("session one closed; starting session two from disk")

    # ---- session two: fresh objects, state from the newest checkpoint
    with open(os.path.join(folder, "latest.json")) as f:
        start = json.load(f)["step"]
    model = StrikeNet()
    model.load_weights(os.path.join(folder, f"w_{start:05d}.safetensors"))
    opt = make_optimizer()
    opt.state = tree_unflatten(list(mx.load(os.path.join(folder, f"o_{start:05d}.safetensors")).items()))
    mx.eval(model.parameters(), opt.state)
    ce, acc = evaluate(model)
    print(f"resumed at step {start} (optimizer step {int(opt.state['step'])}), "
          f"valid_ce {ce:.4f} valid_acc {acc:.3f}")
    run_steps(model, opt, start, TOTAL, folder)

    final_ce, final_acc = evaluate(model)

    # ---- uniform average of the last five checkpoints
    last = [os.path.join(folder, f"w_{st:05d}.safetensors") for st in range(800, TOTAL + 1, EVERY)]
    avg = None
    for path in last:
        w = tree_unflatten(list(mx.load(path).items()))
        avg = w if avg is None else tree_map(lambda a, b: a + b, avg, w)
    avg = tree_map(lambda a: a / len(last), avg)
    averaged = StrikeNet()
    averaged.update(avg)
    mx.eval(averaged.parameters())
    avg_ce, avg_acc = evaluate(averaged)

print(f"final model      valid_ce {final_ce:.4f}  valid_acc {final_acc:.3f}")
print(f"avg of last {len(last)}    valid_ce {avg_ce:.4f}  valid_acc {avg_acc:.3f}")
print(f"time {time.perf_counter() - t0:.1f}s")
