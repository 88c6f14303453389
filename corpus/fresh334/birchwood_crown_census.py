"""Forest-inventory lidar: tell crown forms apart (spruce cone / oak dome / poplar column)
from 40 shuffled returns per tree with a DeepSets encoder (shared point MLP, mean+max pooling).

Two stages: stage A trains on upright crowns; stage B adds random yaw and lean augmentation.
Learning rate warms up from exactly 0. The run writes a checkpoint after stage A, rebuilds
model and optimizer from disk, and continues from there.
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

N_PTS = 40
CLASSES = ["spruce", "oak", "poplar"]
STEPS_A, STEPS_B = 300, 300
WARM = 60


def crowns(rng, n, augment):
    labels = rng.integers(0, 3, size=n)
    clouds = np.zeros((n, N_PTS, 3), dtype=np.float32)
    for k in range(n):
        h = rng.uniform(0.8, 1.2)
        u = rng.uniform(0, 1, N_PTS)
        ang = rng.uniform(0, 2 * np.pi, N_PTS)
        if labels[k] == 0:      # cone: radius shrinks with height
            r = 0.45 * (1 - u) * h
        elif labels[k] == 1:    # dome: hemispherical profile
            r = 0.5 * np.sqrt(np.clip(1 - (u - 0.3) ** 2 / 0.49, 0, 1)) * h
        else:                   # column: narrow, nearly constant
            r = 0.16 * h * (1 - 0.3 * u)
        r = r * rng.uniform(0.85, 1.0, N_PTS)
        pts = np.stack([r * np.cos(ang), r * np.sin(ang), u * h], -1)
        if augment:
            yaw = rng.uniform(0, 2 * np.pi)
            lean = rng.normal(0, 0.12)
            c, s = np.cos(yaw), np.sin(yaw)
            rz = np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])
            rx = np.array([[1, 0, 0], [0, np.cos(lean), -np.sin(lean)], [0, np.sin(lean), np.cos(lean)]])
            pts = pts @ (rz @ rx).T
        pts = pts + rng.normal(0, 0.02, pts.shape)
        pts = pts[rng.permutation(N_PTS)]
        clouds[k] = pts - pts.mean(0, keepdims=True) * np.array([1, 1, 0])
    return mx.array(clouds), mx.array(labels.astype(np.int32))


class DeepSets(nn.Module):
    def __init__(self, width=48):
        super().__init__()
        self.phi = nn.Sequential(nn.Linear(3, width), nn.GELU(), nn.Linear(width, width), nn.GELU())
        self.rho = nn.Sequential(nn.Linear(2 * width, width), nn.GELU(), nn.Linear(width, 3))

    def __call__(self, x):
        f = self.phi(x)
        pooled = mx.concatenate([f.mean(axis=1), f.max(axis=1)], axis=-1)
        return self.rho(pooled)


def make_opt(total):
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, 3e-3, WARM), optim.cosine_decay(3e-3, total - WARM, 5e-5)], [WARM]
    )
    return optim.AdamW(learning_rate=sched, weight_decay=1e-4)


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def evaluate(model, x, y):
    logits = model(x)
    ce = float(nn.losses.cross_entropy(logits, y, reduction="mean"))
    acc = float(mx.mean(mx.argmax(logits, -1) == y)) * 100
    return ce, acc


def run_steps(model, opt, rng, first, last, augment, log):
    step_fn = nn.value_and_grad(model, loss_fn)
    window = []
    for step in range(first, last + 1):
        x, y = crowns(rng, 48, augment)
        loss, grads = step_fn(model, x, y)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        window.append(float(loss))
        if step in (1, 2) or step % 50 == 0:
            log(step, float(opt.learning_rate), sum(window) / len(window))
            window = []


def main():
    t0 = time.time()
    mx.random.seed(3)
    rng = np.random.default_rng(11)
    val_up = crowns(np.random.default_rng(101), 600, augment=False)
    val_aug = crowns(np.random.default_rng(202), 600, augment=True)
    prior = np.bincount(np.array(val_aug[1]), minlength=3) / 600
    print(f"classes {CLASSES}  points/tree {N_PTS}  majority-class baseline "
          f"{prior.max() * 100:.1f}%  uniform-guess CE {math.log(3):.3f}")

    model = DeepSets()
    opt = make_opt(STEPS_A + STEPS_B)
    print("| stage | step | lr | train CE | val CE upright | val acc upright | val acc leaning | s |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")

    def logger(stage):
        def log(step, lr, tr):
            cu, au = evaluate(model, *val_up)
            _, aa = evaluate(model, *val_aug)
            print(f"| {stage} | {step} | {lr:.2e} | {tr:.4f} | {cu:.4f} | {au:.1f}% | {aa:.1f}% | {time.time() - t0:.1f} |")
        return log

    cu, au = evaluate(model, *val_up)
    print(f"| init | 0 | - | - | {cu:.4f} | {au:.1f}% | {evaluate(model, *val_aug)[1]:.1f}% | 0.0 |")
    run_steps(model, opt, rng, 1, STEPS_A, False, logger("A"))

    with tempfile.TemporaryDirectory() as d:
        model.save_weights(os.path.join(d, "crowns.safetensors"))
        mx.save_safetensors(os.path.join(d, "opt.safetensors"), dict(tree_flatten(opt.state)))
        with open(os.path.join(d, "meta.json"), "w") as fh:
            json.dump({"step": STEPS_A, "val_ce": cu}, fh)
        saved_ce = evaluate(model, *val_up)[0]
        del model, opt
        model = DeepSets()
        model.load_weights(os.path.join(d, "crowns.safetensors"))
        opt = make_opt(STEPS_A + STEPS_B)
        opt.state = tree_unflatten(list(mx.load(os.path.join(d, "opt.safetensors")).items()))
        meta = json.load(open(os.path.join(d, "meta.json")))
    restored_ce = evaluate(model, *val_up)[0]
    print(f"checkpoint reloaded at step {meta['step']}: val CE {saved_ce:.4f} -> {restored_ce:.4f}, "
          f"optimizer step {int(opt.state['step'])}, next lr {float(opt.learning_rate):.2e}")

    run_steps(model, opt, rng, STEPS_A + 1, STEPS_A + STEPS_B, True, logger("B"))
    cu, au = evaluate(model, *val_up)
    ca, aa = evaluate(model, *val_aug)
    print(f"done: upright acc {au:.1f}%  leaning acc {aa:.1f}% (CE {ca:.4f}) vs majority baseline "
          f"{prior.max() * 100:.1f}%  in {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
