# Cranberry bog yield model trained with emulated FP8 matmuls.
# Forward operands (inputs, weights) are rounded to E4M3 with per-tensor
# "delayed" scales taken from a rolling amax history (as in FP8 recipes);
# the gradient flowing back into each layer output is rounded to E5M2 with a
# just-in-time scale.  A float32 twin trained on the same batches is kept as
# a reference so the FP8 run can be judged against it.
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(7)
N_TRAIN, N_VAL, D = 6000, 1500, 7
NOISE = 0.35  # barrels/acre (x10) noise in the yield law


def make_bogs(n):
    flood_h = rng.uniform(0, 60, n)        # frost-protection flood hours
    sand_cm = rng.uniform(0, 5, n)         # sanding depth
    hives = rng.uniform(0, 4, n)           # bee hives per acre
    rain_mm = rng.normal(600, 120, n)
    ph = rng.normal(4.7, 0.35, n)
    vine_age = rng.uniform(1, 60, n)
    gdd = rng.normal(1800, 200, n)         # growing degree days
    y = (
        2.0
        + 1.2 * np.tanh(hives - 1.5)
        + 0.6 * np.sin(sand_cm)
        - 0.02 * np.abs(flood_h - 25)
        - 1.5 * (ph - 4.6) ** 2
        + 0.0012 * (gdd - 1800)
        + 0.4 * np.log1p(vine_age) * (rain_mm > 520)
        + rng.normal(0, NOISE, n)
    )
    X = np.stack([flood_h, sand_cm, hives, rain_mm, ph, vine_age, gdd], 1)
    return X.astype(np.float32), y.astype(np.float32)


Xtr, ytr = make_bogs(N_TRAIN)
Xva, yva = make_bogs(N_VAL)
mu, sd = Xtr.mean(0), Xtr.std(0)
Xtr, Xva = (Xtr - mu) / sd, (Xva - mu) / sd
Xtr, ytr, Xva, yva = map(mx.array, (Xtr, ytr, Xva, yva))

E4M3_MAX, E4M3_MANT, E4M3_EMIN = 448.0, 3, -6
E5M2_MAX, E5M2_MANT, E5M2_EMIN = 57344.0, 2, -14


def round_fp(x, max_val, mant, emin):
    x = mx.clip(x, -max_val, max_val)
    ax = mx.abs(x)
    e = mx.floor(mx.log2(mx.maximum(ax, 2.0 ** emin)))
    e = mx.maximum(e, emin)
    step = mx.power(2.0, e - mant)
    return mx.round(x / step) * step


def to_e4m3(x, scale):
    return round_fp(x * scale, E4M3_MAX, E4M3_MANT, E4M3_EMIN) / scale


@mx.custom_function
def grad_e5m2(y):
    return y


@grad_e5m2.vjp
def _grad_e5m2_vjp(primals, cotangent, output):
    amax = mx.max(mx.abs(cotangent))
    scale = mx.where(amax > 0, E5M2_MAX / (amax * 2.0), 1.0)
    return round_fp(cotangent * scale, E5M2_MAX, E5M2_MANT, E5M2_EMIN) / scale


class FP8Linear(nn.Module):
    def __init__(self, din, dout):
        super().__init__()
        self.lin = nn.Linear(din, dout)

    def __call__(self, x, sx, sw):
        # straight-through: value is the rounded tensor, gradient is identity
        xq = x + mx.stop_gradient(to_e4m3(x, sx) - x)
        w = self.lin.weight
        wq = w + mx.stop_gradient(to_e4m3(w, sw) - w)
        y = xq @ wq.T + self.lin.bias
        return grad_e5m2(y), mx.max(mx.abs(x)), mx.max(mx.abs(w))


class BogNet(nn.Module):
    def __init__(self, fp8):
        super().__init__()
        self.fp8 = fp8
        dims = [D, 64, 64, 1]
        if fp8:
            self.layers = [FP8Linear(a, b) for a, b in zip(dims[:-1], dims[1:])]
        else:
            self.layers = [nn.Linear(a, b) for a, b in zip(dims[:-1], dims[1:])]

    def __call__(self, x, scales=None):
        amaxes = []
        for i, layer in enumerate(self.layers):
            if self.fp8:
                x, ax, aw = layer(x, scales[2 * i], scales[2 * i + 1])
                amaxes += [ax, aw]
            else:
                x = layer(x)
            if i < len(self.layers) - 1:
                x = nn.silu(x)
        return x.squeeze(-1), amaxes


HIST = 16
MARGIN = 1  # keep one binade of headroom


class DelayedScaler:
    def __init__(self, n):
        self.hist = [[1.0] for _ in range(n)]

    def scales(self):
        return [mx.array(E4M3_MAX / (max(h) * 2.0 ** MARGIN)) for h in self.hist]

    def push(self, amaxes):
        for h, a in zip(self.hist, amaxes):
            h.append(float(a))
            if len(h) > HIST:
                h.pop(0)


mx.random.seed(3)
fp8_net = BogNet(True)
ref_net = BogNet(False)
# identical starting weights for both nets
ref_net.update(
    {"layers": [{"weight": l.lin.weight, "bias": l.lin.bias} for l in fp8_net.layers]}
)
mx.eval(fp8_net.parameters(), ref_net.parameters())
scaler = DelayedScaler(6)

EPOCHS, BS = 14, 64
steps_per_epoch = N_TRAIN // BS
total = EPOCHS * steps_per_epoch
warm = 150
lr_sched = optim.join_schedules(
    [optim.linear_schedule(0.0, 2e-3, warm), optim.cosine_decay(2e-3, total - warm, 1e-4)],
    [warm],
)
opt8 = optim.AdamW(learning_rate=lr_sched, weight_decay=1e-4)
optr = optim.AdamW(learning_rate=lr_sched, weight_decay=1e-4)


def loss8(model, x, y, scales):
    p, amaxes = model(x, scales)
    return mx.mean((p - y) ** 2), amaxes


def lossr(model, x, y):
    p, _ = model(x)
    return mx.mean((p - y) ** 2)


g8 = nn.value_and_grad(fp8_net, loss8)
gr = nn.value_and_grad(ref_net, lossr)


def count_saturated(model, scales):
    n = 0
    for i, l in enumerate(model.layers):
        n += int(mx.sum(mx.abs(l.lin.weight * scales[2 * i + 1]) > E4M3_MAX).item())
    return n


def rmse8(X, Y):
    p, _ = fp8_net(X, scaler.scales())
    return math.sqrt(mx.mean((p - Y) ** 2).item())


def rmser(X, Y):
    p, _ = ref_net(X)
    return math.sqrt(mx.mean((p - Y) ** 2).item())


print(f"bogs: train {N_TRAIN}, val {N_VAL}; noise floor rmse ~{NOISE:.2f}")
print(f"mean-yield baseline val rmse {math.sqrt(mx.mean((yva - ytr.mean()) ** 2).item()):.3f}")
first_w = np.array(fp8_net.layers[0].lin.weight)
t0 = time.time()
step = 0
for ep in range(EPOCHS):
    perm = mx.array(rng.permutation(N_TRAIN))
    run8 = runr = 0.0
    for b in range(steps_per_epoch):
        idx = perm[b * BS:(b + 1) * BS]
        xb, yb = Xtr[idx], ytr[idx]
        sc = scaler.scales()
        (l8, amaxes), gr8 = g8(fp8_net, xb, yb, sc)
        opt8.update(fp8_net, gr8)
        lr_, grr = gr(ref_net, xb, yb)
        optr.update(ref_net, grr)
        mx.eval(fp8_net.parameters(), opt8.state, ref_net.parameters(), optr.state, l8, lr_, amaxes)
        scaler.push(amaxes)
        run8 += l8.item()
        runr += lr_.item()
        step += 1
        if step == 1:
            moved = float(np.abs(np.array(fp8_net.layers[0].lin.weight) - first_w).max())
            print(f"step 1: lr {opt8.learning_rate.item():.1e}, loss fp8 {l8.item():.3f}, "
                  f"max |dW| {moved:.2e}")
    sc = scaler.scales()
    print(
        f"epoch {ep + 1:2d}  train mse fp8 {run8 / steps_per_epoch:.4f} f32 {runr / steps_per_epoch:.4f}  "
        f"val rmse fp8 {rmse8(Xva, yva):.4f} f32 {rmser(Xva, yva):.4f}  "
        f"w-scales {[round(s.item(), 1) for s in sc[1::2]]}  sat {count_saturated(fp8_net, sc)}"
    )

v8, vr = rmse8(Xva, yva), rmser(Xva, yva)
print(f"final val rmse fp8 {v8:.4f}  f32 {vr:.4f}  gap {v8 - vr:+.4f}  floor {NOISE:.2f}")
print(f"done in {time.time() - t0:.1f}s")
