# Falafel fryer line: predict crust colour (L*, lower = darker) and core
# temperature (deg C) of each batch from the fryer settings.
# Stage 1: fresh-oil shifts only.  Stage 2: all shifts incl. tired oil.
import math
import time
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(2207)

L_LO, L_HI = 25.0, 80.0      # plausible crust L* range
T_LO, T_HI = 40.0, 100.0     # plausible core temperature range


def make_batches(n, oil_age_max):
    oil_t = mx.random.uniform(165, 190, (n,))          # deg C
    secs = mx.random.uniform(120, 260, (n,))           # fry time
    mass = mx.random.uniform(18, 34, (n,))             # g per ball
    soak = mx.random.uniform(10, 24, (n,))             # h chickpea soak
    age = mx.random.uniform(0, oil_age_max, (n,))      # days since oil change
    L = (78 - 0.55 * (oil_t - 165) - 0.09 * (secs - 120) - 9.0 * age ** 1.5
         + 0.15 * (mass - 18) + 0.8 * mx.random.normal((n,)))
    core = (96 - 38 * mx.exp(-(secs / 60.0) * (oil_t / 175.0) * (26.0 / mass) * 0.35)
            - 0.3 * (soak - 10) + 0.7 * mx.random.normal((n,)))
    core = mx.minimum(core, 99.0)
    X = mx.stack([(oil_t - 177) / 7, (secs - 190) / 40, (mass - 26) / 4.6,
                  (soak - 17) / 4, age - 1.0], axis=1)
    Y = mx.stack([mx.clip(L, L_LO + 1, L_HI - 1), core], axis=1)
    return X, Y


@mx.custom_function
def banded(z, lo, hi):
    return lo + (hi - lo) * mx.sigmoid(z)


@banded.vjp
def banded_vjp(primals, cotangent, output):
    z, lo, hi = primals
    s = mx.sigmoid(z)
    return cotangent * (hi - lo) * s * (1 - s), mx.zeros_like(lo), mx.zeros_like(hi)


class FryerNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.trunk = [nn.Linear(5, 48), nn.Linear(48, 48)]
        self.head = nn.Linear(48, 2)

    def __call__(self, x):
        for l in self.trunk:
            x = nn.silu(l(x))
        z = self.head(x)
        lo = mx.array([L_LO, T_LO])
        hi = mx.array([L_HI, T_HI])
        return banded(z, lo, hi)


def losses(model, x, y):
    p = model(x)
    lL = ((p[:, 0] - y[:, 0]) / 10.0) ** 2
    lT = ((p[:, 1] - y[:, 1]) / 10.0) ** 2
    return lL.mean() + lT.mean(), (lL.mean(), lT.mean())


model = FryerNet()
mx.eval(model.parameters())

Xv, Yv = make_batches(1500, 2.5)
mx.eval(Xv, Yv)
mean_pred = Yv.mean(axis=0)
base_mae = mx.abs(Yv - mean_pred).mean(axis=0)
mx.eval(base_mae)

STAGES = [("fresh oil", 0.6, 500, 4e-3), ("all shifts", 2.5, 700, 2e-3)]
t_start = time.time()
for si, (label, age_max, steps, peak) in enumerate(STAGES, 1):
    X, Y = make_batches(6000, age_max)
    mx.eval(X, Y)
    warm = 60
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, peak, warm), optim.cosine_decay(peak, steps - warm, peak * 0.05)],
        [warm])
    opt = optim.RMSprop(learning_rate=sched, alpha=0.95)
    loss_and_grad = nn.value_and_grad(model, losses)

    def train_step(xb, yb):
        (tot, (lL, lT)), g = loss_and_grad(model, xb, yb)
        opt.update(model, g)
        return tot, lL, lT

    bar = 24
    for it in range(1, steps + 1):
        idx = mx.random.randint(0, X.shape[0], (192,))
        tot, lL, lT = train_step(X[idx], Y[idx])
        mx.eval(model.parameters(), opt.state, tot, lL, lT)
        if it % 50 == 0 or it == 1:
            done = int(bar * it / steps)
            lr = opt.learning_rate.item()
            print(f"stage {si}/{len(STAGES)} [{label:>10}] |{'#' * done}{'.' * (bar - done)}| "
                  f"{it:3d}/{steps} [crust={lL.item():.4f} core={lT.item():.4f} lr={lr:.2e}]")
    pv = model(Xv)
    mae = mx.abs(pv - Yv).mean(axis=0)
    print(f"  end of stage {si}: val MAE crust {mae[0].item():.2f} L*  core {mae[1].item():.2f} degC")

pv = model(Xv)
mae = mx.abs(pv - Yv).mean(axis=0)
within = (mx.abs(pv[:, 1] - Yv[:, 1]) < 2.0).mean().item() * 100
print()
print("| target        | model MAE | mean-predictor MAE |")
print("|---------------|-----------|--------------------|")
print(f"| crust L*      | {mae[0].item():9.2f} | {base_mae[0].item():18.2f} |")
print(f"| core temp C   | {mae[1].item():9.2f} | {base_mae[1].item():18.2f} |")
print(f"core within 2 degC: {within:.1f}%   wall {time.time() - t_start:.1f}s")
