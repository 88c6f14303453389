"""Harbour pilotage: how many tugs (0, 1, 2 or 3) a berthing call gets,
learned from nine synthetic call records.

No normalisation layers; plain SGD with Nesterov momentum at a high peak
rate, kept in check by unit-wise adaptive gradient clipping (AGC) wrapped
around the optimizer.  The run is split in two sessions with a checkpoint
of the weights and the inner optimizer state in between.
"""

import json
import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map, tree_unflatten

rng = np.random.default_rng(910)


def make_calls(n):
    loa = rng.normal(210, 60, n)             # length overall, m
    draft = rng.normal(11, 2.5, n)           # m
    wind = rng.gamma(2.0, 6.0, n)            # knots
    current = rng.normal(0.0, 1.0, n)        # knots, signed
    thrusters = rng.integers(0, 2, n)        # bow thruster fitted
    twin = rng.integers(0, 2, n)             # twin screw
    night = rng.integers(0, 2, n)
    basin_turn = rng.integers(0, 2, n)       # must swing in the basin
    loaded = rng.integers(0, 2, n)
    score = (0.018 * (loa - 210) + 0.25 * (draft - 11) + 0.11 * (wind - 12)
             + 0.5 * np.abs(current) - 1.1 * thrusters - 0.6 * twin
             + 0.4 * night + 1.2 * basin_turn + 0.3 * loaded + 1.2)
    logits = np.stack([-(score - c) ** 2 for c in [-0.8, 0.7, 2.15, 3.6]], 1) * 1.3
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    y = np.array([rng.choice(4, p=pi) for pi in p])
    X = np.stack([loa, draft, wind, current, thrusters, twin, night,
                  basin_turn, loaded], 1)
    return X.astype(np.float32), y.astype(np.int32), p


Xtr, ytr, _ = make_calls(6000)
Xva, yva, pva = make_calls(2000)
mu, sd = Xtr.mean(0), Xtr.std(0)
Xtr_m, Xva_m = mx.array((Xtr - mu) / sd), mx.array((Xva - mu) / sd)
ytr_m, yva_m = mx.array(ytr), mx.array(yva)
bayes_acc = float(np.mean(pva.argmax(1) == yva)) * 100
majority = float(np.mean(yva == np.bincount(ytr).argmax())) * 100


class TugNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.layers = [nn.Linear(9, 128), nn.Linear(128, 128),
                       nn.Linear(128, 128)]
        self.head = nn.Linear(128, 4)

    def __call__(self, x):
        for l in self.layers:
            x = nn.relu(l(x))
        return self.head(x)


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


class AGC:
    """Unit-wise adaptive gradient clipping in front of any mlx optimizer.

    Each output unit's gradient row is rescaled so that
    |g_row| <= clip * max(|w_row|, eps).  The head is left unclipped."""

    def __init__(self, inner, clip=0.02, eps=1e-3, skip=("head",)):
        self.inner = inner
        self.clip = clip
        self.eps = eps
        self.skip = skip
        self.last_fraction = 0.0

    @property
    def state(self):
        return self.inner.state

    def _unit_norm(self, a):
        if a.ndim == 1:
            return mx.abs(a)
        return mx.sqrt(mx.sum(a * a, axis=tuple(range(1, a.ndim)), keepdims=True))

    def update(self, model, grads):
        params = dict(tree_flatten(model.trainable_parameters()))
        clipped, counted, total = [], 0, 0
        for k, g in tree_flatten(grads):
            if k.startswith(self.skip):
                clipped.append((k, g))
                continue
            w_n = mx.maximum(self._unit_norm(params[k]), self.eps)
            g_n = self._unit_norm(g)
            limit = self.clip * w_n
            hit = g_n > limit
            scale = mx.where(hit, limit / mx.maximum(g_n, 1e-12), 1.0)
            clipped.append((k, g * scale))
            counted = counted + mx.sum(hit)
            total += hit.size
        self.last_fraction = counted / total
        self.inner.update(model, tree_unflatten(clipped))


EPOCHS, BATCH = 12, 100
STEPS_PER_EPOCH = len(Xtr) // BATCH
TOTAL = EPOCHS * STEPS_PER_EPOCH
WARM = STEPS_PER_EPOCH


def make_optimizer():
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, 0.4, WARM),
         optim.cosine_decay(0.4, TOTAL - WARM, 2e-3)],
        [WARM],
    )
    return AGC(optim.SGD(learning_rate=sched, momentum=0.9, nesterov=True))


def evaluate(model):
    logits = model(Xva_m)
    ce = float(nn.losses.cross_entropy(logits, yva_m, reduction="mean"))
    acc = float(mx.mean(mx.argmax(logits, 1) == yva_m)) * 100
    return ce, acc


def run_epochs(model, opt, first, last, session):
    lg = nn.value_and_grad(model, loss_fn)
    for epoch in range(first, last + 1):
        perm = rng.permutation(len(Xtr))
        tot, fracs, t0 = 0.0, [], time.time()
        for b in range(STEPS_PER_EPOCH):
            idx = mx.array(perm[b * BATCH:(b + 1) * BATCH])
            loss, grads = lg(model, Xtr_m[idx], ytr_m[idx])
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss, opt.last_fraction)
            tot += float(loss)
            fracs.append(float(opt.last_fraction))
        ce, acc = evaluate(model)
        print("[[epoch]]")
        print(f"session = {session}")
        print(f"epoch = {epoch}")
        print(f"step = {int(opt.state['step'])}")
        print(f"lr = {float(opt.inner.learning_rate):.5f}")
        print(f"train_ce = {tot / STEPS_PER_EPOCH:.4f}")
        print(f"valid_ce = {ce:.4f}")
        print(f"valid_acc_pct = {acc:.2f}")
        print(f"units_rescaled_pct = {100 * np.mean(fracs):.1f}")
        print(f"secs = {time.time() - t0:.2f}")
        print()


mx.random.seed(910)
model = TugNet()
mx.eval(model.parameters())
opt = make_optimizer()

_, g0 = nn.value_and_grad(model, loss_fn)(model, Xtr_m[:200], ytr_m[:200])
leaves = tree_flatten(g0)
print("[audit]")
print(f"gradient_leaves = {len(leaves)}")
print(f"all_zero_leaves = {json.dumps([k for k, v in leaves if float(mx.abs(v).max()) == 0.0])}")
print(f"class_shares_pct = {json.dumps([round(float(c) * 100, 1) for c in np.bincount(ytr, minlength=4) / len(ytr)])}")
print(f"majority_acc_pct = {majority:.2f}")
print(f"label_ceiling_acc_pct = {bayes_acc:.2f}")
ce0, acc0 = evaluate(model)
print(f"untrained_valid_ce = {ce0:.4f}")
print(f"untrained_valid_acc_pct = {acc0:.2f}")
print()

run_epochs(model, opt, 1, 6, 1)

ckpt = tempfile.mkdtemp(prefix="tugs_")
model.save_weights(os.path.join(ckpt, "weights.safetensors"))
mx.save_safetensors(os.path.join(ckpt, "opt.safetensors"),
                    dict(tree_flatten(opt.state)))
with open(os.path.join(ckpt, "meta.json"), "w") as f:
    json.dump({"epoch": 6}, f)
saved_ce, _ = evaluate(model)
del model, opt

model = TugNet()
model.load_weights(os.path.join(ckpt, "weights.safetensors"))
opt = make_optimizer()
opt.inner.state = tree_unflatten(list(mx.load(os.path.join(ckpt, "opt.safetensors")).items()))
with open(os.path.join(ckpt, "meta.json")) as f:
    start = json.load(f)["epoch"] + 1
mx.eval(model.parameters(), opt.state)
resumed_ce, _ = evaluate(model)
print("[resume]")
print(f"checkpoint_dir_files = {len(os.listdir(ckpt))}")
print(f"restored_step = {int(opt.state['step'])}")
print(f"valid_ce_saved = {saved_ce:.4f}")
print(f"valid_ce_restored = {resumed_ce:.4f}")
print()

run_epochs(model, opt, start, EPOCHS, 2)

ce, acc = evaluate(model)
print("[final]")
print(f"valid_ce = {ce:.4f}")
print(f"valid_acc_pct = {acc:.2f}")
print(f"label_ceiling_acc_pct = {bayes_acc:.2f}")
print(f"majority_acc_pct = {majority:.2f}")
