"""Curling stone run-out: where does the stone stop (metres past the hog
line) given release speed, handle rotation, sweeping effort, pebble age and
ice temperature.

The run is done in two sittings: sitting 1 stops after a set number of
epochs (the rink closes), writing a full checkpoint; sitting 2 rebuilds
everything from the files -- weights, optimizer moments, schedule position,
early-stopping counters -- and carries on until the validation loss has not
improved for PATIENCE epochs. The best weights are kept in their own file.
"""
import json
import os
import tempfile

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

PATIENCE = 5
BS = 64
WARM = 150
rng = np.random.default_rng(21)


def sheet(n):
    v = rng.uniform(2.0, 3.6, n)          # release speed m/s
    rot = rng.uniform(1.5, 4.0, n)        # handle turns
    sweep = rng.uniform(0, 1, n)          # sweeping effort
    pebble = rng.uniform(0, 6, n)         # hours since pebbling
    temp = rng.uniform(-7, -3, n)         # ice surface temperature
    mu = 0.0168 * (1 - 0.18 * sweep) * (1 + 0.03 * pebble) * (1 + 0.02 * (temp + 5))
    dist = v ** 2 / (2 * 9.81 * mu) * (1 - 0.015 * (rot - 2.5) ** 2) - 24.0
    dist = dist + rng.normal(0, 0.9, n)
    X = np.stack([v, rot, sweep, pebble, temp], 1).astype(np.float32)
    return X, dist.astype(np.float32)


Xtr, ytr = sheet(1200)
Xva, yva = sheet(1500)
Xte, yte = sheet(1500)
m_, s_ = Xtr.mean(0), Xtr.std(0)
ym, ysd = float(ytr.mean()), float(ytr.std())
prep = lambda X: mx.array((X - m_) / s_)
Xtr_, Xva_, Xte_ = prep(Xtr), prep(Xva), prep(Xte)
ytr_ = mx.array((ytr - ym) / ysd)
yva_ = mx.array((yva - ym) / ysd)


class RunOut(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(5, 96), nn.SiLU(), nn.Linear(96, 96),
                                  nn.SiLU(), nn.Linear(96, 96), nn.SiLU())
        self.out = nn.Linear(96, 1)

    def __call__(self, x):
        return self.out(self.body(x)).squeeze(-1)


def make_opt():
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, 2e-3, WARM), optim.exponential_decay(2e-3, 0.9985)],
        [WARM])
    return optim.AdamW(learning_rate=sched, weight_decay=1e-4)


def loss_fn(m, x, y):
    return nn.losses.mse_loss(m(x), y)


def metres_rmse(m, X, y):
    p = np.array(m(X)) * ysd + ym
    return float(np.sqrt(np.mean((p - y) ** 2)))


def emit(doc):
    print("---")
    for k, v in doc.items():
        print(f"{k}: {v}")


def train_epochs(model, opt, state, stop_after=None):
    vg = nn.value_and_grad(model, loss_fn)
    n_done = 0
    while True:
        state["epoch"] += 1
        perm = mx.array(np.random.default_rng(1000 + state["epoch"]).permutation(len(Xtr)))
        tot, nb = 0.0, 0
        for i in range(0, len(Xtr), BS):
            idx = perm[i:i + BS]
            loss, g = vg(model, Xtr_[idx], ytr_[idx])
            opt.update(model, g)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item()
            nb += 1
        v = loss_fn(model, Xva_, yva_).item()
        doc = {"sitting": state["sitting"], "epoch": state["epoch"],
               "step": int(opt.step.item()), "lr": f"{float(opt.learning_rate):.6f}",
               "train_mse_z": f"{tot / nb:.4f}", "valid_mse_z": f"{v:.4f}",
               "valid_rmse_m": f"{metres_rmse(model, Xva_, yva):.3f}"}
        if v < state["best"]:
            state.update(best=v, best_epoch=state["epoch"], wait=0)
            model.save_weights(os.path.join(CK, "best.safetensors"))
            doc["note"] = "new best, best.safetensors written"
        else:
            state["wait"] += 1
            doc["note"] = f"no improvement on {state['best']:.4f} for {state['wait']}/{PATIENCE}"
        emit(doc)
        n_done += 1
        if state["wait"] >= PATIENCE:
            return "patience"
        if stop_after is not None and n_done >= stop_after:
            return "closing"


CK = tempfile.mkdtemp(prefix="hogline")
const_rmse = float(np.sqrt(np.mean((yte - ym) ** 2)))
emit({"event": "data", "train": len(Xtr), "valid": len(Xva), "test": len(Xte),
      "noise_sd_m": 0.9, "predict_mean_test_rmse_m": f"{const_rmse:.3f}"})

# ---------------- sitting 1 ----------------
mx.random.seed(0)
model = RunOut()
opt = make_opt()
mx.eval(model.parameters())
_, g0 = nn.value_and_grad(model, loss_fn)(model, Xtr_[:BS], ytr_[:BS])
zl = sum(float(mx.abs(v).max()) == 0.0 for _, v in tree_flatten(g0))
state = {"sitting": 1, "epoch": 0, "best": float("inf"), "best_epoch": 0, "wait": 0}
emit({"event": "start", "grad_leaves": len(tree_flatten(g0)), "zero_leaves": zl,
      "first_lr": float(make_opt().learning_rate),
      "untrained_valid_rmse_m": f"{metres_rmse(model, Xva_, yva):.3f}"})
why = train_epochs(model, opt, state, stop_after=7)
model.save_weights(os.path.join(CK, "last.safetensors"))
mx.save_safetensors(os.path.join(CK, "opt.safetensors"), dict(tree_flatten(opt.state)))
with open(os.path.join(CK, "trainer.json"), "w") as f:
    json.dump(state, f)
saved_v = loss_fn(model, Xva_, yva_).item()
emit({"event": "checkpoint", "reason": why, "epoch": state["epoch"],
      "valid_mse_z": f"{saved_v:.4f}", "wait": state["wait"]})
del model, opt

# ---------------- sitting 2 ----------------
mx.random.seed(99)
model = RunOut()
opt = make_opt()
model.load_weights(os.path.join(CK, "last.safetensors"))
opt.state = tree_unflatten(list(mx.load(os.path.join(CK, "opt.safetensors")).items()))
with open(os.path.join(CK, "trainer.json")) as f:
    state = json.load(f)
state["sitting"] = 2
mx.eval(model.parameters(), opt.state)
again = loss_fn(model, Xva_, yva_).item()
emit({"event": "resumed", "epoch": state["epoch"], "step": int(opt.step.item()),
      "lr": f"{float(opt.learning_rate):.6f}", "valid_mse_z": f"{again:.4f}",
      "matches_checkpoint": abs(again - saved_v) < 1e-6,
      "carried_wait": state["wait"], "carried_best": f"{state['best']:.4f}"})
why = train_epochs(model, opt, state, stop_after=60)
last_rmse = metres_rmse(model, Xte_, yte)
model.load_weights(os.path.join(CK, "best.safetensors"))
mx.eval(model.parameters())
emit({"event": "stopped", "reason": why, "at_epoch": state["epoch"],
      "restored_epoch": state["best_epoch"],
      "restored_valid_mse_z": f"{loss_fn(model, Xva_, yva_).item():.4f}",
      "test_rmse_m_last": f"{last_rmse:.3f}",
      "test_rmse_m_restored": f"{metres_rmse(model, Xte_, yte):.3f}",
      "test_rmse_m_predict_mean": f"{const_rmse:.3f}"})
