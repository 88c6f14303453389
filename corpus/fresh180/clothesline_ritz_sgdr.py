"""Sag of a taut clothesline under a gusty wind load, solved by the Deep Ritz method.

-T u''(x) = w(x) on [0, 1], u(0) = u(1) = 0 (T = 1). Instead of a residual we minimise the
potential energy E[u] = int 0.5*u'(x)^2 - w(x)*u(x) dx, estimated by Monte Carlo on fresh
random points every step. E is negative at the optimum; the exact minimum is printed beside.
Learning rate: cosine warm restarts (SGDR), so the energy jumps up after each restart.
"""
import logging
import math

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s | %(message)s")
log = logging.getLogger("ritz")

mx.random.seed(7)
PI = math.pi
A2 = 0.3  # second mode amplitude of the exact sag


def load(x):
    return PI**2 * mx.sin(PI * x) + A2 * 4 * PI**2 * mx.sin(2 * PI * x)


def exact(x):
    return mx.sin(PI * x) + A2 * mx.sin(2 * PI * x)


E_STAR = -0.5 * (PI**2 / 2) * (1 + 4 * A2**2)


class Sag(nn.Module):
    def __init__(self, width=32):
        super().__init__()
        self.l1 = nn.Linear(1, width)
        self.l2 = nn.Linear(width, width)
        self.l3 = nn.Linear(width, 1)

    def __call__(self, x):
        h = mx.tanh(self.l1(x))
        h = mx.tanh(self.l2(h))
        return x * (1 - x) * self.l3(h)  # clamped ends built in


def energy_terms(model, x):
    u = model(x)
    ux = mx.grad(lambda z: model(z).sum())(x)
    return u, ux


def ritz_energy(model, x):
    u, ux = energy_terms(model, x)
    return mx.mean(0.5 * ux**2 - load(x) * u)


model = Sag()
mx.eval(model.parameters())

CYCLE, CYCLES = 300, 3
sched = optim.join_schedules(
    [optim.cosine_decay(4e-3, CYCLE, end=2e-5) for _ in range(CYCLES)],
    [CYCLE * k for k in range(1, CYCLES)],
)
opt = optim.Adam(learning_rate=sched)
loss_and_grad = nn.value_and_grad(model, ritz_energy)

# grid quadrature for the audit numbers
xg = mx.linspace(0, 1, 401).reshape(-1, 1)
wq = mx.full((401, 1), 1.0 / 400)
wq[0] = wq[-1] = 0.5 / 400
ue = exact(xg)
norm_e = mx.sqrt(mx.sum(wq * ue**2))


def audit():
    u, ux = energy_terms(model, xg)
    E = mx.sum(wq * (0.5 * ux**2 - load(xg) * u))
    rel = mx.sqrt(mx.sum(wq * (u - ue) ** 2)) / norm_e
    return E.item(), 100 * rel.item(), u[200, 0].item()


E0, r0, m0 = audit()
log.info("untrained: E=%.4f (E*=%.4f) relL2=%.1f%% midspan=%.4f m (exact %.4f m)", E0, E_STAR, r0, m0, exact(mx.array(0.5)).item())

# check every layer gets a gradient
_, g0 = loss_and_grad(model, mx.random.uniform(shape=(256, 1)))
for name, g in nn.utils.tree_flatten(g0):
    log.info("grad-check %-10s |g|=%.3e", name, mx.linalg.norm(g).item())

step = 0
for cyc in range(1, CYCLES + 1):
    for it in range(CYCLE):
        x = mx.random.uniform(shape=(256, 1))
        E_mc, g = loss_and_grad(model, x)
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state, E_mc)
        step += 1
        if it % 75 == 0 or it == CYCLE - 1:
            E, rel, mid = audit()
            log.info(
                "cycle=%d it=%03d lr=%.2e E_mc=%+.4f E_grid=%+.4f E*=%+.4f gap=%+.4f relL2=%5.2f%% mid=%.4f",
                cyc, it, opt.learning_rate.item(), E_mc.item(), E, E_STAR, E - E_STAR, rel, mid,
            )

E, rel, mid = audit()
log.info("final: E_grid=%.5f vs E*=%.5f  relL2=%.2f%%  midspan sag %.4f m (exact %.4f m)", E, E_STAR, rel, mid, exact(mx.array(0.5)).item())
