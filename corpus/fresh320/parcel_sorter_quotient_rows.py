"""Parcel depot: pick the outbound chute for each parcel.

Sparse inputs: destination address id (9 million possible ids) and sender
account id (4 million possible ids), embedded with quotient-remainder
compositional tables (Shi et al. 2020) instead of full tables, plus three
dense parcel readings.  Two sessions with a checkpoint in between.
Output: Prometheus text exposition, one scrape block per report.
"""
import math
import os
import tempfile
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from functools import partial
from mlx.utils import tree_flatten, tree_unflatten

DEST_SPACE = 9_000_000
ACCT_SPACE = 4_000_000
N_CHUTES = 10
EPOCHS = 6
SESSION_SPLIT = 3
BATCH = 256
PEAK_LR = 3e-3
WARMUP = 150

rng = np.random.default_rng(320)


def make_parcels(n, region_of_district, premium_group):
    dest = rng.integers(0, DEST_SPACE, n)
    acct = rng.integers(0, ACCT_SPACE, n)
    weight = rng.lognormal(0.3, 0.8, n)
    volume = weight * rng.lognormal(1.0, 0.4, n)
    value = rng.lognormal(3.0, 1.0, n)
    district = (dest // 1000) // 60
    chute = region_of_district[district].copy()
    locker = (dest % 1000) >= 920
    chute[locker] = 8
    priority = premium_group[acct // 2000] & (weight < 2.0)
    chute[priority] = 9
    flip = rng.random(n) < 0.05
    chute[flip] = rng.integers(0, N_CHUTES, flip.sum())
    dense = np.stack([np.log(weight), np.log(volume), np.log(value)], 1)
    return dest.astype(np.int32), acct.astype(np.int32), dense.astype(np.float32), chute.astype(np.int32)


region_of_district = rng.integers(0, 8, DEST_SPACE // 1000 // 60 + 1)
premium_group = rng.random(ACCT_SPACE // 2000 + 1) < 0.12
tr = make_parcels(60000, region_of_district, premium_group)
va = make_parcels(6000, region_of_district, premium_group)
mu, sd = tr[2].mean(0), tr[2].std(0)
tr = (tr[0], tr[1], (tr[2] - mu) / sd, tr[3])
va = (va[0], va[1], (va[2] - mu) / sd, va[3])


class QREmbedding(nn.Module):
    def __init__(self, id_space, m, dims):
        super().__init__()
        self.m = m
        self.q = nn.Embedding(math.ceil(id_space / m), dims)
        self.r = nn.Embedding(m, dims)
        self.r.weight = 1.0 + 0.1 * mx.random.normal(self.r.weight.shape)

    def __call__(self, ids):
        return self.q(ids // self.m) * self.r(ids % self.m)


class ChuteNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.dest = QREmbedding(DEST_SPACE, 3000, 16)
        self.acct = QREmbedding(ACCT_SPACE, 2000, 8)
        self.l1 = nn.Linear(16 + 8 + 3, 96)
        self.l2 = nn.Linear(96, 96)
        self.out = nn.Linear(96, N_CHUTES)
        self.drop = nn.Dropout(0.25)

    def __call__(self, dest, acct, dense):
        h = mx.concatenate([self.dest(dest), self.acct(acct), dense], axis=-1)
        h = self.drop(nn.gelu(self.l1(h)))
        h = self.drop(nn.gelu(self.l2(h)))
        return self.out(h)


def loss_fn(model, d, a, x, y):
    return nn.losses.cross_entropy(model(d, a, x), y, reduction="mean")


steps_per_epoch = len(tr[3]) // BATCH
total_steps = EPOCHS * steps_per_epoch


def make_optimizer():
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, PEAK_LR, WARMUP),
         optim.cosine_decay(PEAK_LR, total_steps - WARMUP, 1e-4)],
        [WARMUP],
    )
    return optim.AdamW(learning_rate=sched, weight_decay=1e-2)


def scrape(labels, metrics):
    lab = ",".join(f'{k}="{v}"' for k, v in labels.items())
    for name, (help_text, value) in metrics.items():
        print(f"# HELP chute_{name} {help_text}")
        print(f"# TYPE chute_{name} gauge")
        print(f"chute_{name}{{{lab}}} {value:.6g}")
    print()


def evaluate(model):
    model.eval()
    logits = model(mx.array(va[0]), mx.array(va[1]), mx.array(va[2]))
    y = mx.array(va[3])
    xent = nn.losses.cross_entropy(logits, y, reduction="mean").item()
    pred = mx.argmax(logits, axis=1)
    acc = mx.mean(pred == y).item()
    lock = y == 8
    lock_rec = (mx.sum((pred == 8) & lock) / mx.maximum(mx.sum(lock), 1)).item()
    model.train()
    return xent, acc, lock_rec


def run_epochs(model, opt, first_epoch, last_epoch, report_epochs, session):
    state = [model.state, opt.state]

    @partial(mx.compile, inputs=state, outputs=state)
    def step(d, a, x, y):
        loss, grads = nn.value_and_grad(model, loss_fn)(model, d, a, x, y)
        opt.update(model, grads)
        return loss

    for epoch in range(first_epoch, last_epoch + 1):
        perm = rng.permutation(len(tr[3]))
        tot, t0 = 0.0, time.perf_counter()
        lr_at_start = opt.learning_rate.item()
        for b in range(steps_per_epoch):
            idx = perm[b * BATCH:(b + 1) * BATCH]
            loss = step(mx.array(tr[0][idx]), mx.array(tr[1][idx]),
                        mx.array(tr[2][idx]), mx.array(tr[3][idx]))
            mx.eval(state)
            tot += loss.item()
        if epoch in report_epochs:
            vx, vacc, vlock = evaluate(model)
            scrape({"session": session, "epoch": epoch}, {
                "learning_rate": ("lr used by the last update before the epoch began", lr_at_start),
                "train_xent": ("mean train cross-entropy over the epoch, nats", tot / steps_per_epoch),
                "val_xent": ("held-out cross-entropy, nats", vx),
                "val_accuracy": ("held-out chute accuracy, fraction", vacc),
                "val_locker_recall": ("recall of the parcel-locker chute", vlock),
                "epoch_seconds": ("wall time of the epoch", time.perf_counter() - t0),
            })


mx.random.seed(320)
model = ChuteNet()
mx.eval(model.parameters())
opt = make_optimizer()

counts = np.bincount(tr[3], minlength=N_CHUTES)
majority = float(np.mean(va[3] == counts.argmax()))
g = nn.value_and_grad(model, loss_fn)(model, mx.array(tr[0][:512]), mx.array(tr[1][:512]),
                                     mx.array(tr[2][:512]), mx.array(tr[3][:512]))[1]
leaves = tree_flatten(g)
nonzero = sum(int(mx.any(v != 0).item()) for _, v in leaves)
n_params = sum(v.size for _, v in tree_flatten(model.parameters()))
scrape({"session": "0", "epoch": "0"}, {
    "parameters_total": ("trainable scalars (QR tables instead of 13M-row tables)", n_params),
    "grad_leaves_nonzero": ("leaves with a nonzero gradient on one batch", nonzero),
    "grad_leaves_total": ("gradient leaves", len(leaves)),
    "val_accuracy_baseline": ("always-the-most-common-chute accuracy", majority),
    "val_accuracy_ceiling": ("accuracy reachable under the 5% relabelled parcels", 0.95 + 0.05 / N_CHUTES),
    "val_xent_uniform": ("cross-entropy of a uniform guess, nats", math.log(N_CHUTES)),
})

before = model.l1.weight
first_idx = np.arange(BATCH)
state = [model.state, opt.state]
loss, grads = nn.value_and_grad(model, loss_fn)(model, mx.array(tr[0][first_idx]), mx.array(tr[1][first_idx]),
                                                mx.array(tr[2][first_idx]), mx.array(tr[3][first_idx]))
opt.update(model, grads)
mx.eval(state)
delta0 = mx.max(mx.abs(model.l1.weight - before)).item()
scrape({"session": "1", "epoch": "0"}, {
    "warmup_first_step_lr": ("lr used by the very first update", 0.0),
    "warmup_first_step_max_abs_delta": ("largest weight change made by that update", delta0),
})

run_epochs(model, opt, 1, SESSION_SPLIT, {1, 2, 3}, "1")

ckpt_dir = tempfile.mkdtemp(prefix="chute_ckpt_")
wpath = os.path.join(ckpt_dir, "weights.safetensors")
opath = os.path.join(ckpt_dir, "optimizer.safetensors")
model.save_weights(wpath)
mx.save_safetensors(opath, dict(tree_flatten(opt.state)))
saved_xent, saved_acc, _ = evaluate(model)
del model, opt

model = ChuteNet()
model.load_weights(wpath)
opt = make_optimizer()
opt.state = tree_unflatten(list(mx.load(opath).items()))
mx.eval(model.parameters(), opt.state)
resumed_xent, resumed_acc, _ = evaluate(model)
scrape({"session": "2", "epoch": str(SESSION_SPLIT)}, {
    "resume_step": ("optimizer step counter after reload", opt.step.item()),
    "resume_val_accuracy": ("held-out accuracy right after reload", resumed_acc),
    "resume_val_accuracy_delta": ("reloaded minus saved held-out accuracy", resumed_acc - saved_acc),
})

run_epochs(model, opt, SESSION_SPLIT + 1, EPOCHS, {EPOCHS}, "2")
for f in (wpath, opath):
    os.remove(f)
os.rmdir(ckpt_dir)
