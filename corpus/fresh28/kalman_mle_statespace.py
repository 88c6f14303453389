"""Maximum-likelihood fit of a 2-D linear-Gaussian state-space model.

The exact log-likelihood comes from a differentiable Kalman filter (predict / update loop
over every time step, Joseph-free standard form), so each optimizer step backprops through
the whole filter.  Data: 12 simulated sequences of a damped oscillator observed in noise,
with a known control input (the sign of omega is not identifiable from the
first coordinate alone, so |omega| is reported).  Only a handful of parameters, Adam, slow per step.
"""
import math
import sys
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(5)
T, NSEQ = 50, 12
TRUE = dict(rho=0.95, omega=0.30, b=0.5, log_q=math.log(0.05), log_r=math.log(0.4))


def transition(rho, omega):
    c, s = mx.cos(omega), mx.sin(omega)
    return rho * mx.stack([mx.stack([c, -s]), mx.stack([s, c])])


def simulate():
    A = transition(mx.array(TRUE["rho"]), mx.array(TRUE["omega"]))
    q, r = math.exp(TRUE["log_q"]), math.exp(TRUE["log_r"])
    u = mx.sin(mx.arange(T) * 0.7)[None, :].astype(mx.float32) * mx.ones((NSEQ, 1))
    x = mx.random.normal((NSEQ, 2))
    ys = []
    for t in range(T):
        x = x @ A.T + mx.stack([TRUE["b"] * u[:, t], mx.zeros(NSEQ)], axis=1) + math.sqrt(q) * mx.random.normal((NSEQ, 2))
        ys.append(x[:, 0] + math.sqrt(r) * mx.random.normal((NSEQ,)))
    return mx.stack(ys, axis=1), u


class SSM(nn.Module):
    def __init__(self):
        super().__init__()
        self.rho_logit = mx.array(0.0)
        self.omega = mx.array(0.8)
        self.b = mx.array(0.0)
        self.log_q = mx.array(0.0)
        self.log_r = mx.array(0.0)

    def params(self):
        return (mx.sigmoid(self.rho_logit), self.omega, self.b, mx.exp(self.log_q), mx.exp(self.log_r))


def neg_loglik(model, y, u):
    rho, omega, b, q, r = model.params()
    A = transition(rho, omega)
    n = y.shape[0]
    m = mx.zeros((n, 2))
    P = mx.broadcast_to(mx.eye(2), (n, 2, 2))
    Q = q * mx.eye(2)
    ll = mx.zeros((n,))
    for t in range(T):
        m = m @ A.T + mx.stack([b * u[:, t], mx.zeros(n)], axis=1)
        P = A @ P @ A.T + Q
        S = P[:, 0, 0] + r
        v = y[:, t] - m[:, 0]
        K = P[:, :, 0] / S[:, None]
        m = m + K * v[:, None]
        P = P - K[:, :, None] * P[:, 0:1, :]
        ll = ll - 0.5 * (mx.log(2 * math.pi * S) + v * v / S)
    return -ll.mean() / T


y, u = simulate()
model = SSM()
opt = optim.Adam(learning_rate=0.03)
vg = nn.value_and_grad(model, neg_loglik)

sys.stdout.write("fitting state-space model by Kalman-filter likelihood\n")
t0 = time.time()
for it in range(1, 251):
    nll, grads = vg(model, y, u)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, nll)
    if it in (1, 5, 20) or it % 50 == 0:
        rho, omega, b, q, r = [float(p.item()) for p in model.params()]
        sys.stdout.write(
            f"[{it:>3}/250] nll/step {nll.item():+.5f}  rho {rho:.3f} (0.950)  |omega| {abs(omega):.3f} (0.300)  "
            f"b {b:+.3f} (+0.500)  q {q:.4f} (0.0500)  r {r:.3f} (0.400)  {time.time() - t0:.0f}s\n"
        )
        sys.stdout.flush()
sys.stdout.write("done\n")
