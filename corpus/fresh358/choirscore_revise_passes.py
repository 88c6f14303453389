"""Choir part-book restoration: draft-and-revise with deep supervision.

A faded 32-sample pitch contour (smooth melody + smudges + dropouts) is
restored by one small refiner network applied REVISIONS times.  Pass 0
drafts from the faded contour and an all-zero guess; each later pass sees
the faded contour and the previous guess.  Every pass is supervised, and
the guess handed to the next pass goes through mx.stop_gradient
(deep supervision as in recursive-refinement models), so each pass is
trained as a one-step improver.

Half-way the run writes a checkpoint (weights + optimizer state) into a
temporary folder, throws the objects away and resumes from the files.
Output is Prometheus text exposition lines.
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

L = 32
REVISIONS = 4
BATCH = 64
TOTAL = 1600
HALF = 800
REPORT = 200
rng = np.random.default_rng(11)
mx.random.seed(11)


def contours(n):
    t = np.linspace(0, 1, L, dtype=np.float32)
    f = rng.uniform(1, 4, size=(n, 1))
    ph = rng.uniform(0, 2 * np.pi, size=(n, 1))
    clean = np.sin(2 * np.pi * f * t + ph) + 0.4 * np.sin(4 * np.pi * f * t)
    faded = clean + rng.normal(0, 0.35, size=clean.shape)
    drop = rng.random(clean.shape) < 0.15
    faded = np.where(drop, 0.0, faded)
    return mx.array(faded.astype(np.float32)), mx.array(clean.astype(np.float32))


class Refiner(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(2 * L, 128), nn.GELU(),
                                 nn.Linear(128, 128), nn.GELU(),
                                 nn.Linear(128, L))

    def __call__(self, faded, guess):
        return guess + self.net(mx.concatenate([faded, guess], axis=1))


def pass_losses(model, faded, clean):
    guess = mx.zeros_like(faded)
    out = []
    for _ in range(REVISIONS):
        guess = model(faded, guess)
        out.append(mx.mean((guess - clean) ** 2))
        guess = mx.stop_gradient(guess)
    return out


def objective(model, faded, clean):
    per = pass_losses(model, faded, clean)
    return sum(per) / REVISIONS


def prom(name, value, **labels):
    lab = ",".join(f'{k}="{v}"' for k, v in labels.items())
    lab = "{" + lab + "}" if lab else ""
    print(f"{name}{lab} {value:.6g}", flush=True)


def build():
    model = Refiner()
    mx.eval(model.parameters())
    sched = optim.cosine_decay(2e-3, TOTAL, 1e-4)
    opt = optim.AdamW(learning_rate=sched, weight_decay=1e-4)
    return model, opt


def train(model, opt, start, stop, fv, cv, t0):
    grad_fn = nn.value_and_grad(model, objective)
    acc = []
    for it in range(start + 1, stop + 1):
        f, c = contours(BATCH)
        loss, grads = grad_fn(model, f, c)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        acc.append(loss.item())
        if it % REPORT == 0:
            per = [p.item() for p in pass_losses(model, fv, cv)]
            print(f"# step {it}")
            prom("restore_train_objective", float(np.mean(acc)), step=it)
            for r, v in enumerate(per):
                prom("restore_valid_mse", v, pass_=r, step=it)
            prom("restore_seconds", time.time() - t0, step=it)
            acc = []


def main():
    t0 = time.time()
    fv, cv = contours(1000)
    naive = mx.mean((fv - cv) ** 2).item()
    print("# HELP restore_valid_mse validation MSE after each pass (lower is better)")
    print("# TYPE restore_valid_mse gauge")
    prom("restore_baseline_mse", naive, kind="faded_as_is")
    prom("restore_baseline_mse", mx.mean(cv ** 2).item(), kind="all_zero")

    model, opt = build()
    f, c = contours(BATCH)
    _, g = nn.value_and_grad(model, objective)(model, f, c)
    zero = [k for k, v in tree_flatten(g) if mx.max(mx.abs(v)).item() == 0.0]
    prom("restore_grad_zero_leaves", len(zero), leaves=len(tree_flatten(g)))

    train(model, opt, 0, HALF, fv, cv, t0)

    with tempfile.TemporaryDirectory() as d:
        model.save_weights(os.path.join(d, "refiner.safetensors"))
        mx.save_safetensors(os.path.join(d, "opt.safetensors"), dict(tree_flatten(opt.state)))
        with open(os.path.join(d, "meta.json"), "w") as fh:
            json.dump({"step": HALF}, fh)
        before = [p.item() for p in pass_losses(model, fv, cv)][-1]
        del model, opt
        model, opt = build()
        model.load_weights(os.path.join(d, "refiner.safetensors"))
        opt.state = tree_unflatten(list(mx.load(os.path.join(d, "opt.safetensors")).items()))
        with open(os.path.join(d, "meta.json")) as fh:
            start = json.load(fh)["step"]
    after = [p.item() for p in pass_losses(model, fv, cv)][-1]
    print(f"# resumed at step {start}")
    prom("restore_resume_check", abs(after - before), what="last_pass_mse_diff")

    train(model, opt, start, TOTAL, fv, cv, t0)
    print("# done")


if __name__ == "__main__":
    main()
