"""Glassworks melt-shop: log10 viscosity of a soda-lime batch at working
temperature, from 7 composition / furnace readings.  Heteroscedastic Gaussian
head, per-epoch safetensors checkpoints, then an average of the last four
checkpoints and a bfloat16 export that is read back."""
import json
import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten, tree_map

rng = np.random.default_rng(374)
N_TRAIN, N_VAL = 9000, 1500


def make(n):
    sio2 = rng.uniform(0.68, 0.76, n)
    na2o = rng.uniform(0.11, 0.16, n)
    cao = rng.uniform(0.07, 0.12, n)
    al2o3 = rng.uniform(0.005, 0.03, n)
    temp = rng.uniform(1000.0, 1250.0, n)          # deg C
    cullet = rng.uniform(0.0, 0.6, n)              # recycled share
    water = rng.uniform(0.01, 0.06, n)             # dissolved OH proxy
    # Vogel-Fulcher-Tammann-ish made-up law
    a = -2.6 + 4.0 * (sio2 - 0.72) + 3.0 * al2o3
    b = 4400 + 9000 * (sio2 - 0.72) - 6000 * (na2o - 0.13) + 2500 * (cao - 0.09)
    t0 = 270 + 400 * (cao - 0.09) - 300 * water
    logeta = a + b / (temp - t0)
    sd = 0.04 + 0.10 * cullet                      # cullet makes melts erratic
    y = logeta + sd * rng.standard_normal(n)
    X = np.stack([sio2, na2o, cao, al2o3, temp, cullet, water], 1)
    return X.astype(np.float32), y.astype(np.float32)


Xtr, ytr = make(N_TRAIN)
Xva, yva = make(N_VAL)
mu, sd = Xtr.mean(0), Xtr.std(0)
ymu, ysd = ytr.mean(), ytr.std()
Xtr, Xva = (Xtr - mu) / sd, (Xva - mu) / sd
ztr, zva = (ytr - ymu) / ysd, (yva - ymu) / ysd
Xtr, Xva, ztr, zva = map(mx.array, (Xtr, Xva, ztr, zva))


class MeltNet(nn.Module):
    def __init__(self, d=7, h=64):
        super().__init__()
        self.inp = nn.Linear(d, h)
        self.mid = nn.Linear(h, h)
        self.loc = nn.Linear(h, 1)
        self.logvar = nn.Linear(h, 1)

    def __call__(self, x):
        h = nn.gelu(self.inp(x))
        h = h + nn.gelu(self.mid(h))
        return self.loc(h).squeeze(-1), mx.clip(self.logvar(h).squeeze(-1), -9.0, 4.0)


def nll(model, x, z):
    m, lv = model(x)
    return mx.mean(0.5 * (lv + (z - m) ** 2 * mx.exp(-lv)))


def evaluate(model):
    m, lv = model(Xva)
    v_nll = mx.mean(0.5 * (lv + (zva - m) ** 2 * mx.exp(-lv)))
    rmse = mx.sqrt(mx.mean((m - zva) ** 2)) * float(ysd)
    zs = mx.abs(m - zva) / mx.exp(0.5 * lv)
    cover = mx.mean(zs < 1.645) * 100.0
    mx.eval(v_nll, rmse, cover)
    return v_nll.item(), rmse.item(), cover.item()


EPOCHS, BATCH = 12, 96
steps_per_epoch = N_TRAIN // BATCH
total = EPOCHS * steps_per_epoch
warm = steps_per_epoch
sched = optim.join_schedules(
    [optim.linear_schedule(0.0, 2e-3, warm),
     optim.cosine_decay(2e-3, total - warm, 5e-5)], [warm])

mx.random.seed(7)
model = MeltNet()
mx.eval(model.parameters())
opt = optim.AdamW(learning_rate=sched, weight_decay=1e-4)
loss_and_grad = nn.value_and_grad(model, nll)

ckdir = tempfile.mkdtemp()
base_rmse = float(np.sqrt(np.mean((yva - ytr.mean()) ** 2)))
print("---")
print(f"data: {{train: {N_TRAIN}, val: {N_VAL}, features: 7}}")
print(f"baseline_predict_mean_rmse_dex: {base_rmse:.4f}")
v0 = evaluate(model)
print(f"untrained: {{val_nll: {v0[0]:+.4f}, val_rmse_dex: {v0[1]:.4f}}}")

t0 = time.time()
step = 0
snap0 = {k: mx.array(v) for k, v in tree_flatten(model.parameters())}
for epoch in range(1, EPOCHS + 1):
    perm = mx.array(rng.permutation(N_TRAIN))
    run = 0.0
    for i in range(steps_per_epoch):
        idx = perm[i * BATCH:(i + 1) * BATCH]
        loss, g = loss_and_grad(model, Xtr[idx], ztr[idx])
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state, loss)
        run += loss.item()
        step += 1
        if step == 1:
            moved = max(mx.max(mx.abs(v - snap0[k])).item()
                        for k, v in tree_flatten(model.parameters()))
            nz = sum(int(mx.any(v != 0).item()) for _, v in tree_flatten(g))
            print(f"first_update: {{lr_used: 0.0, grad_leaves_nonzero: {nz}/{len(tree_flatten(g))}, max_param_change: {moved:.1e}}}")
    vn, vr, vc = evaluate(model)
    path = os.path.join(ckdir, f"melt_e{epoch:02d}.safetensors")
    mx.save_safetensors(path, dict(tree_flatten(model.parameters())),
                        metadata={"epoch": str(epoch), "val_nll": f"{vn:.5f}"})
    print(f"- epoch: {epoch}")
    print(f"  lr_next: {float(opt.learning_rate):.3e}")
    print(f"  train_nll: {run / steps_per_epoch:+.4f}")
    print(f"  val_nll: {vn:+.4f}")
    print(f"  val_rmse_dex: {vr:.4f}")
    print(f"  cover90_pct: {vc:.1f}")
    print(f"  seconds: {time.time() - t0:.1f}")

last_epoch_metrics = evaluate(model)

# uniform average of the last four checkpoints, read back from disk
files = sorted(f for f in os.listdir(ckdir) if f.endswith(".safetensors"))[-4:]
acc = None
for f in files:
    w, meta = mx.load(os.path.join(ckdir, f), return_metadata=True)
    acc = w if acc is None else {k: acc[k] + w[k] for k in acc}
avg = {k: v / len(files) for k, v in acc.items()}
averaged = MeltNet()
averaged.load_weights(list(avg.items()), strict=True)
mx.eval(averaged.parameters())
am = evaluate(averaged)

# bfloat16 export, read back into float32 for scoring
export = os.path.join(ckdir, "melt_export_bf16.safetensors")
mx.save_safetensors(export, {k: v.astype(mx.bfloat16) for k, v in avg.items()},
                    metadata={"dtype": "bfloat16", "averaged": ",".join(files)})
back = mx.load(export)
reloaded = MeltNet()
reloaded.load_weights([(k, v.astype(mx.float32)) for k, v in back.items()])
mx.eval(reloaded.parameters())
bm = evaluate(reloaded)

print("summary:")
print(f"  averaged_files: [{', '.join(files)}]")
print(f"  last_epoch:   {{val_nll: {last_epoch_metrics[0]:+.4f}, val_rmse_dex: {last_epoch_metrics[1]:.4f}, cover90_pct: {last_epoch_metrics[2]:.1f}}}")
print(f"  avg_last4:    {{val_nll: {am[0]:+.4f}, val_rmse_dex: {am[1]:.4f}, cover90_pct: {am[2]:.1f}}}")
print(f"  bf16_export:  {{val_nll: {bm[0]:+.4f}, val_rmse_dex: {bm[1]:.4f}, cover90_pct: {bm[2]:.1f}}}")
print(f"  baseline_rmse_dex: {base_rmse:.4f}")
print(f"  export_bytes: {os.path.getsize(export)}")
for f in os.listdir(ckdir):
    os.remove(os.path.join(ckdir, f))
os.rmdir(ckdir)
print("...")
