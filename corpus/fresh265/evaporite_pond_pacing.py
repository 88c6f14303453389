"""Saltern brine grading: 5 evaporation stages from 9 pond readings.

Self-paced schedule: in each stage only rows whose current loss is under a
threshold enter the update, and the threshold is raised stage by stage, so the
admitted rows get harder and the logged loss on them goes up while held-out
accuracy improves. The run writes a checkpoint after stage 3, then a fresh
process-like restart loads it and carries on with stages 4-6.
"""
import os
import tempfile

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

rng = np.random.default_rng(3)
N_TRAIN, N_VAL, N_CLS = 6000, 1500, 5


def ponds(n):
    stage = rng.integers(0, N_CLS, n)
    salinity = 3.5 + 5.5 * stage + rng.normal(0, 2.2, n)        # degrees Baume-ish
    depth = 40 - 5 * stage + rng.normal(0, 6, n)                  # cm
    temp = rng.normal(24, 4, n)
    wind = rng.gamma(2.0, 2.0, n)
    colour = 0.15 * stage + rng.normal(0, 0.12, n)                # pinkness from algae
    days = 6 * stage + rng.normal(0, 5, n)
    turb = rng.normal(0, 1, n)
    rain = rng.exponential(1.0, n)
    crust = (stage >= 3).astype(np.float32) * 0.6 + rng.normal(0, 0.35, n)
    x = np.stack([salinity, depth, temp, wind, colour, days, turb, rain, crust], 1)
    # 8% of survey sheets carry a mis-entered stage
    y = stage.copy()
    flip = rng.random(n) < 0.08
    y[flip] = rng.integers(0, N_CLS, flip.sum())
    return x.astype(np.float32), y.astype(np.int32)


x_tr, y_tr = ponds(N_TRAIN)
x_va, y_va = ponds(N_VAL)
mu, sd = x_tr.mean(0), x_tr.std(0)
Xtr, Ytr = mx.array((x_tr - mu) / sd), mx.array(y_tr)
Xva, Yva = mx.array((x_va - mu) / sd), mx.array(y_va)


def make_model():
    return nn.Sequential(
        nn.Linear(9, 64), nn.GELU(), nn.Linear(64, 64), nn.GELU(), nn.Linear(64, N_CLS)
    )


def masked_ce(model, x, y, keep):
    ce = nn.losses.cross_entropy(model(x), y, reduction="none")
    return (ce * keep).sum() / mx.maximum(keep.sum(), 1.0)


def val_acc(model):
    return (mx.argmax(model(Xva), axis=1) == Yva).astype(mx.float32).mean().item()


# loss thresholds per stage; the last one admits everything
PACE = [0.25, 0.5, 0.9, 1.5, 3.0, 1e9]
EPOCHS_PER_STAGE = 6
BATCH = 200


def run_stage(model, opt, k):
    lam = PACE[k]
    step_fn = nn.value_and_grad(model, masked_ce)
    # warm start for stage 0: everything in on the first pass so the scores mean something
    per_row = nn.losses.cross_entropy(model(Xtr), Ytr, reduction="none")
    keep_all = (per_row < lam).astype(mx.float32) if k > 0 else mx.ones(N_TRAIN)
    mx.eval(keep_all)
    tot, cnt = 0.0, 0
    for ep in range(EPOCHS_PER_STAGE):
        perm = mx.array(rng.permutation(N_TRAIN))
        for i in range(0, N_TRAIN, BATCH):
            idx = perm[i : i + BATCH]
            l, g = step_fn(model, Xtr[idx], Ytr[idx], keep_all[idx])
            opt.update(model, g)
            mx.eval(model.parameters(), opt.state)
            if ep == EPOCHS_PER_STAGE - 1:
                tot += l.item()
                cnt += 1
    share = keep_all.mean().item()
    print(f"stage {k + 1}  threshold {lam:>6.3g}  admitted {share * 100:5.1f}%  "
          f"admitted-row loss {tot / cnt:.4f}  val acc {val_acc(model):.3f}")


mx.random.seed(5)
model = make_model()
mx.eval(model.parameters())
opt = optim.AdamW(learning_rate=2e-3, weight_decay=1e-3)

majority = np.bincount(y_va).max() / len(y_va)
print(f"majority-class val acc {majority:.3f}; share of mis-entered stage labels 0.08")

for k in range(3):
    run_stage(model, opt, k)

ckdir = tempfile.mkdtemp()
wpath = os.path.join(ckdir, "model.safetensors")
opath = os.path.join(ckdir, "opt.safetensors")
model.save_weights(wpath)
mx.save_safetensors(opath, dict(tree_flatten(opt.state)))
acc_saved = val_acc(model)
print(f"checkpoint written after stage 3 (val acc {acc_saved:.3f})")

# ---- restart from the checkpoint with fresh objects
del model, opt
model = make_model()
model.load_weights(wpath)
opt = optim.AdamW(learning_rate=2e-3, weight_decay=1e-3)
opt.state = tree_unflatten(list(mx.load(opath).items()))
mx.eval(model.parameters(), opt.state)
print(f"resumed: val acc {val_acc(model):.3f}, optimizer step {int(opt.state['step'].item())}")

for k in range(3, len(PACE)):
    run_stage(model, opt, k)

final = val_acc(model)
print(f"final val acc {final:.3f}  vs majority {majority:.3f}")
