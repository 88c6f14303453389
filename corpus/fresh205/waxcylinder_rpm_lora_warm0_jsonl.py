# Phonograph archive: estimate the true recording speed (rpm) of a wax cylinder
# from a few transfer measurements, so the digitised audio plays at the right pitch.
# Stage "brownwax": train a small MLP on plenty of brown-wax cylinders.
# Stage "amberol": freeze that network and fit low-rank adapters on a small batch
# of Blue Amberol celluloid cylinders (different groove pitch / material law).
import json
import math

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

mx.random.seed(7)

FEATURES = ["ref_tone_hz_at160", "groove_tpi", "diameter_mm", "wax_hardness",
            "label_year", "hiss_db"]


def make_cylinders(n, kind, key):
    k1, k2 = mx.random.split(key)
    u = mx.random.uniform(shape=(n, 6), key=k1)
    true_rpm = 120.0 + 45.0 * u[:, 0]                       # 120..165 rpm
    if kind == "brownwax":
        tpi = 100.0 + 0.0 * u[:, 1]
        hardness = 0.3 + 0.4 * u[:, 3]
        year = 1895.0 + 12.0 * u[:, 4]
    else:  # Blue Amberol: 200 tpi celluloid, later years, harder surface
        tpi = 200.0 + 0.0 * u[:, 1]
        hardness = 0.7 + 0.3 * u[:, 3]
        year = 1912.0 + 16.0 * u[:, 4]
    diameter = 55.0 + 1.5 * u[:, 2]
    # a 435 Hz reference was recorded; playing at 160 rpm shifts it by 160/true_rpm
    # plus made-up stretch from shrinkage (brown wax) or celluloid creep (amberol)
    shrink = mx.where(tpi < 150, 0.012 * (1.0 - hardness), -0.02 * (hardness - 0.7))
    ref = 435.0 * 160.0 / true_rpm * (1.0 + shrink + 0.0008 * (diameter - 55.75))
    hiss = 30.0 + 15.0 * u[:, 5] - 6.0 * hardness
    noise = 0.6 * mx.random.normal(shape=(n,), key=k2)
    x = mx.stack([(ref - 470.0) / 60.0, (tpi - 150.0) / 50.0, (diameter - 55.75) / 0.45,
                  (hardness - 0.6) / 0.2, (year - 1910.0) / 10.0, (hiss - 33.0) / 5.0], axis=1)
    y = (true_rpm + noise - 142.5) / 13.0
    return x, y


class LowRankAdapted(nn.Module):
    def __init__(self, base: nn.Linear, rank=4, alpha=8.0):
        super().__init__()
        out_d, in_d = base.weight.shape
        self.base = base
        self.base.freeze()
        self.lora_a = mx.random.normal(shape=(in_d, rank)) * (1.0 / math.sqrt(in_d))
        self.lora_b = mx.zeros((rank, out_d))
        self.scale = alpha / rank

    def __call__(self, x):
        return self.base(x) + self.scale * ((x @ self.lora_a) @ self.lora_b)


class SpeedNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(6, 48)
        self.l2 = nn.Linear(48, 48)
        self.head = nn.Linear(48, 1)

    def __call__(self, x):
        h = nn.silu(self.l1(x))
        h = nn.silu(self.l2(h))
        return self.head(h).squeeze(-1)


def mse(model, x, y):
    return mx.mean(mx.square(model(x) - y))


def rmse_rpm(model, x, y):
    return math.sqrt(mse(model, x, y).item()) * 13.0


def emit(**kw):
    print(json.dumps(kw, sort_keys=False), flush=True)


key = mx.random.key(2024)
kA, kAv, kB, kBv = mx.random.split(key, 4)
xa, ya = make_cylinders(4000, "brownwax", kA)
xav, yav = make_cylinders(800, "brownwax", kAv)
xb, yb = make_cylinders(480, "amberol", kB)
xbv, ybv = make_cylinders(800, "amberol", kBv)

model = SpeedNet()
mx.eval(model.parameters())

# ---------------- stage 1: brown wax, full network ----------------
opt = optim.AdamW(learning_rate=2e-3, weight_decay=1e-4)
lg = nn.value_and_grad(model, mse)
bs = 64
step = 0
for epoch in range(30):
    perm = mx.random.permutation(xa.shape[0])
    for i in range(0, xa.shape[0], bs):
        idx = perm[i:i + bs]
        loss, g = lg(model, xa[idx], ya[idx])
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state, loss)
        if step % 250 == 0:
            emit(stage="brownwax", step=step, mse=round(loss.item(), 4),
                 val_rmse_rpm=round(rmse_rpm(model, xav, yav), 3))
        step += 1
emit(stage="brownwax", step=step, mse=round(loss.item(), 4),
     val_rmse_rpm=round(rmse_rpm(model, xav, yav), 3), note="end")

zero_shot = rmse_rpm(model, xbv, ybv)
emit(stage="switch", amberol_zero_shot_rmse_rpm=round(zero_shot, 3),
     brownwax_rmse_rpm=round(rmse_rpm(model, xav, yav), 3),
     predict_mean_rmse_rpm=round(float(mx.sqrt(mx.mean(mx.square(ybv - mx.mean(yb))))) * 13.0, 3))

# ---------------- stage 2: freeze base, low-rank adapters ----------------
model.freeze()
model.l1 = LowRankAdapted(model.l1)
model.l2 = LowRankAdapted(model.l2)
frozen_ref = {k: mx.array(v) for k, v in tree_flatten(model.parameters()) if "lora" not in k}
mx.eval(model.parameters())
n_train = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
emit(stage="amberol", trainable=[k for k, _ in tree_flatten(model.trainable_parameters())],
     n_trainable=n_train)

total, warm = 1800, 200
peak = 3e-3


def schedule(t):
    if t < warm:
        return peak * t / warm          # starts at exactly 0.0
    p = (t - warm) / (total - warm)
    return peak * 0.5 * (1.0 + math.cos(math.pi * p))


opt2 = optim.Adam(learning_rate=0.0)
lg2 = nn.value_and_grad(model, mse)
bs2 = 48
t = 0
while t < total:
    perm = mx.random.permutation(xb.shape[0])
    for i in range(0, xb.shape[0], bs2):
        if t >= total:
            break
        opt2.learning_rate = schedule(t)
        idx = perm[i:i + bs2]
        loss, g = lg2(model, xb[idx], yb[idx])
        opt2.update(model, g)
        mx.eval(model.parameters(), opt2.state, loss)
        if t % 150 == 0 or t == total - 1:
            an = sum(mx.sum(mx.square(v)).item() for k, v in tree_flatten(model.trainable_parameters()))
            drift = max(mx.max(mx.abs(v - frozen_ref[k])).item()
                        for k, v in tree_flatten(model.parameters()) if "lora" not in k)
            emit(stage="amberol", step=t, lr=round(schedule(t), 6), mse=round(loss.item(), 4),
                 val_rmse_rpm=round(rmse_rpm(model, xbv, ybv), 3),
                 adapter_l2=round(math.sqrt(an), 4), base_drift=drift)
        if t == 300:
            gn = {k: round(math.sqrt(mx.sum(mx.square(v)).item()), 5) for k, v in tree_flatten(g)}
            emit(stage="audit", step=t, grad_norms=gn)
        t += 1

emit(stage="summary", amberol_rmse_rpm=round(rmse_rpm(model, xbv, ybv), 3),
     amberol_zero_shot_rmse_rpm=round(zero_shot, 3),
     brownwax_rmse_rpm_after=round(rmse_rpm(model, xav, yav), 3))
