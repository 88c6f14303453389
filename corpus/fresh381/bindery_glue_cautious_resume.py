"""Bookbindery: classify how a glued spine joint ends up after a flex test.

Classes: sound / edge lift / spine crack / delamination (imbalanced).
Optimizer: hand-written Cautious AdamW (update components whose sign disagrees
with the current gradient are masked out, the rest rescaled).  The run is done
in two sittings: the first writes weights + optimizer state to disk, the second
rebuilds everything from those files, then the cosine schedule warm-restarts at a
lower peak.
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
from mlx.utils import tree_flatten, tree_unflatten

rng = np.random.default_rng(2024)
mx.random.seed(2024)
CLASSES = ["sound", "edge_lift", "spine_crack", "delam"]


def make_joints(n):
    z = rng.normal(size=(n, 10)).astype(np.float32)
    # glue viscosity, open time, press bar, press minutes, paper grain angle,
    # board thickness, humidity, spine width, flex cycles, glue age
    score = np.stack([
        0.6 * z[:, 0] + 0.8 * z[:, 3] - 0.3 * z[:, 6],
        -0.9 * z[:, 1] + 0.7 * z[:, 6] + 0.4 * z[:, 9],
        0.9 * z[:, 4] * z[:, 8] + 0.5 * z[:, 7] - 0.4 * z[:, 5],
        1.0 * z[:, 2] * (z[:, 2] < 0) + 0.8 * z[:, 9] + 0.5 * np.abs(z[:, 6]),
    ], 1)
    score += np.array([1.4, 0.2, -0.1, -0.5])
    score += rng.gumbel(size=score.shape) * 0.9
    y = score.argmax(1)
    return z, y.astype(np.int32)


xtr, ytr = make_joints(8000)
xva, yva = make_joints(2000)
Xtr, Ytr, Xva, Yva = map(mx.array, (xtr, ytr, xva, yva))
prior = np.bincount(ytr, minlength=4) / len(ytr)
prior_ce = float(-(prior * np.log(prior)).sum())
majority = float((yva == prior.argmax()).mean())


class CautiousAdamW(optim.Optimizer):
    def __init__(self, learning_rate, betas=(0.9, 0.98), eps=1e-8, weight_decay=0.01):
        super().__init__()
        self._maybe_schedule("learning_rate", learning_rate)
        self.betas = betas
        self.eps = eps
        self.weight_decay = weight_decay

    def init_single(self, parameter, state):
        state["m"] = mx.zeros_like(parameter)
        state["v"] = mx.zeros_like(parameter)

    def apply_single(self, gradient, parameter, state):
        lr = self.learning_rate.astype(gradient.dtype)
        b1, b2 = self.betas
        t = self.step.astype(mx.float32)
        m = b1 * state["m"] + (1 - b1) * gradient
        v = b2 * state["v"] + (1 - b2) * mx.square(gradient)
        state["m"], state["v"] = m, v
        u = (m / (1 - b1 ** t)) / (mx.sqrt(v / (1 - b2 ** t)) + self.eps)
        mask = (u * gradient > 0).astype(u.dtype)
        mask = mask * (mask.size / (mask.sum() + 1.0))
        return parameter * (1 - lr * self.weight_decay) - lr * u * mask


class JointNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.inp = nn.Linear(10, 96)
        self.mid = nn.Linear(96, 96)
        self.out = nn.Linear(96, 4)

    def __call__(self, x):
        h = nn.gelu(self.inp(x))
        h = h + nn.gelu(self.mid(h))
        return self.out(h)


CYCLE = 900
schedules = [optim.cosine_decay(3e-3, CYCLE, end=1e-4),
             optim.cosine_decay(1e-3, CYCLE, end=1e-5)]


def lr_for(step):                     # cosine, warm restart at a lower peak after CYCLE steps
    return schedules[min((step - 1) // CYCLE, 1)](mx.array((step - 1) % CYCLE))


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def evaluate(model):
    logits = model(Xva)
    ce = float(nn.losses.cross_entropy(logits, Yva, reduction="mean"))
    acc = float((logits.argmax(1) == Yva).mean())
    return ce, acc


def report(tag, step, model, window):
    ce, acc = evaluate(model)
    tr = sum(window) / max(len(window), 1)
    print(f"[{tag}] step {step:5d}  train ce {tr:.4f}  val ce-minus-prior {ce - prior_ce:+.4f} nats"
          f"  val acc {100 * acc:5.1f}%  (majority {100 * majority:.1f}%)")


def run(model, opt, start, stop, tag, quiet_until):
    lg = nn.value_and_grad(model, loss_fn)
    window = []
    for step in range(start, stop + 1):
        idx = mx.array(rng.integers(0, len(ytr), 128))
        opt.learning_rate = lr_for(step)
        loss, grads = lg(model, Xtr[idx], Ytr[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        window.append(loss.item())
        if step in (1, 50) or (step > quiet_until and step % 300 == 0) or step == stop:
            report(tag, step, model, window)
            window = []


print(f"bindery joints: train {len(ytr)} val {len(yva)}  class shares "
      + " ".join(f"{c}={100 * p:.1f}%" for c, p in zip(CLASSES, prior)))
print(f"prior entropy {prior_ce:.4f} nats (ce-minus-prior below 0 means better than the prior)")
t0 = time.time()

model = JointNet()
mx.eval(model.parameters())
opt = CautiousAdamW(learning_rate=3e-3, weight_decay=0.01)
# first sitting: quiet between step 50 and step 600
run(model, opt, 1, CYCLE, "sitting-1", quiet_until=600)
ref_ce, ref_acc = evaluate(model)

with tempfile.TemporaryDirectory() as d:
    model.save_weights(os.path.join(d, "joint.safetensors"))
    mx.save_safetensors(os.path.join(d, "opt.safetensors"), dict(tree_flatten(opt.state)))
    with open(os.path.join(d, "meta.json"), "w") as f:
        json.dump({"step": CYCLE}, f)
    del model, opt

    model = JointNet()
    model.load_weights(os.path.join(d, "joint.safetensors"))
    opt = CautiousAdamW(learning_rate=3e-3, weight_decay=0.01)
    opt.init(model.trainable_parameters())
    opt.state = tree_unflatten(list(mx.load(os.path.join(d, "opt.safetensors")).items()))
    with open(os.path.join(d, "meta.json")) as f:
        resume_at = json.load(f)["step"] + 1
mx.eval(model.parameters(), opt.state)
ce2, acc2 = evaluate(model)
print(f"resume check: val ce {ce2:.5f} (before save {ref_ce:.5f}), optimizer step counter "
      f"{int(opt.state['step'].item())}, lr restarts at {lr_for(resume_at).item():.1e}")
run(model, opt, resume_at, 2 * CYCLE, "sitting-2", quiet_until=resume_at + 300)
ce, acc = evaluate(model)
print(f"done in {time.time() - t0:.1f}s: val acc {100 * acc:.1f}% vs majority {100 * majority:.1f}%, "
      f"val ce {ce:.4f} vs prior {prior_ce:.4f}")
