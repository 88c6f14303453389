# Inverse problem for a straight cooling fin with an adiabatic tip:
#   theta''(x) = m^2 theta(x),  theta(0) = 1,  theta'(1) = 0
# Eight noisy thermocouples are given; a physics-informed tanh MLP recovers the
# temperature profile AND the unknown fin parameter m^2 (true value 6.25).
# The physics weight is ramped in from 0 (so the total objective climbs at first)
# and the learning rate follows cosine warm restarts (SGDR), so it jumps back up
# at the start of every cycle.
from functools import partial
import math

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

mx.random.seed(3)
np.random.seed(3)
M2_TRUE = 6.25
m = math.sqrt(M2_TRUE)

x_obs = np.linspace(0.05, 0.95, 8).astype(np.float32)
t_obs = np.cosh(m * (1 - x_obs)) / np.cosh(m) + np.random.normal(0, 0.005, 8)
x_obs, t_obs = mx.array(x_obs), mx.array(t_obs.astype(np.float32))
x_col = mx.array(np.linspace(0, 1, 32).astype(np.float32))      # collocation points
x_chk = np.linspace(0, 1, 101).astype(np.float32)
t_chk = mx.array(np.cosh(m * (1 - x_chk)) / np.cosh(m))
x_chk = mx.array(x_chk)


class FinNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(1, 24)
        self.l2 = nn.Linear(24, 24)
        self.out = nn.Linear(24, 1)
        self.log_m2 = mx.array(0.0)          # unknown physics parameter, starts at m^2 = 1

    def __call__(self, x):
        h = mx.tanh(self.l1(x[..., None]))
        h = mx.tanh(self.l2(h))
        return self.out(h)[..., 0]


net = FinNet()


def terms(model, lam):
    u = lambda s: model(s)                                   # scalar -> scalar
    du = mx.grad(u)
    d2u = mx.vmap(mx.grad(du))(x_col)
    res = d2u - mx.exp(model.log_m2) * model(x_col)
    data = mx.mean((model(x_obs) - t_obs) ** 2)
    pde = mx.mean(res ** 2)
    bc = (model(mx.array(0.0)) - 1.0) ** 2 + du(mx.array(1.0)) ** 2
    return data, pde, bc


def objective(model, lam):
    data, pde, bc = terms(model, lam)
    return 100.0 * data + lam * (pde + 10.0 * bc), (data, pde, bc)


CYCLES = [200, 400, 600]                                     # SGDR cycle lengths
TOTAL = sum(CYCLES)
RAMP = 300


def lr_at(step):
    start = 0
    for c in CYCLES:
        if step < start + c:
            t = (step - start) / c
            return 1e-4 + 0.5 * (1e-2 - 1e-4) * (1 + math.cos(math.pi * t))
        start += c
    return 1e-4


opt = optim.Adam(learning_rate=1e-2)
vg = nn.value_and_grad(net, objective)

# audit: every trainable tensor must receive a gradient once physics is on
(_, _), g0 = vg(net, mx.array(1.0))
for k, v in nn.utils.tree_flatten(g0):
    n = mx.sqrt(mx.sum(v * v)).item()
    print(f"audit grad|{k:<10}| = {n:.3e}")
    assert n > 0
state = [net.state, opt.state]


@partial(mx.compile, inputs=state, outputs=state)
def step(lam, lr):
    opt.learning_rate = lr
    (loss, parts), grads = vg(net, lam)
    opt.update(net, grads)
    return loss, parts


hdr = f"{'cyc':>3} {'step':>5} {'lr':>8} {'lam':>5} {'objective':>10} {'data':>9} {'pde':>9} {'bc':>9} {'m2 (true 6.25)':>15} {'err%':>6}"
start = 0
for ci, clen in enumerate(CYCLES, 1):
    print(f"-- warm restart {ci}: {clen} steps --")
    print(hdr)
    for j in range(clen):
        s = start + j
        lam = min(1.0, s / RAMP)
        loss, (d, p, b) = step(mx.array(lam), mx.array(lr_at(s)))
        mx.eval(net.parameters(), opt.state, loss)
        if j % 100 == 0 or j == clen - 1:
            m2 = math.exp(net.log_m2.item())
            print(f"{ci:>3} {j:>5} {lr_at(s):>8.2e} {lam:>5.2f} {loss.item():>10.4f} {d.item():>9.2e} "
                  f"{p.item():>9.2e} {b.item():>9.2e} {m2:>15.3f} {100*abs(m2-M2_TRUE)/M2_TRUE:>6.1f}")
    start += clen

pred = net(x_chk)
rel = (mx.sqrt(mx.mean((pred - t_chk) ** 2)) / mx.sqrt(mx.mean(t_chk ** 2))).item()
m2 = math.exp(net.log_m2.item())
print(f"\nsummary: m^2 = {m2:.3f} (true {M2_TRUE}), profile rel-L2 error {100*rel:.2f} %, "
      f"tip temperature {net(mx.array(1.0)).item():.4f} (exact {1/math.cosh(m):.4f})")
