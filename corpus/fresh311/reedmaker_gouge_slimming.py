"""Oboe reed workshop: predict the crow pitch offset (cents from A=440) of a
finished reed from seven cane/gouge measurements, then shrink the model by
network slimming (L1 on per-unit gates, then remove weak hidden units)."""
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(311)
N_TRAIN, N_VALID = 6000, 1500
FEATS = ["gouge_mm", "cane_dia_mm", "tip_mm", "scrape_depth", "humidity",
         "cane_age_y", "tie_len_mm"]


def make_reeds(n):
    gouge = rng.uniform(0.55, 0.62, n)
    dia = rng.uniform(9.8, 10.8, n)
    tip = rng.uniform(0.8, 2.2, n)
    scrape = rng.uniform(0.0, 1.0, n)
    hum = rng.uniform(30, 80, n)
    age = rng.uniform(0.5, 6.0, n)
    tie = rng.uniform(70.0, 73.0, n)
    cents = (900 * (gouge - 0.585) - 18 * (dia - 10.3) - 9 * (tip - 1.5) ** 2
             + 14 * np.tanh(3 * (scrape - 0.5)) - 0.25 * (hum - 55)
             + 3 * np.log(age) - 6 * (tie - 71.5)
             + 5 * np.sin(2 * np.pi * scrape) * (gouge - 0.585) * 40)
    cents += rng.normal(0, 3.0, n)
    x = np.stack([gouge, dia, tip, scrape, hum, age, tie], 1)
    return x.astype(np.float32), cents.astype(np.float32)


xtr, ytr = make_reeds(N_TRAIN)
xva, yva = make_reeds(N_VALID)
mu, sd = xtr.mean(0), xtr.std(0)
ymu, ysd = ytr.mean(), ytr.std()
Xtr, Xva = mx.array((xtr - mu) / sd), mx.array((xva - mu) / sd)
Ytr, Yva = mx.array((ytr - ymu) / ysd), mx.array((yva - ymu) / ysd)


class GatedMLP(nn.Module):
    def __init__(self, d_in, widths):
        super().__init__()
        dims = [d_in] + list(widths)
        self.hidden = [nn.Linear(a, b) for a, b in zip(dims[:-1], dims[1:])]
        self.gates = [mx.ones((w,)) for w in widths]
        self.out = nn.Linear(dims[-1], 1)

    def __call__(self, x):
        for lin, g in zip(self.hidden, self.gates):
            x = nn.silu(lin(x)) * g
        return self.out(x).squeeze(-1)

    def widths(self):
        return [g.shape[0] for g in self.gates]


def n_params(m):
    return sum(v.size for _, v in tree_flatten(m.parameters()))


def task_loss(model, x, y):
    return nn.losses.mse_loss(model(x), y)


def make_step(model, opt, lam):
    def total(m, x, y):
        t = task_loss(m, x, y)
        pen = sum(mx.abs(g).sum() for g in m.gates)
        return t + lam * pen, (t, pen)

    vg = nn.value_and_grad(model, total)

    def step(x, y):
        (loss, (t, pen)), grads = vg(model, x, y)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss, t, pen)
        return t.item(), pen.item()
    return step


def rmse_cents(model):
    return mx.sqrt(task_loss(model, Xva, Yva)).item() * ysd


def warm_cosine(peak, warm, total):
    return optim.join_schedules(
        [optim.linear_schedule(0.0, peak, warm),
         optim.cosine_decay(peak, total - warm, peak * 0.05)], [warm])


def run_stage(name, model, epochs, lam, peak_lr, report_every):
    steps_per_epoch = N_TRAIN // 64
    sched = warm_cosine(peak_lr, 80, epochs * steps_per_epoch)
    opt = optim.Adam(learning_rate=sched)
    step = make_step(model, opt, lam)
    for ep in range(1, epochs + 1):
        perm = mx.array(rng.permutation(N_TRAIN)[: steps_per_epoch * 64])
        t_sum, p_last = 0.0, 0.0
        for i in range(steps_per_epoch):
            idx = perm[i * 64:(i + 1) * 64]
            t, p_last = step(Xtr[idx], Ytr[idx])
            t_sum += t
        if ep % report_every == 0 or ep == epochs:
            small = sum(int((mx.abs(g) < 0.05).sum().item()) for g in model.gates)
            print(f"  {name:<8s} ep {ep:2d}  lr {float(opt.learning_rate):.2e}"
                  f"  task {t_sum / steps_per_epoch:.4f}"
                  f"  |gates|_1 {p_last:7.2f}  gates<0.05 {small:3d}"
                  f"  valid rmse {rmse_cents(model):5.2f} c")
    return opt


def slim(model, threshold):
    """Keep hidden units whose |gate| >= threshold; fold gates into the next layer."""
    keeps = [np.nonzero(np.abs(np.array(g)) >= threshold)[0] for g in model.gates]
    new = GatedMLP(model.hidden[0].weight.shape[1], [len(k) for k in keeps])
    prev = np.arange(model.hidden[0].weight.shape[1])
    for li, (lin, g, k) in enumerate(zip(model.hidden, model.gates, keeps)):
        W = np.array(lin.weight)[np.ix_(k, prev)]
        if li > 0:
            gp = np.array(model.gates[li - 1])[prev]
            W = W * gp[None, :]
        new.hidden[li].weight = mx.array(W)
        new.hidden[li].bias = mx.array(np.array(lin.bias)[k])
        prev = k
    gl = np.array(model.gates[-1])[prev]
    new.out.weight = mx.array(np.array(model.out.weight)[:, prev] * gl[None, :])
    new.out.bias = mx.array(np.array(model.out.bias))
    mx.eval(new.parameters())
    return new


t0 = time.perf_counter()
mx.random.seed(311)
model = GatedMLP(len(FEATS), [128, 128])
mx.eval(model.parameters())
print(f"reed workshop: {N_TRAIN} train / {N_VALID} valid reeds, target sd {ysd:.1f} cents")
print(f"always-guess-the-mean rmse {np.std(yva - ymu):.2f} c, untrained rmse {rmse_cents(model):.2f} c")
print(f"model widths {model.widths()}  params {n_params(model)}")

_, g0 = nn.value_and_grad(model, task_loss)(model, Xtr[:64], Ytr[:64])
leaves = tree_flatten(g0)
print(f"first-batch gradient: {len(leaves)} arrays, "
      f"{sum(1 for _, v in leaves if mx.abs(v).max().item() > 0)} non-zero")

print("stage 1: dense fit (lr warms up from 0)")
run_stage("dense", model, 6, 0.0, 3e-3, 2)

print("stage 2: sparsity pressure on unit gates")
run_stage("slimming", model, 10, 4e-3, 2e-3, 2)

before = rmse_cents(model)
gate_mags = np.concatenate([np.abs(np.array(g)) for g in model.gates])
model = slim(model, 0.05)
print(f"surgery: kept {model.widths()} of [128, 128] units, params {n_params(model)}, "
      f"valid rmse {before:.2f} c -> {rmse_cents(model):.2f} c "
      f"(median |gate| was {np.median(gate_mags):.3f})")

print("stage 3: fine-tune the slim net (fresh optimiser, warm-up from 0 again)")
run_stage("finetune", model, 6, 0.0, 1e-3, 3)
print(f"done in {time.perf_counter() - t0:.1f}s: slim rmse {rmse_cents(model):.2f} c "
      f"vs noise 3.00 c and mean-guess {np.std(yva - ymu):.2f} c")
