"""Winter ice road: allowable gross vehicle weight (tonnes) from ice survey features.

Two-stage curriculum: first only solid, thick, uncracked ice; then the full survey set
(thin + cracked ice), which is harder so the training loss jumps at the stage change.
Learning rate warms up from exactly 0. Early stopping on validation MAE with restore.
"""
import math
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

rng = np.random.default_rng(171)


def survey(n):
    h = rng.uniform(20, 110, n)            # ice thickness, cm
    t = rng.uniform(-35, -2, n)            # air temperature, C
    snow = rng.uniform(0, 40, n)           # snow cover, cm
    days = rng.uniform(5, 120, n)          # days since freeze-up
    crack = rng.beta(1.2, 3.0, n)          # wet-crack index 0..1
    warm = np.clip((t + 12) / 10, 0, 1)    # warm-day weakening
    h_eff = h * (1 - 0.35 * crack) * (1 - 0.18 * warm) * (1 + 0.002 * np.minimum(days, 60))
    h_eff = h_eff * (1 - 0.003 * snow)
    gvw = 0.0035 * h_eff ** 2 + rng.normal(0, 0.6, n)      # tonnes
    gold = 0.0035 * h ** 2                                  # plain Gold formula, A = 3.5
    X = np.stack([h / 100, (t + 18) / 10, snow / 20, days / 60, crack * 3], 1)
    return X.astype(np.float32), gvw.astype(np.float32), gold.astype(np.float32), h, crack


Xtr, ytr, _, htr, ctr = survey(6000)
Xva, yva, gva, _, _ = survey(1500)
solid = (htr > 55) & (ctr < 0.25)
print(f"survey: {len(ytr)} train ({solid.sum()} solid-ice), {len(yva)} val; GVW mean {ytr.mean():.2f} t")
gold_mae = float(np.abs(gva - yva).mean())


class LoadNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(5, 48)
        self.l2 = nn.Linear(48, 48)
        self.out = nn.Linear(48, 1)

    def __call__(self, x):
        x = nn.gelu(self.l1(x))
        x = nn.gelu(self.l2(x))
        return self.out(x).squeeze(-1) * 10.0


model = LoadNet()
mx.eval(model.parameters())


def loss_fn(m, x, y):
    return nn.losses.huber_loss(m(x), y, delta=2.0, reduction="mean")


grad_fn = nn.value_and_grad(model, loss_fn)

# check every trained tensor gets a gradient before the run
_, g0 = grad_fn(model, mx.array(Xtr[:256]), mx.array(ytr[:256]))
zero = [k for k, v in tree_flatten(g0) if float(mx.abs(v).sum()) == 0.0]
print("grad audit:", "all", len(tree_flatten(g0)), "tensors non-zero" if not zero else f"ZERO {zero}")

STEPS_PER_EPOCH = 40
sched = optim.join_schedules(
    [optim.linear_schedule(0.0, 4e-3, 80), optim.cosine_decay(4e-3, 40 * STEPS_PER_EPOCH, 2e-4)], [80])
opt = optim.Adamax(learning_rate=sched)

Xva_m, yva_m = mx.array(Xva), mx.array(yva)
stages = [("solid", np.where(solid)[0], 8), ("full", np.arange(len(ytr)), 32)]
best = (math.inf, None, -1)
patience, bad = 6, 0
print(f"{'stage':<6}{'ep':>4}{'lr':>10}{'train_huber':>13}{'val_MAE_t':>11}{'gold_MAE_t':>12}{'within_1t%':>12}")
epoch_global = 0
for stage, idx, n_ep in stages:
    for ep in range(1, n_ep + 1):
        epoch_global += 1
        run = 0.0
        for _ in range(STEPS_PER_EPOCH):
            b = rng.choice(idx, 128)
            loss, grads = grad_fn(model, mx.array(Xtr[b]), mx.array(ytr[b]))
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            run += loss.item()
        pred = model(Xva_m)
        err = mx.abs(pred - yva_m)
        mae, within = err.mean().item(), (err < 1.0).mean().item() * 100
        lr_now = opt.learning_rate.item()
        print(f"{stage:<6}{ep:>4}{lr_now:>10.2e}{run / STEPS_PER_EPOCH:>13.4f}{mae:>11.3f}{gold_mae:>12.3f}{within:>11.1f}%")
        if stage == "full":
            if mae < best[0] - 1e-3:
                best = (mae, tree_map(lambda p: mx.array(p), model.parameters()), epoch_global)
                bad = 0
            else:
                bad += 1
                if bad >= patience:
                    print(f"early stop in stage full at ep {ep}: no val gain for {patience} epochs")
                    break

model.update(best[1])
mx.eval(model.parameters())
final = mx.abs(model(Xva_m) - yva_m).mean().item()
print(f"restored epoch {best[2]} weights: val MAE {final:.3f} t (gold formula {gold_mae:.3f} t)")
