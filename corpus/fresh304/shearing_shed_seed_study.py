"""Shearing-shed fleece grading: a seed study.

Four seeds of the same GELU MLP are trained on the classer's grades, plus one
negative-control run trained on permuted grades (it should stay at chance).
Reports per-seed accuracy, mean/std, the seed ensemble, and the majority baseline.
"""
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

GRADES = ["superfine", "fine", "medium", "strong"]


def make_fleeces(n, rng):
    micron = rng.normal(19.5, 2.6, n)            # fibre diameter
    staple_mm = rng.normal(85, 14, n)
    strength = rng.normal(35, 8, n)              # N/ktex
    yield_pct = rng.normal(68, 6, n)
    veg_matter = rng.gamma(1.5, 0.6, n)
    yellowness = rng.normal(0.0, 1.0, n)
    crimp = rng.normal(10.0, 2.0, n) - 0.25 * (micron - 19.5)
    tender_pos = rng.uniform(0, 1, n)
    X = np.stack([micron, staple_mm, strength, yield_pct, veg_matter,
                  yellowness, crimp, tender_pos], 1)
    score = (1.1 * (micron - 19.5)
             - 0.04 * (staple_mm - 85)
             - 0.05 * (strength - 35)
             + 0.35 * veg_matter
             + 0.4 * yellowness
             - 0.15 * (crimp - 10)
             + 0.8 * np.tanh(4 * (tender_pos - 0.5)) * (strength < 28)
             + rng.normal(0, 0.9, n))
    cuts = np.quantile(score, [0.22, 0.5, 0.78])
    y = np.digitize(score, cuts)
    return X.astype(np.float32), y.astype(np.int32)


class GradeNet(nn.Module):
    def __init__(self, d_in=8, width=64, n_cls=4):
        super().__init__()
        self.inp = nn.Linear(d_in, width)
        self.norm = nn.LayerNorm(width)
        self.hid = nn.Linear(width, width)
        self.out = nn.Linear(width, n_cls)

    def __call__(self, x):
        h = nn.gelu(self.norm(self.inp(x)))
        h = nn.gelu(self.hid(h))
        return self.out(h)


def ce(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def train_run(tag, seed, Xtr, ytr, Xva, yva, steps=360, batch=128, peak=2e-3, warm=40):
    mx.random.seed(seed)
    rng = np.random.default_rng(seed)
    model = GradeNet()
    mx.eval(model.parameters())
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, peak, warm), optim.cosine_decay(peak, steps - warm, 1e-5)],
        [warm])
    opt = optim.AdamW(learning_rate=sched, weight_decay=1e-3)
    lg = nn.value_and_grad(model, ce)
    n = Xtr.shape[0]
    run_loss = 0.0
    for step in range(1, steps + 1):
        idx = mx.array(rng.integers(0, n, batch))
        lr_now = opt.learning_rate.item()
        loss, grads = lg(model, Xtr[idx], ytr[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        run_loss += loss.item()
        if step == 1 or step % 60 == 0:
            logits = model(Xva)
            vce = nn.losses.cross_entropy(logits, yva, reduction="mean").item()
            vacc = mx.mean(mx.argmax(logits, 1) == yva).item()
            denom = 1 if step == 1 else 60
            print(f"[{tag} seed={seed:2d}] step {step:3d}  lr {lr_now:.2e}  "
                  f"train_ce {run_loss / denom:.4f}  val_ce {vce:.4f}  val_acc {vacc:.3f}")
            run_loss = 0.0
    probs = mx.softmax(model(Xva), axis=-1)
    acc = mx.mean(mx.argmax(probs, 1) == yva).item()
    return acc, probs


def main():
    t0 = time.time()
    rng = np.random.default_rng(2024)
    Xtr, ytr = make_fleeces(3000, rng)
    Xva, yva = make_fleeces(1000, rng)
    mu, sd = Xtr.mean(0), Xtr.std(0) + 1e-6
    Xtr, Xva = (Xtr - mu) / sd, (Xva - mu) / sd
    counts = np.bincount(ytr, minlength=4)
    print("train grade counts:", dict(zip(GRADES, counts.tolist())))
    majority = int(np.argmax(counts))
    base_acc = float(np.mean(yva == majority))
    print(f"majority-grade baseline val_acc {base_acc:.3f}   chance ce ln4 = {math.log(4):.4f}")

    Xtr_m, Xva_m = mx.array(Xtr), mx.array(Xva)
    ytr_m, yva_m = mx.array(ytr), mx.array(yva)

    accs, probs_all = [], []
    for seed in [11, 23, 37, 41]:
        acc, probs = train_run("grades ", seed, Xtr_m, ytr_m, Xva_m, yva_m)
        accs.append(acc)
        probs_all.append(probs)
        print(f"  -> seed {seed} final val_acc {acc:.3f}")

    # negative control: same recipe, grades permuted across fleeces
    perm = np.random.default_rng(7).permutation(len(ytr))
    ctrl_acc, _ = train_run("permuted", 99, Xtr_m, mx.array(ytr[perm]), Xva_m, yva_m)
    print(f"  -> permuted-grade control final val_acc {ctrl_acc:.3f}")

    ens = mx.mean(mx.stack(probs_all), axis=0)
    ens_acc = mx.mean(mx.argmax(ens, 1) == yva_m).item()
    accs = np.array(accs)
    print("\n=== seed study summary ===")
    print(f"majority baseline      {base_acc:.3f}")
    print(f"permuted-grade control {ctrl_acc:.3f}")
    print(f"seeds                  {' '.join(f'{a:.3f}' for a in accs)}")
    print(f"seed mean +- std       {accs.mean():.3f} +- {accs.std(ddof=1):.3f}")
    print(f"4-seed ensemble        {ens_acc:.3f}")
    ok_learn = accs.min() > base_acc + 0.25
    ok_ctrl = abs(ctrl_acc - base_acc) < 0.08 or ctrl_acc < base_acc + 0.08
    print(f"check seeds beat baseline by >0.25: {ok_learn}")
    print(f"check control stays near baseline:  {ok_ctrl}")
    print(f"done in {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
