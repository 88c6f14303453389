"""Earth buildings: after five wet winters, will a surveyed earth wall stay
sound, show surface erosion, or crack through?

The wall material goes through a fixed table of known material properties
(kept frozen on purpose).  Training is done in two sittings: the first sitting
writes a checkpoint (weights + optimizer state + progress) and stops, the
second sitting starts from a fresh process-like state, loads it and goes on.
"""
import json
import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

OUTCOMES = ["sound", "eroded", "cracked"]
MATERIALS = ["adobe", "rammed_earth", "cob", "stabilised_block"]
# dry density t/m3, water resistance 0..1, fibre / binder share 0..1
MATERIAL_TABLE = np.array([[1.60, 0.35, 0.60],
                           [1.95, 0.55, 0.45],
                           [1.50, 0.40, 0.70],
                           [2.00, 0.90, 0.20]], dtype=np.float32)

gen = np.random.default_rng(2024)


def survey(n):
    mat = gen.integers(0, 4, n)
    overhang = gen.uniform(0.0, 15.0, n)      # roof overhang, dm
    plinth = gen.poisson(1.2, n)              # courses of stone plinth
    height = gen.uniform(0.8, 2.0, n)         # storey height above plinth, m
    rain = gen.uniform(10, 120, n)            # driving-rain days / year
    exposure = gen.uniform(0, 25, n)          # exposure index of the facade
    render = gen.uniform(0, 1, n)             # lime render condition
    props = MATERIAL_TABLE[mat]
    risk = (1.4 * height - 0.12 * overhang - 0.7 * np.minimum(plinth, 3)
            + 0.018 * rain * (1.0 - props[:, 1]) + 0.05 * exposure
            - 1.3 * render - 1.0 * props[:, 2] + 0.6 * gen.logistic(size=n) * 0.8)
    label = np.digitize(risk, [0.2, 1.3])
    num = np.stack([overhang / 15, plinth / 3, height - 1.4, rain / 120,
                    exposure / 25, render - 0.5], axis=1).astype(np.float32)
    return mat.astype(np.int32), num, label.astype(np.int32)


s_tr, n_tr, y_tr = survey(18000)
s_va, n_va, y_va = survey(1500)


class EarthWall(nn.Module):
    def __init__(self, hidden=48):
        super().__init__()
        self.material = nn.Embedding(len(MATERIALS), MATERIAL_TABLE.shape[1])
        self.material.weight = mx.array(MATERIAL_TABLE)
        self.body = nn.Sequential(nn.Linear(6 + 3, hidden), nn.GELU(),
                                  nn.Linear(hidden, hidden), nn.GELU())
        self.head = nn.Linear(hidden, len(OUTCOMES))

    def __call__(self, mat, num):
        return self.head(self.body(mx.concatenate([num, self.material(mat)], axis=-1)))


def build():
    m = EarthWall()
    m.material.freeze()             # known material constants, not learned
    sched = optim.step_decay(0.05, 0.5, 560)
    o = optim.SGD(learning_rate=sched, momentum=0.9, nesterov=True, weight_decay=1e-4)
    return m, o


def xent(model, mat, num, y):
    return nn.losses.cross_entropy(model(mat, num), y, reduction="mean")


def accuracy(model, mat, num, y):
    pred = mx.argmax(model(mx.array(mat), mx.array(num)), axis=-1)
    return 100.0 * mx.mean(pred == mx.array(y)).item()


BATCH = 100
EPOCHS_FIRST, EPOCHS_TOTAL = 5, 12


def run_epochs(model, opt, first, last):
    vg = nn.value_and_grad(model, xent)
    for epoch in range(first, last + 1):
        order = gen.permutation(len(y_tr))
        tot = 0.0
        nb = len(order) // BATCH
        for b in range(nb):
            i = order[b * BATCH:(b + 1) * BATCH]
            loss, grads = vg(model, mx.array(s_tr[i]), mx.array(n_tr[i]), mx.array(y_tr[i]))
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item()
        print(f"After epoch {epoch} the model calls {accuracy(model, s_va, n_va, y_va):.1f}% "
              f"of the held-out earth walls right (mean training loss {tot / nb:.4f}, "
              f"learning rate now {opt.learning_rate.item():.4f}).")


ckpt_dir = tempfile.mkdtemp(prefix="earthwall_")
t0 = time.perf_counter()
mx.random.seed(7)

# ---- first sitting ---------------------------------------------------------
model, opt = build()
vg0 = nn.value_and_grad(model, xent)
_, g = vg0(model, mx.array(s_tr[:BATCH]), mx.array(n_tr[:BATCH]), mx.array(y_tr[:BATCH]))
flat = tree_flatten(g)
print(f"Gradient check: {len(flat)} trainable tensors, "
      f"{sum(float(mx.abs(v).max()) > 0 for _, v in flat)} with a non-zero gradient; "
      f"the material table is frozen ({len(tree_flatten(model.parameters())) - len(flat)} tensor).")
majority = 100.0 * np.bincount(y_va).max() / len(y_va)
print(f"Always guessing the commonest outcome would score {majority:.1f}%.")

run_epochs(model, opt, 1, EPOCHS_FIRST)
model.save_weights(os.path.join(ckpt_dir, "earthwall.safetensors"))
mx.save_safetensors(os.path.join(ckpt_dir, "optimizer.safetensors"), dict(tree_flatten(opt.state)))
with open(os.path.join(ckpt_dir, "progress.json"), "w") as f:
    json.dump({"epoch": EPOCHS_FIRST}, f)
saved_acc = accuracy(model, s_va, n_va, y_va)
del model, opt
print(f"Checkpoint written to {ckpt_dir}; stopping the first sitting.")

# ---- second sitting --------------------------------------------------------
model, opt = build()
model.load_weights(os.path.join(ckpt_dir, "earthwall.safetensors"))
opt.init(model.trainable_parameters())
opt.state = tree_unflatten(list(mx.load(os.path.join(ckpt_dir, "optimizer.safetensors")).items()))
with open(os.path.join(ckpt_dir, "progress.json")) as f:
    done = json.load(f)["epoch"]
mx.eval(model.parameters(), opt.state)
print(f"Resumed after epoch {done} at optimizer step {int(opt.step.item())}; held-out accuracy "
      f"{accuracy(model, s_va, n_va, y_va):.1f}% (was {saved_acc:.1f}% when saved).")
run_epochs(model, opt, done + 1, EPOCHS_TOTAL)

drift = float(mx.abs(model.material.weight - mx.array(MATERIAL_TABLE)).max())
print(f"Material table drift after training: {drift:.1e} (frozen). Wall time {time.perf_counter() - t0:.1f}s.")
