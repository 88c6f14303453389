"""Espalier orchard: predict the winter fruit-bud set grade (0..4) of a trained cordon arm from its season log.

Ordinal (cumulative-logit) head, SGD+momentum with a warm-restart schedule that starts
every cycle at lr 0, early stopping on validation MAE with restore of the best weights.
Writes one JSON object per epoch.
"""
import json
import math

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_map

mx.random.seed(2024)
GRADES = 5
N_TRAIN, N_VAL = 4000, 800


def make_arms(n):
    # summer-prune week (x10), prunes/season, wire tier (1 = lowest), sunlit hours/day, arm age yr, N applied g
    t = mx.random.uniform(33.0, 40.0, (n,))
    prunes = mx.random.randint(1, 5, (n,)).astype(mx.float32)
    tier = mx.random.uniform(4.0, 9.0, (n,))
    sun = mx.random.uniform(50.0, 63.0, (n,)) / 10.0
    age = mx.random.uniform(0.5, 4.0, (n,))
    nitro = mx.random.uniform(2.5, 4.5, (n,))
    latent = (0.35 * age * (1 + 0.06 * (t - 36.5)) + 0.9 * (sun - 5.6) + 0.3 * prunes
              - 0.25 * (tier - 6.5) - 0.5 * (nitro - 3.5) + 0.3 * mx.sin(2.0 * age) - 0.4)
    latent = latent + 0.35 * mx.random.normal((n,))
    cuts = mx.array([-0.2, 0.6, 1.4, 2.2])
    y = (latent[:, None] > cuts[None, :]).sum(axis=1)
    x = mx.stack([t, prunes, tier, sun, age, nitro], axis=1)
    return x, y


xtr, ytr = make_arms(N_TRAIN)
xva, yva = make_arms(N_VAL)
mu, sd = xtr.mean(axis=0), xtr.std(axis=0)
xtr, xva = (xtr - mu) / sd, (xva - mu) / sd


class BudSetGrader(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(6, 32), nn.GELU(), nn.Linear(32, 32), nn.GELU())
        self.score = nn.Linear(32, 1)
        self.cut0 = mx.array([-1.0])
        self.gaps = mx.zeros((GRADES - 2,))

    def thresholds(self):
        return mx.concatenate([self.cut0, self.cut0 + mx.cumsum(nn.softplus(self.gaps) + 0.05)])

    def __call__(self, x):
        s = self.score(self.body(x))            # (n, 1)
        return s - self.thresholds()[None, :]   # (n, GRADES-1) cumulative logits


def ordinal_loss(model, x, y):
    z = model(x)
    target = (y[:, None] > mx.arange(GRADES - 1)[None, :]).astype(mx.float32)
    return nn.losses.binary_cross_entropy(z, target, with_logits=True, reduction="mean")


def predict(model, x):
    return (model(x) > 0).sum(axis=1)


model = BudSetGrader()
CYCLES = [(18, 0.08), (30, 0.05)]   # (epochs, peak lr) per cycle
WARM = 3
opt = optim.SGD(learning_rate=0.0, momentum=0.9, nesterov=True)
grad_fn = nn.value_and_grad(model, ordinal_loss)

# reference: predict the training-set median grade for everyone
med = int(mx.sort(ytr)[N_TRAIN // 2].item())
base_mae = mx.abs(yva - med).astype(mx.float32).mean().item()

best_mae, best_params, bad, patience = float("inf"), None, 0, 12
BS = 100
epoch = 0
stopped = False
for cyc, (n_ep, peak) in enumerate(CYCLES):
    for e in range(n_ep):
        perm = mx.random.permutation(N_TRAIN)
        steps = N_TRAIN // BS
        tot = 0.0
        for b in range(steps):
            k = e * steps + b
            warm = WARM * steps
            if k < warm:
                lr = peak * k / warm
            else:
                lr = 0.5 * peak * (1 + math.cos(math.pi * (k - warm) / (n_ep * steps - warm)))
            opt.learning_rate = lr
            idx = perm[b * BS:(b + 1) * BS]
            loss, g = grad_fn(model, xtr[idx], ytr[idx])
            opt.update(model, g)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item()
        pv = predict(model, xva)
        mae = mx.abs(pv - yva).astype(mx.float32).mean().item()
        within1 = (mx.abs(pv - yva) <= 1).astype(mx.float32).mean().item()
        rec = {"cycle": cyc, "ep": e, "lr_end": round(lr, 5), "bce": round(tot / steps, 4),
               "val_mae": round(mae, 4), "median_mae": round(base_mae, 4),
               "within1_pct": round(100 * within1, 1)}
        print(json.dumps(rec))
        epoch += 1
        if mae < best_mae - 1e-4:
            best_mae, bad = mae, 0
            best_params = tree_map(lambda a: a, model.parameters())
        else:
            bad += 1
            if bad >= patience:
                stopped = True
                break
    if stopped:
        break

model.update(best_params)
mx.eval(model.parameters())
pv = predict(model, xva)
final = mx.abs(pv - yva).astype(mx.float32).mean().item()
print(json.dumps({"event": "restore", "epochs_run": epoch, "early_stop": stopped,
                  "restored_val_mae": round(final, 4), "best_val_mae": round(best_mae, 4),
                  "cuts": [round(c, 3) for c in model.thresholds().tolist()]}))
