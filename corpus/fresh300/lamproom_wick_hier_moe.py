# Lighthouse lamp-room ledger: nightly lamp-oil use (litres) from six keeper's
# readings. Two-level (hierarchical) mixture of experts with Gumbel-softmax
# gates whose temperature is annealed, then the least-used expert of each group
# is retired and training continues with a fresh optimizer.
import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten

rng = np.random.default_rng(11)
mx.random.seed(11)

# ---------------- synthetic ledger ----------------
N_TRAIN, N_VAL, F = 6000, 1500, 6


def make_rows(n):
    wind = rng.uniform(0, 1, n)          # gale strength
    fog = rng.uniform(0, 1, n)           # fog density
    night = rng.uniform(8, 16, n)        # hours of darkness
    wick = rng.uniform(0, 1, n)          # wick trim state
    temp = rng.uniform(-5, 20, n)        # lamp-room temperature C
    ships = rng.poisson(3, n).astype(np.float64)
    storm = (wind > 0.65)
    foggy = (~storm) & (fog > 0.55)
    calm = ~(storm | foggy)
    base = 0.35 * night
    y = np.where(calm, base * (1.0 + 0.2 * wick) - 0.02 * temp, 0.0)
    y = np.where(foggy, base * (1.3 + 0.8 * fog ** 2) + 0.15 * ships, y)
    y = np.where(storm, base * (1.1 + 1.5 * (wind - 0.65)) + 0.6 * np.sin(6 * wick), y)
    y = y + rng.normal(0, 0.12, n)
    X = np.stack([wind, fog, night, wick, temp, ships], axis=1)
    return X.astype(np.float32), y.astype(np.float32)


Xtr, ytr = make_rows(N_TRAIN)
Xva, yva = make_rows(N_VAL)
mu, sd = Xtr.mean(0), Xtr.std(0)
ymu, ysd = ytr.mean(), ytr.std()
Xtr_s, Xva_s = (Xtr - mu) / sd, (Xva - mu) / sd
ytr_s = (ytr - ymu) / ysd
Xtr_m, ytr_m, Xva_m = mx.array(Xtr_s), mx.array(ytr_s), mx.array(Xva_s)

# yardsticks
mean_mae = float(np.abs(yva - ytr.mean()).mean())
A = np.concatenate([Xtr_s, np.ones((N_TRAIN, 1), np.float32)], 1)
coef, *_ = np.linalg.lstsq(A, ytr, rcond=None)
ls_mae = float(np.abs(np.concatenate([Xva_s, np.ones((N_VAL, 1), np.float32)], 1) @ coef - yva).mean())

# ---------------- model ----------------
H = 32


class HierMoE(nn.Module):
    def __init__(self, groups=2, per_group=3):
        super().__init__()
        self.groups, self.per_group = groups, per_group
        self.embed = nn.Linear(F, H)
        self.group_gate = nn.Linear(H, groups)
        self.expert_gate = nn.Linear(H, groups * per_group)
        s1, s2 = 1 / math.sqrt(H), 1 / math.sqrt(H)
        self.w1 = mx.random.uniform(-s1, s1, (groups, per_group, H, H))
        self.b1 = mx.zeros((groups, per_group, H))
        self.w2 = mx.random.uniform(-s2, s2, (groups, per_group, H))
        self.b2 = mx.zeros((groups, per_group))

    def gates(self, h, tau, hard):
        g_logits = self.group_gate(h)                                   # (B, G)
        e_logits = self.expert_gate(h).reshape(-1, self.groups, self.per_group)
        if hard:
            g = mx.eye(self.groups)[mx.argmax(g_logits, axis=-1)]
            e = mx.eye(self.per_group)[mx.argmax(e_logits, axis=-1)]
        else:
            gu = -mx.log(-mx.log(mx.random.uniform(1e-6, 1 - 1e-6, g_logits.shape)))
            eu = -mx.log(-mx.log(mx.random.uniform(1e-6, 1 - 1e-6, e_logits.shape)))
            g = mx.softmax((g_logits + gu) / tau, axis=-1)
            e = mx.softmax((e_logits + eu) / tau, axis=-1)
        return g, e, mx.softmax(g_logits, axis=-1), mx.softmax(e_logits, axis=-1)

    def __call__(self, x, tau=1.0, hard=False):
        h = nn.gelu(self.embed(x))                                      # (B, H)
        g, e, gp, ep = self.gates(h, tau, hard)
        z = nn.gelu(mx.einsum("bh,gehk->bgek", h, self.w1) + self.b1)   # (B, G, E, H)
        out = (z * self.w2).sum(-1) + self.b2                           # (B, G, E)
        w = g[:, :, None] * e                                           # (B, G, E)
        return (w * out).sum(axis=(1, 2)), gp, ep

    def retire(self, keep):
        # keep: list (per group) of expert indices to keep
        idx = mx.array(keep)                                            # (G, E')
        gi = mx.arange(self.groups)[:, None]
        self.w1 = self.w1[gi, idx]
        self.b1 = self.b1[gi, idx]
        self.w2 = self.w2[gi, idx]
        self.b2 = self.b2[gi, idx]
        Wg = self.expert_gate.weight.reshape(self.groups, self.per_group, H)
        bg = self.expert_gate.bias.reshape(self.groups, self.per_group)
        new_e = len(keep[0])
        lin = nn.Linear(H, self.groups * new_e)
        lin.weight = Wg[gi, idx].reshape(self.groups * new_e, H)
        lin.bias = bg[gi, idx].reshape(-1)
        self.expert_gate = lin
        self.per_group = new_e


def loss_fn(model, x, y, tau):
    pred, gp, _ = model(x, tau=tau, hard=False)
    mse = mx.mean((pred - y) ** 2)
    usage = gp.mean(axis=0)
    balance = model.groups * mx.sum(usage ** 2)     # 1.0 when groups are used evenly
    return mse + 0.01 * balance, mse


def val_metrics(model):
    pred, gp, ep = model(Xva_m, hard=True)
    mae = float(mx.mean(mx.abs(pred * ysd + ymu - mx.array(yva))).item())
    gsel = np.array(mx.argmax(gp, -1))
    esel = np.array(mx.argmax(ep, -1))
    return mae, gsel, esel


def make_opt(steps):
    warm = 100
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, 3e-3, warm), optim.cosine_decay(3e-3, steps - warm, 1e-4)],
        [warm],
    )
    return optim.AdamW(learning_rate=sched, weight_decay=1e-4)


def shares(sel, k):
    c = np.bincount(sel.ravel(), minlength=k)
    return " ".join(f"{100 * v / max(1, c.sum()):4.0f}" for v in c)


model = HierMoE()
mx.eval(model.parameters())
BATCH, EPOCHS1, EPOCHS2 = 200, 8, 5
steps_per_epoch = N_TRAIN // BATCH
untrained_mae, _, _ = val_metrics(model)
print(f"ledger rows train={N_TRAIN} val={N_VAL}  features={F}")
print(f"yardsticks  mean-guess MAE {mean_mae:.3f} L | least-squares MAE {ls_mae:.3f} L | untrained MAE {untrained_mae:.3f} L")

_, g0 = nn.value_and_grad(model, loss_fn)(model, Xtr_m[:BATCH], ytr_m[:BATCH], 2.0)
nz = sum(1 for _, v in tree_flatten(g0) if float(mx.abs(v).sum().item()) > 0)
print(f"gradient leaves non-zero at start: {nz}/{len(tree_flatten(g0))}")


def run_stage(model, epochs, tau_from, tau_to, label, epoch0):
    opt = make_opt(epochs * steps_per_epoch)
    lvg = nn.value_and_grad(model, loss_fn)
    total = epochs * steps_per_epoch
    step = 0
    for ep in range(epochs):
        t0 = time.time()
        perm = mx.array(rng.permutation(N_TRAIN))
        run_obj = run_mse = 0.0
        for b in range(steps_per_epoch):
            frac = step / max(1, total - 1)
            tau = tau_from * (tau_to / tau_from) ** frac
            idx = perm[b * BATCH:(b + 1) * BATCH]
            (obj, mse), grads = lvg(model, Xtr_m[idx], ytr_m[idx], tau)
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, obj, mse)
            run_obj += obj.item()
            run_mse += mse.item()
            step += 1
        mae, gsel, esel = val_metrics(model)
        flat = gsel * model.per_group + esel[np.arange(N_VAL), gsel]
        lr = opt.learning_rate.item()
        print(f"{label} ep {epoch0 + ep + 1:2d} | tau {tau:5.3f} | lr {lr:.2e} | obj {run_obj / steps_per_epoch:.4f}"
              f" | mse(z) {run_mse / steps_per_epoch:.4f} | val MAE {mae:.3f} L (lsq {ls_mae:.3f})"
              f" | groups% {shares(gsel, model.groups)} | experts% {shares(flat, model.groups * model.per_group)}"
              f" | {time.time() - t0:.1f}s")
    return model


t_start = time.time()
run_stage(model, EPOCHS1, 2.0, 0.1, "stage-1", 0)

# retire the least-used expert of each group (hard routing on the training rows)
_, gp_tr, ep_tr = model(Xtr_m, hard=True)
gsel = np.array(mx.argmax(gp_tr, -1))
esel = np.array(mx.argmax(ep_tr, -1))[np.arange(N_TRAIN), gsel]
keep = []
for g in range(model.groups):
    counts = np.bincount(esel[gsel == g], minlength=model.per_group)
    drop = int(np.argmin(counts))
    keep.append([e for e in range(model.per_group) if e != drop])
    print(f"group {g}: expert rows {counts.tolist()} -> retiring expert {drop}")
n_before = sum(v.size for _, v in tree_flatten(model.parameters()))
model.retire(keep)
mx.eval(model.parameters())
n_after = sum(v.size for _, v in tree_flatten(model.parameters()))
mae_cut, _, _ = val_metrics(model)
print(f"parameters {n_before} -> {n_after}; val MAE right after retiring {mae_cut:.3f} L")

run_stage(model, EPOCHS2, 0.5, 0.1, "stage-2", EPOCHS1)
final_mae, _, _ = val_metrics(model)
print(f"done in {time.time() - t_start:.1f}s  final val MAE {final_mae:.3f} L  (mean-guess {mean_mae:.3f}, least-squares {ls_mae:.3f})")
