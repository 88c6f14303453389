"""Trebuchet range test: predict the 10/50/90 % range band of a shot from the
firing sheet (counterweight, arm ratio, sling length, release pin angle,
projectile mass, wind along the range).  Synthetic shots, numpy only."""
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(391)
QS = (0.1, 0.5, 0.9)


def firing_sheet(n):
    cw = rng.uniform(200.0, 900.0, n)          # kg counterweight
    ratio = rng.uniform(3.0, 6.0, n)           # arm ratio
    sling = rng.uniform(0.6, 1.4, n)           # sling length / short arm
    pin = rng.uniform(20.0, 70.0, n)           # release pin angle, deg
    mass = rng.uniform(2.0, 12.0, n)           # projectile kg
    wind = rng.normal(0.0, 4.0, n)             # m/s along the range
    eff = 0.55 + 0.25 * np.tanh(sling - 1.0) - 0.004 * (pin - 45.0) ** 2 / 10.0
    v2 = 2 * 9.81 * 8.0 * cw / (mass + 0.02 * cw) * eff * ratio / 4.5
    angle = np.deg2rad(35.0 + 0.3 * (pin - 45.0))
    rng_m = v2 / 9.81 * np.sin(2 * angle) * (1 + 0.012 * wind)
    # spread grows with sling length and gusty wind
    sd = 3.0 + 0.05 * rng_m * (0.5 + 0.6 * np.abs(sling - 1.0)) + 0.8 * np.abs(wind)
    y = rng_m + sd * rng.standard_normal(n)
    X = np.stack([cw, ratio, sling, pin, mass, wind], 1)
    return X.astype(np.float32), y.astype(np.float32)


Xtr, ytr = firing_sheet(12000)
Xva, yva = firing_sheet(2000)
mu, sd = Xtr.mean(0), Xtr.std(0)
ymu, ysd = ytr.mean(), ytr.std()
Xtr_z, Xva_z = (Xtr - mu) / sd, (Xva - mu) / sd
ytr_z = (ytr - ymu) / ysd
Xtr_m, ytr_m = mx.array(Xtr_z), mx.array(ytr_z)
Xva_m = mx.array(Xva_z)


class BandNet(nn.Module):
    def __init__(self, d_in=6, width=64):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(d_in, width), nn.SiLU(),
                                  nn.Linear(width, width), nn.SiLU())
        self.mid = nn.Linear(width, 1)
        self.gaps = nn.Linear(width, 2)   # softplus gaps below and above the median

    def __call__(self, x):
        h = self.body(x)
        m = self.mid(h)
        g = nn.softplus(self.gaps(h))
        return mx.concatenate([m - g[:, :1], m, m + g[:, 1:]], axis=1)


def pinball(pred, y):
    q = mx.array(QS)
    e = y[:, None] - pred
    return mx.mean(mx.maximum(q * e, (q - 1.0) * e))


def loss_fn(model, x, y):
    return pinball(model(x), y)


mx.random.seed(391)
model = BandNet()
STEPS, BATCH, PEAK, WARM = 2400, 128, 3e-3, 200
sched = optim.join_schedules(
    [optim.linear_schedule(0.0, PEAK, WARM), optim.cosine_decay(PEAK, STEPS - WARM, 3e-5)],
    [WARM])
opt = optim.AdamW(learning_rate=sched, weight_decay=1e-4)
vg = nn.value_and_grad(model, loss_fn)


def evaluate():
    p = np.array(model(Xva_m)) * ysd + ymu
    lo, med, hi = p[:, 0], p[:, 1], p[:, 2]
    mae = np.mean(np.abs(med - yva))
    cover = 100.0 * np.mean((yva >= lo) & (yva <= hi))
    width = np.mean(hi - lo)
    e = yva[:, None] - p
    q = np.array(QS)
    pin = np.mean(np.maximum(q * e, (q - 1) * e))
    return pin, mae, cover, width


# unconditional reference: training quantiles for every shot
ref_q = np.quantile(ytr, QS)
e = yva[:, None] - ref_q[None, :]
ref_pin = np.mean(np.maximum(np.array(QS) * e, (np.array(QS) - 1) * e))
ref_mae = np.mean(np.abs(ref_q[1] - yva))
ref_cover = 100.0 * np.mean((yva >= ref_q[0]) & (yva <= ref_q[2]))
ref_width = ref_q[2] - ref_q[0]

print(f"range sheet: {len(ytr)} training shots, {len(yva)} held-out, mean range {ymu:.1f} m, sd {ysd:.1f} m")
print(f"unconditional bands (training quantiles): pinball {ref_pin:.2f} m, MAE {ref_mae:.1f} m, "
      f"10-90 cover {ref_cover:.1f} %, width {ref_width:.1f} m")
print()

G1 = f"{'':>6} {'':>9} | {'training':^21} | {'held-out shots':^37} |"
H1 = f"{'step':>6} {'lr':>9} | {'pinball':>9} {'grad':>11} | {'pinball':>8} {'median':>8} {'10-90':>8} {'band':>9} | {'secs':>5}"
H2 = f"{'':>6} {'':>9} | {'(z)':>9} {'norm':>11} | {'(m)':>8} {'MAE m':>8} {'cover %':>8} {'width m':>9} | {'':>5}"
print(G1)
print(H1)
print(H2)
print("-" * len(H1))

t0 = time.time()
report = {0, 1, 10, 50, 100, 200, 400, 800, 1200, 1600, 2000, 2400}
window = []
gnorm = 0.0
pin, mae, cover, width = evaluate()
print(f"{0:>6d} {sched(0).item():>9.2e} | {'-':>9} {'-':>11} | {pin:>8.2f} {mae:>8.1f} {cover:>8.1f} {width:>9.1f} | {0.0:>5.1f}")
order = rng.permutation(len(ytr))
cursor = 0
for step in range(1, STEPS + 1):
    if cursor + BATCH > len(order):
        order = rng.permutation(len(ytr))
        cursor = 0
    idx = mx.array(order[cursor:cursor + BATCH])
    cursor += BATCH
    lr_now = sched(step - 1).item()
    loss, grads = vg(model, Xtr_m[idx], ytr_m[idx])
    grads, gn = optim.clip_grad_norm(grads, 10.0)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss, gn)
    window.append(loss.item())
    if step in report:
        pin, mae, cover, width = evaluate()
        tr = float(np.mean(window))
        window = []
        print(f"{step:>6d} {lr_now:>9.2e} | {tr:>9.4f} {gn.item():>11.3f} | {pin:>8.2f} {mae:>8.1f} {cover:>8.1f} {width:>9.1f} | {time.time() - t0:>5.1f}")
print("-" * len(H1))
print(f"{'ref':>6} {'':>9} | {'':>9} {'':>11} | {ref_pin:>8.2f} {ref_mae:>8.1f} {ref_cover:>8.1f} {ref_width:>9.1f} |")
print(f"done: {STEPS} steps, held-out median MAE {mae:.1f} m vs {ref_mae:.1f} m unconditional, "
      f"band cover {cover:.1f} % (aim 80 %)")
