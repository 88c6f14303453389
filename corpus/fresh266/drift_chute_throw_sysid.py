"""Snow-blower chute: identify drag and nozzle gain from logged throws by
differentiating through an unrolled flight simulator, then train a small
aiming net (throttle, chute angle) through the identified simulator.

Stage A  system identification (Adam, 400 steps, logs every 100)
         -> checkpoint to a temp dir, reloaded into fresh arrays
Stage B  aiming net, linear lr warm-up from 0, cosine decay
"""
import json
import math
import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

G = 9.81
DT = 0.06
N_STEPS = 50
CLIP = 5.0
TRUE_K = 0.045      # quadratic drag per metre
TRUE_GAIN = 14.0    # nozzle speed (m/s) at full throttle
NOISE_SD = 0.25     # tape-measure / gust scatter on logged throws (m)

rng = np.random.default_rng(11)
mx.random.seed(11)


@mx.custom_function
def step_guard(v):
    return v


@step_guard.vjp
def step_guard_vjp(primals, cotangent, output):
    # element-wise bound on the adjoint carried back through each time step
    return mx.clip(cotangent, -CLIP, CLIP)


def throw_distance(throttle, angle, k, gain):
    """Unrolled semi-implicit Euler flight from a 0.8 m high chute.
    Landing point by linear interpolation at the first ground crossing."""
    speed = gain * throttle
    vx = speed * mx.cos(angle)
    vy = speed * mx.sin(angle)
    x = mx.zeros_like(throttle)
    y = mx.full(throttle.shape, 0.8)
    xs, ys = [x], [y]
    for _ in range(N_STEPS):
        v = mx.sqrt(vx * vx + vy * vy + 1e-9)
        vx = step_guard(vx - DT * k * v * vx)
        vy = step_guard(vy - DT * (G + k * v * vy))
        x = x + DT * vx
        y = y + DT * vy
        xs.append(x)
        ys.append(y)
    X = mx.stack(xs, axis=-1)
    Y = mx.stack(ys, axis=-1)
    below = (Y < 0).astype(mx.int32)
    i1 = mx.stop_gradient(mx.argmax(below, axis=-1)[..., None])
    i0 = mx.maximum(i1 - 1, 0)
    x0 = mx.take_along_axis(X, i0, axis=-1)[..., 0]
    x1 = mx.take_along_axis(X, i1, axis=-1)[..., 0]
    y0 = mx.take_along_axis(Y, i0, axis=-1)[..., 0]
    y1 = mx.take_along_axis(Y, i1, axis=-1)[..., 0]
    frac = y0 / (y0 - y1 + 1e-9)
    return x0 + frac * (x1 - x0)


# ---------------- logged throws (the "field notebook") ----------------
n_log = 400
thr = rng.uniform(0.35, 1.0, n_log).astype(np.float32)
ang = np.deg2rad(rng.uniform(15, 60, n_log)).astype(np.float32)
clean = np.array(throw_distance(mx.array(thr), mx.array(ang), TRUE_K, TRUE_GAIN))
meas = (clean + rng.normal(0, NOISE_SD, n_log)).astype(np.float32)
tr, va = slice(0, 320), slice(320, 400)
print(f"logged throws: {n_log} (train 320 / check 80), distance {meas.min():.1f} .. {meas.max():.1f} m")
print(f"noise floor (scatter variance): {NOISE_SD**2:.4f} m^2")

# ---------------- stage A: system identification ----------------
sysid = {"log_k": mx.array(math.log(0.2)), "log_gain": mx.array(math.log(8.0))}


def sysid_loss(p, t, a, d):
    pred = throw_distance(t, a, mx.exp(p["log_k"]), mx.exp(p["log_gain"]))
    return mx.mean((pred - d) ** 2)


T_tr, A_tr, D_tr = mx.array(thr[tr]), mx.array(ang[tr]), mx.array(meas[tr])
T_va, A_va, D_va = mx.array(thr[va]), mx.array(ang[va]), mx.array(meas[va])

# gradient check at the starting point: autodiff vs central differences
l0, g0 = mx.value_and_grad(sysid_loss)(sysid, T_tr, A_tr, D_tr)
h = 1e-3
fd = {}
for key in sysid:
    up = dict(sysid); up[key] = sysid[key] + h
    dn = dict(sysid); dn[key] = sysid[key] - h
    fd[key] = (sysid_loss(up, T_tr, A_tr, D_tr) - sysid_loss(dn, T_tr, A_tr, D_tr)).item() / (2 * h)
print("grad check at start: " + ", ".join(
    f"{k} autodiff {g0[k].item():+.3f} vs fd {fd[k]:+.3f}" for k in sysid))

vg = mx.compile(mx.value_and_grad(sysid_loss))
optA = optim.Adam(learning_rate=0.03)
t0 = time.time()
for step in range(1, 401):
    loss, grads = vg(sysid, T_tr, A_tr, D_tr)
    sysid = optA.apply_gradients(grads, sysid)
    mx.eval(sysid, optA.state, loss)
    if step % 100 == 0:
        vloss = sysid_loss(sysid, T_va, A_va, D_va).item()
        print(f"[A {step:4d}] mse {loss.item():8.4f}  check-mse {vloss:8.4f}  "
              f"k {math.exp(sysid['log_k'].item()):.4f}  gain {math.exp(sysid['log_gain'].item()):6.3f}  "
              f"({time.time() - t0:.1f}s)")

ckdir = tempfile.mkdtemp()
mx.save_safetensors(os.path.join(ckdir, "sysid.safetensors"), dict(sysid))
with open(os.path.join(ckdir, "meta.json"), "w") as f:
    json.dump({"stage": "A", "steps": 400}, f)
loaded = mx.load(os.path.join(ckdir, "sysid.safetensors"))
K_ID = mx.exp(loaded["log_k"])
GAIN_ID = mx.exp(loaded["log_gain"])
print(f"checkpoint reloaded from {os.path.basename(ckdir)}: k {K_ID.item():.4f} (true {TRUE_K}), "
      f"gain {GAIN_ID.item():.3f} (true {TRUE_GAIN})")


# ---------------- stage B: aiming net through the identified model ----------------
class Aimer(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(1, 32)
        self.l2 = nn.Linear(32, 32)
        self.out = nn.Linear(32, 2)

    def __call__(self, target):
        h = nn.silu(self.l1(target[:, None] / 10.0))
        h = nn.silu(self.l2(h))
        o = self.out(h)
        throttle = 0.35 + 0.65 * mx.sigmoid(o[:, 0])
        angle = (15.0 + 45.0 * mx.sigmoid(o[:, 1])) * (math.pi / 180.0)
        return throttle, angle


aimer = Aimer()


def aim_loss(model, target):
    t, a = model(target)
    d = throw_distance(t, a, K_ID, GAIN_ID)
    return mx.mean((d - target) ** 2)


def true_miss(model, target):
    t, a = model(target)
    d = throw_distance(t, a, TRUE_K, TRUE_GAIN)
    return mx.mean(mx.abs(d - target)).item()


def table_baseline(target):
    # operator's rule: chute at 35 deg, throttle proportional to distance
    t = mx.clip(target / 12.0, 0.35, 1.0)
    a = mx.full(target.shape, math.radians(35.0))
    d = throw_distance(t, a, TRUE_K, TRUE_GAIN)
    return mx.mean(mx.abs(d - target)).item()


eval_targets = mx.array(np.linspace(3.0, 11.0, 64).astype(np.float32))
warm, total = 60, 500
schedB = optim.join_schedules(
    [optim.linear_schedule(0.0, 3e-3, warm), optim.cosine_decay(3e-3, total - warm, 1e-4)], [warm])
optB = optim.Adam(learning_rate=schedB)


def aim_loss_p(params, target):
    aimer.update(params)
    return aim_loss(aimer, target)


vgB = mx.compile(mx.value_and_grad(aim_loss_p))
print(f"stage B start: mean |miss| on the real chute {true_miss(aimer, eval_targets):.3f} m, "
      f"operator rule {table_baseline(eval_targets):.3f} m")
for step in range(1, total + 1):
    target = mx.array(rng.uniform(3.0, 11.0, 128).astype(np.float32))
    params = aimer.trainable_parameters()
    loss, grads = vgB(params, target)
    aimer.update(optB.apply_gradients(grads, params))
    mx.eval(aimer.parameters(), optB.state, loss)
    if step == 1 or step % 100 == 0:
        lr = optB.learning_rate.item()
        print(f"[B {step:4d}] lr {lr:.2e}  model-mse {loss.item():.5f}  "
              f"real |miss| {true_miss(aimer, eval_targets):.3f} m  (rule {table_baseline(eval_targets):.3f} m)")

n_par = sum(v.size for _, v in tree_flatten(aimer.trainable_parameters()))
print(f"done: aimer {n_par} params, real mean |miss| {true_miss(aimer, eval_targets):.3f} m "
      f"vs operator rule {table_baseline(eval_targets):.3f} m; total {time.time() - t0:.1f}s")
