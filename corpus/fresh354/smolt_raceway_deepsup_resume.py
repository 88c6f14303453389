"""Salmon hatchery: sort each eyed-egg tray into a hatch-outcome class from the incubation log.

Classes: 0 = strong (>90% hatch), 1 = fair, 2 = poor, 3 = fungal loss.
Model: three residual GELU blocks with DEEP SUPERVISION: auxiliary classifiers after block 1
and block 2 add weighted cross-entropy terms; the auxiliary weight decays linearly from 0.4
to 0 over the first half of training, after which only the final head is trained.
The run is split in two sessions: session 1 writes a checkpoint (weights, optimizer state,
step) and stops; session 2 rebuilds everything from scratch, loads the checkpoint and
carries on.
"""
import json
import os
import shutil
import tempfile
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten, tree_unflatten

rng = np.random.default_rng(5)


def make_trays(n):
    temp = rng.uniform(4.0, 12.0, n)            # water temperature C
    o2 = rng.uniform(6.5, 11.5, n)              # dissolved oxygen mg/L
    flow = rng.uniform(4.0, 16.0, n)            # L/min through the tray
    silt = rng.gamma(2.0, 1.5, n)               # NTU
    ph = rng.normal(7.0, 0.35, n)
    ctu = rng.uniform(150, 420, n)              # cumulative temperature units so far
    dead_pct = rng.beta(1.2, 18, n) * 100       # dead eggs picked, %
    formalin = rng.integers(0, 2, n).astype(np.float64)
    broodstock_age = rng.integers(3, 6, n).astype(np.float64)
    egg_mm = rng.normal(6.2, 0.4, n)
    score = (0.55 * (o2 - 9) - 0.25 * (temp - 8) ** 2 / 4 - 0.18 * silt
             - 0.12 * dead_pct + 0.25 * (egg_mm - 6.2) * 2 + 0.08 * (flow - 10)
             - 0.6 * np.abs(ph - 7.0) + rng.normal(0, 0.55, n))
    fungal = (silt > 4.0) & (formalin < 0.5) & (temp > 8.5)
    label = np.where(score > 0.2, 0, np.where(score > -1.2, 1, 2))
    label = np.where(fungal & (rng.uniform(size=n) < 0.85), 3, label).astype(np.int32)
    X = np.stack([temp, o2, flow, silt, ph, ctu, dead_pct, formalin, broodstock_age, egg_mm], 1)
    return X.astype(np.float32), label


Xtr, ytr = make_trays(8000)
Xva, yva = make_trays(2000)
mu, sd = Xtr.mean(0), Xtr.std(0)
Xtr_m = mx.array((Xtr - mu) / sd)
Xva_m = mx.array((Xva - mu) / sd)
ytr_m = mx.array(ytr)
yva_m = mx.array(yva)


class Block(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.norm = nn.LayerNorm(d)
        self.fc1 = nn.Linear(d, 2 * d)
        self.fc2 = nn.Linear(2 * d, d)

    def __call__(self, h):
        return h + self.fc2(nn.gelu(self.fc1(self.norm(h))))


class TrayNet(nn.Module):
    def __init__(self, d_in=10, d=48, n_cls=4):
        super().__init__()
        self.embed = nn.Linear(d_in, d)
        self.blocks = [Block(d), Block(d), Block(d)]
        self.aux_heads = [nn.Linear(d, n_cls), nn.Linear(d, n_cls)]
        self.head = nn.Linear(d, n_cls)

    def __call__(self, x):
        h = self.embed(x)
        aux = []
        for i, blk in enumerate(self.blocks):
            h = blk(h)
            if i < 2:
                aux.append(self.aux_heads[i](h))
        return self.head(h), aux


EPOCHS = 12
BATCH = 128
SPE = Xtr.shape[0] // BATCH
TOTAL = EPOCHS * SPE
AUX_END = TOTAL // 2
WARM = 80
STOP_AFTER_EPOCH = 6   # session 1 ends here


def aux_weight(step):
    return max(0.0, 0.4 * (1.0 - step / AUX_END))


def build():
    mx.random.seed(5)
    m = TrayNet()
    mx.eval(m.parameters())
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, 3e-3, WARM), optim.cosine_decay(3e-3, TOTAL - WARM, 3e-5)],
        [WARM])
    o = optim.AdamW(learning_rate=sched, weight_decay=1e-4)
    return m, o, sched


def loss_fn(m, x, y, w_aux):
    logits, aux = m(x)
    main = nn.losses.cross_entropy(logits, y, reduction="mean")
    side = sum(nn.losses.cross_entropy(a, y, reduction="mean") for a in aux)
    return main + w_aux * side, (main, side)


def evaluate(m):
    logits, aux = m(Xva_m)
    ce = nn.losses.cross_entropy(logits, yva_m, reduction="mean")
    pred = mx.argmax(logits, 1)
    err = 1.0 - mx.mean(pred == yva_m)
    fung = yva_m == 3
    miss = mx.sum((pred != 3) & fung) / mx.maximum(mx.sum(fung), 1)
    aux_err = [1.0 - mx.mean(mx.argmax(a, 1) == yva_m) for a in aux]
    mx.eval(ce, err, miss, *aux_err)
    return ce.item(), 100 * err.item(), 100 * miss.item(), [100 * a.item() for a in aux_err]


def emit(kind, **kw):
    print(json.dumps({"event": kind, **kw}))


def run_epochs(m, o, sched, start_step, first_ep, last_ep, shuffles):
    vg = nn.value_and_grad(m, loss_fn)
    step = start_step
    for ep in range(first_ep, last_ep + 1):
        perm = mx.array(shuffles[ep - 1])
        tot = mn = sd_ = 0.0
        t0 = time.time()
        for b in range(SPE):
            idx = perm[b * BATCH:(b + 1) * BATCH]
            w = aux_weight(step)
            (loss, (main, side)), grads = vg(m, Xtr_m[idx], ytr_m[idx], w)
            o.update(m, grads)
            mx.eval(m.parameters(), o.state, loss, main, side)
            tot += loss.item(); mn += main.item(); sd_ += side.item()
            step += 1
        ce, err, miss, aux_err = evaluate(m)
        emit("epoch", epoch=ep, step=step, lr=round(float(sched(step)), 7), aux_w=round(aux_weight(step), 4),
             train_total=round(tot / SPE, 4), train_main_ce=round(mn / SPE, 4), train_aux_ce=round(sd_ / SPE, 4),
             val_ce=round(ce, 4), val_err_pct=round(err, 2), fungal_miss_pct=round(miss, 2),
             aux1_err_pct=round(aux_err[0], 2), aux2_err_pct=round(aux_err[1], 2),
             secs=round(time.time() - t0, 2))
    return step


# the shuffle order is drawn up front so the split run sees the same batches as an unsplit one
shuffles = [rng.permutation(Xtr.shape[0])[: SPE * BATCH] for _ in range(EPOCHS)]
counts = np.bincount(ytr, minlength=4)
emit("start", train=int(Xtr.shape[0]), valid=int(Xva.shape[0]), class_share_pct=[round(100 * c / counts.sum(), 1) for c in counts],
     majority_err_pct=round(100 * float(np.mean(yva != counts.argmax())), 2), epochs=EPOCHS, steps=TOTAL)

model, opt, sched = build()
(l0, _), g0 = nn.value_and_grad(model, loss_fn)(model, Xtr_m[:BATCH], ytr_m[:BATCH], aux_weight(0))
leaves = tree_flatten(g0)
zero = [k for k, v in leaves if mx.abs(v).max().item() == 0]
emit("grad_audit", leaves=len(leaves), zero_leaves=zero, loss=round(l0.item(), 4), lr_first_update=float(sched(0)))

ckdir = tempfile.mkdtemp("_trays")
step = run_epochs(model, opt, sched, 0, 1, STOP_AFTER_EPOCH, shuffles)
mx.save_safetensors(os.path.join(ckdir, "model.safetensors"), dict(tree_flatten(model.parameters())))
mx.save_safetensors(os.path.join(ckdir, "opt.safetensors"), dict(tree_flatten(opt.state)))
with open(os.path.join(ckdir, "meta.json"), "w") as f:
    json.dump({"step": step, "epoch": STOP_AFTER_EPOCH}, f)
ce_before, err_before, _, _ = evaluate(model)
emit("checkpoint", dir=os.path.basename(ckdir), step=step, val_ce=round(ce_before, 4))
del model, opt

# ---- session 2: everything rebuilt, then restored ----
model, opt, sched = build()
model.update(tree_unflatten(list(mx.load(os.path.join(ckdir, "model.safetensors")).items())))
opt.init(model.trainable_parameters())
opt.state = tree_unflatten(list(mx.load(os.path.join(ckdir, "opt.safetensors")).items()))
with open(os.path.join(ckdir, "meta.json")) as f:
    meta = json.load(f)
mx.eval(model.parameters(), opt.state)
ce_after, err_after, _, _ = evaluate(model)
emit("resume", step=meta["step"], opt_step=int(opt.state["step"].item()), val_ce=round(ce_after, 4),
     val_ce_gap=round(abs(ce_after - ce_before), 6), lr=float(sched(meta["step"])))
step = run_epochs(model, opt, sched, meta["step"], meta["epoch"] + 1, EPOCHS, shuffles)

ce, err, miss, aux_err = evaluate(model)
shutil.rmtree(ckdir, ignore_errors=True)
emit("done", step=step, val_ce=round(ce, 4), val_err_pct=round(err, 2), fungal_miss_pct=round(miss, 2),
     aux_err_pct=[round(a, 2) for a in aux_err])
