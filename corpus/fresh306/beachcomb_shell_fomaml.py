"""Beachcombing survey: sort shells of an unseen stretch of coast into 3 kinds from 2 examples each.

First-order MAML, trained in two sessions; the second session resumes from files on disk.
"""
import os
import sys
import tempfile

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map, tree_unflatten

rng = np.random.default_rng(11)
mx.random.seed(5)
N_KINDS, F, WAY, SHOT, QRY = 40, 10, 3, 2, 10
kind_mean = rng.normal(0, 1.0, (N_KINDS, F)).astype(np.float32)
train_kinds, test_kinds = np.arange(30), np.arange(30, 40)


def beach(pool):
    kinds = rng.choice(pool, WAY, replace=False)
    wear = rng.normal(0, 0.5, F)                      # each beach weathers shells its own way
    xs, ys, xq, yq = [], [], [], []
    for lab, k in enumerate(kinds):
        s = kind_mean[k] + wear + 0.55 * rng.normal(size=(SHOT + QRY, F))
        xs.append(s[:SHOT]); xq.append(s[SHOT:])
        ys += [lab] * SHOT; yq += [lab] * QRY
    cat = lambda a: mx.array(np.concatenate(a).astype(np.float32))
    return cat(xs), mx.array(ys), cat(xq), mx.array(yq)


class Sorter(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Linear(F, 48)
        self.b = nn.Linear(48, 48)
        self.c = nn.Linear(48, WAY)

    def __call__(self, x):
        return self.c(nn.gelu(self.b(nn.gelu(self.a(x)))))


def ce(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


INNER_LR, INNER_STEPS = 0.1, 4
TOTAL, WARM, BATCH = 400, 60, 5
lr_at = optim.join_schedules([optim.linear_schedule(0.0, 1e-3, WARM),
                              optim.cosine_decay(1e-3, TOTAL - WARM, 1e-5)], [WARM])
learner = Sorter()
learner_grad = nn.value_and_grad(learner, ce)


def adapt(meta_params, xs, ys, steps=INNER_STEPS):
    learner.update(meta_params)
    for _ in range(steps):
        _, g = learner_grad(learner, xs, ys)
        learner.update(tree_map(lambda p, gp: p - INNER_LR * gp, learner.parameters(), g))


def meta_step(meta, opt):
    acc_g, pre, post = None, 0.0, 0.0
    snap = meta.parameters()
    for _ in range(BATCH):
        xs, ys, xq, yq = beach(train_kinds)
        learner.update(snap)
        pre += ce(learner, xq, yq).item()
        adapt(snap, xs, ys)
        l, g = learner_grad(learner, xq, yq)        # query gradient at adapted weights
        post += l.item()
        acc_g = g if acc_g is None else tree_map(mx.add, acc_g, g)
    opt.update(meta, tree_map(lambda v: v / BATCH, acc_g))
    mx.eval(meta.parameters(), opt.state)
    return pre / BATCH, post / BATCH


def survey(meta, n=150, steps=INNER_STEPS):
    accs = []
    for _ in range(n):
        xs, ys, xq, yq = beach(test_kinds)
        adapt(meta.parameters(), xs, ys, steps)
        accs.append((learner(xq).argmax(-1) == yq).mean().item())
    return 100 * float(np.mean(accs))


def session(first, last, ckpt_dir):
    meta = Sorter()
    opt = optim.Adam(learning_rate=lr_at)
    if first == 1:
        mx.random.seed(0)
        meta = Sorter()
        print("step,lr,pre_q_ce,post_q_ce,unseen_acc_pct", flush=True)
    else:
        meta.load_weights(os.path.join(ckpt_dir, "sorter.safetensors"))
        opt.init(meta.trainable_parameters())
        saved = dict(np.load(os.path.join(ckpt_dir, "adam.npz")))
        opt.state = tree_unflatten([(k, mx.array(v)) for k, v in saved.items()])
        print(f"# resumed at step {int(opt.state['step'].item())}", file=sys.stderr, flush=True)
    pre_w, post_w = [], []
    for s in range(first, last + 1):
        lr_now = opt.learning_rate.item()
        pre, post = meta_step(meta, opt)
        pre_w.append(pre); post_w.append(post)
        if s == 1 or s % 40 == 0:
            acc = survey(meta, 60) if s % 80 == 0 else float("nan")
            print(f"{s},{lr_now:.2e},{np.mean(pre_w):.3f},{np.mean(post_w):.3f},{acc:.1f}", flush=True)
            pre_w, post_w = [], []
    meta.save_weights(os.path.join(ckpt_dir, "sorter.safetensors"))
    np.savez(os.path.join(ckpt_dir, "adam.npz"),
             **{k: np.array(v) for k, v in tree_flatten(opt.state)})
    return meta


with tempfile.TemporaryDirectory() as d:
    print(f"# chance {100 / WAY:.1f}% ; untrained sorter after {INNER_STEPS} steps: "
          f"{survey(Sorter(), 150):.1f}%", file=sys.stderr, flush=True)
    session(1, 200, d)
    meta = session(201, TOTAL, d)
    curve = {k: survey(meta, 300, k) for k in (0, 1, 4, 8)}
    print("# unseen beaches, accuracy % by adaptation steps: "
          + " ".join(f"{k}:{v:.1f}" for k, v in curve.items()), file=sys.stderr, flush=True)
