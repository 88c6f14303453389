"""Tuning-fork line: predict the pitch (cents from A440) of a fork from its shop readings.

Two power-function weight averages (EDM2-style profiles) are tracked next to the raw
weights. The run is split in two sessions: session 1 writes a checkpoint, session 2
rebuilds everything from that file and carries on.
"""
import csv
import os
import sys
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map, tree_unflatten

rng = np.random.default_rng(373)
N_TRAIN, N_VAL = 9000, 1500


def make_forks(n):
    prong_len = rng.uniform(70.0, 90.0, n)        # mm
    thickness = rng.uniform(4.0, 6.0, n)          # mm
    alloy = rng.integers(0, 3, n)                 # steel / aluminium / brass
    temp = rng.uniform(12.0, 32.0, n)             # shop temperature C
    grind = rng.uniform(0.0, 0.4, n)              # mm removed at the crotch
    speed = np.array([5100.0, 5050.0, 3500.0])[alloy]
    freq = 0.1615 * speed * thickness / (prong_len / 1000.0) ** 2 / 1e6 * 1000.0
    freq *= 1.0 - 0.00025 * (temp - 20.0) - 0.015 * grind
    cents = 1200.0 * np.log2(freq / 440.0)
    cents += rng.normal(0.0, 4.0, n)              # strike / reading noise
    onehot = np.eye(3)[alloy]
    x = np.column_stack([prong_len, thickness, temp, grind, onehot]).astype(np.float32)
    return x, cents.astype(np.float32)


x_all, y_all = make_forks(N_TRAIN + N_VAL)
mu, sd = x_all[:N_TRAIN, :4].mean(0), x_all[:N_TRAIN, :4].std(0)
x_all[:, :4] = (x_all[:, :4] - mu) / sd
y_mu, y_sd = float(y_all[:N_TRAIN].mean()), float(y_all[:N_TRAIN].std())
x_tr, x_va = mx.array(x_all[:N_TRAIN]), mx.array(x_all[N_TRAIN:])
y_tr = mx.array((y_all[:N_TRAIN] - y_mu) / y_sd)
y_va_cents = y_all[N_TRAIN:]


class ForkNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(7, 64)
        self.l2 = nn.Linear(64, 64)
        self.out = nn.Linear(64, 1)

    def __call__(self, x):
        h = nn.silu(self.l1(x))
        h = nn.silu(self.l2(h)) + h
        return self.out(h).squeeze(-1)


def loss_fn(model, xb, yb):
    return nn.losses.mse_loss(model(xb), yb)


def val_mae_cents(model, params=None):
    if params is not None:
        saved = tree_map(lambda p: p, model.parameters())
        model.update(params)
    pred = np.array(model(x_va)) * y_sd + y_mu
    if params is not None:
        model.update(saved)
    return float(np.abs(pred - y_va_cents).mean())


def power_beta(step, gamma):
    # EDM2 power-function profile: beta_t = (1 - 1/t)^(gamma + 1)
    return (1.0 - 1.0 / step) ** (gamma + 1.0)


GAMMAS = {"g07": 6.94, "g17": 16.97}
TOTAL, SPLIT, BATCH, PEAK, WARM = 2400, 1200, 128, 3e-3, 150


def lr_at(step):
    # linear warm-up from exactly 0, then inverse square-root decay
    if step <= WARM:
        return PEAK * (step - 1) / WARM
    return PEAK / np.sqrt(step / WARM)


def run_session(model, opt, emas, start, stop, writer, perm_seed):
    step_fn = nn.value_and_grad(model, loss_fn)
    prng = np.random.default_rng(perm_seed)
    order, cur = prng.permutation(N_TRAIN), 0
    window = []
    for step in range(start, stop + 1):
        if cur + BATCH > N_TRAIN:
            order, cur = prng.permutation(N_TRAIN), 0
        idx = mx.array(order[cur:cur + BATCH])
        cur += BATCH
        opt.learning_rate = lr_at(step)
        loss, grads = step_fn(model, x_tr[idx], y_tr[idx])
        if step == 1:
            flat = tree_flatten(grads)
            zero = [k for k, g in flat if float(mx.abs(g).max()) == 0.0]
            print(f"# grad leaves={len(flat)} zero={zero or 'none'} loss={loss.item():.3f}")
        opt.update(model, grads)
        p = model.trainable_parameters()
        for name, g in GAMMAS.items():
            b = power_beta(step, g)
            emas[name] = tree_map(lambda e, w: b * e + (1.0 - b) * w, emas[name], p)
        mx.eval(loss, model.parameters(), opt.state, emas)
        window.append(loss.item())
        if step in (1, 50, 150) or step % 300 == 0:
            writer.writerow([step, f"{lr_at(step):.2e}", f"{np.mean(window):.2e}",
                             f"{val_mae_cents(model):.2f}",
                             f"{val_mae_cents(model, emas['g07']):.2f}",
                             f"{val_mae_cents(model, emas['g17']):.2f}"])
            sys.stdout.flush()
            window = []


def save_ckpt(path, model, opt, emas, step):
    flat = {"model." + k: v for k, v in tree_flatten(model.parameters())}
    flat.update({"opt." + k: v for k, v in tree_flatten(opt.state)})
    for name, tree in emas.items():
        flat.update({f"ema_{name}." + k: v for k, v in tree_flatten(tree)})
    flat["meta.step"] = mx.array(step)
    mx.save_safetensors(path, flat)


def load_ckpt(path):
    raw = mx.load(path)
    groups = {}
    for k, v in raw.items():
        head, rest = k.split(".", 1)
        groups.setdefault(head, []).append((rest, v))
    return {h: tree_unflatten(items) for h, items in groups.items()}


t0 = time.time()
base_mae = float(np.abs(y_va_cents - np.median(y_all[:N_TRAIN])).mean())
print(f"# forks train={N_TRAIN} val={N_VAL} pitch sd={y_sd:.1f} cents, "
      f"median-fork baseline MAE={base_mae:.2f} cents, reading noise MAE~{4.0 * 0.798:.2f}")
writer = csv.writer(sys.stdout)
writer.writerow(["step", "lr", "train_mse_std", "val_mae_raw", "val_mae_pema07", "val_mae_pema17"])

mx.random.seed(7)
model = ForkNet()
opt = optim.Adam(learning_rate=0.0)
mx.eval(model.parameters())
emas = {n: tree_map(lambda p: p, model.trainable_parameters()) for n in GAMMAS}
run_session(model, opt, emas, 1, SPLIT, writer, perm_seed=1)

ckdir = tempfile.mkdtemp()
ck = os.path.join(ckdir, "forkline.safetensors")
save_ckpt(ck, model, opt, emas, SPLIT)
print(f"# session 1 closed at step {SPLIT}, checkpoint {os.path.getsize(ck) // 1024} KiB")
del model, opt, emas

model = ForkNet()
opt = optim.Adam(learning_rate=0.0)
state = load_ckpt(ck)
model.update(state["model"])
opt.init(model.trainable_parameters())
opt.state = state["opt"]
emas = {n: state[f"ema_{n}"] for n in GAMMAS}
resume_step = int(state["meta"]["step"].item())
mx.eval(model.parameters(), opt.state, emas)
os.remove(ck)
os.rmdir(ckdir)
print(f"# session 2 resumed at step {resume_step}, val MAE raw={val_mae_cents(model):.2f}")
run_session(model, opt, emas, resume_step + 1, TOTAL, writer, perm_seed=2)

final = {"raw": val_mae_cents(model)}
final.update({n: val_mae_cents(model, emas[n]) for n in GAMMAS})
print("# done " + " ".join(f"{k}={v:.2f}" for k, v in final.items())
      + f" baseline={base_mae:.2f} secs={time.time() - t0:.1f}")
