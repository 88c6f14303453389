# Hydraulic door closer: recover the damping ratio of the closer from a few
# noisy angle readings with a physics-informed network.
#   theta'' + 2*zeta*w*theta' + w^2*theta = 0,  theta(0)=1, theta'(0)=0
# w is known from the spring spec, zeta is unknown (trainable scalar).
import math
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

rng = np.random.default_rng(7)
mx.random.seed(7)

OMEGA = 4.0          # rad/s, spring stiffness over inertia
ZETA_TRUE = 0.35     # what the bench measurement says (reference only)
T_END = 3.0


def analytic(t):
    wd = OMEGA * math.sqrt(1 - ZETA_TRUE ** 2)
    a = ZETA_TRUE * OMEGA / wd
    return np.exp(-ZETA_TRUE * OMEGA * t) * (np.cos(wd * t) + a * np.sin(wd * t))


# 18 sensor readings from the first 1.2 s only (encoder stopped logging)
t_obs = np.sort(rng.uniform(0.0, 1.2, size=18)).astype(np.float32)
y_obs = (analytic(t_obs) + rng.normal(0, 0.02, size=t_obs.shape)).astype(np.float32)
t_obs_mx = mx.array(t_obs[:, None])
y_obs_mx = mx.array(y_obs[:, None])
t_col = mx.array(np.linspace(0.0, T_END, 96, dtype=np.float32)[:, None])
t_eval = np.linspace(0.0, T_END, 300, dtype=np.float32)
y_eval = analytic(t_eval)


class Closer(nn.Module):
    def __init__(self, width=40):
        super().__init__()
        self.l1 = nn.Linear(1, width)
        self.l2 = nn.Linear(width, width)
        self.l3 = nn.Linear(width, 1)
        self.log_zeta = mx.array([math.log(0.9)])   # deliberately wrong start

    def __call__(self, t):
        h = mx.tanh(self.l1(t / T_END))
        h = mx.tanh(self.l2(h))
        return self.l3(h)


model = Closer()
mx.eval(model.parameters())


def residual(m, t):
    f = lambda s: m(s).sum()
    du = mx.grad(f)
    d2u = mx.grad(lambda s: du(s).sum())
    u = m(t)
    zeta = mx.exp(m.log_zeta)
    r = d2u(t) + 2 * zeta * OMEGA * du(t) + OMEGA ** 2 * u
    return r / OMEGA ** 2, du


def losses(m, w_phys):
    data = mx.mean((m(t_obs_mx) - y_obs_mx) ** 2)
    r, du = residual(m, t_col)
    t0 = mx.zeros((1, 1))
    ic = mx.mean((m(t0) - 1.0) ** 2) + mx.mean(du(t0) ** 2)
    phys = mx.mean(r ** 2)
    return data + ic + w_phys * phys, (data, ic, phys)


def total(m, w_phys):
    return losses(m, w_phys)[0]


STEPS = 1100
WARM = 100
STAGE2 = 300      # physics term switched on here and ramped to full weight
sched = optim.join_schedules(
    [optim.linear_schedule(0.0, 8e-3, WARM), optim.cosine_decay(8e-3, STEPS - WARM, 5e-4)],
    [WARM])
opt = optim.Adam(learning_rate=sched)
step_fn = nn.value_and_grad(model, total)


def phys_weight(i):
    if i < STAGE2:
        return 0.0
    return min(1.0, (i - STAGE2) / 200.0)


print(f"{'step':>5} | {'lr':>8} | {'w_phys':>6} | {'data':>9} | {'ic':>9} | {'phys':>9} | {'total':>9} | zeta (bench 0.350)")
print("-" * 96)
for i in range(STEPS + 1):
    w = phys_weight(i)
    lr_now = opt.learning_rate.item()
    loss, grads = step_fn(model, mx.array(w))
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    if i == STAGE2 + 5:
        gz = grads["log_zeta"].item()
        gl = mx.abs(grads["l1"]["weight"]).sum().item()
        print(f"  .. grad check after physics switch-on: |g log_zeta|={abs(gz):.3e}  |g l1.w|_1={gl:.3e}")
    if i % 100 == 0:
        _, (d, ic, ph) = losses(model, w)
        z = math.exp(model.log_zeta.item())
        print(f"{i:5d} | {lr_now:8.2e} | {w:6.2f} | {d.item():9.3e} | {ic.item():9.3e} | {ph.item():9.3e} | {loss.item():9.3e} | {z:.3f}")

pred = np.array(model(mx.array(t_eval[:, None])))[:, 0]
rmse_all = float(np.sqrt(np.mean((pred - y_eval) ** 2)))
late = t_eval > 1.2
rmse_late = float(np.sqrt(np.mean((pred[late] - y_eval[late]) ** 2)))
z = math.exp(model.log_zeta.item())
print("-" * 96)
print(f"recovered zeta = {z:.4f}  (bench {ZETA_TRUE:.4f}, rel err {abs(z - ZETA_TRUE) / ZETA_TRUE * 100:.1f}%)")
print(f"angle RMSE over 0-3 s = {rmse_all:.4f}   extrapolated 1.2-3 s = {rmse_late:.4f}  (rad/90deg)")
