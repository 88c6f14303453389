"""Track cycling: flying-lap time (s) on a 250 m velodrome from rider/bike settings.
Quantization-aware training: every Linear weight is fake-quantized to 4 bits in the
forward pass through an mx.custom_function whose vjp is the straight-through estimator.
Adam with a linear warm-up that starts at exactly 0."""
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(11)


def make_laps(n):
    gear = rng.uniform(3.2, 4.4, n)          # gear ratio
    cadence = rng.uniform(95, 135, n)        # rpm
    mass = rng.uniform(62, 95, n)            # kg rider
    cda = rng.uniform(0.17, 0.26, n)         # m^2
    temp = rng.uniform(18, 30, n)            # track air temp C
    lap = rng.integers(1, 9, n).astype(np.float64)  # lap number in the effort
    speed = 2.1 * gear * cadence / 60 * 2.0   # m/s, crude wheel roll-out
    drag_pen = 22.0 * (cda - 0.21) - 0.04 * (temp - 24)
    fatigue = 0.09 * np.maximum(lap - 3, 0) ** 1.3 * (1 + 0.004 * (mass - 75))
    t = 250.0 / speed + drag_pen + fatigue + 0.002 * (mass - 75)
    t = t + rng.normal(0, 0.08, n)
    X = np.stack([gear, cadence, mass, cda, temp, lap], 1)
    return X.astype(np.float32), t.astype(np.float32)


Xtr, ytr = make_laps(12000)
Xte, yte = make_laps(2000)
mu, sd = Xtr.mean(0), Xtr.std(0)
ymu, ysd = ytr.mean(), ytr.std()
Xtr_m = mx.array((Xtr - mu) / sd); Xte_m = mx.array((Xte - mu) / sd)
ytr_m = mx.array((ytr - ymu) / ysd); yte_np = yte

BITS = 4
QMAX = 2 ** (BITS - 1) - 1


@mx.custom_function
def fake_quant(w):
    scale = mx.maximum(mx.max(mx.abs(w)), 1e-8) / QMAX
    return mx.clip(mx.round(w / scale), -QMAX, QMAX) * scale


@fake_quant.vjp
def fake_quant_vjp(primals, cotangent, output):
    return (cotangent,)   # straight-through


class QLinear(nn.Module):
    def __init__(self, din, dout, quant=True):
        super().__init__()
        s = 1.0 / np.sqrt(din)
        self.weight = mx.random.uniform(-s, s, (dout, din))
        self.bias = mx.zeros((dout,))
        self.quant = quant

    def __call__(self, x):
        w = fake_quant(self.weight) if self.quant else self.weight
        return x @ w.T + self.bias


class LapNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = QLinear(6, 64)
        self.l2 = QLinear(64, 64)
        self.out = QLinear(64, 1)

    def __call__(self, x, quant=True):
        for l in (self.l1, self.l2, self.out):
            l.quant = quant
        h = nn.silu(self.l1(x))
        h = nn.silu(self.l2(h))
        return self.out(h).squeeze(-1)


def loss_fn(model, x, y):
    return nn.losses.mse_loss(model(x), y)


def rmse_s(model, quant=True):
    p = np.array(model(Xte_m, quant=quant)) * ysd + ymu
    return float(np.sqrt(np.mean((p - yte_np) ** 2)))


mx.random.seed(3)
model = LapNet()
mx.eval(model.parameters())
STEPS, BS, WARM = 2400, 64, 300
sched = optim.join_schedules(
    [optim.linear_schedule(0.0, 3e-3, WARM), optim.cosine_decay(3e-3, STEPS - WARM, 5e-5)], [WARM])
opt = optim.Adam(learning_rate=sched)
vg = nn.value_and_grad(model, loss_fn)

print(f"velodrome laps: train={len(ytr)} test={len(yte)}  lap time mean={ymu:.3f}s sd={ysd:.3f}s  noise sd=0.080s")
print(f"predict-mean RMSE={np.std(yte):.4f}s  untrained RMSE(q{BITS})={rmse_s(model):.4f}s")

perm = rng.permutation(len(ytr)); cur = 0
window = []
t0 = time.perf_counter()
for step in range(1, STEPS + 1):
    if cur + BS > len(perm):
        perm = rng.permutation(len(ytr)); cur = 0
    idx = mx.array(perm[cur:cur + BS]); cur += BS
    lr_now = float(sched(opt.step))
    loss, grads = vg(model, Xtr_m[idx], ytr_m[idx])
    if step == 1:
        flat = tree_flatten(grads)
        zero = [k for k, g in flat if float(mx.max(mx.abs(g))) == 0.0]
        print(f"grad check: {len(flat)} leaves, zero-grad leaves={zero}, lr of first update={lr_now:.1e}")
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    window.append(loss.item())
    if step in (1, 50) or step % 300 == 0:
        q = rmse_s(model, True); f = rmse_s(model, False)
        print(f"step {step:5d}  lr {lr_now:.2e}  train_mse(std) {np.mean(window):.4f}  "
              f"test_rmse q{BITS} {q*1000:7.1f} ms  float {f*1000:7.1f} ms  quant_gap {(q-f)*1000:+6.1f} ms  "
              f"{time.perf_counter()-t0:5.1f}s")
        window = []

levels = [len(np.unique(np.array(fake_quant(l.weight)))) for l in (model.l1, model.l2, model.out)]
print(f"done: distinct weight levels per layer {levels} (<= {2*QMAX+1}); final q{BITS} test RMSE "
      f"{rmse_s(model)*1000:.1f} ms vs noise 80 ms")
