"""Rooftop rainwater cistern: predict tomorrow's level change (litres) and
whether it overflows, from today's weather and household use.

Two heads trained jointly with learned uncertainty weights (Kendall et al.),
in two stages: stage A keeps the season embedding frozen at its random init,
stage B unfreezes it. Each stage warms its learning rate up from exactly 0."""
import logging
import math

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s",
                    datefmt="%H:%M:%S")
log = logging.getLogger("cistern")

rng = np.random.default_rng(11)
N = 3000
season = rng.integers(0, 4, N)                       # 0 winter .. 3 autumn
rain = rng.gamma(0.6, 6.0, N) * np.array([1.3, 1.0, 0.5, 1.1])[season]   # mm
roof = rng.uniform(60, 220, N)                       # m^2
people = rng.integers(1, 6, N)
temp = np.array([4.0, 12.0, 22.0, 13.0])[season] + rng.normal(0, 3, N)   # deg C
level = rng.uniform(500, 4800, N)                    # litres in a 5000 l tank
inflow = 0.8 * rain * roof
draw = people * (90 + 3.0 * np.maximum(temp - 15, 0)) + np.array([0, 0, 120, 0])[season]
delta = inflow - draw + rng.normal(0, 60, N)
overflow = (level + delta > 5000).astype(np.float32)
delta = np.clip(delta, -level, 5000 - level)

feats = np.stack([rain / 10, roof / 100, people / 3, temp / 10, level / 2500], 1).astype(np.float32)
y_reg = (delta / 1000.0).astype(np.float32)          # kilolitres
tr, va = slice(0, 2400), slice(2400, N)
Xtr, Str, Ytr, Otr = map(mx.array, (feats[tr], season[tr], y_reg[tr], overflow[tr]))
Xva, Sva, Yva, Ova = map(mx.array, (feats[va], season[va], y_reg[va], overflow[va]))


class CisternNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.season = nn.Embedding(4, 6)
        self.trunk = nn.Sequential(nn.Linear(5 + 6, 64), nn.SiLU(), nn.Linear(64, 64), nn.SiLU())
        self.delta_head = nn.Linear(64, 1)
        self.flow_head = nn.Linear(64, 1)
        self.log_var = mx.zeros((2,))                # learned task uncertainties

    def __call__(self, x, s):
        h = self.trunk(mx.concatenate([x, self.season(s)], axis=1))
        return self.delta_head(h).squeeze(1), self.flow_head(h).squeeze(1)


def losses(model, x, s, y, o):
    d, f = model(x, s)
    mse = mx.mean((d - y) ** 2)
    bce = nn.losses.binary_cross_entropy(f, o, reduction="mean")
    lv = model.log_var
    total = 0.5 * (mx.exp(-lv[0]) * mse + lv[0]) + (mx.exp(-lv[1]) * bce + 0.5 * lv[1])
    return total, mse, bce


def loss_only(model, x, s, y, o):
    return losses(model, x, s, y, o)[0]


model = CisternNet()
mx.eval(model.parameters())
vg = nn.value_and_grad(model, loss_only)

base_mae = float(mx.mean(mx.abs(Yva - mx.mean(Ytr))).item()) * 1000
base_acc = float(mx.mean((Ova == 0).astype(mx.float32)).item()) * 100
STAGES = [("A", 900, 4e-3, True), ("B", 900, 1.5e-3, False)]
BS = 256
log.info("baseline (train-mean delta, never-overflow): MAE %.0f l, overflow acc %.1f %%",
         base_mae, base_acc)
log.info("%-5s %5s %9s %9s %9s %8s %9s %8s %11s", "stage", "step", "lr", "total", "mse_kl2",
         "bce", "MAE_l", "acc_%", "sigma(d,o)")
for name, steps, peak, freeze_season in STAGES:
    if freeze_season:
        model.season.freeze()
    else:
        model.season.unfreeze()
    warm = 60
    sched = optim.join_schedules([optim.linear_schedule(0.0, peak, warm),
                                  optim.cosine_decay(peak, steps - warm, 0.05 * peak)], [warm])
    opt = optim.RMSprop(learning_rate=sched, alpha=0.95)
    n_train = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
    log.info("stage %s: %d trainable values, season embedding %s", name, n_train,
             "frozen" if freeze_season else "trainable")
    for step in range(steps):
        idx = mx.array(rng.integers(0, 2400, BS))
        lr_now = opt.learning_rate.item()
        loss, grads = vg(model, Xtr[idx], Str[idx], Ytr[idx], Otr[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        if step == 0:
            gn = {k: float(mx.abs(g).sum().item()) for k, g in tree_flatten(grads)}
            zero = [k for k, v in gn.items() if v == 0.0]
            log.info("grad check stage %s: %d tensors, zero-grad tensors: %s", name, len(gn),
                     zero or "none")
        if step % 150 == 0 or step == steps - 1:
            tot, mse, bce = losses(model, Xva, Sva, Yva, Ova)
            d, f = model(Xva, Sva)
            mae = mx.mean(mx.abs(d - Yva)).item() * 1000
            acc = mx.mean(((f > 0) == (Ova > 0.5)).astype(mx.float32)).item() * 100
            sig = mx.exp(0.5 * model.log_var)
            log.info("%-5s %5d %9.2e %9.4f %9.4f %8.4f %9.0f %8.1f %5.2f,%5.2f", name, step, lr_now,
                     tot.item(), mse.item(), bce.item(), mae, acc, sig[0].item(), sig[1].item())

d, f = model(Xva, Sva)
mae = mx.mean(mx.abs(d - Yva)).item() * 1000
acc = mx.mean(((f > 0) == (Ova > 0.5)).astype(mx.float32)).item() * 100
print(f"FINAL  delta MAE {mae:.0f} l (baseline {base_mae:.0f} l)   "
      f"overflow acc {acc:.1f} % (baseline {base_acc:.1f} %)")
