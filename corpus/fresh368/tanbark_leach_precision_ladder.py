"""Tannery bark-mill: predict tannin yield (% of dry bark) of a leach vat.

Inputs per vat: a 32-reading leach-water temperature trace plus bark particle
size, bark age and water:bark ratio.  A small Conv1d model is trained in three
sessions that climb a precision ladder:

  session 1  float32 throughout
  session 2  float32 master weights, bfloat16 compute copy
  session 3  float32 master weights, float16 compute copy, static loss scale

Each session ends by writing weights + optimizer state to disk; the next
session rebuilds the model from another seed and loads them back.  The
learning rate warms up from 0 again at the start of every session.
Output is tab-separated; lines starting with '#' are notes.
"""

import json
import math
import os
import shutil
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map, tree_unflatten

T_LEN = 32
rng = np.random.default_rng(7)


def make_vats(n):
    setpoint = rng.uniform(45.0, 70.0, size=(n, 1))
    steps = rng.normal(0.0, 0.9, size=(n, T_LEN))
    trace = setpoint + np.cumsum(steps, axis=1) - 4.0 * np.exp(-np.arange(T_LEN) / 5.0)
    size_mm = rng.lognormal(1.0, 0.4, size=n)
    age_mo = rng.uniform(1.0, 24.0, size=n)
    ratio = rng.uniform(3.0, 8.0, size=n)
    warm = 1.0 / (1.0 + np.exp(-(trace - 58.0) / 4.0))
    late = warm[:, T_LEN // 2:].mean(axis=1)
    early = warm[:, : T_LEN // 2].mean(axis=1)
    overheat = np.clip(trace - 72.0, 0.0, None).mean(axis=1)
    y = (9.0 + 4.5 * late + 1.5 * early - 1.6 * np.log(size_mm)
         - 0.06 * age_mo + 0.9 * np.log(ratio) - 0.8 * overheat)
    y = y + rng.normal(0.0, 0.35, size=n)
    scal = np.stack([np.log(size_mm), age_mo, ratio], axis=1)
    return trace.astype(np.float32), scal.astype(np.float32), y.astype(np.float32)


tr_T, tr_S, tr_y = make_vats(6000)
va_T, va_S, va_y = make_vats(1500)
t_mu, t_sd = tr_T.mean(), tr_T.std()
s_mu, s_sd = tr_S.mean(0), tr_S.std(0)
y_mu, y_sd = tr_y.mean(), tr_y.std()


def pack(T, S, y):
    return (mx.array(((T - t_mu) / t_sd)[..., None]),
            mx.array((S - s_mu) / s_sd),
            mx.array((y - y_mu) / y_sd))


trX, trS, trY = pack(tr_T, tr_S, tr_y)
vaX, vaS, vaY = pack(va_T, va_S, va_y)


class VatNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv1d(1, 8, kernel_size=5, padding=2)
        self.c2 = nn.Conv1d(8, 8, kernel_size=5, padding=2)
        self.h1 = nn.Linear(8 + 8 + 3, 32)
        self.h2 = nn.Linear(32, 1)

    def __call__(self, trace, scal):
        z = nn.gelu(self.c1(trace))
        z = nn.gelu(self.c2(z))
        half = z.shape[1] // 2
        feats = mx.concatenate(
            [z[:, :half].mean(axis=1), z[:, half:].mean(axis=1), scal.astype(z.dtype)], axis=-1)
        return self.h2(nn.gelu(self.h1(feats))).squeeze(-1)


def mse_fn(model, trace, scal, y):
    pred = model(trace, scal).astype(mx.float32)
    return mx.mean((pred - y) ** 2)


def val_report(model, dtype):
    pred = model(vaX.astype(dtype), vaS.astype(dtype)).astype(mx.float32)
    err = (pred - vaY) * y_sd
    rmse = math.sqrt(mx.mean(err ** 2).item())
    r2 = 1.0 - mx.mean((pred - vaY) ** 2).item() / mx.mean((vaY - vaY.mean()) ** 2).item()
    return rmse, 100.0 * r2


def lr_at(step, n_steps, peak, warm=80, floor=2e-5):
    if step < warm:
        return peak * step / warm
    p = (step - warm) / max(1, n_steps - warm)
    return floor + 0.5 * (peak - floor) * (1.0 + math.cos(math.pi * p))


SESSIONS = [
    ("fp32", mx.float32, 1.0, 3e-3),
    ("bf16", mx.bfloat16, 1.0, 1.5e-3),
    ("fp16", mx.float16, 256.0, 8e-4),
]
STEPS = 500
BATCH = 128
REPORT = 100
ckpt_dir = tempfile.mkdtemp(prefix="tanbark_")

base_rmse = float(np.sqrt(np.mean((va_y - y_mu) ** 2)))
print(f"# vats train={len(tr_y)} valid={len(va_y)} trace_len={T_LEN} noise_sd=0.35 pct")
print(f"# baseline predict-the-mean valid rmse {base_rmse:.3f} pct")
print("session\tstep\tlr\ttrain_mse_z\tvalid_rmse_pct\tvalid_r2_pct\tskipped\tsecs")

global_step = 0
t0 = time.time()
for si, (name, cdtype, loss_scale, peak) in enumerate(SESSIONS):
    mx.random.seed(100 + si)
    master = VatNet()
    opt = optim.AdamW(learning_rate=0.0, weight_decay=1e-4)
    if si > 0:
        master.load_weights(os.path.join(ckpt_dir, "weights.safetensors"))
        opt.init(master.trainable_parameters())
        saved = mx.load(os.path.join(ckpt_dir, "opt.safetensors"))
        opt.state = tree_unflatten(list(saved.items()))
        meta = json.load(open(os.path.join(ckpt_dir, "meta.json")))
        back_rmse, _ = val_report(master, mx.float32)
        print(f"# session {name}: loaded step {meta['global_step']} "
              f"valid rmse {back_rmse:.4f} (saved {meta['valid_rmse']:.4f})")
    mx.eval(master.parameters())

    work = master
    if cdtype != mx.float32:
        work = VatNet()
        work.set_dtype(cdtype)
    vg = nn.value_and_grad(work, lambda m, a, b, c: loss_scale * mse_fn(m, a, b, c))
    print(f"# session {name}: compute {cdtype} master {master.h1.weight.dtype} loss_scale {loss_scale:g}")

    skipped = 0
    window = []
    perm = rng.permutation(len(tr_y))
    cur = 0
    for s in range(STEPS + 1):
        lr = lr_at(s, STEPS, peak)
        if s % REPORT == 0:
            rmse, r2 = val_report(master, mx.float32)
            tm = f"{np.mean(window):.4f}" if window else "-"
            print(f"{name}\t{global_step}\t{lr:.6f}\t{tm}\t{rmse:.4f}\t{r2:.2f}\t{skipped}\t{time.time() - t0:.1f}")
            window = []
        if s == STEPS:
            break
        if cur + BATCH > len(perm):
            perm = rng.permutation(len(tr_y))
            cur = 0
        idx = mx.array(perm[cur:cur + BATCH])
        cur += BATCH
        if work is not master:
            work.update(tree_map(lambda a: a.astype(cdtype), master.parameters()))
        loss, grads = vg(work, trX[idx].astype(cdtype), trS[idx].astype(cdtype), trY[idx])
        grads = tree_map(lambda g: g.astype(mx.float32) / loss_scale, grads)
        finite = all(mx.all(mx.isfinite(g)).item() for _, g in tree_flatten(grads))
        opt.learning_rate = lr
        if finite:
            opt.update(master, grads)
        else:
            skipped += 1
        mx.eval(master.parameters(), opt.state, loss)
        window.append(loss.item() / loss_scale)
        global_step += 1

    if si == 0:
        flat = tree_flatten(grads)
        print(f"# grad check: {len(flat)} leaves, zero leaves "
              f"{[k for k, g in flat if mx.abs(g).max().item() == 0.0]}, dtypes {sorted({str(g.dtype) for _, g in flat})}")
    rmse, _ = val_report(master, mx.float32)
    master.save_weights(os.path.join(ckpt_dir, "weights.safetensors"))
    mx.save_safetensors(os.path.join(ckpt_dir, "opt.safetensors"), dict(tree_flatten(opt.state)))
    json.dump({"global_step": global_step, "valid_rmse": rmse}, open(os.path.join(ckpt_dir, "meta.json"), "w"))
    del master, work, opt, vg

final = VatNet()
final.load_weights(os.path.join(ckpt_dir, "weights.safetensors"))
rmse, r2 = val_report(final, mx.float32)
rmse16, _ = val_report(final.set_dtype(mx.float16) or final, mx.float16)
print(f"# done: steps {global_step} valid rmse {rmse:.4f} pct (baseline {base_rmse:.3f}), r2 {r2:.2f} %, "
      f"same weights run in float16 {rmse16:.4f} pct")
shutil.rmtree(ckpt_dir)
