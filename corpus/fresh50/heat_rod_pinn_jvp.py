"""Physics-informed net for the 1-D heat equation u_t = a * u_xx on a rod.

x in [0, 1], t in [0, 1], a = 0.1, u(0,t) = u(1,t) = 0, u(x,0) = sin(pi x).
Exact solution: exp(-a pi^2 t) sin(pi x). Derivatives of the network come from
forward-mode mx.jvp (nested for u_xx); fresh collocation points every step.
"""
import logging
import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", datefmt="%H:%M:%S")
log = logging.getLogger("pinn")

ALPHA = 0.1
STEPS = 1500


class Field(nn.Module):
    def __init__(self, width=32):
        super().__init__()
        self.l1 = nn.Linear(2, width)
        self.l2 = nn.Linear(width, width)
        self.l3 = nn.Linear(width, 1)

    def __call__(self, x, t):
        h = mx.tanh(self.l1(mx.concatenate([x, t], axis=1)))
        h = mx.tanh(self.l2(h))
        return self.l3(h)


def exact(x, t):
    return mx.exp(-ALPHA * math.pi ** 2 * t) * mx.sin(math.pi * x)


def residual_terms(model, x, t):
    ones = mx.ones_like(x)
    u_of_x = lambda xx: model(xx, t)
    u_of_t = lambda tt: model(x, tt)
    _, (u_t,) = mx.jvp(u_of_t, (t,), (ones,))
    ux_fn = lambda xx: mx.jvp(u_of_x, (xx,), (ones,))[1][0]
    _, (u_xx,) = mx.jvp(ux_fn, (x,), (ones,))
    return u_t - ALPHA * u_xx


def loss_fn(model, xc, tc, xb, tb, xi):
    r = residual_terms(model, xc, tc)
    l_pde = mx.mean(r ** 2)
    l_bc = mx.mean(model(xb, tb) ** 2)
    l_ic = mx.mean((model(xi, mx.zeros_like(xi)) - mx.sin(math.pi * xi)) ** 2)
    return l_pde + 10.0 * l_bc + 10.0 * l_ic, (l_pde, l_bc, l_ic)


def rel_l2(model):
    g = mx.linspace(0, 1, 41)
    X, T = mx.meshgrid(g, g)
    x, t = X.reshape(-1, 1), T.reshape(-1, 1)
    u, ue = model(x, t), exact(x, t)
    return (mx.sqrt(mx.sum((u - ue) ** 2)) / mx.sqrt(mx.sum(ue ** 2))).item()


def main():
    mx.random.seed(3)
    model = Field()
    mx.eval(model.parameters())
    sched = optim.exponential_decay(3e-3, 0.999)
    opt = optim.Adam(learning_rate=sched)
    vg = nn.value_and_grad(model, lambda m, *a: loss_fn(m, *a))
    key = mx.random.key(11)
    t0 = time.time()
    log.info("start rel_l2=%.3f", rel_l2(model))
    for step in range(STEPS):
        key, k1, k2, k3, k4 = mx.random.split(key, 5)
        xc = mx.random.uniform(shape=(256, 1), key=k1)
        tc = mx.random.uniform(shape=(256, 1), key=k2)
        tb = mx.random.uniform(shape=(64, 1), key=k3)
        xb = mx.concatenate([mx.zeros((32, 1)), mx.ones((32, 1))])
        xi = mx.random.uniform(shape=(64, 1), key=k4)
        (loss, (lp, lb, li)), grads = vg(model, xc, tc, xb, tb, xi)
        if step == 0:
            leaves = tree_flatten(grads)
            dead = [k for k, g in leaves if mx.all(g == 0).item()]
            log.info("grad check: %d leaves, zero-gradient leaves: %s", len(leaves), dead or "none")
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        if step % 250 == 0 or step == STEPS - 1:
            log.info("it=%4d loss=%.3e pde=%.3e bc=%.3e ic=%.3e rel_l2=%.3f lr=%.2e",
                     step, loss.item(), lp.item(), lb.item(), li.item(), rel_l2(model),
                     opt.learning_rate.item())
    log.info("done in %.1fs, final relative L2 error vs exact solution %.4f", time.time() - t0, rel_l2(model))


if __name__ == "__main__":
    main()
