"""Cooperage workshop: char depth (mm) of a toasted oak stave regressed from
8 fire-bench readings, trained for a 2-bit microcontroller on the bench.

PACT-style quantisation-aware training: every hidden activation is clipped to
[0, alpha] with a learned alpha per layer and quantised to k bits; weights are
fake-quantised per output row (symmetric).  Both use straight-through rounding.
The bit width walks down a ladder float -> 8 -> 4 -> 3 -> 2 bits; each rung
restarts its step counter and its learning-rate warm-up from exactly 0, so the
loss steps UP when a rung begins and then settles again.  After the 4-bit rung
the model is saved, reloaded into a fresh instance and training resumes.
"""
import os
import tempfile
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten

rng = np.random.default_rng(254)
mx.random.seed(254)


# ---------------------------------------------------------------- data
def make_staves(n):
    temp = rng.uniform(180, 260, n)        # fire temperature, C
    minutes = rng.uniform(8, 40, n)        # toast time
    moist = rng.uniform(10, 22, n)         # wood moisture, %
    grain = rng.uniform(4, 14, n)          # rings per cm
    thick = rng.uniform(22, 30, n)         # stave thickness, mm
    water = rng.integers(0, 2, n)          # water sprayed on the fire
    draft = rng.uniform(0, 1, n)           # chimney damper opening
    age = rng.uniform(1, 4, n)             # years the oak was air-seasoned
    energy = (temp - 170) / 60 * np.log1p(minutes / 6)
    char = (1.4 * np.tanh(energy) + 0.25 * energy
            - 0.03 * (moist - 15) - 0.02 * (grain - 8)
            - 0.35 * water + 0.3 * draft * np.tanh(energy)
            + 0.05 * (age - 2) + 0.01 * (thick - 26))
    char = char + rng.normal(0, 0.06, n)
    X = np.stack([temp, minutes, moist, grain, thick, water, draft, age], 1)
    return X.astype(np.float32), char.astype(np.float32)


Xtr, ytr = make_staves(6000)
Xva, yva = make_staves(1500)
mu, sd = Xtr.mean(0), Xtr.std(0)
ymu, ysd = ytr.mean(), ytr.std()
Xtr_n, Xva_n = (Xtr - mu) / sd, (Xva - mu) / sd
ytr_n, yva_n = (ytr - ymu) / ysd, (yva - ymu) / ysd
Xtr_m, ytr_m = mx.array(Xtr_n), mx.array(ytr_n)
Xva_m = mx.array(Xva_n)

# baselines on the same validation staves (mm)
base_mean = float(np.sqrt(np.mean((yva - ytr.mean()) ** 2)))
A = np.c_[Xtr_n, np.ones(len(Xtr_n))]
coef, *_ = np.linalg.lstsq(A, ytr, rcond=None)
base_lin = float(np.sqrt(np.mean((np.c_[Xva_n, np.ones(len(Xva_n))] @ coef - yva) ** 2)))


# ---------------------------------------------------------------- model
def round_through(x):
    return x + mx.stop_gradient(mx.round(x) - x)


class QuantLinear(nn.Module):
    def __init__(self, din, dout):
        super().__init__()
        lim = (1.0 / din) ** 0.5
        self.weight = mx.random.uniform(-lim, lim, (dout, din))
        self.bias = mx.zeros((dout,))
        self.bits = 0  # 0 = float

    def codes(self):
        qmax = 2 ** (self.bits - 1) - 1
        scale = mx.stop_gradient(mx.max(mx.abs(self.weight), axis=1, keepdims=True) / qmax + 1e-8)
        return mx.clip(mx.round(self.weight / scale), -qmax, qmax), scale

    def __call__(self, x):
        w = self.weight
        if self.bits:
            qmax = 2 ** (self.bits - 1) - 1
            scale = mx.stop_gradient(mx.max(mx.abs(w), axis=1, keepdims=True) / qmax + 1e-8)
            w = mx.clip(round_through(w / scale), -qmax, qmax) * scale
        return x @ w.T + self.bias


class PACT(nn.Module):
    def __init__(self, alpha=3.0):
        super().__init__()
        self.alpha = mx.array([alpha])
        self.bits = 0

    def __call__(self, x):
        y = mx.minimum(mx.maximum(x, 0.0), self.alpha)  # gradient reaches alpha where x > alpha
        if self.bits:
            levels = 2 ** self.bits - 1
            step = self.alpha / levels
            y = round_through(y / step) * step
        return y


class CharNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = QuantLinear(8, 64)
        self.a1 = PACT()
        self.l2 = QuantLinear(64, 64)
        self.a2 = PACT()
        self.out = QuantLinear(64, 1)

    def set_bits(self, bits):
        for m in (self.l1, self.a1, self.l2, self.a2, self.out):
            m.bits = bits

    def __call__(self, x):
        return self.out(self.a2(self.l2(self.a1(self.l1(x))))).squeeze(-1)


def loss_fn(model, x, y):
    return nn.losses.mse_loss(model(x), y)


def val_rmse_mm(model):
    pred = np.array(model(Xva_m)) * ysd + ymu
    return float(np.sqrt(np.mean((pred - yva) ** 2)))


def weight_codes(model):
    if not model.l1.bits:
        return None
    return [np.array(layer.codes()[0]) for layer in (model.l1, model.l2, model.out)]


def run_rung(model, bits, steps, peak_lr, batch=128, report_every=50, quiet=False):
    model.set_bits(bits)
    warm = max(steps // 5, 1)
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, peak_lr, warm),
         optim.cosine_decay(peak_lr, steps - warm, peak_lr * 0.02)],
        [warm])
    opt = optim.Adam(learning_rate=sched)
    vg = nn.value_and_grad(model, loss_fn)
    prev_codes = weight_codes(model)
    running = []
    for step in range(steps):
        idx = mx.array(rng.integers(0, len(Xtr_n), batch))
        lr_now = float(opt.learning_rate)
        loss, grads = vg(model, Xtr_m[idx], ytr_m[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        running.append(loss.item())
        if not quiet and (step % report_every == 0 or step == steps - 1):
            codes = weight_codes(model)
            flip = "   -  "
            if codes is not None and prev_codes is not None:
                changed = sum(int((c != p).sum()) for c, p in zip(codes, prev_codes))
                total = sum(c.size for c in codes)
                flip = f"{100 * changed / total:5.2f}%"
            prev_codes = codes
            print(f"{bits if bits else 'fp':>4} | {step:5d} | {lr_now:.2e} | {np.mean(running):8.4f} | "
                  f"{val_rmse_mm(model):7.4f} | {model.a1.alpha.item():5.2f} {model.a2.alpha.item():5.2f} | {flip}")
            running = []
    return val_rmse_mm(model)


print(f"staves: train {len(Xtr)}  val {len(Xva)}")
print(f"baselines on val (mm RMSE): mean-of-train {base_mean:.4f}  linear {base_lin:.4f}")
print("bits |  step |    lr    | train mse | val mm  | alpha1 alpha2 | codes moved")

model = CharNet()
t0 = time.time()
fp_rmse = run_rung(model, 0, 900, 3e-3, quiet=True)   # float rung runs without output
print(f"  fp   | float rung done in {time.time() - t0:.1f}s, val RMSE {fp_rmse:.4f} mm")

results = {"fp": fp_rmse}
for bits, steps, lr in [(8, 300, 1e-3), (4, 400, 1e-3)]:
    results[bits] = run_rung(model, bits, steps, lr)

# checkpoint, reload into a fresh model, and resume
ckpt_dir = tempfile.mkdtemp()
path = os.path.join(ckpt_dir, "charnet_4bit.safetensors")
model.save_weights(path)
resumed = CharNet()
resumed.load_weights(path)
resumed.set_bits(4)
before, after = val_rmse_mm(model), val_rmse_mm(resumed)
print(f"checkpoint {os.path.basename(path)}: val {before:.4f} mm before save, {after:.4f} mm after reload")
assert abs(before - after) < 1e-5
model = resumed

for bits, steps, lr in [(3, 400, 1e-3), (2, 600, 1e-3)]:
    results[bits] = run_rung(model, bits, steps, lr)

n_par = sum(v.size for _, v in tree_flatten(model.parameters()))
print("\nrung summary (val RMSE, mm): " + "  ".join(f"{k}:{v:.4f}" for k, v in results.items()))
print(f"params {n_par}, 2-bit weights {n_par - 64 - 64 - 1 - 2} codes in {{-1,0,1}}; "
      f"mean baseline {base_mean:.4f}, linear baseline {base_lin:.4f}")
assert results["fp"] < base_lin
assert results[2] < base_mean * 0.5
print(f"done in {time.time() - t0:.1f}s")
