# Organ voicing room: predict the tuning-slide setting (mm from the pipe top) that brings a
# pipe to pitch, from workshop measurements. Curriculum: flue pipes first, then reeds are
# mixed in (a harder law, so the loss jumps up), then the frozen feature trunk is released.
import json
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(11)
mx.random.seed(11)

def make_pipes(n, reed_frac):
    length_m = rng.uniform(0.15, 2.4, n)          # speaking length
    diam_mm = rng.uniform(12, 110, n)             # bore
    temp_c = rng.uniform(8, 24, n)                # chamber temperature
    wind_mm = rng.uniform(55, 95, n)              # wind pressure, mm water column
    cutup = rng.uniform(0.18, 0.32, n)            # mouth cut-up ratio
    reed = (rng.random(n) < reed_frac).astype(np.float64)
    flue = 40 * np.log(length_m / 0.15) / np.log(16) + 0.12 * diam_mm - 0.9 * (temp_c - 16) + 18 * (cutup - 0.25)
    reed_law = 22 + 9 * np.sin(2.2 * length_m) + 0.06 * (wind_mm - 75) ** 2 / 10 + 0.35 * (temp_c - 16) - 0.05 * diam_mm
    slide = np.where(reed > 0, reed_law, flue) + rng.normal(0, 0.8, n)
    X = np.stack([np.log(length_m), diam_mm / 50, (temp_c - 16) / 5, (wind_mm - 75) / 12, (cutup - 0.25) * 10, reed], 1)
    return mx.array(X.astype(np.float32)), mx.array(slide.astype(np.float32))

class Voicer(nn.Module):
    def __init__(self):
        super().__init__()
        self.trunk = nn.Sequential(nn.Linear(6, 96), nn.Tanh(), nn.Linear(96, 96), nn.Tanh())
        self.head = nn.Sequential(nn.Linear(96, 48), nn.SiLU(), nn.Linear(48, 1))
    def __call__(self, x):
        return self.head(self.trunk(x)).squeeze(-1)

model = Voicer()
model.trunk.freeze()                    # stages 1-2: trunk is a fixed random feature map
mx.eval(model.parameters())

def loss_fn(m, x, y):
    return nn.losses.huber_loss(m(x), y, delta=2.0, reduction="mean")

stages = [
    {"name": "flue_only", "reed_frac": 0.0, "steps": 500, "peak_lr": 3e-3, "unfreeze": False},
    {"name": "flue_plus_reed", "reed_frac": 0.4, "steps": 500, "peak_lr": 3e-3, "unfreeze": False},
    {"name": "release_trunk", "reed_frac": 0.4, "steps": 600, "peak_lr": 5e-4, "unfreeze": True},
]
Xval, yval = make_pipes(1500, 0.4)
base_mae = float(mx.abs(yval - yval.mean()).mean())

for si, st in enumerate(stages):
    if st["unfreeze"]:
        model.trunk.unfreeze()
    Xtr, ytr = make_pipes(4000, st["reed_frac"])
    ymu = float(ytr.mean())
    opt = optim.Adam(learning_rate=0.0, betas=[0.9, 0.99])
    lg = nn.value_and_grad(model, loss_fn)
    ntrain = len(tree_flatten(model.trainable_parameters()))
    warm = 50
    for step in range(st["steps"]):
        opt.learning_rate = st["peak_lr"] * min(1.0, step / warm)   # step 0 runs at lr 0.0
        idx = mx.array(rng.integers(0, Xtr.shape[0], 128))
        loss, grads = lg(model, Xtr[idx], ytr[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        if step % 100 == 0 or step == st["steps"] - 1:
            mae = float(mx.abs(model(Xval) - yval).mean())
            gnorm = float(mx.sqrt(sum((g * g).sum() for _, g in tree_flatten(grads))))
            print(json.dumps({"stage": si + 1, "stage_name": st["name"], "step": step,
                              "lr": float(f"{opt.learning_rate.item():.2e}"),
                              "huber": round(float(loss), 4), "val_mae_mm": round(mae, 3),
                              "mean_predictor_mae_mm": round(base_mae, 3),
                              "trainable_tensors": ntrain, "grad_norm": round(gnorm, 4)}), flush=True)

final = float(mx.abs(model(Xval) - yval).mean())
print(f"voicing summary: val MAE {final:.2f} mm vs mean-predictor {base_mae:.2f} mm "
      f"({100 * (1 - final / base_mae):.1f}% better)")
