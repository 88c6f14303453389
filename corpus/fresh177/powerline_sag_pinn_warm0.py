"""Inverse catenary fit for an overhead conductor span.

A line crew surveyed a 300 m span at a few points.  We fit a small tanh
network y(x) to the survey AND to the catenary ODE  y'' = sqrt(1 + y'^2) / a,
recovering the catenary parameter a = H / w (horizontal tension over weight
per metre).  Stage 1 leans on the survey, stage 2 turns the physics weight up,
so the printed total jumps when stage 2 starts -- that is expected.
"""
import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

SPAN_M = 300.0
W_N_PER_M = 15.9          # conductor weight per metre
A_TRUE = 0.8              # in span units
mx.random.seed(7)


def catenary(x, a):
    return a * mx.cosh((x - 0.5) / a) - a * math.cosh(0.5 / a)


# survey: 7 stations, 2 mm-per-span-unit noise, ends excluded (towers are the BCs)
xs = mx.array([0.08, 0.21, 0.33, 0.47, 0.58, 0.71, 0.89])[:, None]
ys = catenary(xs, A_TRUE) + 0.002 * mx.random.normal(xs.shape)
x_bc = mx.array([[0.0], [1.0]])


class Shape(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(1, 32)
        self.l2 = nn.Linear(32, 32)
        self.l3 = nn.Linear(32, 1)
        self.log_a = mx.array(math.log(0.3))   # deliberately poor first guess

    def __call__(self, x):
        h = mx.tanh(self.l1(2.0 * x - 1.0))
        h = mx.tanh(self.l2(h))
        return self.l3(h)


model = Shape()


def residual(m, xc):
    y_of = lambda x: m(x).sum()
    dy = mx.grad(y_of)
    d2y = mx.grad(lambda x: dy(x).sum())
    yp = dy(xc)
    ypp = d2y(xc)
    a = mx.exp(m.log_a)
    return ypp - mx.sqrt(1.0 + yp * yp) / a


def losses(m, xc, w_phys):
    l_data = mx.mean((m(xs) - ys) ** 2)
    l_bc = mx.mean(m(x_bc) ** 2)
    l_phys = mx.mean(residual(m, xc) ** 2)
    total = 100.0 * l_data + 100.0 * l_bc + w_phys * l_phys
    return total, (l_data, l_bc, l_phys)


def loss_only(m, xc, w_phys):
    return losses(m, xc, w_phys)[0]


grad_fn = nn.value_and_grad(model, loss_only)

STEPS = 3000
STAGE2 = 1200
WARM = 200
peak = 3e-3
sched = optim.join_schedules(
    [optim.linear_schedule(0.0, peak, WARM), optim.cosine_decay(peak, STEPS - WARM, 1e-4)],
    [WARM],
)
opt = optim.Adam(learning_rate=sched)

# every trainable leaf should see a gradient
xc0 = mx.random.uniform(shape=(64, 1))
_, g0 = grad_fn(model, xc0, 1.0)
from mlx.utils import tree_flatten
zero = [k for k, v in tree_flatten(g0) if float(mx.abs(v).sum()) == 0.0]
print("grad audit:", "all leaves non-zero" if not zero else f"ZERO {zero}")

ref_sag = -float(catenary(mx.array(0.5), A_TRUE)) * SPAN_M
t0 = time.time()
print(f"{'step':>5} {'lr':>9} {'total':>10} {'survey':>10} {'towers':>10} {'ode':>10} {'a':>7} {'sag_m':>7}")
for step in range(STEPS + 1):
    w_phys = 0.02 if step < STAGE2 else 1.0
    if step == STAGE2:
        print("---- stage 2: physics weight 0.02 -> 1.0 ----")
    xc = mx.random.uniform(shape=(64, 1))
    loss, grads = grad_fn(model, xc, w_phys)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    if step % 250 == 0 or step == STEPS:
        _, (ld, lb, lp) = losses(model, xc, w_phys)
        a = float(mx.exp(model.log_a))
        sag = -float(model(mx.array([[0.5]]))[0, 0]) * SPAN_M
        lr = float(opt.learning_rate)
        print(f"{step:5d} {lr:9.2e} {float(loss):10.4e} {float(ld):10.3e} {float(lb):10.3e} "
              f"{float(lp):10.3e} {a:7.4f} {sag:7.2f}")

a = float(mx.exp(model.log_a))
sag = -float(model(mx.array([[0.5]]))[0, 0]) * SPAN_M
H = a * SPAN_M * W_N_PER_M / 1000.0
H_ref = A_TRUE * SPAN_M * W_N_PER_M / 1000.0
print()
print(f"{'quantity':<22}{'fitted':>10}{'reference':>11}{'diff':>9}")
print(f"{'catenary a (span)':<22}{a:10.4f}{A_TRUE:11.4f}{a - A_TRUE:+9.4f}")
print(f"{'midspan sag (m)':<22}{sag:10.2f}{ref_sag:11.2f}{sag - ref_sag:+9.2f}")
print(f"{'horiz. tension (kN)':<22}{H:10.2f}{H_ref:11.2f}{H - H_ref:+9.2f}")
print(f"wall {time.time() - t0:.1f}s")
