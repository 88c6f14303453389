# Bobbin-lace pricking reader: name the lace ground (torchon, whole stitch,
# honeycomb, kat stitch, Bucks point) from a window of worked stitch actions
# (C = cross, T = twist, P = pin, X = pair exchange) read off a lace pillow.
# Stage "clean": short windows read by hand.  Stage "camera": 16-action windows
# from the pillow camera, with ~30% misread actions -- harder, so the loss
# jumps when it starts.  Data-parallel code path via mx.distributed (works
# with a single process too).
import json
import random
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_map

GROUNDS = {
    "torchon": "CTPCT",
    "whole": "CTPTC",
    "honeycomb": "CTTPCTT",
    "kat": "CTPCTX",
    "bucks": "TCPTTX",
}
NAMES = list(GROUNDS)
ALPHA = {c: i for i, c in enumerate("CTPX")}

world = mx.distributed.init()
rank, size = world.rank(), world.size()


def sample(n, length, misread, seed):
    rng = random.Random(seed * 1000 + rank)
    xs, ys = [], []
    for _ in range(n):
        g = rng.randrange(len(NAMES))
        unit = GROUNDS[NAMES[g]]
        ph = rng.randrange(len(unit))
        seq = [unit[(ph + i) % len(unit)] for i in range(length)]
        seq = [rng.choice("CTPX") if rng.random() < misread else c for c in seq]
        xs.append([ALPHA[c] for c in seq])
        ys.append(g)
    return mx.array(xs), mx.array(ys)


class GroundReader(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(4, 16)
        self.c1 = nn.Conv1d(16, 32, kernel_size=5, padding=2)
        self.c2 = nn.Conv1d(32, 32, kernel_size=5, padding=2)
        self.out = nn.Linear(64, len(NAMES))

    def __call__(self, x):
        h = nn.relu(self.c1(self.emb(x)))
        h = nn.relu(self.c2(h))
        return self.out(mx.concatenate([h.mean(axis=1), h.max(axis=1)], axis=-1))


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def err_pct(model, x, y):
    return 100.0 * (mx.argmax(model(x), axis=-1) != y).astype(mx.float32).mean().item()


def all_average(grads):
    return tree_map(lambda g: mx.distributed.all_sum(g, group=world) / size, grads)


STAGES = [
    {"name": "clean", "length": 12, "misread": 0.0, "steps": 150, "peak_lr": 3e-3},
    {"name": "camera", "length": 16, "misread": 0.3, "steps": 300, "peak_lr": 2e-3},
]

mx.random.seed(7)
model = GroundReader()
mx.eval(model.parameters())
vg = nn.value_and_grad(model, loss_fn)
t0 = time.time()
summary = []

for si, st in enumerate(STAGES):
    warm = 60
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, st["peak_lr"], warm),
         optim.cosine_decay(st["peak_lr"], st["steps"] - warm, 1e-5)],
        [warm],
    )
    opt = optim.AdamW(learning_rate=sched, weight_decay=1e-3)
    Xtr, Ytr = sample(4000, st["length"], st["misread"], seed=10 + si)
    Xva, Yva = sample(800, st["length"], st["misread"], seed=20 + si)
    majority = 100.0 * (1.0 - max((Yva == k).sum().item() for k in range(len(NAMES))) / Yva.shape[0])
    rng = random.Random(si)
    run = 0.0
    for step in range(st["steps"]):
        lr_now = opt.learning_rate.item()
        idx = mx.array(rng.sample(range(Xtr.shape[0]), 64))
        loss, grads = vg(model, Xtr[idx], Ytr[idx])
        grads = all_average(grads)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        run = loss.item() if step == 0 else 0.9 * run + 0.1 * loss.item()
        if step % 30 == 0 or step == st["steps"] - 1:
            rec = {"stage": st["name"], "step": step, "lr": round(lr_now, 6),
                   "xent": round(run, 4), "val_err_pct": round(err_pct(model, Xva, Yva), 2),
                   "majority_err_pct": round(majority, 2), "world": size}
            if rank == 0:
                print(json.dumps(rec), flush=True)
    summary.append((st["name"], run, err_pct(model, Xva, Yva), majority))

if rank == 0:
    print("stage    xent    val_err%  majority_err%")
    for name, x, e, m in summary:
        print(f"{name:<8} {x:6.4f}  {e:7.2f}   {m:7.2f}")
    print(f"done in {time.time() - t0:.1f}s")
