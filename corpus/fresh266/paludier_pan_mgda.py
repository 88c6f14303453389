"""Salt-marsh pans: daily coarse-salt harvest (kg per pan) and whether the
pan yields fleur de sel that day, from nine weather and brine readings.

Stage A fits the harvest head alone. Stage B trains both heads from the
shared trunk with MGDA: each step the trunk follows the min-norm convex
combination of the two task gradients (closed form for two tasks,
Sener & Koltun 2018); each head follows its own task gradient.
"""
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

rng = np.random.default_rng(1266)
mx.random.seed(1266)


def make_days(n):
    sun = rng.uniform(2, 14, n)
    wind = rng.gamma(3.0, 2.2, n)
    wdir = rng.uniform(0, 2 * math.pi, n)
    temp = rng.normal(24, 5, n)
    hum = rng.uniform(35, 95, n)
    baume = rng.uniform(18, 27, n)
    dry = rng.integers(0, 15, n)
    tide = rng.uniform(30, 115, n)
    north = np.cos(wdir)
    evap = sun * (1 + 0.06 * wind) * (1 - hum / 130) * (1 + 0.03 * (temp - 24))
    kg = 9.0 * evap * (1 / (1 + np.exp(-(baume - 24.5)))) + 1.2 * np.minimum(dry, 8) - 6.0
    kg = np.maximum(kg + rng.normal(0, 4.0, n), 0.0)
    fleur_logit = 0.35 * sun - 0.05 * hum + 0.9 * north - 0.25 * np.maximum(wind - 9, 0) + 1.0
    fleur = (rng.random(n) < 1 / (1 + np.exp(-fleur_logit))).astype(np.float32)
    x = np.stack([(sun - 8) / 3.5, (wind - 6.6) / 3.8, north, np.sin(wdir), (temp - 24) / 5,
                  (hum - 65) / 17, (baume - 22.5) / 2.6, (dry - 7) / 4.3, (tide - 72) / 25],
                 1).astype(np.float32)
    return x, kg.astype(np.float32), fleur


Xtr, KGtr, Ftr = make_days(8000)
Xva, KGva, Fva = make_days(2000)
kg_mu, kg_sd = float(KGtr.mean()), float(KGtr.std())
Xtr_m, Xva_m = mx.array(Xtr), mx.array(Xva)
Ktr_m = mx.array((KGtr - kg_mu) / kg_sd)
Ftr_m = mx.array(Ftr)


class PanNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.trunk = nn.Sequential(nn.Linear(9, 80), nn.GELU(), nn.Linear(80, 80), nn.GELU())
        self.harvest = nn.Linear(80, 1)
        self.fleur = nn.Linear(80, 1)

    def __call__(self, x):
        z = self.trunk(x)
        return self.harvest(z).squeeze(-1), self.fleur(z).squeeze(-1)


def harvest_loss(model, x, k, f):
    return nn.losses.huber_loss(model(x)[0], k, delta=1.0, reduction="mean")


def fleur_loss(model, x, k, f):
    return nn.losses.binary_cross_entropy(model(x)[1], f, with_logits=True, reduction="mean")


def flat(tree):
    return mx.concatenate([v.reshape(-1) for _, v in tree_flatten(tree)])


def min_norm_two(g1, g2):
    d = g1 - g2
    denom = mx.sum(d * d)
    a = mx.sum((g2 - g1) * g2) / mx.maximum(denom, 1e-12)
    return mx.clip(a, 0.0, 1.0)


def evaluate(model):
    k, f = model(Xva_m)
    kg = k * kg_sd + kg_mu
    mae = mx.mean(mx.abs(kg - mx.array(KGva))).item()
    p = mx.sigmoid(f)
    acc = mx.mean((p > 0.5) == (mx.array(Fva) > 0.5)).item() * 100
    ll = mx.mean(nn.losses.binary_cross_entropy(f, mx.array(Fva), with_logits=True)).item()
    return mae, acc, ll


def batches(bs):
    perm = rng.permutation(len(Xtr))
    for s in range(0, len(Xtr) - bs + 1, bs):
        idx = mx.array(perm[s:s + bs])
        yield Xtr_m[idx], Ktr_m[idx], Ftr_m[idx]


def main():
    t0 = time.time()
    model = PanNet()
    mae0 = float(np.mean(np.abs(KGva - np.median(KGtr))))
    prior = Ftr.mean()
    ll0 = float(-np.mean(Fva * np.log(prior) + (1 - Fva) * np.log(1 - prior)))
    acc0 = 100 * max(np.mean(Fva), 1 - np.mean(Fva))
    print(f"pans: 8000 train days, 2000 val days; harvest mean {kg_mu:.1f} kg sd {kg_sd:.1f};"
          f" fleur days {100 * prior:.1f}%")
    print(f"yardsticks: median-guess MAE {mae0:.2f} kg, prior log-loss {ll0:.4f},"
          f" always-majority {acc0:.1f}%, harvest noise sd 4.0 kg")
    mae, acc, ll = evaluate(model)
    print(f"untrained: MAE {mae:.2f} kg  fleur acc {acc:.1f}%  log-loss {ll:.4f}")

    # ---- stage A: harvest head only (fleur head left at init on purpose)
    h_grad = nn.value_and_grad(model, harvest_loss)
    opt = optim.SGD(learning_rate=optim.step_decay(0.05, 0.5, 250), momentum=0.9, nesterov=True)
    print("stage A  harvest only")
    for epoch in range(1, 5):
        run = 0.0
        n = 0
        for xb, kb, fb in batches(64):
            l, g = h_grad(model, xb, kb, fb)
            opt.update(model, g)
            mx.eval(model.parameters(), opt.state, l)
            run += l.item()
            n += 1
        if epoch == 4:
            mae, acc, ll = evaluate(model)
            print(f"  epoch {epoch}  huber {run / n:.4f}  val MAE {mae:.2f} kg"
                  f"  fleur acc {acc:.1f}%  fleur log-loss {ll:.4f}  {time.time() - t0:.1f}s")

    # ---- stage B: both tasks, min-norm combination on the trunk
    f_grad = nn.value_and_grad(model, fleur_loss)
    opt = optim.SGD(learning_rate=optim.step_decay(0.03, 0.5, 500), momentum=0.9, nesterov=True)
    print("stage B  harvest + fleur (MGDA)")
    print(f"  {'epoch':>5} {'lr':>8} {'huber':>7} {'bce':>7} {'a_mean':>6} {'a_min':>5} {'a_max':>5}"
          f" {'MAE kg':>6} {'acc %':>5} {'logloss':>7} {'s':>5}")
    first = True
    for epoch in range(1, 9):
        sums = np.zeros(2)
        alphas = []
        n = 0
        for xb, kb, fb in batches(64):
            l1, g1 = h_grad(model, xb, kb, fb)
            l2, g2 = f_grad(model, xb, kb, fb)
            a = min_norm_two(flat(g1["trunk"]), flat(g2["trunk"]))
            trunk = tree_map(lambda u, v: a * u + (1 - a) * v, g1["trunk"], g2["trunk"])
            grads = {"trunk": trunk, "harvest": g1["harvest"], "fleur": g2["fleur"]}
            if first:
                nz = sum(1 for _, v in tree_flatten(grads) if mx.any(v != 0).item())
                print(f"  first joint step: {nz}/{len(tree_flatten(grads))} leaves nonzero,"
                      f" alpha {a.item():.3f}, lr {opt.learning_rate.item():.3f}")
                first = False
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, l1, l2, a)
            sums += [l1.item(), l2.item()]
            alphas.append(a.item())
            n += 1
        if epoch in (1, 2, 3, 5, 8):
            mae, acc, ll = evaluate(model)
            al = np.array(alphas)
            print(f"  {epoch:>5} {opt.learning_rate.item():>8.5f} {sums[0] / n:>7.4f} {sums[1] / n:>7.4f}"
                  f" {al.mean():>6.3f} {al.min():>5.2f} {al.max():>5.2f}"
                  f" {mae:>6.2f} {acc:>5.1f} {ll:>7.4f} {time.time() - t0:>5.1f}")
    mae, acc, ll = evaluate(model)
    print(f"finished: MAE {mae:.2f} kg (median guess {mae0:.2f}), fleur {acc:.1f}% (majority {acc0:.1f}%),"
          f" log-loss {ll:.4f} (prior {ll0:.4f})")


if __name__ == "__main__":
    main()
