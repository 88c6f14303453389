# Silk filature: predict the running filament size (denier) while a cocoon is reeled,
# from the basin readings seen so far (causal sequence regression).
# Model: a tiny Mamba-style selective state-space layer (input-dependent step size,
# diagonal decay, input-dependent B/C) with a python scan, trained in two stages:
# short reels first, then full-length reels (harder: loss goes up when the stage switches).
import json
import math
import time
from functools import partial

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

mx.random.seed(7)

N_FEAT = 4  # basin water temp (C, centred), reel speed (m/min, scaled), brush tension, cocoon shell weight


def make_reels(n, T, key):
    k1, k2, k3 = mx.random.split(key, 3)
    temp = 0.6 * mx.random.normal((n, 1, 1), key=k1) + 0.15 * mx.random.normal((n, T, 1), key=k2)
    speed = mx.random.uniform(-1.0, 1.0, (n, 1, 1), key=k3) + 0.0 * temp
    k4, k5, k6 = mx.random.split(k1, 3)
    tension = 0.5 * mx.random.normal((n, T, 1), key=k4)
    shell = mx.random.uniform(-1.0, 1.0, (n, 1, 1), key=k5) + 0.0 * temp
    x = mx.concatenate([temp, speed, tension, shell], axis=-1)
    # hidden physics: filament thins as the cocoon is unwound (depth), the thinning rate
    # depends on water temp and speed; tension pulses leave a decaying memory.
    depth_rate = 0.08 + 0.03 * mx.tanh(temp[..., 0]) + 0.02 * speed[..., 0]
    depth = mx.cumsum(depth_rate, axis=1)
    mem = []
    m = mx.zeros((n,))
    for t in range(T):
        m = 0.8 * m + 0.3 * tension[:, t, 0]
        mem.append(m)
    mem = mx.stack(mem, axis=1)
    denier = 3.2 + 0.6 * shell[..., 0] - 1.1 * (1 - mx.exp(-depth)) + 0.25 * mem
    denier = denier + 0.03 * mx.random.normal(denier.shape, key=k6)
    return x, denier


class SelectiveSSM(nn.Module):
    def __init__(self, d, n_state):
        super().__init__()
        self.in_proj = nn.Linear(d, d)
        self.dt_proj = nn.Linear(d, d)
        self.B_proj = nn.Linear(d, n_state, bias=False)
        self.C_proj = nn.Linear(d, n_state, bias=False)
        self.A_log = mx.log(mx.broadcast_to(mx.arange(1, n_state + 1, dtype=mx.float32), (d, n_state)))
        self.D = mx.ones((d,))
        self.out_proj = nn.Linear(d, d)

    def __call__(self, x):
        u = nn.silu(self.in_proj(x))
        dt = nn.softplus(self.dt_proj(u))  # (b, T, d)
        A = -mx.exp(self.A_log)  # (d, n)
        Bm = self.B_proj(u)  # (b, T, n)
        Cm = self.C_proj(u)  # (b, T, n)
        b, T, d = u.shape
        h = mx.zeros((b, d, A.shape[1]))
        ys = []
        for t in range(T):
            dA = mx.exp(dt[:, t, :, None] * A)
            h = dA * h + (dt[:, t, :, None] * u[:, t, :, None]) * Bm[:, t, None, :]
            ys.append((h * Cm[:, t, None, :]).sum(-1))
        y = mx.stack(ys, axis=1) + self.D * u
        return x + self.out_proj(y)


class ReelNet(nn.Module):
    def __init__(self, d=16, n_state=4):
        super().__init__()
        self.embed = nn.Linear(N_FEAT, d)
        self.ssm = SelectiveSSM(d, n_state)
        self.norm = nn.RMSNorm(d)
        self.head = nn.Linear(d, 1)

    def __call__(self, x):
        return self.head(self.norm(self.ssm(self.embed(x))))[..., 0]


def loss_fn(model, x, y):
    return mx.mean((model(x) - y) ** 2)


model = ReelNet()
mx.eval(model.parameters())

STAGES = [("short_reel", 10, 160), ("full_reel", 28, 240)]
TOTAL = sum(s[2] for s in STAGES)
WARM = 30
PEAK = 4e-3
schedule = optim.join_schedules(
    [optim.linear_schedule(0.0, PEAK, WARM), optim.cosine_decay(PEAK, TOTAL - WARM, 2e-4)], [WARM]
)
opt = optim.AdamW(learning_rate=schedule, weight_decay=0.01)

opt.init(model.trainable_parameters())
state = [model.state, opt.state]


@partial(mx.compile, inputs=state, outputs=state)
def step(x, y):
    loss, grads = nn.value_and_grad(model, loss_fn)(model, x, y)
    opt.update(model, grads)
    return loss


def grad_audit(x, y):
    _, grads = nn.value_and_grad(model, loss_fn)(model, x, y)
    norms = {k: mx.sqrt(mx.sum(g * g)).item() for k, g in tree_flatten(grads)}
    return norms


key = mx.random.key(11)
gstep = 0
t0 = time.time()
for stage_name, T, n_steps in STAGES:
    key, kv = mx.random.split(key)
    xv, yv = make_reels(256, T, kv)
    # reference: a per-position mean denier curve (what a table lookup would give)
    ref_curve = mx.mean(yv, axis=0, keepdims=True)
    ref_mae = mx.mean(mx.abs(yv - ref_curve)).item()
    for s in range(1, n_steps + 1):
        key, kb = mx.random.split(key)
        xb, yb = make_reels(48, T, kb)
        loss = step(xb, yb)
        mx.eval(state, loss)
        gstep += 1
        if s == 1 or s % 40 == 0 or s == n_steps:
            val_mae = mx.mean(mx.abs(model(xv) - yv)).item()
            print(json.dumps({
                "stage": stage_name, "reel_len": T, "step": s, "global": gstep,
                "lr": round(float(opt.learning_rate.item()), 6),
                "train_mse": round(loss.item(), 5),
                "val_mae_den": round(val_mae, 4),
                "table_mae_den": round(ref_mae, 4),
            }))
    norms = grad_audit(xv[:64], yv[:64])
    zero = [k for k, v in norms.items() if v == 0.0]
    print(f"audit[{stage_name}] params={len(norms)} min|g|={min(norms.values()):.2e} "
          f"max|g|={max(norms.values()):.2e} zero_grad={zero}")

print(f"done in {time.time() - t0:.1f}s, final val MAE {val_mae:.4f} den vs table {ref_mae:.4f} den")
