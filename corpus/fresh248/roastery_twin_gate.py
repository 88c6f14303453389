# Coffee roastery: one shared pool of experts, two questions per batch.
#   task A: roast weight loss (%)            - regression, Huber
#   task B: cupping panel flags "baked" lot   - binary, logistic
# Multi-gate mixture of experts (one softmax gate per task over 4 shared experts).
# Stage 1 fits task A only (task-B gate and tower are held still on purpose),
# then a checkpoint is written, a fresh model restores it and stage 2 fits both.
import math
import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

rng = np.random.default_rng(11)
N_TRAIN, N_VAL = 6000, 1500


def make_lots(n):
    moist = rng.uniform(9.0, 12.5, n)          # green moisture %
    dens = rng.uniform(640, 760, n)            # g/L
    charge = rng.uniform(180, 215, n)          # charge temp C
    ramp = rng.uniform(6, 14, n)               # C/min
    dev = rng.uniform(60, 150, n)              # development time s
    kg = rng.uniform(5, 15, n)
    hum = rng.uniform(30, 80, n)
    X = np.stack([moist, dens, charge, ramp, dev, kg, hum], 1).astype(np.float32)
    loss_pct = (11.0 + 0.9 * (moist - 10.5) + 0.025 * (dev - 100) + 0.04 * (charge - 200)
                - 0.004 * (dens - 700) + 0.6 * np.tanh((ramp - 10) / 2) + 0.01 * (hum - 55)
                + rng.normal(0, 0.25, n))
    logit = -2.0 + 0.05 * (dev - 100) - 0.45 * (ramp - 10) + 0.03 * (kg - 10) * (ramp < 9)
    baked = (rng.uniform(size=n) < 1 / (1 + np.exp(-logit))).astype(np.float32)
    return X, loss_pct.astype(np.float32), baked


Xtr, Atr, Btr = make_lots(N_TRAIN)
Xva, Ava, Bva = make_lots(N_VAL)
mu, sd = Xtr.mean(0), Xtr.std(0)
a_mu, a_sd = Atr.mean(), Atr.std()
Xtr, Xva = (Xtr - mu) / sd, (Xva - mu) / sd
Xtr_m, Xva_m = mx.array(Xtr), mx.array(Xva)
Atr_m, Btr_m = mx.array((Atr - a_mu) / a_sd), mx.array(Btr)


class Expert(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(7, 32)
        self.l2 = nn.Linear(32, 16)

    def __call__(self, x):
        return nn.gelu(self.l2(nn.gelu(self.l1(x))))


class Tower(nn.Module):
    def __init__(self):
        super().__init__()
        self.h = nn.Linear(16, 16)
        self.o = nn.Linear(16, 1)

    def __call__(self, z):
        return self.o(nn.gelu(self.h(z))).squeeze(-1)


class MMoE(nn.Module):
    def __init__(self, n_experts=4):
        super().__init__()
        self.experts = [Expert() for _ in range(n_experts)]
        self.gate_a = nn.Linear(7, n_experts)
        self.gate_b = nn.Linear(7, n_experts)
        self.tower_a = Tower()
        self.tower_b = Tower()

    def __call__(self, x):
        E = mx.stack([e(x) for e in self.experts], axis=1)        # (B, n, 16)
        ga = mx.softmax(self.gate_a(x), axis=-1)
        gb = mx.softmax(self.gate_b(x), axis=-1)
        za = (ga[:, :, None] * E).sum(1)
        zb = (gb[:, :, None] * E).sum(1)
        return self.tower_a(za), self.tower_b(zb), ga, gb


def objective(model, x, a, b, w_b):
    pa, pb, _, _ = model(x)
    la = nn.losses.huber_loss(pa, a, delta=1.0, reduction="mean")
    lb = nn.losses.binary_cross_entropy(pb, b, with_logits=True, reduction="mean")
    return la + w_b * lb, (la, lb)


def evaluate(model):
    pa, pb, ga, gb = model(Xva_m)
    pred_a = np.array(pa) * a_sd + a_mu
    mae = float(np.abs(pred_a - Ava).mean())
    p = 1 / (1 + np.exp(-np.array(pb)))
    bce = float(-(Bva * np.log(p + 1e-7) + (1 - Bva) * np.log(1 - p + 1e-7)).mean())
    acc = float(((p > 0.5) == (Bva > 0.5)).mean())
    return mae, bce, acc, np.array(ga.mean(0)), np.array(gb.mean(0))


def run_stage(model, opt, epochs, w_b, stage, step0, bs=128):
    step = step0
    fn = nn.value_and_grad(model, lambda m, x, a, b: objective(m, x, a, b, w_b)[0])
    for ep in range(1, epochs + 1):
        perm = mx.array(rng.permutation(N_TRAIN))
        tot = 0.0
        nb = 0
        for i in range(0, N_TRAIN - bs + 1, bs):
            idx = perm[i:i + bs]
            loss, g = fn(model, Xtr_m[idx], Atr_m[idx], Btr_m[idx])
            opt.update(model, g)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item()
            nb += 1
            step += 1
        mae, bce, acc, ga, gb = evaluate(model)
        lr = opt.learning_rate.item()
        print(f"{stage}\t{ep}\t{step}\t{lr:.2e}\t{tot / nb:.4f}\t{mae:.3f}\t{bce:.4f}\t{acc:.3f}\t"
              + ",".join(f"{v:.2f}" for v in ga) + "\t" + ",".join(f"{v:.2f}" for v in gb))
    return step


def make_opt(total_steps, warm=80):
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, 2e-3, warm), optim.cosine_decay(2e-3, total_steps - warm, 1e-4)],
        [warm])
    return optim.AdamW(learning_rate=sched, weight_decay=1e-4)


t0 = time.time()
mx.random.seed(11)
steps_per_epoch = N_TRAIN // 128
base_rate = Bva.mean()
print(f"# lots train={N_TRAIN} val={N_VAL}  baked rate={base_rate:.3f}")
print(f"# yardsticks: mean-guess MAE={np.abs(Ava - Atr.mean()).mean():.3f} %  "
      f"constant-rate BCE={-(base_rate*math.log(base_rate)+(1-base_rate)*math.log(1-base_rate)):.4f}  "
      f"majority acc={max(base_rate, 1 - base_rate):.3f}")

model = MMoE()
mx.eval(model.parameters())
model.gate_b.freeze()
model.tower_b.freeze()
n_all = sum(v.size for _, v in tree_flatten(model.parameters()))
n_tr = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
print(f"# stage 1: {n_tr}/{n_all} parameters trainable (task-B gate and tower held)")
mae, bce, acc, _, _ = evaluate(model)
print(f"# untrained: MAE={mae:.3f}  BCE={bce:.4f}  acc={acc:.3f}")
print("stage\tepoch\tstep\tlr\ttrain_obj\tval_MAE_pct\tval_BCE\tval_acc\tgateA_share\tgateB_share")

E1 = 5
opt = make_opt(E1 * steps_per_epoch)
step = run_stage(model, opt, E1, 0.0, "s1", 0)

ckdir = tempfile.mkdtemp()
wpath = os.path.join(ckdir, "stage1.safetensors")
model.save_weights(wpath)
print(f"# checkpoint after stage 1 -> {os.path.basename(wpath)} ({step} steps)")
del model, opt

model = MMoE()
model.load_weights(wpath)
mx.eval(model.parameters())
mae, bce, acc, _, _ = evaluate(model)
print(f"# restored: MAE={mae:.3f}  BCE={bce:.4f}  acc={acc:.3f}  (task B still untrained)")
E2 = 7
opt = make_opt(E2 * steps_per_epoch)
step = run_stage(model, opt, E2, 1.0, "s2", step)

mae, bce, acc, ga, gb = evaluate(model)
print(f"# done in {time.time() - t0:.1f}s  final MAE={mae:.3f} %  BCE={bce:.4f}  acc={acc:.3f}")
