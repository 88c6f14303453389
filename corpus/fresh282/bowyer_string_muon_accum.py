# Bowyer's shooting line: predict the vertical group offset (mm) at 50 m of a
# bowstring/arrow setup from seven tuning-sheet readings.
# One optimizer update = four micro-batches of unequal size.
import math
import os
import tempfile

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten, tree_map, tree_unflatten

rng = np.random.default_rng(11)
NOISE_SD = 2.0  # mm, archer scatter after averaging six ends


def make_setups(n):
    nock_mm = rng.normal(0.0, 0.6, n)          # nocking point offset from square
    strands = rng.uniform(0.8, 2.4, n)          # string strand-count factor
    air_c = rng.uniform(8.0, 30.0, n)          # range temperature
    serving = rng.exponential(3.0, n)           # centre-serving wear, arbitrary units
    brace_cm = rng.uniform(0.5, 3.0, n)         # brace height above 20 cm
    shots = rng.uniform(0.0, 60.0, n)          # shots since the string was waxed
    humid_gm3 = rng.normal(5.0, 0.9, n)     # absolute humidity on the range
    offset = (
        -21.6 * nock_mm
        - 0.45 * (air_c - 18.0)
        + 1.8 * np.sqrt(serving) * np.sign(brace_cm - 1.6)
        + 0.08 * shots * (1.0 + 0.3 * np.tanh(strands - 1.5))
        - 1.2 * (humid_gm3 - 5.0)
        + 3.0 * np.sin(0.9 * brace_cm) * strands
    )
    offset = offset + rng.normal(0.0, NOISE_SD, n)
    x = np.stack([nock_mm, strands, air_c, serving, brace_cm, shots, humid_gm3], 1)
    return x.astype(np.float32), offset.astype(np.float32)


x_tr, y_tr = make_setups(6400)
x_va, y_va = make_setups(1200)
mu, sd = x_tr.mean(0), x_tr.std(0)
x_tr = (x_tr - mu) / sd
x_va = (x_va - mu) / sd
x_tr, y_tr, x_va, y_va = map(mx.array, (x_tr, y_tr, x_va, y_va))


class GroupNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(7, 64)
        self.l2 = nn.Linear(64, 64)
        self.out = nn.Linear(64, 1)

    def __call__(self, x):
        h = nn.silu(self.l1(x))
        h = nn.silu(self.l2(h))
        return self.out(h).squeeze(-1)


def sse(model, x, y):
    # summed squared error; the caller divides by the window's sample count
    return ((model(x) - y) ** 2).sum()


MICRO_SIZES = (40, 40, 40, 8)  # one update window = 128 bow setups
TOTAL_UPDATES = 300
WARMUP = 30
RESUME_AT = 150



def warm_cosine(peak, floor):
    return optim.join_schedules(
        [optim.linear_schedule(0.0, peak, WARMUP),
         optim.cosine_decay(peak, TOTAL_UPDATES - WARMUP, end=floor)],
        [WARMUP],
    )


def hidden_matrix(path, w):
    # Muon for the square-ish hidden weight matrices, AdamW for the rest
    return w.ndim == 2 and not path.startswith("out")


def build(seed):
    mx.random.seed(seed)
    m = GroupNet()
    mx.eval(m.parameters())
    o = optim.MultiOptimizer(
        [optim.Muon(learning_rate=warm_cosine(0.02, 5e-4), weight_decay=0.0),
         optim.AdamW(learning_rate=warm_cosine(3e-3, 1e-4), weight_decay=1e-4)],
        [hidden_matrix],
    )
    return m, o


model, opt = build(3)
grad_fn = nn.value_and_grad(model, sse)

baseline = float(((y_va - y_tr.mean()) ** 2).mean())
print(f"bow setups train={x_tr.shape[0]} val={x_va.shape[0]}  micro-batches per update={MICRO_SIZES}")
print(f"baseline val MSE (predict mean offset) = {baseline:.2f}   noise floor = {NOISE_SD**2:.2f}")

perm = mx.array(rng.permutation(x_tr.shape[0]))
cursor = 0
micro_step = 0
ckpt_tmp = tempfile.TemporaryDirectory()
ckpt_dir = ckpt_tmp.name


def next_rows(k):
    global cursor, perm
    if cursor + k > x_tr.shape[0]:
        perm = mx.array(rng.permutation(x_tr.shape[0]))
        cursor = 0
    idx = perm[cursor:cursor + k]
    cursor += k
    return x_tr[idx], y_tr[idx]


def val_mse(m):
    return float(((m(x_va) - y_va) ** 2).mean())


update = 0
while update < TOTAL_UPDATES:
    acc, window_sse, window_n = None, 0.0, 0
    for k in MICRO_SIZES:
        xb, yb = next_rows(k)
        loss, g = grad_fn(model, xb, yb)
        acc = g if acc is None else tree_map(mx.add, acc, g)
        mx.eval(acc, loss)
        window_sse += loss.item()
        window_n += k
        micro_step += 1
    acc = tree_map(lambda a: a / window_n, acc)
    acc, gnorm = optim.clip_grad_norm(acc, max_norm=5.0)
    lr_now = float(opt.optimizers[1].learning_rate)
    opt.update(model, acc)
    mx.eval(model.parameters(), opt.state)
    update += 1

    if update == 1 or update % 25 == 0:
        print(f"update {update:3d} (micro {micro_step:4d})  lr(AdamW) {lr_now:.2e}  "
              f"train MSE {window_sse / window_n:8.2f}  |g| {gnorm.item():7.3f}  "
              f"val MSE {val_mse(model):8.2f}")

    if update == RESUME_AT:
        wpath = os.path.join(ckpt_dir, "offset_net.safetensors")
        opath = os.path.join(ckpt_dir, "opt_state.safetensors")
        model.save_weights(wpath)
        mx.save_safetensors(opath, dict(tree_flatten(opt.state)))
        before = val_mse(model)
        model, opt = build(99)  # fresh objects, different init
        model.load_weights(wpath)
        opt.state = tree_unflatten(list(mx.load(opath).items()))
        mx.eval(model.parameters(), opt.state)
        grad_fn = nn.value_and_grad(model, sse)
        print(f"checkpoint reloaded at update {update}: val MSE {before:.2f} -> "
              f"{val_mse(model):.2f}, Muon step counter {opt.optimizers[0].step.item()}")

final = val_mse(model)
print(f"final val MSE {final:.2f}  (baseline {baseline:.2f}, noise floor {NOISE_SD**2:.2f})")
print(f"final val RMSE {math.sqrt(final):.2f} mm over {update} updates / {micro_step} micro-batches")
ckpt_tmp.cleanup()
