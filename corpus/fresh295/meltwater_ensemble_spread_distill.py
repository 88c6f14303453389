"""Glacier outlet meltwater discharge (m3/s) from 7 station readings.

Four bootstrap members are fitted one after another (each counter restarts),
then frozen. A single student with a mean head and a log-variance head is
distilled from the members' predictions: it minimises the Gaussian NLL of the
member predictions, so its mean tracks the ensemble mean and its variance the
ensemble spread. The objective is a Gaussian NLL without the constant and goes
below zero. The student run is split into two sittings with a checkpoint.
Every report is a block of 'Key: value' header lines followed by a blank line.
"""
import json
import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

rng = np.random.default_rng(2950)
mx.random.seed(2950)


def block(**kv):
    for k, v in kv.items():
        if isinstance(v, float):
            v = f"{v:.5g}"
        print(f"{k.replace('_', '-').title()}: {v}")
    print(flush=True)


# ---------------- synthetic station data ----------------
def make(n):
    temp = rng.normal(4.0, 3.0, n)            # air temperature, C
    rad = rng.gamma(3.0, 60.0, n)             # shortwave radiation, W/m2
    rain = rng.exponential(2.0, n)            # mm/day
    snow = rng.uniform(0.0, 1.5, n)           # snow cover on the ice, m
    doy = rng.uniform(120, 270, n)            # day of year
    wind = rng.gamma(2.0, 2.0, n)
    debris = rng.uniform(0.0, 0.4, n)         # debris-covered fraction
    melt = (0.9 * np.maximum(temp, 0) + 0.012 * rad) * (1 - 0.6 * np.tanh(snow)) * (1 - debris)
    q = 4.0 + 1.6 * melt + 0.8 * rain + 1.5 * np.sin((doy - 120) / 150 * np.pi) + 0.1 * wind
    q = q + rng.normal(0, 0.9, n)
    x = np.stack([temp, rad, rain, snow, doy, wind, debris], 1).astype(np.float32)
    return x, q.astype(np.float32)


x_tr, q_tr = make(2500)
x_va, q_va = make(800)
mu_x, sd_x = x_tr.mean(0), x_tr.std(0)
mu_q, sd_q = q_tr.mean(), q_tr.std()
Xtr = mx.array((x_tr - mu_x) / sd_x)
Xva = mx.array((x_va - mu_x) / sd_x)
Ytr = mx.array((q_tr - mu_q) / sd_q)
block(Event="data", Train_Rows=len(q_tr), Valid_Rows=len(q_va),
      Mean_Discharge_m3s=float(mu_q), Climatology_Mae_m3s=float(np.mean(np.abs(q_va - mu_q))))


class Member(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(7, 64)
        self.l2 = nn.Linear(64, 64)
        self.out = nn.Linear(64, 1)

    def __call__(self, x):
        h = nn.silu(self.l1(x))
        h = nn.silu(self.l2(h))
        return self.out(h).squeeze(-1)


def mse(m, x, y):
    return mx.mean((m(x) - y) ** 2)


# ---------------- stage 1: bootstrap members ----------------
members = []
for k in range(4):
    boot = mx.array(rng.integers(0, len(q_tr), len(q_tr)))
    xb, yb = Xtr[boot], Ytr[boot]
    m = Member()
    opt = optim.Adam(learning_rate=optim.step_decay(3e-3, 0.5, 400))
    step_fn = nn.value_and_grad(m, mse)
    t0 = time.time()
    for ep in range(1, 9):
        perm = mx.array(rng.permutation(len(q_tr)))
        run = 0.0
        for i in range(0, len(q_tr), 50):
            idx = perm[i:i + 50]
            loss, g = step_fn(m, xb[idx], yb[idx])
            opt.update(m, g)
            mx.eval(m.parameters(), opt.state, loss)
            run += loss.item()
        if ep in (1, 4, 8):
            pv = np.array(m(Xva)) * sd_q + mu_q
            block(Event="member-epoch", Member=k, Epoch=f"{ep}/8",
                  Train_Mse_Std_Units=run / 50, Valid_Mae_m3s=float(np.mean(np.abs(pv - q_va))),
                  Secs=time.time() - t0)
    m.eval()
    m.freeze()
    members.append(m)

member_preds_tr = mx.stack([m(Xtr) for m in members], axis=1)     # (N, 4)
member_preds_va = mx.stack([m(Xva) for m in members], axis=1)
mx.eval(member_preds_tr, member_preds_va)
ens_mean_va = np.array(member_preds_va.mean(1)) * sd_q + mu_q
ens_sd_va = np.array(member_preds_va.std(1)) * sd_q
snap = [np.array(v) for m in members for _, v in tree_flatten(m.parameters())]
block(Event="ensemble", Members=4, Valid_Mae_m3s=float(np.mean(np.abs(ens_mean_va - q_va))),
      Mean_Member_Spread_m3s=float(ens_sd_va.mean()))


# ---------------- stage 2: spread-aware student, two sittings ----------------
class Student(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(7, 32), nn.SiLU(), nn.Linear(32, 32), nn.SiLU())
        self.mean = nn.Linear(32, 1)
        self.logvar = nn.Linear(32, 1)

    def __call__(self, x):
        h = self.body(x)
        return self.mean(h).squeeze(-1), self.logvar(h).squeeze(-1)


def nll(s, x, targets):
    mu, logvar = s(x)
    shape = targets.shape
    mu_b = mx.broadcast_to(mu[:, None], shape)
    var_b = mx.broadcast_to(mx.exp(logvar)[:, None], shape)
    return nn.losses.gaussian_nll_loss(
        mu_b, mx.stop_gradient(targets), var_b, full=False, reduction="mean")


TOTAL_EPOCHS, SPLIT, BS = 30, 15, 50
steps_per_epoch = len(q_tr) // BS


def make_opt():
    return optim.AdamW(learning_rate=optim.cosine_decay(2e-3, TOTAL_EPOCHS * steps_per_epoch, 2e-5),
                       weight_decay=1e-4)


def report(s, epoch, objective, t0):
    mu, logvar = s(Xva)
    mu_np = np.array(mu) * sd_q + mu_q
    sd_np = np.sqrt(np.exp(np.array(logvar))) * sd_q
    corr = float(np.corrcoef(sd_np, ens_sd_va)[0, 1])
    block(Event="student-epoch", Epoch=f"{epoch}/{TOTAL_EPOCHS}", Objective_Nll=objective,
          Valid_Mae_m3s=float(np.mean(np.abs(mu_np - q_va))),
          Mean_Abs_Gap_To_Ensemble_m3s=float(np.mean(np.abs(mu_np - ens_mean_va))),
          Spread_Corr_With_Ensemble=corr, Secs=time.time() - t0)


def run_epochs(s, opt, start, stop, t0, first_check=False):
    step_fn = nn.value_and_grad(s, nll)
    for ep in range(start, stop + 1):
        perm = mx.array(rng.permutation(len(q_tr)))
        tot = 0.0
        for j, i in enumerate(range(0, steps_per_epoch * BS, BS)):
            idx = perm[i:i + BS]
            loss, g = step_fn(s, Xtr[idx], member_preds_tr[idx])
            if first_check and ep == start and j == 0:
                leaves = tree_flatten(g)
                block(Event="grad-check", Leaves=len(leaves),
                      Zero_Leaves=",".join(k for k, v in leaves if float(mx.abs(v).max().item()) == 0.0) or "none")
            opt.update(s, g)
            mx.eval(s.parameters(), opt.state, loss)
            tot += loss.item()
        if ep % 3 == 0 or ep == start:
            report(s, ep, tot / steps_per_epoch, t0)


student = Student()
s_opt = make_opt()
t0 = time.time()
run_epochs(student, s_opt, 1, SPLIT, t0, first_check=True)

ckpt = tempfile.mkdtemp()
student.save_weights(os.path.join(ckpt, "student.safetensors"))
mx.save_safetensors(os.path.join(ckpt, "opt.safetensors"), dict(tree_flatten(s_opt.state)))
with open(os.path.join(ckpt, "meta.json"), "w") as fh:
    json.dump({"epoch": SPLIT}, fh)
ref_mu, _ = student(Xva)
mx.eval(ref_mu)
block(Event="checkpoint", Files=",".join(sorted(os.listdir(ckpt))), Epoch=SPLIT)
del student, s_opt

# second sitting: rebuild from files
student = Student()
student.load_weights(os.path.join(ckpt, "student.safetensors"))
s_opt = make_opt()
s_opt.state = tree_unflatten(list(mx.load(os.path.join(ckpt, "opt.safetensors")).items()))
with open(os.path.join(ckpt, "meta.json")) as fh:
    start = json.load(fh)["epoch"] + 1
new_mu, _ = student(Xva)
block(Event="resume", Start_Epoch=start, Optimizer_Step=int(s_opt.state["step"].item()),
      Prediction_Gap=float(mx.abs(new_mu - ref_mu).max().item()))
run_epochs(student, s_opt, start, TOTAL_EPOCHS, t0)

drift = max(float(np.abs(a - np.array(b)).max()) for a, b in
            zip(snap, [v for m in members for _, v in tree_flatten(m.parameters())]))
mu, logvar = student(Xva)
block(Event="done", Student_Params=sum(v.size for _, v in tree_flatten(student.parameters())),
      Member_Max_Drift=drift,
      Student_Valid_Mae_m3s=float(np.mean(np.abs(np.array(mu) * sd_q + mu_q - q_va))),
      Ensemble_Valid_Mae_m3s=float(np.mean(np.abs(ens_mean_va - q_va))))
