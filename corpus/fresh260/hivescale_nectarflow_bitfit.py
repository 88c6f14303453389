# Apiary scale telemetry: next-day hive weight change (kg) with a heteroscedastic
# head (mean, log-variance). A float net is fitted on the home apiary, packed to
# 4 bits with nn.quantize, frozen, and then only the bias vectors are tuned for
# a new apiary (bias-only adaptation on a packed base). Gaussian NLL is the
# training loss, so negative values are expected once the noise is well fitted.
import math
import tempfile
import time
from pathlib import Path

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

rng = np.random.default_rng(11)
mx.random.seed(11)
N_FEAT = 8


def make_apiary(n, site):
    temp = rng.normal(18, 6, n)
    solar = np.clip(rng.normal(16, 6, n), 0, None)
    rain = rng.exponential(2.0, n) * (rng.random(n) < 0.35)
    humid = np.clip(rng.normal(65, 15, n), 20, 100)
    wind = np.abs(rng.normal(3, 2, n))
    day = rng.uniform(0, 2 * np.pi, n)
    colony = rng.uniform(0.3, 1.0, n)
    flow = np.sin(day) * (1.2 if site == "home" else 0.7) + (0.0 if site == "home" else 0.45)
    forage = np.tanh((temp - 12) / 8) * solar / 16
    mean = (0.9 * colony * forage * (1 + flow) - 0.08 * rain - 0.03 * wind
            - 0.15 * (1 - colony) + (0.0 if site == "home" else -0.12 * np.cos(day)))
    sd = 0.08 + 0.05 * rain / 2 + 0.02 * wind
    y = mean + sd * rng.standard_normal(n)
    X = np.stack([temp, solar, rain, humid, wind, np.sin(day), np.cos(day), colony], 1)
    return X.astype(np.float32), y.astype(np.float32), float(np.mean(sd) * math.sqrt(2 / math.pi))


Xh, yh, _ = make_apiary(12000, "home")
Xn, yn, floor_mae = make_apiary(2100, "new")
mu_x, sd_x = Xh.mean(0), Xh.std(0)
Xh = mx.array((Xh - mu_x) / sd_x)
Xn = mx.array((Xn - mu_x) / sd_x)
yh, yn = mx.array(yh), mx.array(yn)
Xn_tr, yn_tr, Xn_va, yn_va = Xn[:1500], yn[:1500], Xn[1500:], yn[1500:]


class HiveNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.inp = nn.Linear(N_FEAT, 96)
        self.h1 = nn.Linear(96, 96)
        self.h2 = nn.Linear(96, 96)
        self.out = nn.Linear(96, 2)

    def __call__(self, x):
        x = nn.silu(self.inp(x))
        x = nn.silu(self.h1(x))
        x = nn.silu(self.h2(x))
        o = self.out(x)
        return o[:, 0], mx.clip(o[:, 1], -9.0, 4.0)


def nll(model, x, y):
    mean, logv = model(x)
    return (0.5 * (logv + (y - mean) ** 2 / mx.exp(logv)) + 0.5 * math.log(2 * math.pi)).mean()


def mae(model, x, y):
    return float(mx.abs(model(x)[0] - y).mean().item())


# ---- stage 1: float fit on the home apiary (quiet) -------------------------
net = HiveNet()
mx.eval(net.parameters())
opt = optim.Adam(learning_rate=optim.cosine_decay(2e-3, 1500, 1e-5))
step_fn = nn.value_and_grad(net, nll)
tic = time.time()
for step in range(1500):
    idx = mx.array(rng.integers(0, Xh.shape[0], 128))
    loss, g = step_fn(net, Xh[idx], yh[idx])
    opt.update(net, g)
    mx.eval(net.parameters(), opt.state, loss)
print(f"[home] float fit 1500 steps in {time.time() - tic:.1f}s  home nll {nll(net, Xh, yh).item():.3f}  "
      f"new-site val mae {mae(net, Xn_va, yn_va):.4f} kg")

tmp = Path(tempfile.mkdtemp())
net.save_weights(str(tmp / "home_float.safetensors"))
float_mae = mae(net, Xn_va, yn_va)


def packed_base():
    m = HiveNet()
    m.load_weights(str(tmp / "home_float.safetensors"))
    nn.quantize(m, group_size=32, bits=4,
                class_predicate=lambda p, mod: isinstance(mod, nn.Linear) and mod.weight.shape[-1] % 32 == 0)
    m.freeze()
    m.apply_to_modules(lambda k, mod: mod.unfreeze(keys=["bias"], recurse=False) if "bias" in mod else None)
    return m


model = packed_base()
packed_mae = mae(model, Xn_va, yn_va)
n_train = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
n_all = sum(v.size for _, v in tree_flatten(model.parameters()))
print(f"[pack] layers: " + ", ".join(f"{k}={type(m).__name__}" for k, m in model.children().items()))
print(f"[pack] trainable {n_train} of {n_all} stored values (bias vectors only)")


def packed_checksum(m):
    return int(sum(int(np.array(v).astype(np.uint64).sum()) for k, v in tree_flatten(m.parameters())
                   if v.dtype == mx.uint32))


chk0 = packed_checksum(model)

# ---- stage 2: bias-only adaptation on the new apiary -----------------------
TOTAL, WARM, CKPT = 600, 100, 300
sched = optim.join_schedules(
    [optim.linear_schedule(0.0, 3e-2, WARM), optim.cosine_decay(3e-2, TOTAL - WARM, 0.0)], [WARM])


def new_opt():
    return optim.Adam(learning_rate=sched)


opt = new_opt()
step_fn = nn.value_and_grad(model, nll)
print(f"[adapt] baselines on new-site val: float-home mae {float_mae:.4f}  packed-unadapted mae {packed_mae:.4f}  "
      f"noise-floor mae {floor_mae:.4f}  (kg)")
window = []
step = 0
while step < TOTAL:
    lr_now = float(sched(mx.array(step)).item())
    idx = mx.array(rng.integers(0, Xn_tr.shape[0], 64))
    loss, g = step_fn(model, Xn_tr[idx], yn_tr[idx])
    opt.update(model, g)
    mx.eval(model.parameters(), opt.state, loss)
    step += 1
    window.append(loss.item())
    if step == CKPT:
        mx.save_safetensors(str(tmp / "bias.safetensors"), dict(tree_flatten(model.trainable_parameters())))
        mx.save_safetensors(str(tmp / "opt.safetensors"), dict(tree_flatten(opt.state)))
        del model, opt
        model = packed_base()
        model.load_weights(str(tmp / "bias.safetensors"), strict=False)
        opt = new_opt()
        opt.state = tree_unflatten(list(mx.load(str(tmp / "opt.safetensors")).items()))
        step_fn = nn.value_and_grad(model, nll)
        print(f"[adapt] checkpoint at step {step}: rebuilt packed base, reloaded biases + optimizer "
              f"(opt step {int(opt.state['step'].item())})")
    if step >= 150 and step % 50 == 0:
        print(f"[adapt] step {step:4d}  lr {lr_now:.2e}  train_nll {np.mean(window):+.4f}  "
              f"val_nll {nll(model, Xn_va, yn_va).item():+.4f}  val_mae {mae(model, Xn_va, yn_va):.4f} kg")
        window = []

final_mae = mae(model, Xn_va, yn_va)
print(f"[done] new-site val mae {final_mae:.4f} kg  (packed-unadapted {packed_mae:.4f}, float-home {float_mae:.4f}, "
      f"noise floor {floor_mae:.4f})  packed words unchanged: {packed_checksum(model) == chk0}")
