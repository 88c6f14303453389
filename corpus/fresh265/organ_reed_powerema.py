# Voicing check for organ reed pipes: flat / in tune / sharp from 8 synthetic
# acoustic readings. SGD at a constant, fairly high step keeps the live weights
# jittering; two power-function averages of the weights (EDM2-style profiles,
# beta_t = (1 - 1/t)^(gamma + 1)) are kept beside them and scored on held-out pipes.
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

rng = np.random.default_rng(3)
mx.random.seed(3)


def pipes(n):
    z = rng.normal(size=(n, 8))
    latent = 1.3 * z[:, 0] - 0.9 * z[:, 1] * z[:, 2] + 0.7 * np.sin(2 * z[:, 3]) + 0.4 * z[:, 4] ** 2 - 0.4
    latent = latent + rng.logistic(0, 0.6, n)
    y = np.digitize(latent, [-0.8, 0.8])  # 0 flat, 1 in tune, 2 sharp
    return z.astype(np.float32), y.astype(np.int32)


Xtr, ytr = pipes(6000)
Xva, yva = pipes(2000)
Xva_m, yva_m = mx.array(Xva), mx.array(yva)


class ReedNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(8, 64), nn.GELU(), nn.Linear(64, 64), nn.GELU())
        self.head = nn.Linear(64, 3)

    def __call__(self, x):
        return self.head(self.body(x))


def ce(model, X, y):
    return nn.losses.cross_entropy(model(X), y, reduction="mean")


def score(params, probe):
    probe.update(params)
    logits = probe(Xva_m)
    acc = (mx.argmax(logits, axis=1) == yva_m).astype(mx.float32).mean().item()
    return ce(probe, Xva_m, yva_m).item(), acc


model = ReedNet()
probe = ReedNet()
mx.eval(model.parameters())
STEPS = 1500
WARM = 100
LR = 0.15
opt = optim.SGD(learning_rate=0.0, momentum=0.9)
lg = nn.value_and_grad(model, ce)
GAMMAS = {"pow6.94": 6.94, "pow16.97": 16.97}
avgs = {k: None for k in GAMMAS}

major = np.bincount(ytr).argmax()
print(f"train={len(ytr)} valid={len(yva)} class shares {np.round(np.bincount(ytr) / len(ytr), 3).tolist()} "
      f"majority-class valid acc {(yva == major).mean():.3f}")

t0 = time.time()
window = []
for t in range(1, STEPS + 1):
    opt.learning_rate = LR * min(t - 1, WARM) / WARM  # first update at lr exactly 0
    idx = rng.integers(0, len(ytr), 32)
    loss, grads = lg(model, mx.array(Xtr[idx]), mx.array(ytr[idx]))
    opt.update(model, grads)
    for k, g in GAMMAS.items():
        beta = (1 - 1 / t) ** (g + 1)  # 0 at t = 1: the average starts as the weights
        if avgs[k] is None:
            avgs[k] = tree_map(lambda p: mx.array(p), model.parameters())
        else:
            avgs[k] = tree_map(lambda a, p: beta * a + (1 - beta) * p, avgs[k], model.parameters())
    mx.eval(model.parameters(), opt.state, *avgs.values(), loss)
    window.append(loss.item())
    if t % 250 == 0:
        live = score(model.parameters(), probe)
        parts = "  ".join(f"{k} ce {v[0]:.3f} acc {v[1]:.3f}"
                          for k, v in ((k, score(a, probe)) for k, a in avgs.items()))
        print(f"step {t:5d}  lr {opt.learning_rate.item():.3f}  batch ce (last 250) {np.mean(window):.3f} "
              f"+- {np.std(window):.3f} | live ce {live[0]:.3f} acc {live[1]:.3f} | {parts}")
        window = []

best = min(((k, score(a, probe)) for k, a in avgs.items()), key=lambda kv: kv[1][0])
live = score(model.parameters(), probe)
print(f"final: live ce {live[0]:.3f} acc {live[1]:.3f}; best average {best[0]} ce {best[1][0]:.3f} acc {best[1][1]:.3f}; "
      f"majority {(yva == major).mean():.3f}")
print(f"done in {time.time() - t0:.1f}s")
