# Hailstone size nowcast: regress max hail diameter (mm) from six storm-environment
# predictors. Adamax + cosine warm restarts (each cycle warms up from lr=0), compiled step.
import json
import math
from functools import partial

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

mx.random.seed(7)

FEATURES = ["cape_jkg", "shear_0_6km_ms", "frz_level_km", "updraft_ms", "pwat_mm", "refl_dbz"]


def synth_storms(n):
    cape = mx.random.uniform(200, 4500, (n,))
    shear = mx.random.uniform(2, 35, (n,))
    frz = mx.random.uniform(2.5, 4.8, (n,))
    updraft = mx.sqrt(2 * cape) * mx.random.uniform(0.35, 0.6, (n,))
    pwat = mx.random.uniform(10, 55, (n,))
    refl = 35 + 0.006 * cape + 0.25 * shear + mx.random.normal((n,)) * 3
    # made-up growth law: hail grows with updraft and shear, melts with a high freezing level
    diam = (
        0.9 * updraft
        + 0.45 * shear * mx.tanh(cape / 2000)
        - 6.0 * mx.maximum(frz - 3.6, 0) ** 2
        + 0.15 * mx.maximum(refl - 55, 0) ** 1.5
        - 0.08 * pwat
    )
    diam = mx.maximum(diam, 0.0) + mx.abs(mx.random.normal((n,))) * 2.0
    X = mx.stack([cape, shear, frz, updraft, pwat, refl], axis=1)
    return X, diam


Xtr, ytr = synth_storms(24000)
Xva, yva = synth_storms(4000)
mu, sd = Xtr.mean(0), Xtr.std(0)
ymu, ysd = ytr.mean(), ytr.std()
Xtr, Xva = (Xtr - mu) / sd, (Xva - mu) / sd
ztr = (ytr - ymu) / ysd
mx.eval(Xtr, Xva, ztr, yva)
climatology_mae = mx.abs(yva - ytr.mean()).mean().item()


class HailNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.inp = nn.Linear(6, 48)
        self.mid = nn.Linear(48, 48)
        self.out = nn.Linear(48, 1)

    def __call__(self, x):
        h = nn.gelu(self.inp(x))
        h = h + nn.gelu(self.mid(h))
        return self.out(h).squeeze(-1)


def loss_fn(model, x, z):
    return nn.losses.huber_loss(model(x), z, delta=1.0, reduction="mean")


model = HailNet()
opt = optim.Adamax(learning_rate=0.0)
mx.eval(model.parameters())
state = [model.state, opt.state]


@partial(mx.compile, inputs=state, outputs=state)
def step(x, z):
    loss, grads = nn.value_and_grad(model, loss_fn)(model, x, z)
    opt.update(model, grads)
    return loss


def val_mae_mm():
    pred = model(Xva) * ysd + ymu
    return mx.abs(pred - yva).mean().item()


# audit once: every parameter receives a gradient
_, g0 = nn.value_and_grad(model, loss_fn)(model, Xtr[:512], ztr[:512])
dead = [k for k, v in tree_flatten(g0) if mx.abs(v).max().item() == 0.0]
print(json.dumps({"event": "grad_audit", "tensors": len(tree_flatten(g0)), "zero_grad": dead}))

PEAK, WARM = 4e-3, 30
BATCH = 256
steps_per_epoch = Xtr.shape[0] // BATCH
cycles = [2, 4, 8]  # epochs per cycle (T_mult = 2)
best = (float("inf"), None)
gstep = 0
for c, n_ep in enumerate(cycles, start=1):
    total = n_ep * steps_per_epoch
    t = 0
    for ep in range(n_ep):
        perm = mx.random.permutation(Xtr.shape[0])
        run, lr_first = 0.0, None
        for b in range(steps_per_epoch):
            if t < WARM:
                lr = PEAK * t / WARM
            else:
                lr = 0.5 * PEAK * (1 + math.cos(math.pi * (t - WARM) / (total - WARM)))
            if lr_first is None:
                lr_first = lr
            opt.learning_rate = lr
            idx = perm[b * BATCH:(b + 1) * BATCH]
            loss = step(Xtr[idx], ztr[idx])
            mx.eval(state, loss)
            run += loss.item()
            t += 1
            gstep += 1
        mae = val_mae_mm()
        if mae < best[0]:
            best = (mae, f"c{c}e{ep}")
        print(json.dumps({
            "cycle": c, "epoch": ep, "step": gstep,
            "lr_at_epoch_start": round(lr_first, 6), "lr_now": round(lr, 6),
            "huber_z": round(run / steps_per_epoch, 4),
            "val_mae_mm": round(mae, 3), "climatology_mae_mm": round(climatology_mae, 3),
            "skill_pct": round(100 * (1 - mae / climatology_mae), 1),
        }))

print(json.dumps({"event": "done", "best_val_mae_mm": round(best[0], 3), "best_at": best[1],
                  "climatology_mae_mm": round(climatology_mae, 3)}))
