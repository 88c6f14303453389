"""Type-foundry specimen sorter: guess the typeface class of a glyph from 10
measured stroke features.  Stage 1 trains on clean digital outlines, stage 2
switches to scanned-specimen measurements (noisier, two features unreadable),
with a fresh warm-up of the learning rate from zero."""
import json
import math
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

CLASSES = ["serif", "sans", "slab", "script", "mono"]
FEATS = ["contrast", "xheight", "terminal", "slant", "advvar",
         "bracket", "aperture", "serifLen", "weight", "counter"]
rng = np.random.default_rng(1957)
centres = rng.normal(0.0, 1.0, size=(len(CLASSES), len(FEATS))).astype(np.float32)

def specimens(n, scanned):
    y = rng.integers(0, len(CLASSES), size=n)
    x = centres[y] + rng.normal(0.0, 0.9, size=(n, len(FEATS)))
    if scanned:
        x = x + rng.normal(0.0, 0.6, size=x.shape)   # scanner blur
        x[:, [5, 7]] = 0.0                             # bracket / serif length unreadable
    return mx.array(x.astype(np.float32)), mx.array(y.astype(np.int32))

class Sorter(nn.Module):
    def __init__(self):
        super().__init__()
        self.inp = nn.Linear(len(FEATS), 48)
        self.mid = nn.Linear(48, 48)
        self.out = nn.Linear(48, len(CLASSES))
    def __call__(self, x):
        h = nn.silu(self.inp(x))
        h = h + nn.silu(self.mid(h))
        return self.out(h)

def objective(model, x, y):
    logits = model(x)
    xent = nn.losses.cross_entropy(logits, y, reduction="mean")
    return xent, logits

model = Sorter()
mx.eval(model.parameters())
step_fn = nn.value_and_grad(model, objective)

def schedule(total):
    warm = optim.linear_schedule(0.0, 3e-3, 40)        # starts at exactly 0
    decay = optim.cosine_decay(3e-3, total - 40, 1e-4)
    return optim.join_schedules([warm, decay], [40])

BATCH = 128
stages = [("digital", False, 220), ("scanned", True, 260)]
for s_idx, (sname, scanned, iters) in enumerate(stages, start=1):
    xtr, ytr = specimens(4000, scanned)
    xva, yva = specimens(1000, scanned)
    opt = optim.Lion(learning_rate=schedule(iters), weight_decay=1e-2)
    for it in range(iters):
        idx = mx.array(rng.integers(0, xtr.shape[0], size=BATCH))
        lr_now = opt.learning_rate.item() if it > 0 else 0.0
        (xent, logits), grads = step_fn(model, xtr[idx], ytr[idx])
        if s_idx == 1 and it == 0:
            norms = {k: round(float(mx.linalg.norm(g).item()), 4) for k, g in tree_flatten(grads)}
            print("# audit grad-norms " + " ".join(f"{k}={v}" for k, v in norms.items()))
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, xent)
        if it % 20 == 0 or it == iters - 1:
            vx, vlog = objective(model, xva, yva)
            acc = (mx.argmax(vlog, axis=1) == yva).astype(mx.float32).mean() * 100
            wnorm = math.sqrt(sum(float((p * p).sum().item()) for _, p in tree_flatten(model.parameters())))
            print(json.dumps({"stage": s_idx, "set": sname, "it": it, "lr": round(lr_now, 6),
                              "xent": round(xent.item(), 4), "val_xent": round(vx.item(), 4),
                              "val_acc_pct": round(acc.item(), 2), "chance_pct": 20.0,
                              "w_norm": round(wnorm, 3)}))
print(json.dumps({"done": True, "final_val_acc_pct": round(acc.item(), 2)}))
