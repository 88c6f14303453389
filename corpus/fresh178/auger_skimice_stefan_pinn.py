"""Ice-fishing hole refreeze: skim ice regrows in an augered hole overnight.

Stefan's law for a growing ice sheet: h dh/dt = k  (k ~ conductivity*degree-deficit/(rho*L)),
so h(t)^2 = h0^2 + 2 k t. We have 9 noisy gauge readings (cm) over 0..12 h and want the whole
curve plus k, extrapolated to 24 h. A tanh MLP h(t) is fitted with a data loss plus the ODE
residual; the physics weight is ramped in from 0 (so the total rises while the weight grows),
and the learning rate starts at exactly 0 and warms up.
"""
import math
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(7)
K_TRUE, H0 = 2.0, 1.5           # cm^2/h, cm
T_SCALE = 24.0                   # network sees t/24

def stefan(t):
    return math.sqrt(H0 ** 2 + 2 * K_TRUE * t)

t_obs = mx.array([0.0, 1.0, 2.0, 3.5, 5.0, 6.5, 8.0, 10.0, 12.0])
h_clean = mx.sqrt(H0 ** 2 + 2 * K_TRUE * t_obs)
h_obs = h_clean + 0.15 * mx.random.normal(t_obs.shape)
t_col = mx.linspace(0.0, 24.0, 64)          # collocation points incl. the unobserved night

class IceCurve(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(1, 32)
        self.l2 = nn.Linear(32, 32)
        self.l3 = nn.Linear(32, 1)
        self.log_k = mx.array([0.0])         # k starts at 1.0, truth is 2.0

    def __call__(self, t):
        x = (t / T_SCALE)[:, None]
        x = mx.tanh(self.l1(x))
        x = mx.tanh(self.l2(x))
        return 5.0 * self.l3(x)[:, 0] + 5.0   # cm

model = IceCurve()

def losses(m, w_phys):
    pred = m(t_obs)
    data = mx.mean((pred - h_obs) ** 2)
    h = m(t_col)
    dhdt = mx.grad(lambda tt: m(tt).sum())(t_col)
    k = mx.exp(m.log_k)[0]
    resid = h * dhdt - k
    phys = mx.mean(resid ** 2)
    return data + w_phys * phys, (data, phys)

warm = optim.linear_schedule(0.0, 4e-3, 300)
decay = optim.cosine_decay(4e-3, 1700, 2e-4)
lr = optim.join_schedules([warm, decay], [300])
opt = optim.Adam(learning_rate=lr)

def w_schedule(step):
    # physics weight: off for 200 steps, then ramp linearly to 1.0 by step 300 (harder stage)
    return min(1.0, max(0.0, (step - 200) / 100.0))

def objective(params, w):
    model.update(params)
    l, (d, p) = losses(model, w)
    return l, (d, p)

vg = mx.value_and_grad(objective)

print(f"{'step':>5} | {'lr':>8} | {'w_phys':>6} | {'total':>9} | {'data cm2':>9} | {'ode res':>9} | {'k est':>6} (ref {K_TRUE:.2f}) | h@24h cm (ref {stefan(24):.2f})")
print("-" * 108)
STEPS = 2000
for step in range(STEPS + 1):
    w = w_schedule(step)
    (l, (d, p)), g = vg(model.trainable_parameters(), mx.array(w))
    cur_lr = float(opt.learning_rate) if step > 0 else 0.0
    opt.update(model, g)
    mx.eval(model.parameters(), opt.state, l, d, p)
    if step == 400:
        flat = dict(nn.utils.tree_flatten(g))
        zero = [k for k, v in flat.items() if float(mx.abs(v).sum()) == 0.0]
        print(f"  [grad audit @400] {len(flat)} tensors, zero-grad: {zero if zero else 'none'}, "
              f"|g_log_k| = {float(mx.abs(flat['log_k']).sum()):.3e}")
    if step % 100 == 0 or 200 < step <= 300 and step % 20 == 0:
        k_est = float(mx.exp(model.log_k)[0])
        h24 = float(model(mx.array([24.0]))[0])
        print(f"{step:5d} | {cur_lr:8.2e} | {w:6.3f} | {float(l):9.4f} | {float(d):9.4f} | {float(p):9.4f} | "
              f"{k_est:6.3f}            | {h24:6.2f}")

k_est = float(mx.exp(model.log_k)[0])
h24 = float(model(mx.array([24.0]))[0])
err = abs(h24 - stefan(24)) / stefan(24) * 100
print("-" * 108)
print(f"final: k = {k_est:.3f} cm^2/h (Stefan ref {K_TRUE:.2f}, err {abs(k_est-K_TRUE)/K_TRUE*100:.1f} %), "
      f"h(24 h) = {h24:.2f} cm vs {stefan(24):.2f} cm ({err:.1f} % off)")
