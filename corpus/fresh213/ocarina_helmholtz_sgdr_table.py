# Ocarina workshop: predict the sounding pitch (cents relative to A4) of a
# fingering from the clay body and the open holes.  Synthetic "measurements"
# follow a Helmholtz resonator with end correction, a windway pull and a
# blowing-pressure sharpening, plus 6 cents of tuner noise.  The textbook
# Helmholtz formula without corrections is printed beside the model as a
# reference.  SGD + Nesterov, LR warmup from exactly 0 then SGDR restarts,
# compiled train step.
import math
import random
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from functools import partial

random.seed(11)
mx.random.seed(11)
C = 34300.0  # speed of sound, cm/s


def make_fingering():
    V = random.uniform(30, 200)            # chamber volume cm^3
    A = random.uniform(0.05, 3.0)          # total open-hole area cm^2
    t = random.uniform(0.3, 0.6)           # wall thickness cm
    w = random.uniform(0.08, 0.2)          # windway height cm
    p = random.uniform(0.5, 1.5)           # relative blowing pressure
    L = t + 1.5 * math.sqrt(A / math.pi)   # neck length with end correction
    f = C / (2 * math.pi) * math.sqrt(A / (V * L))
    f *= (1 - 0.4 * (w - 0.14)) * (1 + 0.012 * (p - 1))
    cents = 1200 * math.log2(f / 440.0) + random.gauss(0, 6)
    naive = 1200 * math.log2(C / (2 * math.pi) * math.sqrt(A / (V * t)) / 440.0)
    x = [math.log(V / 80), math.log(A), (t - 0.45) / 0.09, (w - 0.14) / 0.035, p - 1.0]
    return x, cents, naive


def build(n):
    rows = [make_fingering() for _ in range(n)]
    X = mx.array([r[0] for r in rows])
    Y = mx.array([r[1] for r in rows]) / 1200.0   # octaves
    N = mx.array([r[2] for r in rows])
    return X, Y, N


Xtr, Ytr, _ = build(4000)
Xva, Yva, Nva = build(800)
naive_rmse = mx.sqrt(mx.mean((Nva - Yva * 1200) ** 2)).item()
mean_rmse = mx.sqrt(mx.mean((Ytr.mean() - Yva) ** 2)).item() * 1200

model = nn.Sequential(nn.Linear(5, 64), nn.Tanh(), nn.Linear(64, 64), nn.Tanh(), nn.Linear(64, 1))
mx.eval(model.parameters())

PEAK, WARM = 0.1, 60
CYCLES = [200, 400, 800]          # SGDR cycle lengths after warmup
TOTAL = WARM + sum(CYCLES)


def lr_at(step):
    if step < WARM:
        return PEAK * step / WARM     # step 0 -> lr exactly 0
    s = step - WARM
    for k, L in enumerate(CYCLES):
        if s < L:
            return 0.5 * PEAK * (1 + math.cos(math.pi * s / L)), k + 1
        s -= L
    return 0.0, len(CYCLES)


opt = optim.SGD(learning_rate=0.0, momentum=0.9, nesterov=True)


def loss_fn(m, x, y):
    return mx.mean((m(x).squeeze(-1) - y) ** 2)


state = [model.state, opt.state]


@partial(mx.compile, inputs=state, outputs=state)
def train_step(x, y):
    loss, g = nn.value_and_grad(model, loss_fn)(model, x, y)
    opt.update(model, g)
    return loss


print(f"{'step':>5} {'cyc':>3} {'lr':>8} {'train_mse':>10} {'val_rmse_c':>10} {'helmholtz_c':>11} {'mean_c':>7}")
BATCH = 128
for step in range(TOTAL):
    out = lr_at(step)
    lr, cyc = (out, 0) if not isinstance(out, tuple) else out
    opt.learning_rate = mx.array(lr)
    idx = mx.random.randint(0, Xtr.shape[0], (BATCH,))
    loss = train_step(Xtr[idx], Ytr[idx])
    mx.eval(loss, state)
    if step % 100 == 0 or step == TOTAL - 1:
        vr = mx.sqrt(mx.mean((model(Xva).squeeze(-1) - Yva) ** 2)).item() * 1200
        print(f"{step:5d} {cyc:3d} {lr:8.5f} {loss.item():10.6f} {vr:10.2f} {naive_rmse:11.2f} {mean_rmse:7.1f}")

vr = mx.sqrt(mx.mean((model(Xva).squeeze(-1) - Yva) ** 2)).item() * 1200
print(f"final: val RMSE {vr:.2f} cents (tuner noise 6.0) | uncorrected Helmholtz {naive_rmse:.1f} cents | "
      f"predict-mean {mean_rmse:.1f} cents")
