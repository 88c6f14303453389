"""Seed-bank germination triage, one plant family at a time.

Each family (legume, grass, aster) arrives as its own task with its own
3-way head (sprouts / dormant / dead).  Earlier heads are kept alive with
Learning-without-Forgetting: before a new family is trained, the current
network's answers of every older head on the new family's seeds are
recorded once and used as soft targets (temperature 2).
After each family the network is written to disk and a fresh network is
rebuilt from that file before the next family starts.
"""
import json
import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

FAMILIES = ["legume", "grass", "aster"]
N_FEAT = 9
STEPS = 450
BATCH = 64
PEAK_LR = 2e-3
WARM = 60
TEMP = 2.0
LAM = 1.0

rng = np.random.default_rng(11)


def make_family(k, n_train, n_test):
    # storage years, moisture, storage temp, seed mass, coat thickness,
    # dormancy index, light need, scarified flag, cold-stratified days
    proj = rng.normal(size=(N_FEAT, 3)).astype(np.float32)
    bend = rng.normal(size=(N_FEAT,)).astype(np.float32)
    shift = rng.normal(scale=0.5, size=(N_FEAT,)).astype(np.float32)

    def draw(n):
        X = rng.normal(size=(n, N_FEAT)).astype(np.float32) + shift
        z = X @ proj + 0.8 * np.sin(X @ bend)[:, None] * np.array([1.0, -0.5, -0.5])
        z = z + rng.normal(scale=0.6, size=z.shape)
        return X, z.argmax(1).astype(np.int32)

    return draw(n_train), draw(n_test)


DATA = [make_family(k, 2400, 800) for k in range(len(FAMILIES))]


class SeedNet(nn.Module):
    def __init__(self, n_tasks):
        super().__init__()
        self.body = nn.Sequential(
            nn.Linear(N_FEAT, 64), nn.SiLU(), nn.Linear(64, 64), nn.SiLU()
        )
        self.heads = [nn.Linear(64, 3) for _ in range(n_tasks)]

    def __call__(self, x, task):
        return self.heads[task](self.body(x))

    def all_heads(self, x):
        h = self.body(x)
        return [head(h) for head in self.heads]


def accuracy(model, task):
    X, y = DATA[task][1]
    pred = mx.argmax(model(mx.array(X), task), axis=1)
    return float(mx.mean(pred == mx.array(y)).item())


def loss_fn(model, x, y, task, soft):
    outs = model.all_heads(x)
    ce = mx.mean(nn.losses.cross_entropy(outs[task], y))
    dist = mx.array(0.0)
    for j, p_old in enumerate(soft):
        logq = outs[j] / TEMP - mx.logsumexp(outs[j] / TEMP, axis=1, keepdims=True)
        dist = dist + mx.mean(mx.sum(p_old * (mx.log(p_old + 1e-9) - logq), axis=1))
    dist = dist * TEMP * TEMP
    return ce + LAM * dist, (ce, dist)


def fmt_acc(model, upto):
    cells = []
    for k in range(len(FAMILIES)):
        cells.append(f"{100 * accuracy(model, k):5.1f}%" if k <= upto else "   -  ")
    return " | ".join(cells)


def main():
    t0 = time.time()
    ckpt_dir = tempfile.mkdtemp("_seedvault")
    majority = []
    for k in range(len(FAMILIES)):
        _, y_te = DATA[k][1]
        majority.append(100 * np.bincount(y_te, minlength=3).max() / len(y_te))
    print("seed bank triage | families:", ", ".join(FAMILIES))
    print("majority-class accuracy per family:",
          ", ".join(f"{f} {m:.1f}%" for f, m in zip(FAMILIES, majority)))

    mx.random.seed(3)
    model = SeedNet(len(FAMILIES))
    mx.eval(model.parameters())

    for task, fam in enumerate(FAMILIES):
        X, y = DATA[task][0]
        Xa = mx.array(X)
        # soft targets of every older head on this family's seeds (recorded once)
        soft_all = []
        if task > 0:
            old_outs = model.all_heads(Xa)
            soft_all = [mx.softmax(old_outs[j] / TEMP, axis=1) for j in range(task)]
            mx.eval(soft_all)

        sched = optim.join_schedules(
            [optim.linear_schedule(0.0, PEAK_LR, WARM),
             optim.cosine_decay(PEAK_LR, STEPS - WARM, 1e-4)],
            [WARM],
        )
        opt = optim.AdamW(learning_rate=sched, weight_decay=1e-4)
        step_fn = nn.value_and_grad(model, loss_fn)

        print()
        print(f"### family {task + 1}/{len(FAMILIES)}: {fam}  "
              f"({len(X)} seeds, {task} older head(s) distilled)")
        print("| step | lr | ce new | distill | " +
              " | ".join(f"acc {f}" for f in FAMILIES) + " |")
        print("|---:|---:|---:|---:|" + "---:|" * len(FAMILIES))
        run_ce, run_d, n = 0.0, 0.0, 0
        for step in range(1, STEPS + 1):
            idx = rng.integers(0, len(X), size=BATCH)
            idx_m = mx.array(idx)
            soft = [s[idx_m] for s in soft_all]
            lr_now = float(sched(opt.step).item())
            (loss, (ce, dist)), grads = step_fn(model, Xa[idx_m], mx.array(y[idx]), task, soft)
            if step == 1:
                flat = tree_flatten(grads)
                nz = sum(1 for _, g in flat if float(mx.abs(g).max().item()) > 0)
                print(f"| 1 | {lr_now:.5f} | first step: {nz}/{len(flat)} gradient leaves non-zero "
                      f"(older heads get gradient only through distillation) | | " +
                      " | ".join("" for _ in FAMILIES) + " |")
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            run_ce += float(ce.item())
            run_d += float(dist.item())
            n += 1
            if step % 90 == 0:
                print(f"| {step} | {lr_now:.5f} | {run_ce / n:.4f} | {run_d / n:.4f} | "
                      f"{fmt_acc(model, task)} |")
                run_ce, run_d, n = 0.0, 0.0, 0

        path = os.path.join(ckpt_dir, f"after_{fam}.safetensors")
        model.save_weights(path)
        with open(os.path.join(ckpt_dir, "meta.json"), "w") as f:
            json.dump({"families_done": task + 1, "file": path}, f)
        # rebuild from disk before the next family
        fresh = SeedNet(len(FAMILIES))
        fresh.load_weights(path)
        mx.eval(fresh.parameters())
        same = all(
            bool(mx.array_equal(a, b).item())
            for (_, a), (_, b) in zip(tree_flatten(model.parameters()),
                                      tree_flatten(fresh.parameters()))
        )
        model = fresh
        print(f"checkpoint {os.path.basename(path)} written and reloaded "
              f"(weights identical: {same})")

    print()
    print("final accuracy per family (majority baseline in brackets):")
    for k, fam in enumerate(FAMILIES):
        print(f"  {fam:7s} {100 * accuracy(model, k):5.1f}%  [{majority[k]:.1f}%]")
    print(f"done in {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
