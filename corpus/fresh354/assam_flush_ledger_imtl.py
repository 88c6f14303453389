"""Tea estate factory ledger: made-tea out-turn and leaf grade from the withering-shed log.

Two tasks share one trunk:
  * out-turn: kg of made tea per 100 kg of green leaf (regression, Huber on a standardised target)
  * grade: 3-way sort of the batch (0 = fannings/dust, 1 = BOP, 2 = FBOP/whole leaf)
The trunk update combines the two task gradients with IMTL-G (impartial multi-task
learning, Liu et al. 2021): the weights are chosen so the combined gradient has the same
projection on each task's unit gradient. Heads take their own task gradient only.
"""
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten, tree_map, tree_unflatten

rng = np.random.default_rng(11)
mx.random.seed(11)

FEATURES = ["fine_pluck_pct", "leaf_moisture_pct", "wither_hours", "shed_rh_pct",
            "shed_temp_c", "altitude_m", "days_since_round"]


def make_batch(n):
    fine = rng.uniform(45, 90, n)
    moist = rng.uniform(68, 82, n)
    wither = rng.uniform(10, 20, n)
    rh = rng.uniform(55, 95, n)
    temp = rng.uniform(18, 32, n)
    alt = rng.uniform(50, 1800, n)
    days = rng.integers(5, 14, n).astype(np.float64)
    # made-up out-turn law (kg made tea / 100 kg green leaf), optimum wither near 15 h
    outturn = (22.0 + 0.05 * (fine - 65) - 0.55 * (moist - 75)
               - 0.12 * (wither - 15.0) ** 2 - 0.03 * (rh - 75)
               + 0.0008 * (alt - 900) - 0.15 * (days - 9))
    outturn = outturn + rng.normal(0, 0.45, n)
    # latent quality drives the grade sort
    q = (0.06 * (fine - 65) + 0.0012 * (alt - 900) - 0.25 * (days - 9)
         - 0.09 * np.abs(wither - 15.0) * 3 + 0.03 * (temp - 25) + rng.normal(0, 0.6, n))
    grade = np.digitize(q, [-0.9, 0.6]).astype(np.int32)
    X = np.stack([fine, moist, wither, rh, temp, alt, days], axis=1).astype(np.float32)
    return X, outturn.astype(np.float32), grade


Xtr, ytr, gtr = make_batch(6000)
Xva, yva, gva = make_batch(1500)
mu, sd = Xtr.mean(0), Xtr.std(0)
ymu, ysd = float(ytr.mean()), float(ytr.std())
Xtr_n = mx.array((Xtr - mu) / sd)
Xva_n = mx.array((Xva - mu) / sd)
ytr_z = mx.array((ytr - ymu) / ysd)
gtr_m = mx.array(gtr)
gva_m = mx.array(gva)


class Ledger(nn.Module):
    def __init__(self, d_in, width=64):
        super().__init__()
        self.trunk = nn.Sequential(nn.Linear(d_in, width), nn.SiLU(),
                                   nn.Linear(width, width), nn.SiLU())
        self.head_out = nn.Linear(width, 1)
        self.head_grade = nn.Linear(width, 3)

    def __call__(self, x):
        h = self.trunk(x)
        return self.head_out(h).squeeze(-1), self.head_grade(h)


model = Ledger(len(FEATURES))
mx.eval(model.parameters())


def outturn_loss(m, x, y):
    pred, _ = m(x)
    return nn.losses.huber_loss(pred, y, delta=1.0, reduction="mean")


def grade_loss(m, x, g):
    _, logits = m(x)
    return nn.losses.cross_entropy(logits, g, reduction="mean")


vg_out = nn.value_and_grad(model, outturn_loss)
vg_grade = nn.value_and_grad(model, grade_loss)


def flat_vec(tree):
    return mx.concatenate([v.reshape(-1) for _, v in tree_flatten(tree)])


def imtl_combine(ga, gb):
    """Closed-form IMTL-G weights for two tasks on the shared trunk."""
    va, vb = flat_vec(ga), flat_vec(gb)
    ua = va / (mx.linalg.norm(va) + 1e-12)
    ub = vb / (mx.linalg.norm(vb) + 1e-12)
    D = va - vb
    U = ua - ub
    denom = mx.sum(D * U)
    a_b = mx.sum(va * U) / (denom + 1e-12)
    a_a = 1.0 - a_b
    combined = tree_map(lambda x, y: a_a * x + a_b * y, ga, gb)
    return combined, a_a, a_b


EPOCHS = 14
BATCH = 96
steps_per_epoch = Xtr.shape[0] // BATCH
total = EPOCHS * steps_per_epoch
WARM = 120
sched = optim.join_schedules(
    [optim.linear_schedule(0.0, 2e-3, WARM), optim.cosine_decay(2e-3, total - WARM, 5e-5)],
    [WARM])
opt = optim.Adam(learning_rate=sched)


def evaluate():
    pred_z, logits = model(Xva_n)
    pred = pred_z * ysd + ymu
    rmse = mx.sqrt(mx.mean((pred - mx.array(yva)) ** 2))
    acc = mx.mean(mx.argmax(logits, axis=1) == gva_m)
    ce = nn.losses.cross_entropy(logits, gva_m, reduction="mean")
    mx.eval(rmse, acc, ce)
    return rmse.item(), 100.0 * acc.item(), ce.item()


base_rmse = float(np.sqrt(np.mean((yva - ymu) ** 2)))
maj = int(np.bincount(gtr).argmax())
base_acc = 100.0 * float(np.mean(gva == maj))
print(f"tea ledger | train {Xtr.shape[0]} batches, valid {Xva.shape[0]} | out-turn noise sd 0.45 kg")
print(f"reference  | predict-the-mean RMSE {base_rmse:.3f} kg  | majority-grade accuracy {base_acc:.1f}%")
r0, a0, c0 = evaluate()
print(f"untrained  | RMSE {r0:.3f} kg | grade acc {a0:.1f}% | grade CE {c0:.3f}")

# gradient audit on the first batch (eager)
l1, g1 = vg_out(model, Xtr_n[:BATCH], ytr_z[:BATCH])
l2, g2 = vg_grade(model, Xtr_n[:BATCH], gtr_m[:BATCH])
nz1 = sum(1 for _, v in tree_flatten(g1["trunk"]) if mx.abs(v).max().item() > 0)
nz2 = sum(1 for _, v in tree_flatten(g2["trunk"]) if mx.abs(v).max().item() > 0)
cos = (mx.sum(flat_vec(g1["trunk"]) * flat_vec(g2["trunk"]))
       / (mx.linalg.norm(flat_vec(g1["trunk"])) * mx.linalg.norm(flat_vec(g2["trunk"])))).item()
print(f"grad audit | trunk leaves with signal: out-turn {nz1}/4, grade {nz2}/4 | task cosine {cos:+.3f} | lr at step 1 = {float(sched(0)):.1e}")

HDR = f"{'ep':>3} {'step':>5} {'lr':>8} {'huber_z':>8} {'grade_ce':>8} {'a_out':>6} {'a_grd':>6} {'val_rmse':>8} {'val_acc%':>8} {'secs':>5}"
t0 = time.time()
step = 0
for ep in range(1, EPOCHS + 1):
    perm = mx.array(rng.permutation(Xtr.shape[0])[: steps_per_epoch * BATCH].reshape(steps_per_epoch, BATCH))
    s_h = s_c = s_a = 0.0
    for b in range(steps_per_epoch):
        idx = perm[b]
        xb, yb, gb = Xtr_n[idx], ytr_z[idx], gtr_m[idx]
        lo, go = vg_out(model, xb, yb)
        lg, gg = vg_grade(model, xb, gb)
        trunk, a_o, a_g = imtl_combine(go["trunk"], gg["trunk"])
        grads = {"trunk": trunk, "head_out": go["head_out"], "head_grade": gg["head_grade"]}
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, lo, lg, a_o)
        s_h += lo.item()
        s_c += lg.item()
        s_a += a_o.item()
        step += 1
    if ep in (1, 2, 4, 7, 10, 12, 14):
        if ep in (1, 10):
            print(HDR)
        vr, va, _ = evaluate()
        n = steps_per_epoch
        print(f"{ep:>3} {step:>5} {float(sched(step)):>8.2e} {s_h / n:>8.4f} {s_c / n:>8.4f} "
              f"{s_a / n:>6.3f} {1 - s_a / n:>6.3f} {vr:>8.3f} {va:>8.1f} {time.time() - t0:>5.1f}")

vr, va, vc = evaluate()
print(f"final      | out-turn RMSE {vr:.3f} kg (mean-predictor {base_rmse:.3f}) | grade acc {va:.1f}% (majority {base_acc:.1f}%) | grade CE {vc:.3f}")
