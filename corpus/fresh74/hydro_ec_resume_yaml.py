"""Hydroponic lettuce raft: daily EC drift (mS/cm/day) of the nutrient solution.

Trained in two sittings: the first sitting trains 5 epochs and writes a checkpoint
(weights + Adamax state + counters) to a scratch dir; the second sitting builds a new
model and optimizer, restores both from that checkpoint and trains 5 more epochs.
Reports are YAML documents.
"""
import json, os, shutil, tempfile, time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

rng = np.random.default_rng(11)

def make_rows(n):
    plants = rng.uniform(4, 36, n)            # heads on the raft
    age = rng.uniform(5, 40, n)               # days since transplant
    temp = rng.normal(21, 3, n)               # solution temp C
    vol = rng.uniform(40, 160, n)             # reservoir litres
    light = rng.uniform(8, 25, n)             # DLI mol/m2/d
    ph = rng.normal(6.0, 0.35, n)
    uptake = plants * (0.4 + 0.03 * age) * (1 + 0.04 * (temp - 21)) * light / 15
    water_loss = plants * (0.08 + 0.004 * age) * (1 + 0.06 * (temp - 21))
    drift = (water_loss * 0.9 - uptake * 0.35) / vol + 0.03 * np.abs(ph - 6.0)
    y = drift + rng.normal(0, 0.01, n)
    X = np.stack([plants, age, temp, np.log(vol), light, ph], 1)
    return X.astype(np.float32), y.astype(np.float32)

Xtr, ytr = make_rows(24000)
Xva, yva = make_rows(1500)
mu, sd = Xtr.mean(0), Xtr.std(0)
ymu, ysd = ytr.mean(), ytr.std()
Xtr = (Xtr - mu) / sd; Xva = (Xva - mu) / sd
ttr = (ytr - ymu) / ysd; tva = (yva - ymu) / ysd
Xtr, ttr, Xva_m = mx.array(Xtr), mx.array(ttr), mx.array(Xva)


class DriftNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(6, 96)
        self.l2 = nn.Linear(96, 96)
        self.out = nn.Linear(96, 1)

    def __call__(self, x):
        h = nn.silu(self.l1(x))
        h = h + nn.silu(self.l2(h))
        return self.out(h).squeeze(-1)


def loss_fn(model, x, t):
    return nn.losses.mse_loss(model(x), t)


def val_metrics(model):
    pred = np.array(model(Xva_m)) * ysd + ymu
    err = pred - yva
    return float(np.sqrt((err ** 2).mean())), float(np.abs(err).mean())


def yaml_doc(d):
    print("---")
    for k, v in d.items():
        if isinstance(v, float):
            print(f"{k}: {v:.6g}")
        else:
            print(f"{k}: {v}")


def run_epochs(model, opt, first_epoch, n_epochs, step, batch=64, check_grads=False):
    vg = nn.value_and_grad(model, loss_fn)
    n = Xtr.shape[0]
    for ep in range(first_epoch, first_epoch + n_epochs):
        t0 = time.time()
        perm = mx.array(np.random.default_rng(1000 + ep).permutation(n))
        tot, cnt = 0.0, 0
        for i in range(0, n - batch + 1, batch):
            idx = perm[i:i + batch]
            loss, grads = vg(model, Xtr[idx], ttr[idx])
            if check_grads and step == 0:
                leaves = tree_flatten(grads)
                zero = [k for k, g in leaves if float(mx.abs(g).max()) == 0.0]
                yaml_doc({"event": "grad_check", "leaves": len(leaves), "zero_leaves": zero or "none"})
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item(); cnt += 1; step += 1
        rmse, mae = val_metrics(model)
        yaml_doc({"epoch": ep + 1, "step": step, "train_mse_std": tot / cnt,
                  "valid_rmse_mScm_day": rmse, "valid_mae_mScm_day": mae,
                  "secs": time.time() - t0})
    return step


ckpt_dir = tempfile.mkdtemp(prefix="ec_ckpt_")
yaml_doc({"event": "data", "train_rows": 24000, "valid_rows": 1500,
          "target_sd_mScm_day": float(ysd), "noise_floor_rmse": 0.01, "checkpoint_dir": ckpt_dir})

# ---- sitting 1 ----
mx.random.seed(3)
model = DriftNet()
opt = optim.Adamax(learning_rate=2e-3)
mx.eval(model.parameters())
rmse0, _ = val_metrics(model)
yaml_doc({"event": "untrained", "valid_rmse_mScm_day": rmse0})
step = run_epochs(model, opt, 0, 5, 0, check_grads=True)
model.save_weights(os.path.join(ckpt_dir, "model.safetensors"))
mx.save_safetensors(os.path.join(ckpt_dir, "optim.safetensors"), dict(tree_flatten(opt.state)))
with open(os.path.join(ckpt_dir, "meta.json"), "w") as f:
    json.dump({"epoch": 5, "step": step}, f)
saved_rmse, _ = val_metrics(model)
yaml_doc({"event": "checkpoint_written", "step": step, "valid_rmse_mScm_day": saved_rmse})
del model, opt

# ---- sitting 2: resume ----
mx.random.seed(99)  # different init, must be overwritten by the checkpoint
model = DriftNet()
model.load_weights(os.path.join(ckpt_dir, "model.safetensors"))
opt = optim.Adamax(learning_rate=2e-3)
opt.state = tree_unflatten(list(mx.load(os.path.join(ckpt_dir, "optim.safetensors")).items()))
with open(os.path.join(ckpt_dir, "meta.json")) as f:
    meta = json.load(f)
mx.eval(model.parameters(), opt.state)
rmse_loaded, _ = val_metrics(model)
yaml_doc({"event": "resumed", "from_epoch": meta["epoch"], "step": meta["step"],
          "optimizer_step": int(opt.state["step"].item()),
          "valid_rmse_mScm_day": rmse_loaded,
          "matches_saved": abs(rmse_loaded - saved_rmse) < 1e-7})
step = run_epochs(model, opt, meta["epoch"], 5, meta["step"])
rmse, mae = val_metrics(model)
yaml_doc({"event": "done", "epochs": 10, "step": step, "valid_rmse_mScm_day": rmse,
          "valid_mae_mScm_day": mae})
shutil.rmtree(ckpt_dir, ignore_errors=True)
