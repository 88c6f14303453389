# Sugarhouse evaporator: predict the colour grade of a batch of maple syrup
# (0 golden / 1 amber / 2 dark / 3 very dark) from sap-and-boil readings.
# AdamW, lr starts at exactly 0 (linear warmup) then cosine warm restarts,
# compiled step, early stopping that restores the best weights. JSON lines out.
import json
import time
from functools import partial

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

mx.random.seed(7)


def make_batches(n, key):
    k1, k2, k3 = mx.random.split(key, 3)
    # features: sap sugar %, season day, air temp C, boil minutes, pan depth cm, draw-off temp over boiling (F)
    lo = mx.array([1.2, 0.0, -8.0, 40.0, 2.0, 6.0])
    hi = mx.array([3.4, 45.0, 14.0, 140.0, 6.0, 8.5])
    raw = lo + (hi - lo) * mx.random.uniform(shape=(n, 6), key=k1)
    # darker syrup late in the season, with warm days, long boils, deep pans, low sugar sap
    darkness = (
        -1.1 * (raw[:, 0] - 2.3)
        + 0.06 * (raw[:, 1] - 22.0)
        + 0.08 * (raw[:, 2] - 3.0)
        + 0.025 * (raw[:, 3] - 90.0)
        + 0.35 * (raw[:, 4] - 4.0)
        + 0.25 * mx.random.normal(shape=(n,), key=k2)
    )
    cuts = mx.array([-1.0, 0.0, 1.0])
    y = mx.sum(darkness[:, None] > cuts[None, :], axis=1).astype(mx.int32)
    x = (raw - (lo + hi) / 2) / ((hi - lo) / 2)
    return x, y


x_tr, y_tr = make_batches(1536, mx.random.key(11))
x_va, y_va = make_batches(512, mx.random.key(12))

model = nn.Sequential(nn.Linear(6, 48), nn.GELU(), nn.Linear(48, 48), nn.GELU(), nn.Linear(48, 4))
mx.eval(model.parameters())

WARM = 60
CYCLE = 240
PEAK = 3e-3
TOTAL = WARM + 3 * CYCLE


def lr_at(step):
    if step < WARM:
        return PEAK * step / WARM  # 0.0 at step 0
    t = (step - WARM) % CYCLE
    return 1e-5 + 0.5 * (PEAK - 1e-5) * (1 + mx.cos(mx.array(3.141592653589793 * t / CYCLE)).item())


opt = optim.AdamW(learning_rate=0.0, weight_decay=1e-3)


def loss_fn(m, x, y):
    return nn.losses.cross_entropy(m(x), y, reduction="mean")


state = [model.state, opt.state]


@partial(mx.compile, inputs=state, outputs=state)
def step(x, y):
    loss, grads = nn.value_and_grad(model, loss_fn)(model, x, y)
    opt.update(model, grads)
    return loss


# sanity: every parameter gets a gradient
_, g0 = nn.value_and_grad(model, loss_fn)(model, x_tr[:128], y_tr[:128])
zero = [k for k, v in tree_flatten(g0) if mx.abs(v).max().item() == 0.0]
print(json.dumps({"event": "grad_check", "tensors": len(tree_flatten(g0)), "zero_grad": zero}))

counts = [int((y_va == c).sum().item()) for c in range(4)]
print(json.dumps({"event": "data", "train": 1536, "val": 512, "val_grade_counts": counts,
                  "majority_acc_pct": round(100 * max(counts) / 512, 1)}))

best = (float("inf"), -1, None)
patience, bad = 8, 0
B = 128
t0 = time.time()
for s in range(TOTAL):
    lr = lr_at(s)
    opt.learning_rate = lr
    i = (s * B) % 1536
    loss = step(x_tr[i:i + B], y_tr[i:i + B])
    mx.eval(loss, model.parameters(), opt.state)
    if s % 30 == 0 or s == TOTAL - 1:
        logits = model(x_va)
        vl = nn.losses.cross_entropy(logits, y_va, reduction="mean").item()
        acc = (mx.argmax(logits, axis=1) == y_va).mean().item()
        cyc = 0 if s < WARM else 1 + (s - WARM) // CYCLE
        rec = {"step": s, "cycle": cyc, "lr": round(lr, 6), "train_ce": round(loss.item(), 4),
               "val_ce": round(vl, 4), "val_acc_pct": round(100 * acc, 1)}
        if vl < best[0] - 1e-4:
            best = (vl, s, tree_map(lambda a: mx.array(a), model.parameters()))
            bad = 0
            rec["best"] = True
        else:
            bad += 1
        print(json.dumps(rec))
        if bad >= patience:
            print(json.dumps({"event": "early_stop", "step": s, "no_improve_evals": bad}))
            break

model.update(best[2])
mx.eval(model.parameters())
logits = model(x_va)
vl = nn.losses.cross_entropy(logits, y_va, reduction="mean").item()
acc = (mx.argmax(logits, axis=1) == y_va).mean().item()
print(json.dumps({"event": "restored", "from_step": best[1], "val_ce": round(vl, 4),
                  "val_acc_pct": round(100 * acc, 1), "seconds": round(time.time() - t0, 2)}))
