"""Match 1880s gazetteer entries to modern map tiles with a nested-width dual encoder.

Each place has a hidden 8-d "geography" code. The gazetteer entry (22 numbers:
elevation words, parish size, river mentions, ...) and the modern map tile
(18 numbers: land-cover shares, road density, contour stats, ...) are two
different noisy views of that code.  A two-tower encoder is trained so that
prefixes of the 32-d embedding (4, 8, 16 and all 32 dims) each work as a
retrieval key on their own (nested / Matryoshka training).

The run is split in two sessions: session 1 trains for 150 steps and writes a
checkpoint, everything is deleted, session 2 rebuilds model and optimizer from
the checkpoint and trains to step 300.  Output is a stream of YAML documents.
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

DIMS = (4, 8, 16, 32)
TAU = 0.1
BATCH = 128
TOTAL_STEPS = 300
SESSION1_STEPS = 150
WARMUP = 50
PEAK_LR = 2e-3

rng = np.random.default_rng(7)
mx.random.seed(7)

# ---------------------------------------------------------------- data
N_PLACES, N_TEST = 900, 180
Z = rng.normal(size=(N_PLACES, 8)).astype(np.float32)
W_gaz = rng.normal(size=(8, 22)).astype(np.float32) / math.sqrt(8)
W_tile = rng.normal(size=(8, 18)).astype(np.float32) / math.sqrt(8)
Q_tile = rng.normal(size=(8, 18)).astype(np.float32) / 8


def gazetteer_view(z, noise):
    x = np.tanh(z @ W_gaz) + noise * rng.normal(size=(len(z), 22))
    return x.astype(np.float32)


def tile_view(z, noise):
    x = np.sin(z @ W_tile) + (z @ Q_tile) ** 2 + noise * rng.normal(size=(len(z), 18))
    return x.astype(np.float32)


gaz = gazetteer_view(Z, 0.20)
tile = tile_view(Z, 0.20)
g_mu, g_sd = gaz[:-N_TEST].mean(0), gaz[:-N_TEST].std(0) + 1e-6
t_mu, t_sd = tile[:-N_TEST].mean(0), tile[:-N_TEST].std(0) + 1e-6
gaz = (gaz - g_mu) / g_sd
tile = (tile - t_mu) / t_sd
gaz_tr, tile_tr = mx.array(gaz[:-N_TEST]), mx.array(tile[:-N_TEST])
gaz_te, tile_te = mx.array(gaz[-N_TEST:]), mx.array(tile[-N_TEST:])
N_TRAIN = N_PLACES - N_TEST


# ---------------------------------------------------------------- model
class Tower(nn.Module):
    def __init__(self, d_in, d_hidden=96, d_out=32):
        super().__init__()
        self.l1 = nn.Linear(d_in, d_hidden)
        self.l2 = nn.Linear(d_hidden, d_hidden)
        self.out = nn.Linear(d_hidden, d_out)

    def __call__(self, x):
        h = nn.gelu(self.l1(x))
        h = h + nn.gelu(self.l2(h))
        return self.out(h)


class DualEncoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.gaz = Tower(22)
        self.tile = Tower(18)

    def __call__(self, g, t):
        return self.gaz(g), self.tile(t)


def unit(x):
    return x / mx.sqrt(mx.sum(x * x, axis=-1, keepdims=True) + 1e-12)


def nested_nce(model, g, t):
    eg, et = model(g, t)
    labels = mx.arange(g.shape[0])
    per_dim = []
    for d in DIMS:
        a, b = unit(eg[:, :d]), unit(et[:, :d])
        logits = (a @ b.T) / TAU
        l = 0.5 * (
            nn.losses.cross_entropy(logits, labels, reduction="mean")
            + nn.losses.cross_entropy(logits.T, labels, reduction="mean")
        )
        per_dim.append(l)
    per_dim = mx.stack(per_dim)
    return per_dim.mean(), per_dim


def recall_at_1(model, g, t):
    eg, et = model(g, t)
    out = {}
    for d in DIMS:
        a, b = unit(eg[:, :d]), unit(et[:, :d])
        hit = mx.argmax(a @ b.T, axis=1) == mx.arange(g.shape[0])
        out[f"d{d}"] = round(100.0 * hit.astype(mx.float32).mean().item(), 1)
    return out


def make_optimizer():
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, PEAK_LR, WARMUP),
         optim.cosine_decay(PEAK_LR, TOTAL_STEPS - WARMUP, 1e-4)],
        [WARMUP],
    )
    return optim.AdamW(learning_rate=sched, weight_decay=1e-4)


def yaml_doc(d):
    lines = ["---"]
    for k, v in d.items():
        if isinstance(v, dict):
            inner = ", ".join(f"{kk}: {vv}" for kk, vv in v.items())
            lines.append(f"{k}: {{{inner}}}")
        else:
            lines.append(f"{k}: {v}")
    print("\n".join(lines), flush=True)


def run_session(model, opt, start, stop, log_at, t0):
    loss_and_grad = nn.value_and_grad(model, nested_nce)
    window = []
    for step in range(start, stop + 1):
        idx = mx.array(rng.choice(N_TRAIN, BATCH, replace=False))
        lr_now = opt.learning_rate.item()
        (loss, per_dim), grads = loss_and_grad(model, gaz_tr[idx], tile_tr[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss, per_dim)
        window.append(np.array(per_dim))
        if step == 1:
            flat = tree_flatten(grads)
            nz = sum(int(mx.any(g != 0).item()) for _, g in flat)
            gn = math.sqrt(sum(mx.sum(g * g).item() for _, g in flat))
            yaml_doc({"event": "grad_audit", "tensors_nonzero": f"{nz}/{len(flat)}",
                      "global_norm": round(gn, 4), "lr_used": lr_now})
        if step in log_at:
            w = np.mean(window, axis=0)
            window = []
            yaml_doc({
                "step": step,
                "lr": f"{lr_now:.2e}",
                "nce": {f"d{d}": round(float(v), 3) for d, v in zip(DIMS, w)},
                "nce_uniform": round(math.log(BATCH), 3),
                "held_out_r1_pct": recall_at_1(model, gaz_te, tile_te),
                "chance_pct": round(100.0 / N_TEST, 2),
                "t": round(time.time() - t0, 1),
            })


# ---------------------------------------------------------------- run
t0 = time.time()
yaml_doc({"event": "start", "train_places": N_TRAIN, "held_out": N_TEST,
          "dims": list(DIMS), "tau": TAU, "batch": BATCH})

ckpt_dir = tempfile.mkdtemp(prefix="gazetteer_ckpt_")
model = DualEncoder()
mx.eval(model.parameters())
opt = make_optimizer()
yaml_doc({"event": "untrained", "held_out_r1_pct": recall_at_1(model, gaz_te, tile_te)})

# session 1: quiet between step 50 and the checkpoint
run_session(model, opt, 1, SESSION1_STEPS, {1, 10, 25, 50, 150}, t0)

model.save_weights(os.path.join(ckpt_dir, "weights.safetensors"))
mx.save_safetensors(os.path.join(ckpt_dir, "optimizer.safetensors"),
                    dict(tree_flatten(opt.state)))
with open(os.path.join(ckpt_dir, "meta.json"), "w") as f:
    json.dump({"step": SESSION1_STEPS}, f)
ref_r1 = recall_at_1(model, gaz_te, tile_te)
yaml_doc({"event": "checkpoint", "dir": os.path.basename(ckpt_dir), "held_out_r1_pct": ref_r1})
del model, opt

# session 2: rebuild from disk
model = DualEncoder()
model.load_weights(os.path.join(ckpt_dir, "weights.safetensors"))
opt = make_optimizer()
opt.state = tree_unflatten(list(mx.load(os.path.join(ckpt_dir, "optimizer.safetensors")).items()))
with open(os.path.join(ckpt_dir, "meta.json")) as f:
    start = json.load(f)["step"] + 1
mx.eval(model.parameters(), opt.state)
yaml_doc({"event": "resumed", "from_step": start - 1,
          "optimizer_step": int(opt.state["step"].item()),
          "held_out_r1_pct": recall_at_1(model, gaz_te, tile_te),
          "matches_checkpoint": recall_at_1(model, gaz_te, tile_te) == ref_r1})
run_session(model, opt, start, TOTAL_STEPS, {160, 200, 250, 300}, t0)
shutil.rmtree(ckpt_dir)

final = recall_at_1(model, gaz_te, tile_te)
yaml_doc({"event": "done", "steps": TOTAL_STEPS, "held_out_r1_pct": final,
          "chance_pct": round(100.0 / N_TEST, 2), "t": round(time.time() - t0, 1)})
