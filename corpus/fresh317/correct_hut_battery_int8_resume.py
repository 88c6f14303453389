# Alpine hut solar battery: predict next-morning state of charge (%) from evening readings.
# Weights pass through MLX 4-bit group quantisation, activations through an 8-bit grid whose
# ranges come from an EMA observer. Run is split in two sessions with a checkpoint in between.
import csv
import os
import sys
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

rng = np.random.default_rng(11)
FEATS = ["soc_evening", "pv_kwh", "cloud_frac", "guests", "temp_c", "fridge_on", "heater_h", "wind_ms"]


def make_data(n):
    soc = rng.uniform(20, 100, n)
    pv = rng.gamma(2.0, 1.6, n)
    cloud = rng.uniform(0, 1, n)
    guests = rng.integers(0, 24, n)
    temp = rng.normal(-2, 6, n)
    fridge = rng.integers(0, 2, n)
    heater = rng.uniform(0, 6, n) * (temp < 3)
    wind = rng.gamma(1.5, 3.0, n)
    draw = 1.8 * guests + 9 * fridge + 4.5 * heater + 0.9 * np.maximum(0, -temp) + 0.4 * wind
    cap = 1 - 0.004 * np.maximum(0, -temp) ** 1.5
    soc_next = np.clip(soc * cap - draw + 3.0 * pv * (1 - 0.5 * cloud), 0, 100)
    soc_next = np.clip(soc_next + rng.normal(0, 2.0, n), 0, 100)
    X = np.stack([soc, pv, cloud, guests, temp, fridge, heater, wind], 1).astype(np.float32)
    return X, soc_next.astype(np.float32)


Xtr, ytr = make_data(6000)
Xva, yva = make_data(1500)
mu, sd = Xtr.mean(0), Xtr.std(0)
ymu, ysd = ytr.mean(), ytr.std()
Xtr_n, Xva_n = mx.array((Xtr - mu) / sd), mx.array((Xva - mu) / sd)
ytr_n, yva_n = mx.array((ytr - ymu) / ysd), mx.array((yva - ymu) / ysd)
# keeper's rule of thumb: tomorrow's charge equals tonight's
baseline_mae = float(np.mean(np.abs(Xva[:, 0] - yva)))


def fq_weight(w, bits=4, group=32):
    q, s, b = mx.quantize(w, group_size=group, bits=bits)
    wq = mx.dequantize(q, s, b, group_size=group, bits=bits)
    return w + mx.stop_gradient(wq - w)


def fq_act(x, lo, hi, levels=255):
    scale = (hi - lo) / levels
    xc = mx.clip(x, lo, hi)
    xq = mx.round((xc - lo) / scale) * scale + lo
    return xc + mx.stop_gradient(xq - xc)


class QLinear(nn.Linear):
    def __call__(self, x):
        return x @ fq_weight(self.weight).T + self.bias


class ChargeNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(8, 64)
        self.l2 = QLinear(64, 64)
        self.out = QLinear(64, 1)
        # observer state, not trained
        self._ranges = {"a1": [0.0, 1.0], "a2": [0.0, 1.0]}
        self._observe = True
        self._quant_act = False

    def _act(self, name, h):
        if self._quant_act:
            return fq_act(h, *self._ranges[name])
        return h

    def observe(self, x):
        # EMA of the activation ranges, outside any gradient computation
        h1 = nn.silu(self.l1(x))
        h2 = nn.silu(self.l2(h1))
        for name, h in (("a1", h1), ("a2", h2)):
            r = self._ranges[name]
            r[0] = 0.9 * r[0] + 0.1 * float(mx.min(h).item())
            r[1] = 0.9 * r[1] + 0.1 * float(mx.max(h).item())

    def __call__(self, x):
        h = self._act("a1", nn.silu(self.l1(x)))
        h = self._act("a2", nn.silu(self.l2(h)))
        return self.out(h).squeeze(-1)


def loss_fn(model, x, y):
    return nn.losses.mse_loss(model(x), y)


def val_mae(model):
    p = model(Xva_n)
    return float(mx.mean(mx.abs(p - yva_n)).item() * ysd)


TOTAL, SPLIT, OBSERVE_UNTIL, BATCH = 900, 450, 150, 128
sched = optim.join_schedules([optim.linear_schedule(0.0, 3e-3, 100), optim.cosine_decay(3e-3, TOTAL - 100, 1e-4)], [100])

out = csv.writer(sys.stdout, lineterminator="\n")
out.writerow(["session", "step", "lr", "phase", "train_mse_z", "val_mae_pct", "keeper_rule_mae_pct"])


def run(model, opt, start, stop, session):
    vg = nn.value_and_grad(model, loss_fn)
    window = []
    for step in range(start, stop):
        if step == OBSERVE_UNTIL:
            model._observe, model._quant_act = False, True
        idx = mx.array(rng.integers(0, Xtr_n.shape[0], BATCH))
        lr_used = float(opt.learning_rate.item())
        if model._observe:
            model.observe(Xtr_n[idx])
        loss, grads = vg(model, Xtr_n[idx], ytr_n[idx])
        if step == 0:
            zero = [k for k, g in tree_flatten(grads) if float(mx.abs(g).max().item()) == 0.0]
            print(f"# grad audit: {len(tree_flatten(grads))} tensors, zero: {zero}")
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        window.append(loss.item())
        if (step + 1) % 75 == 0 or step == start:
            phase = "observe" if model._observe else "int8act"
            out.writerow([session, step + 1, f"{lr_used:.2e}", phase, f"{np.mean(window):.4f}",
                          f"{val_mae(model):.2f}", f"{baseline_mae:.2f}"])
            sys.stdout.flush()
            window = []


t0 = time.time()
mx.random.seed(3)
model = ChargeNet()
opt = optim.Adam(learning_rate=sched)
run(model, opt, 0, SPLIT, "A")

ckdir = tempfile.mkdtemp()
model.save_weights(os.path.join(ckdir, "model.safetensors"))
mx.save_safetensors(os.path.join(ckdir, "opt.safetensors"), dict(tree_flatten(opt.state)))
np.save(os.path.join(ckdir, "ranges.npy"), np.array([model._ranges["a1"], model._ranges["a2"]]))
mae_before = val_mae(model)
del model, opt

model = ChargeNet()
model.load_weights(os.path.join(ckdir, "model.safetensors"))
r = np.load(os.path.join(ckdir, "ranges.npy"))
model._ranges = {"a1": list(map(float, r[0])), "a2": list(map(float, r[1]))}
model._observe, model._quant_act = False, True
opt = optim.Adam(learning_rate=sched)
opt.state = tree_unflatten(list(mx.load(os.path.join(ckdir, "opt.safetensors")).items()))
print(f"# resumed at step {int(opt.step.item())}: val_mae {mae_before:.2f} -> {val_mae(model):.2f} pct")
run(model, opt, SPLIT, TOTAL, "B")

final = val_mae(model)
print(f"# done in {time.time() - t0:.1f}s: val MAE {final:.2f} pct vs keeper rule {baseline_mae:.2f} pct "
      f"(noise sd 2.0), ranges a1={model._ranges['a1'][0]:.2f}..{model._ranges['a1'][1]:.2f}")
