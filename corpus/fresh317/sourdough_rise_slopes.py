"""Sourdough bench log: rise height of a proving dough (mm) from six readings.

Rise never goes down with longer proof time, so after a plain warm-up stage the
fit adds a shape term: the forward-mode derivative of the prediction along the
proof-time input (mx.jvp) is computed on random probe points, inside
nn.value_and_grad, and negative slopes are penalised.  The hidden activation is
a softplus written as mx.custom_function with its own vjp AND its own jvp rule,
both checked against plain autodiff before training.
Each report is a block of RFC 822 style header lines.
"""
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

SEED = 3170
BATCH = 128
PROBES = 256
STAGE1, STAGE2 = 400, 1000
SHAPE_WEIGHT = 5.0
NOISE_MM = 2.0


@mx.custom_function
def softplus(x):
    return mx.logaddexp(x, 0.0)


@softplus.vjp
def softplus_vjp(primals, cotangent, output):
    x = primals[0] if isinstance(primals, (list, tuple)) else primals
    return cotangent * mx.sigmoid(x)


@softplus.jvp
def softplus_jvp(primals, tangents):
    # a single primal / tangent arrives bare, several arrive as a list
    x = primals[0] if isinstance(primals, (list, tuple)) else primals
    t = tangents[0] if isinstance(tangents, (list, tuple)) else tangents
    return t * mx.sigmoid(x)


class RiseNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(6, 48)
        self.l2 = nn.Linear(48, 48)
        self.out = nn.Linear(48, 1)

    def __call__(self, x):
        h = softplus(self.l1(x))
        h = softplus(self.l2(h))
        return self.out(h).squeeze(-1)


def make_data(n, rng):
    temp = rng.uniform(18, 30, n)
    # bakers prove warm doughs briefly and cool doughs long
    minutes = np.clip(360 - 22 * (temp - 18) + rng.normal(0, 35, n), 30, 400)
    hydration = rng.uniform(62, 85, n)
    protein = rng.uniform(10, 14, n)
    starter_age = rng.uniform(2, 14, n)
    salt = rng.uniform(1.6, 2.4, n)
    tau = 200.0 * np.exp(-0.07 * (temp - 24)) * (1 + 0.04 * np.abs(starter_age - 7)) * (salt / 2.0)
    height = (20 + 2.2 * (protein - 10)) * (0.6 + 0.012 * (hydration - 62))
    rise = height * (1 - np.exp(-minutes / tau)) + rng.normal(0, NOISE_MM, n)
    x = np.stack([minutes, temp, hydration, protein, starter_age, salt], 1)
    return x.astype(np.float32), rise.astype(np.float32)


def header(**fields):
    for k, v in fields.items():
        if isinstance(v, float):
            v = f"{v:.5g}"
        print(f"{k}: {v}")
    print(flush=True)


def main():
    t0 = time.time()
    rng = np.random.default_rng(SEED)
    mx.random.seed(SEED)
    xtr, ytr = make_data(8000, rng)
    xva, yva = make_data(2000, rng)
    mu, sd = xtr.mean(0), xtr.std(0)
    ymu, ysd = float(ytr.mean()), float(ytr.std())
    Xtr, Ytr = mx.array((xtr - mu) / sd), mx.array((ytr - ymu) / ysd)
    Xva, Yva = mx.array((xva - mu) / sd), mx.array(yva)
    base = float(np.sqrt(np.mean((yva - ymu) ** 2)))
    header(Record="data", Train_Rows=len(ytr), Valid_Rows=len(yva),
           Mean_Baseline_RMSE_mm=base, Noise_Floor_mm=NOISE_MM)

    # rule check: custom vjp and jvp against autodiff of the plain formula
    z = mx.random.normal((1000,)) * 4
    t = mx.random.normal((1000,))
    plain = lambda a: mx.logaddexp(a, 0.0)
    _, vjp_c = mx.vjp(softplus, [z], [t])
    _, vjp_p = mx.vjp(plain, [z], [t])
    _, jvp_c = mx.jvp(softplus, [z], [t])
    _, jvp_p = mx.jvp(plain, [z], [t])
    header(Record="rule-check", VJP_Max_Error=float(mx.max(mx.abs(vjp_c[0] - vjp_p[0]))),
           JVP_Max_Error=float(mx.max(mx.abs(jvp_c[0] - jvp_p[0]))))

    model = RiseNet()
    mx.eval(model.parameters())
    total = STAGE1 + STAGE2
    sched = optim.cosine_decay(3e-3, total, 5e-5)
    opt = optim.Adam(learning_rate=sched)
    direction = np.zeros((PROBES, 6), np.float32)
    direction[:, 0] = 1.0          # proof-time column, standardised units
    V = mx.array(direction)

    def probe_points():
        # broad box around the data, including proof times never logged at that temperature
        return mx.random.uniform(-3.0, 3.0, (PROBES, 6))

    def losses(m, x, y, p, w):
        fit = mx.mean((m(x) - y) ** 2)
        _, tang = mx.jvp(lambda q: m(q), [p], [V])
        slope = tang[0]
        shape = mx.mean(mx.maximum(-slope, 0.0) ** 2)
        return fit + w * shape, (fit, shape, mx.mean((slope < 0).astype(mx.float32)))

    loss_and_grad = nn.value_and_grad(model, losses)

    def valid_rmse():
        return float(mx.sqrt(mx.mean((model(Xva) * ysd + ymu - Yva) ** 2)))

    def neg_share_grid():
        # fraction of a set probe grid where rise decreases with proof time
        g = mx.array(np.random.default_rng(1).uniform(-3.0, 3.0, (4000, 6)).astype(np.float32))
        d = np.zeros((4000, 6), np.float32)
        d[:, 0] = 1
        _, tg = mx.jvp(lambda q: model(q), [g], [mx.array(d)])
        return 100.0 * float(mx.mean((tg[0] < 0).astype(mx.float32)))

    header(Record="untrained", Valid_RMSE_mm=valid_rmse(), Negative_Slope_Share_pct=neg_share_grid())

    n = len(ytr)
    fits, shapes = [], []
    for step in range(1, total + 1):
        w = 0.0 if step <= STAGE1 else SHAPE_WEIGHT
        idx = mx.array(rng.integers(0, n, BATCH))
        (loss, (fit, shape, neg)), grads = loss_and_grad(model, Xtr[idx], Ytr[idx],
                                                         probe_points(), mx.array(w))
        if step == 1:
            leaves = tree_flatten(grads)
            zero = [k for k, g in leaves if float(mx.max(mx.abs(g))) == 0.0]
            header(Record="gradient-check", Leaves=len(leaves), Zero_Leaves=zero or "none")
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss, fit, shape)
        fits.append(float(fit))
        shapes.append(float(shape))
        if step == STAGE1 + 1:
            header(Record="stage", Name="shape-term-on", Step=step, Shape_Weight=w)
        if step % 200 == 0:
            header(Record="report", Step=step, Stage=1 if step <= STAGE1 else 2,
                   Learning_Rate=float(sched(mx.array(step))),
                   Train_MSE_z=float(np.mean(fits)), Shape_Term=float(np.mean(shapes)),
                   Valid_RMSE_mm=valid_rmse(), Negative_Slope_Share_pct=neg_share_grid(),
                   Seconds=round(time.time() - t0, 1))
            fits, shapes = [], []
    header(Record="done", Steps=total, Valid_RMSE_mm=valid_rmse(), Mean_Baseline_RMSE_mm=base,
           Noise_Floor_mm=NOISE_MM, Negative_Slope_Share_pct=neg_share_grid(),
           Seconds=round(time.time() - t0, 1))


if __name__ == "__main__":
    main()
