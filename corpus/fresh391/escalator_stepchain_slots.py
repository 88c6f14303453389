# Escalator step-chain elongation (mm) from inspection-log features.
# Checkpoints go to a ring of three slot files every 20 steps; every 200 steps the
# latest slot is read back into a freshly built model that then carries on training.
import os, tempfile, time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(7)

def make(n):
    age = rng.uniform(0, 120, n)              # months in service
    load = rng.uniform(0.2, 1.0, n)           # passenger load index
    lube = rng.uniform(1, 12, n)              # weeks between lubrication
    temp = rng.normal(18, 7, n)               # pit temperature degC
    rise = rng.uniform(3, 15, n)              # vertical rise m
    incl = rng.choice([27.3, 30.0, 35.0], n)  # inclination deg
    y = (0.045 * age * (0.6 + load) * (1 + 0.04 * lube)
         + 0.02 * np.maximum(temp - 25, 0) ** 1.5
         + 0.08 * rise + 0.03 * (incl - 30)
         + rng.normal(0, 0.35, n))
    X = np.stack([age, load, lube, temp, rise, incl], 1)
    return X.astype(np.float32), y.astype(np.float32)

Xtr, ytr = make(4000)
Xva, yva = make(20000)
mu, sd = Xtr.mean(0), Xtr.std(0)
ymu, ysd = ytr.mean(), ytr.std()
Xtr_m = mx.array((Xtr - mu) / sd); ytr_m = mx.array((ytr - ymu) / ysd)
Xva_m = mx.array((Xva - mu) / sd); yva_np = yva


class ChainNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(6, 48)
        self.l2 = nn.Linear(48, 48)
        self.out = nn.Linear(48, 1)

    def __call__(self, x):
        h = nn.silu(self.l1(x))
        h = nn.silu(self.l2(h)) + h
        return self.out(h).squeeze(-1)


def mse(model, x, y):
    return mx.mean((model(x) - y) ** 2)


def val_mae_mm(model):
    errs = []
    for i in range(0, Xva_m.shape[0], 500):
        p = model(Xva_m[i:i + 500]) * ysd + ymu
        errs.append(np.abs(np.array(p) - yva_np[i:i + 500]))
    return float(np.concatenate(errs).mean())


mx.random.seed(3)
model = ChainNet()
mx.eval(model.parameters())
TOTAL = 1000
sched = optim.join_schedules(
    [optim.linear_schedule(0.0, 2e-3, 100), optim.cosine_decay(2e-3, TOTAL - 100, 1e-5)], [100])
opt = optim.Adam(learning_rate=sched)
step_fn = nn.value_and_grad(model, mse)

workdir = tempfile.mkdtemp(prefix="chain_slots_")
slots = [os.path.join(workdir, f"slot{k}.safetensors") for k in range(3)]
baseline = float(np.abs(yva_np - np.median(ytr)).mean())
print(f"# rows train={len(ytr)} valid={len(yva)}  median-guess MAE {baseline:.3f} mm  noise sd 0.35 mm")
print("step\tlr\ttrain_mse_z\tvalid_mae_mm\tslot\tnote")
print(f"0\t{0.0:.2e}\t-\t{val_mae_mm(model):.4f}\t-\tuntrained")

perm, cur = rng.permutation(len(ytr)), 0
window, t0 = [], time.perf_counter()
for step in range(1, TOTAL + 1):
    if cur + 32 > len(perm):
        perm, cur = rng.permutation(len(ytr)), 0
    idx = mx.array(perm[cur:cur + 32]); cur += 32
    lr_used = float(sched(opt.step))
    loss, grads = step_fn(model, Xtr_m[idx], ytr_m[idx])
    if step == 1:
        from mlx.utils import tree_flatten
        leaves = tree_flatten(grads)
        zero = [k for k, g in leaves if float(mx.abs(g).max()) == 0.0]
        print(f"# step 1 lr {lr_used:.1e}: {len(leaves)} gradient leaves, all-zero: {zero or 'none'}")
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    window.append(loss.item())
    if step % 20 == 0:
        slot = slots[(step // 20) % 3]
        model.save_weights(slot)
        note = ""
        if step % 200 == 0:
            fresh = ChainNet()
            fresh.load_weights(slot)
            mx.eval(fresh.parameters())
            before, after = val_mae_mm(model), val_mae_mm(fresh)
            model = fresh
            step_fn = nn.value_and_grad(model, mse)
            note = f"reloaded {os.path.basename(slot)} (valid {before:.4f} -> {after:.4f})"
        mae = val_mae_mm(model)
        print(f"{step}\t{lr_used:.2e}\t{np.mean(window):.4f}\t{mae:.4f}\t{os.path.basename(slot)}\t{note}")
        window = []

import shutil
print(f"# done {TOTAL} steps in {time.perf_counter() - t0:.1f}s; final valid MAE {val_mae_mm(model):.4f} mm "
      f"vs median guess {baseline:.3f} mm; slots on disk: {sorted(os.listdir(workdir))}")
shutil.rmtree(workdir)
