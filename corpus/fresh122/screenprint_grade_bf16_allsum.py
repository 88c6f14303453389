"""Screen-printing shop: grade each printed shirt from press-side readings.

Classes: good / underprint (too little ink) / flood (too much) / smear.
Weights are kept in float32 (master copy); the forward and backward pass run
in bfloat16. Gradients go through an all_sum over the distributed group so the
same script can run on several machines; here it is a group of one.
"""
import time
from collections import namedtuple

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

CLASSES = ["good", "underprint", "flood", "smear"]
EpochReport = namedtuple("EpochReport", "epoch step lr train_ce val_ce val_err_pct secs")


def press_log(n, rng):
    packing = rng.normal(0, 1, n)        # squeegee pressure vs. nominal
    roller_h = rng.normal(0, 1, n)       # squeegee angle
    ink = rng.normal(0, 1, n)            # ink viscosity (inverted)
    speed = rng.normal(0, 1, n)          # stroke speed
    paper = rng.normal(0, 1, n)          # mesh opening
    humidity = rng.normal(0, 1, n)
    platen_gap = rng.normal(0, 1, n)     # off-contact distance
    dust = rng.normal(0, 1, n)           # pallet temperature, not related to the outcome
    depth = 0.9 * packing + 0.7 * paper - 0.8 * platen_gap + 0.3 * np.tanh(humidity)
    smear = 0.9 * ink + 0.6 * speed * (ink > 0) + 0.5 * roller_h ** 2 - 0.5
    depth = depth + rng.normal(0, 0.35, n)
    smear = smear + rng.normal(0, 0.35, n)
    y = np.where(smear > 1.0, 3, np.where(depth > 1.0, 2, np.where(depth < -1.0, 1, 0)))
    x = np.stack([packing, roller_h, ink, speed, paper, humidity, platen_gap, dust], 1)
    return x.astype(np.float32), y.astype(np.int32)


class Grader(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(8, 96)
        self.l2 = nn.Linear(96, 96)
        self.head = nn.Linear(96, 4)

    def __call__(self, x):
        x = nn.gelu(self.l1(x))
        x = nn.gelu(self.l2(x))
        return self.head(x)


def main():
    world = mx.distributed.init()
    rng = np.random.default_rng(2024 + world.rank())
    x, y = press_log(12000, rng)
    xtr, ytr, xva, yva = x[:10000], y[:10000], x[10000:], y[10000:]
    counts = np.bincount(ytr, minlength=4) / len(ytr)
    print("world", world.size(), "rank", world.rank(), "| class mix",
          ", ".join(f"{c} {100 * p:.0f}%" for c, p in zip(CLASSES, counts)),
          f"| majority-class error {100 * (1 - counts.max()):.1f}%")

    mx.random.seed(7)
    model = Grader()                                  # float32 master weights
    xva_m, yva_m = mx.array(xva), mx.array(yva)

    def loss_fn(params, xb, yb):
        half = tree_map(lambda p: p.astype(mx.bfloat16), params)
        model.update(half)
        logits = model(xb.astype(mx.bfloat16))
        return nn.losses.cross_entropy(logits.astype(mx.float32), yb, reduction="mean")

    vg = mx.value_and_grad(loss_fn)

    def step_grads(xb, yb):
        master = model.parameters()
        loss, grads = vg(master, xb, yb)
        model.update(master)                          # put the float32 copy back
        n = world.size()
        grads = tree_map(lambda g: mx.distributed.all_sum(g, group=world) / n, grads)
        return loss, grads

    def evaluate():
        logits = model(xva_m)                         # float32 eval with the master copy
        ce = nn.losses.cross_entropy(logits, yva_m, reduction="mean").item()
        err = 100.0 * (mx.argmax(logits, axis=1) != yva_m).mean().item()
        return ce, err

    batch, epochs = 125, 14
    steps_per_epoch = len(ytr) // batch
    warm = 120
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, 2e-3, warm),
         optim.cosine_decay(2e-3, epochs * steps_per_epoch - warm, 2e-5)], [warm])
    opt = optim.AdamW(learning_rate=sched, weight_decay=0.01)

    loss0, g0 = step_grads(mx.array(xtr[:batch]), mx.array(ytr[:batch]))
    flat = tree_flatten(g0)
    print("grad check:", len(flat), "leaves, dtypes", sorted({str(v.dtype) for _, v in flat}),
          "| zero leaves:", [k for k, v in flat if mx.abs(v).max().item() == 0.0] or "none",
          f"| loss {loss0.item():.3f} (ln 4 = {np.log(4):.3f})")
    ce, err = evaluate()
    print(EpochReport(0, 0, 0.0, None, round(ce, 4), round(err, 2), 0.0))

    t0 = time.perf_counter()
    step = 0
    for ep in range(1, epochs + 1):
        perm = rng.permutation(len(ytr))
        tot = 0.0
        for b in range(steps_per_epoch):
            sel = perm[b * batch:(b + 1) * batch]
            lr_used = sched(mx.array(step)).item()
            loss, grads = step_grads(mx.array(xtr[sel]), mx.array(ytr[sel]))
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item()
            step += 1
        ce, err = evaluate()
        print(EpochReport(ep, step, float(f"{lr_used:.3g}"), round(tot / steps_per_epoch, 4),
                          round(ce, 4), round(err, 2), round(time.perf_counter() - t0, 1)))

    dtypes = {str(v.dtype) for _, v in tree_flatten(model.parameters())}
    logits = model(xva_m)
    pred = np.array(mx.argmax(logits, axis=1))
    per = {c: f"{100 * (pred[yva == i] == i).mean():.1f}%" for i, c in enumerate(CLASSES)}
    print("done: master weights", sorted(dtypes), "| recall per grade", per)


if __name__ == "__main__":
    main()
