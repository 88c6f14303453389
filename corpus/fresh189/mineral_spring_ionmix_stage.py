"""Which spring did this bottle come from?  4 spring sources, 8 ion readings (mg/L).

Stage A: clean lab assays.  Stage B: field assays, noisier and with 15 % blended
bottles (two springs mixed) -- harder, so the loss goes up when it starts.
"""
import logging
import math
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s | %(message)s")
log = logging.getLogger("springs")

IONS = ["Ca", "Mg", "Na", "K", "HCO3", "SO4", "Cl", "NO3"]
SPRINGS = np.array([  # typical mg/L for each source
    [95, 24, 12, 2.0, 340, 40, 15, 3.0],
    [40, 8, 45, 6.0, 180, 20, 55, 1.0],
    [160, 42, 8, 1.5, 290, 310, 12, 4.5],
    [12, 4, 9, 1.0, 60, 8, 10, 0.5],
], dtype=np.float64)
rng = np.random.default_rng(11)


def assay(n, noise, blend_frac):
    y = rng.integers(0, 4, size=n)
    conc = SPRINGS[y] * rng.lognormal(0.0, noise, size=(n, 8))
    nb = int(blend_frac * n)
    if nb:
        other = rng.integers(0, 4, size=nb)
        w = rng.uniform(0.25, 0.45, size=(nb, 1))
        conc[:nb] = (1 - w) * conc[:nb] + w * SPRINGS[other] * rng.lognormal(0.0, noise, size=(nb, 8))
    x = np.log1p(conc)
    return x, y


xa, ya = assay(5000, 0.40, 0.0)
xb, yb = assay(5000, 0.60, 0.25)
xb_val, yb_val = assay(1500, 0.60, 0.25)
mu, sd = xa.mean(0), xa.std(0) + 1e-6
norm = lambda x: mx.array(((x - mu) / sd).astype(np.float32))
stages = [("A/lab", norm(xa), mx.array(ya)), ("B/field", norm(xb), mx.array(yb))]
Xv, Yv = norm(xb_val), mx.array(yb_val)
majority = np.bincount(yb_val).max() / len(yb_val)


class SpringNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(8, 48)
        self.l2 = nn.Linear(48, 48)
        self.out = nn.Linear(48, 4)

    def __call__(self, x):
        return self.out(nn.silu(self.l2(nn.silu(self.l1(x)))))


def loss_fn(m, x, y):
    return nn.losses.cross_entropy(m(x), y, reduction="mean")


mx.random.seed(3)
model = SpringNet()
mx.eval(model.parameters())
EPOCHS_PER_STAGE, BS = 18, 100
steps_total = 2 * EPOCHS_PER_STAGE * (5000 // BS)
sched = optim.join_schedules(
    [optim.linear_schedule(0.0, 4e-3, 60), optim.cosine_decay(4e-3, steps_total - 60, 1e-4)], [60]
)
opt = optim.AdamW(learning_rate=sched, weight_decay=1e-3)
vg = nn.value_and_grad(model, loss_fn)

# one-off audit: every weight must receive gradient
_, g0 = vg(model, stages[0][1][:BS], stages[0][2][:BS])
dead = [k for k, v in tree_flatten(g0) if float(mx.abs(v).sum()) == 0.0]
log.info("grad audit: %d tensors, %d with zero grad", len(tree_flatten(g0)), len(dead))
log.info("lr at step 0 = %.5f (warm-up from zero)", float(sched(mx.array(0))))

best = (math.inf, None, None)
patience, bad = 4, 0
for sname, X, Y in stages:
    n = X.shape[0]
    for ep in range(1, EPOCHS_PER_STAGE + 1):
        perm = mx.array(rng.permutation(n))
        tot = 0.0
        for i in range(0, n, BS):
            idx = perm[i:i + BS]
            loss, grads = vg(model, X[idx], Y[idx])
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item() * idx.shape[0]
        vl = loss_fn(model, Xv, Yv).item()
        acc = (mx.argmax(model(Xv), axis=1) == Yv).mean().item()
        log.info("%s ep%02d  train_xent=%.4f  field_xent=%.4f  field_acc=%5.1f%% (majority %.1f%%)  lr=%.2e",
                 sname, ep, tot / n, vl, 100 * acc, 100 * majority, opt.learning_rate.item())
        if sname.startswith("B"):
            if vl < best[0] - 1e-4:
                best, bad = (vl, tree_map(lambda a: a, model.parameters()), ep), 0
            else:
                bad += 1
                if bad >= patience:
                    log.info("no field improvement for %d epochs -> stop at ep%02d", patience, ep)
                    break

model.update(best[1])
mx.eval(model.parameters())
vl = loss_fn(model, Xv, Yv).item()
acc = (mx.argmax(model(Xv), axis=1) == Yv).mean().item()
log.warning("restored B ep%02d weights: field_xent=%.4f field_acc=%.1f%%", best[2], vl, 100 * acc)
