"""Cheese ageing cave: four prediction tasks from the same wheel/cave readings.

Tasks have very different amounts of labelled wheels, so each step trains on
ONE task drawn with probability proportional to n_task ** (1 / T); T is raised
from 1 to 4 over the run so the small tasks get more turns later. The run is
paused half way (checkpoint written, everything dropped) and resumed.
"""
import json
import os
import tempfile
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten, tree_unflatten

FEATS = 7  # cave temp, humidity, days aged, turns/week, brine hours, wheel kg, salt %
TASKS = {"rind_ph": 6000, "mould": 1500, "ready": 400, "loss_pct": 120}
N_VAL = 500
TOTAL = 1600
PAUSE_AT = 800
BATCH = 48

data_rng = np.random.default_rng(3)
base = data_rng.normal(size=(FEATS,)) / np.sqrt(FEATS)


def make_task(name, n):
    w = 0.6 * base + 0.8 * data_rng.normal(size=(FEATS,)) / np.sqrt(FEATS)

    def draw(m):
        x = data_rng.normal(size=(m, FEATS)).astype(np.float32)
        s = x @ w + 0.5 * np.sin(1.5 * x[:, 2]) * x[:, 1]
        if name == "rind_ph":
            y = (s + 0.25 * data_rng.normal(size=m)).astype(np.float32)
        elif name == "mould":
            y = np.digitize(s + 0.3 * data_rng.normal(size=m), [-0.5, 0.5]).astype(np.int32)
        elif name == "ready":
            y = (data_rng.random(m) < 1 / (1 + np.exp(-2.5 * s))).astype(np.float32)
        else:
            y = (0.8 * s + 0.3 * x[:, 4] ** 2 + 0.35 * data_rng.normal(size=m)).astype(np.float32)
        return x, y

    return draw(n) + draw(N_VAL)


class CaveNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.trunk = nn.Sequential(nn.Linear(FEATS, 64), nn.SiLU(), nn.Linear(64, 64), nn.SiLU())
        self.heads = {"rind_ph": nn.Linear(64, 1), "mould": nn.Linear(64, 3),
                      "ready": nn.Linear(64, 1), "loss_pct": nn.Linear(64, 1)}

    def __call__(self, x, task):
        return self.heads[task](self.trunk(x))


def task_loss(model, x, y, task):
    out = model(x, task)
    if task == "mould":
        return nn.losses.cross_entropy(out, y, reduction="mean")
    if task == "ready":
        return nn.losses.binary_cross_entropy(out[:, 0], y, with_logits=True, reduction="mean")
    return nn.losses.mse_loss(out[:, 0], y, reduction="mean")


def val_metric(model, task):
    _, _, xv, yv = data[task]
    out = model(mx.array(xv), task)
    if task == "mould":
        return 100.0 * mx.mean(mx.argmax(out, 1) == mx.array(yv)).item()
    if task == "ready":
        return 100.0 * mx.mean((out[:, 0] > 0) == (mx.array(yv) > 0.5)).item()
    return mx.sqrt(mx.mean((out[:, 0] - mx.array(yv)) ** 2)).item()


def baseline(task):
    xt, yt, _, yv = data[task]
    if task == "mould":
        return 100.0 * np.mean(yv == np.bincount(yt).argmax())
    if task == "ready":
        return 100.0 * max(np.mean(yv), 1 - np.mean(yv))
    return float(np.sqrt(np.mean((yv - yt.mean()) ** 2)))


def temperature(step):
    return 1.0 + 3.0 * (step - 1) / (TOTAL - 1)


def probs(step):
    T = temperature(step)
    w = np.array([n ** (1.0 / T) for n in TASKS.values()])
    return w / w.sum()


def make_sched():
    return optim.join_schedules(
        [optim.linear_schedule(0.0, 3e-4, 100), optim.cosine_decay(3e-4, TOTAL - 100, 1e-5)], [100])


def build():
    mx.random.seed(0)
    m = CaveNet()
    o = optim.Lion(learning_rate=make_sched(), weight_decay=0.01)
    return m, o


data = {t: make_task(t, n) for t, n in TASKS.items()}
names = list(TASKS)
UNITS = {"rind_ph": "rmse", "mould": "acc%", "ready": "acc%", "loss_pct": "rmse"}

model, opt = build()
mx.eval(model.parameters())
sample_rng = np.random.default_rng(99)
ckpt_dir = tempfile.mkdtemp(prefix="cave_")
t0 = time.perf_counter()
counts = {t: 0 for t in names}
step = 1

print("cave run: one task per step, p ~ n^(1/T), T 1 -> 4; Lion, lr warm-up from 0 then cosine")
print("  baselines (mean / majority guess): " + "  ".join(
    f"{t} {baseline(t):.3f} {UNITS[t]}" for t in names))


def report(step, loss, task):
    p = probs(step)
    print(f"@ step {step:4d}  T={temperature(step):.2f}  lr={opt.learning_rate.item():.6f}  "
          f"last[{task}]={loss:.4f}  {time.perf_counter() - t0:.1f}s")
    print("    p(task)  " + "  ".join(f"{t}={q:.3f}" for t, q in zip(names, p)))
    print("    turns    " + "  ".join(f"{t}={counts[t]}" for t in names))
    print("    val      " + "  ".join(f"{t}={val_metric(model, t):.3f}{UNITS[t]}" for t in names))


while step <= TOTAL:
    if step == PAUSE_AT + 1 and not os.path.exists(os.path.join(ckpt_dir, "meta.json")):
        model.save_weights(os.path.join(ckpt_dir, "model.safetensors"))
        mx.save_safetensors(os.path.join(ckpt_dir, "opt.safetensors"), dict(tree_flatten(opt.state)))
        meta = {"step": step, "counts": counts, "rng": sample_rng.bit_generator.state}
        with open(os.path.join(ckpt_dir, "meta.json"), "w") as f:
            json.dump(meta, f)
        probe = mx.array(data["rind_ph"][2][:64])
        ref = model(probe, "rind_ph")
        mx.eval(ref)
        del model, opt
        print(f"-- paused at step {step - 1}; checkpoint in {os.path.basename(ckpt_dir)}; model and optimizer dropped")
        model, opt = build()
        model.load_weights(os.path.join(ckpt_dir, "model.safetensors"))
        opt.state = tree_unflatten(list(mx.load(os.path.join(ckpt_dir, "opt.safetensors")).items()))
        with open(os.path.join(ckpt_dir, "meta.json")) as f:
            meta = json.load(f)
        step, counts = meta["step"], meta["counts"]
        sample_rng.bit_generator.state = meta["rng"]
        diff = mx.abs(model(probe, "rind_ph") - ref).max().item()
        print(f"-- resumed at step {step}; optimizer step {opt.step.item()}; probe max |diff| {diff:.1e}")

    task = names[sample_rng.choice(len(names), p=probs(step))]
    xt, yt, _, _ = data[task]
    idx = sample_rng.integers(0, len(xt), BATCH)
    loss_and_grad = nn.value_and_grad(model, lambda m, a, b: task_loss(m, a, b, task))
    loss, grads = loss_and_grad(model, mx.array(xt[idx]), mx.array(yt[idx]))
    if step == 1:
        leaves = tree_flatten(grads)
        nz = [n for n, g in leaves if mx.abs(g).max().item() > 0]
        print(f"  step 1 ({task}): {len(nz)} of {len(leaves)} gradient leaves nonzero (other heads idle this step)")
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    counts[task] += 1
    if step == 1 or step % 200 == 0:
        report(step, loss.item(), task)
    step += 1

print("final val vs baseline:")
for t in names:
    better = "lower" if UNITS[t] == "rmse" else "higher"
    print(f"  {t:9s} {val_metric(model, t):7.3f} {UNITS[t]:5s} baseline {baseline(t):7.3f} ({better} is better)")
