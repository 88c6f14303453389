"""Oolong withering log -> oxidation level (%) of the finished batch.

Small MLP whose normalisation is a hand-written RMSNorm with its own VJP.
Every 100 steps the hand-written gradient is audited against plain autodiff.
Learning rate starts at exactly 0 (linear warmup), then cosine decay.
Progress goes to stdout as JSON lines.
"""
import json
import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(11)

N_TRAIN, N_VAL, D_IN = 3000, 600, 8
EPS = 1e-5


def make_batches(n, key):
    k1, k2 = mx.random.split(key)
    f = mx.random.uniform(shape=(n, D_IN), key=k1)
    wither_h = 4 + 14 * f[:, 0]
    room_c = 18 + 12 * f[:, 1]
    rh = 45 + 45 * f[:, 2]
    bruise = mx.floor(1 + 5 * f[:, 3])
    leaf_age = f[:, 4]
    altitude = f[:, 5]
    rest_h = 1 + 5 * f[:, 6]
    roast = f[:, 7]
    ox = (
        8
        + 2.1 * wither_h
        + 0.9 * (room_c - 18)
        - 0.25 * (rh - 45)
        + 4.0 * bruise * (0.6 + 0.4 * leaf_age)
        - 6.0 * altitude
        + 3.0 * mx.sqrt(rest_h)
        + 5.0 * mx.sin(3.0 * roast)
    )
    ox = mx.clip(ox + 2.0 * mx.random.normal((n,), key=k2), 0, 100)
    x = mx.stack([wither_h, room_c, rh, bruise, leaf_age, altitude, rest_h, roast], axis=1)
    return x, ox[:, None]


xtr, ytr = make_batches(N_TRAIN, mx.random.key(1))
xva, yva = make_batches(N_VAL, mx.random.key(2))
mu, sd = mx.mean(xtr, axis=0), mx.std(xtr, axis=0) + 1e-6
xtr, xva = (xtr - mu) / sd, (xva - mu) / sd
y_mu, y_sd = mx.mean(ytr), mx.std(ytr)


@mx.custom_function
def rms_scale(x, g):
    r = mx.rsqrt(mx.mean(x * x, axis=-1, keepdims=True) + EPS)
    return g * x * r


@rms_scale.vjp
def rms_scale_vjp(primals, cotangent, output):
    x, g = primals
    d = x.shape[-1]
    r = mx.rsqrt(mx.mean(x * x, axis=-1, keepdims=True) + EPS)
    gdy = cotangent * g
    dx = r * gdy - x * (r**3) * mx.sum(gdy * x, axis=-1, keepdims=True) / d
    dg = mx.sum(cotangent * x * r, axis=tuple(range(x.ndim - 1)))
    return dx, dg


def rms_reference(x, g):
    return g * x * mx.rsqrt(mx.mean(x * x, axis=-1, keepdims=True) + EPS)


class HandRMS(nn.Module):
    def __init__(self, dims):
        super().__init__()
        self.gain = mx.ones((dims,))

    def __call__(self, x):
        return rms_scale(x, self.gain)


class WitherNet(nn.Module):
    def __init__(self, width=48):
        super().__init__()
        self.inp = nn.Linear(D_IN, width)
        self.n1 = HandRMS(width)
        self.mid = nn.Linear(width, width)
        self.n2 = HandRMS(width)
        self.out = nn.Linear(width, 1)

    def __call__(self, x):
        h = nn.gelu(self.n1(self.inp(x)))
        h = nn.gelu(self.n2(self.mid(h)))
        return self.out(h)


model = WitherNet()
mx.eval(model.parameters())

STEPS, BS, PEAK, WARM = 900, 96, 3e-3, 60
sched = optim.join_schedules(
    [optim.linear_schedule(0.0, PEAK, WARM), optim.cosine_decay(PEAK, STEPS - WARM, 1e-5)],
    [WARM],
)
opt = optim.AdamW(learning_rate=sched, weight_decay=1e-3)


def loss_fn(m, x, y):
    pred = m(x) * y_sd + y_mu
    return mx.mean(((pred - y) / y_sd) ** 2)


step_fn = nn.value_and_grad(model, loss_fn)


def audit(key):
    xa = mx.random.normal((32, 48), key=key)
    ga = 1.0 + 0.1 * mx.random.normal((48,), key=mx.random.split(key)[0])
    w = mx.random.normal((32, 48), key=mx.random.split(key)[1])
    f_hand = lambda a, b: mx.sum(w * rms_scale(a, b))
    f_ref = lambda a, b: mx.sum(w * rms_reference(a, b))
    gh = mx.grad(f_hand, argnums=(0, 1))(xa, ga)
    gr = mx.grad(f_ref, argnums=(0, 1))(xa, ga)
    return (
        mx.max(mx.abs(gh[0] - gr[0])).item(),
        mx.max(mx.abs(gh[1] - gr[1])).item(),
    )


def evaluate():
    pred = model(xva) * y_sd + y_mu
    err = pred - yva
    return mx.mean(mx.abs(err)).item(), mx.sqrt(mx.mean(err * err)).item()


baseline_mae = mx.mean(mx.abs(yva - y_mu)).item()
t0 = time.time()
perm_key = mx.random.key(7)
cursor, order = N_TRAIN, None
for step in range(STEPS + 1):
    if cursor + BS > N_TRAIN:
        perm_key, sub = mx.random.split(perm_key)
        order = mx.random.permutation(N_TRAIN, key=sub)
        cursor = 0
    idx = order[cursor : cursor + BS]
    cursor += BS
    lr_now = float(opt.learning_rate)
    loss, grads = step_fn(model, xtr[idx], ytr[idx])
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    if step % 50 == 0:
        mae, rmse = evaluate()
        rec = {
            "step": step,
            "lr": round(lr_now, 7),
            "train_nmse": round(loss.item(), 5),
            "val_mae_pct": round(mae, 3),
            "val_rmse_pct": round(rmse, 3),
            "mean_guess_mae_pct": round(baseline_mae, 3),
            "gain_n1_mean": round(mx.mean(model.n1.gain).item(), 4),
        }
        print(json.dumps(rec), flush=True)
    if step % 300 == 0:
        dx_diff, dg_diff = audit(mx.random.key(100 + step))
        print(json.dumps({"audit": "rms_vjp_vs_autodiff", "step": step,
                          "max_abs_dx": dx_diff, "max_abs_dgain": dg_diff}), flush=True)

mae, rmse = evaluate()
print(json.dumps({"final": True, "val_mae_pct": round(mae, 3), "val_rmse_pct": round(rmse, 3),
                  "mean_guess_mae_pct": round(baseline_mae, 3),
                  "seconds": round(time.time() - t0, 2)}))
