"""Rocky-shore survey: community type of a tide pool from quick field readings.

Types: barnacle / mussel_bed / algal_turf / urchin_barren, from 7 readings (height
above chart datum, wave exposure, daily temperature swing, salinity, pool depth, sand
cover, canopy cover). Only 80 pools were identified by a diver; 6000 more were only
measured. Entropy minimisation: cross-entropy (label smoothing 0.1) on the identified pools plus
lambda(t) * mean prediction entropy on the measured-only pools, lambda ramped from 0
with the usual exp(-5 (1 - t)^2) schedule over the first 40% of training. A
supervised-only model with the same budget is trained first, for comparison.
The semi-supervised run is split in two sessions with a checkpoint in between
(weights + optimizer state + step), the way it runs on the field laptop.
Output: tab-separated lines, one header line per block.
"""
import json
import math
import os
import shutil
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

TYPES = ["barnacle", "mussel_bed", "algal_turf", "urchin_barren"]
N_LAB, N_UNL, N_TEST = 80, 6000, 2000
STEPS = 600
SESSION_1 = 300
RAMP = int(0.4 * STEPS)
LAMBDA_MAX = 0.6
BATCH_U = 256
REPORT = 50

rng = np.random.default_rng(11)


def pools(n):
    y = rng.integers(0, 4, size=n)
    centres = np.array(
        [
            [1.6, 1.2, 1.0, 0.0, -1.0, -0.5, -1.0],
            [0.4, 1.4, 0.2, 0.0, -0.3, 0.2, -0.6],
            [-0.6, -0.6, -0.4, -0.2, 0.6, 0.4, 1.2],
            [-1.2, -0.8, -0.8, 0.3, 1.0, -0.8, -0.9],
        ]
    )
    x = centres[y] + 0.6 * rng.normal(size=(n, 7))
    x[:, 3] += 0.4 * np.sin(2.0 * x[:, 0])  # salinity follows height non-linearly
    return x.astype(np.float32), y.astype(np.int32)


x_lab, y_lab = pools(N_LAB)
x_unl, y_unl_hidden = pools(N_UNL)
x_test, y_test = pools(N_TEST)
XL, YL = mx.array(x_lab), mx.array(y_lab)
XU = mx.array(x_unl)
XT, YT = mx.array(x_test), mx.array(y_test)


class PoolNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Linear(7, 64)
        self.b = nn.Linear(64, 64)
        self.c = nn.Linear(64, 4)
        self.drop = nn.Dropout(0.1)

    def __call__(self, x):
        h = nn.gelu(self.a(x))
        h = self.drop(nn.gelu(self.b(h)))
        return self.c(h)


def lam_at(step):
    if step >= RAMP:
        return LAMBDA_MAX
    t = step / RAMP
    return LAMBDA_MAX * math.exp(-5.0 * (1.0 - t) ** 2) if step > 0 else 0.0


def entropy_bits(logits):
    logp = logits - mx.logsumexp(logits, axis=-1, keepdims=True)
    return -(mx.exp(logp) * logp).sum(axis=-1) / math.log(2.0)


def loss_fn(model, xl, yl, xu, lam):
    ce = nn.losses.cross_entropy(model(xl), yl, label_smoothing=0.1, reduction="mean")
    ent = entropy_bits(model(xu)).mean()
    return ce + lam * ent, (ce, ent)


def evaluate(model):
    model.eval()
    logits = model(XT)
    err = 100 * (mx.argmax(logits, axis=-1) != YT).astype(mx.float32).mean().item()
    ce = nn.losses.cross_entropy(logits, YT, reduction="mean").item()
    ent = entropy_bits(model(XU)).mean().item()
    model.train()
    return ce, err, ent


def make_optimizer():
    warm = optim.linear_schedule(0.0, 1e-3, 60)
    cos = optim.cosine_decay(1e-3, STEPS - 60, end=3e-5)
    return optim.AdamW(learning_rate=optim.join_schedules([warm, cos], [60]), weight_decay=0.05)


def run(tag, model, opt, start, stop, use_unlabelled):
    vg = nn.value_and_grad(model, loss_fn)
    window = []
    for step in range(start, stop):
        lam = lam_at(step) if use_unlabelled else 0.0
        ub = mx.array(rng.integers(0, N_UNL, size=BATCH_U))
        (loss, (ce, ent)), grads = vg(model, XL, YL, XU[ub], mx.array(lam))
        if step == 0:
            leaves = tree_flatten(grads)
            nz = sum(1 for _, g in leaves if float(mx.abs(g).max()) > 0)
            print(f"#{tag}\tgrad_check\tarrays={len(leaves)}\tnonzero={nz}\tlr_at_step0={opt.learning_rate.item():.1e}")
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss, ce, ent)
        window.append((loss.item(), ce.item(), ent.item()))
        if (step + 1) % REPORT == 0:
            w = np.array(window)
            te_ce, te_err, pool_ent = evaluate(model)
            print(
                f"{tag}\t{step + 1}\t{opt.learning_rate.item():.2e}\t{lam:.3f}\t"
                f"{w[:, 0].mean():.4f}\t{w[:, 1].mean():.4f}\t{w[:, 2].mean():.3f}\t"
                f"{te_ce:.4f}\t{te_err:.1f}\t{pool_ent:.3f}"
            )
            window = []


t0 = time.time()
print(f"# identified {N_LAB}, measured-only {N_UNL}, test {N_TEST}; chance error 75.0%")
print("run\tstep\tlr\tlambda\tobjective\tlab_ce\tpool_entropy_bits\ttest_ce\ttest_err_pct\tpool_entropy_all_bits")

mx.random.seed(3)
sup = PoolNet()
mx.eval(sup.parameters())
sup_opt = make_optimizer()
run("supervised", sup, sup_opt, 0, STEPS, use_unlabelled=False)
sup_ce, sup_err, _ = evaluate(sup)

mx.random.seed(3)
model = PoolNet()
mx.eval(model.parameters())
opt = make_optimizer()
run("entmin", model, opt, 0, SESSION_1, use_unlabelled=True)

ckpt = tempfile.mkdtemp()
model.save_weights(os.path.join(ckpt, "weights.safetensors"))
mx.save_safetensors(os.path.join(ckpt, "opt.safetensors"), dict(tree_flatten(opt.state)))
with open(os.path.join(ckpt, "meta.json"), "w") as f:
    json.dump({"step": SESSION_1}, f)
before = evaluate(model)
del model, opt
print(f"#entmin\tcheckpoint\t{ckpt}\ttest_ce={before[0]:.4f}")

model = PoolNet()
model.load_weights(os.path.join(ckpt, "weights.safetensors"))
opt = make_optimizer()
opt.state = tree_unflatten(list(mx.load(os.path.join(ckpt, "opt.safetensors")).items()))
with open(os.path.join(ckpt, "meta.json")) as f:
    resume_step = json.load(f)["step"]
after = evaluate(model)
print(f"#entmin\tresumed\tstep={resume_step}\topt_step={int(opt.step.item())}\ttest_ce={after[0]:.4f}\tsame={abs(after[0] - before[0]) < 1e-6}")
run("entmin", model, opt, resume_step, STEPS, use_unlabelled=True)
ent_ce, ent_err, _ = evaluate(model)

shutil.rmtree(ckpt)
print(f"# final test error: supervised-only {sup_err:.1f}%  entropy-minimised {ent_err:.1f}%  ({time.time() - t0:.1f}s)")
