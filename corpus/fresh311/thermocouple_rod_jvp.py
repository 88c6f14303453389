# Steady conduction in a rod: identify the conductivity k in -k u'' = q(x) from
# 12 noisy thermocouple readings, with a network whose end temperatures are pinned
# by construction. Second derivatives come from nested forward-mode mx.jvp.
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(3)
mx.random.seed(3)
K_TRUE = 0.35
PI = np.pi
def u_true(x):
    return np.sin(PI * x) + 0.3 * np.sin(3 * PI * x)
def q_src(x):   # heat source known to the experimenter
    return K_TRUE * (PI**2 * mx.sin(PI * x) + 0.3 * 9 * PI**2 * mx.sin(3 * PI * x))

NOISE = 0.01
x_tc = np.sort(rng.uniform(0.05, 0.95, 12)).astype(np.float32)
u_tc = (u_true(x_tc) + NOISE * rng.standard_normal(12)).astype(np.float32)
x_tc_m, u_tc_m = mx.array(x_tc), mx.array(u_tc)
x_test = np.linspace(0, 1, 401).astype(np.float32)

# baseline: second differences of the sorted noisy readings, k = -q / u''
h1, h2 = np.diff(x_tc)[:-1], np.diff(x_tc)[1:]
upp = 2 * (h1 * u_tc[2:] - (h1 + h2) * u_tc[1:-1] + h2 * u_tc[:-2]) / (h1 * h2 * (h1 + h2))
qm = np.array(q_src(mx.array(x_tc[1:-1])))
ok = np.abs(upp) > 1.0
k_fd = float(np.median(-qm[ok] / upp[ok]))

class RodNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(1, 32); self.l2 = nn.Linear(32, 32); self.l3 = nn.Linear(32, 1)
        self.log_k = mx.array([0.0])    # initial guess k = 1
    def __call__(self, x):            # x: (N,)
        h = mx.tanh(self.l1(x[:, None]))
        h = mx.tanh(self.l2(h))
        return x * (1 - x) * self.l3(h)[:, 0]

def second_derivative(model, x):
    ones = mx.ones_like(x)
    du = lambda z: mx.jvp(model, [z], [ones])[1][0]
    return mx.jvp(du, [x], [ones])[1][0]

def loss_fn(model, xc):
    k = mx.exp(model.log_k)
    r = (-k * second_derivative(model, xc) - q_src(xc)) / (PI**2)
    data = mx.mean((model(x_tc_m) - u_tc_m) ** 2)
    res = mx.mean(r * r)
    return data / NOISE**2 * 1e-2 + res, (data, res)

STEPS = 3000
sched = optim.join_schedules([optim.linear_schedule(0.0, 4e-3, 200),
                              optim.cosine_decay(4e-3, STEPS - 200, 5e-5)], [200])
model = RodNet()
opt = optim.Adam(learning_rate=sched)
lg = nn.value_and_grad(model, loss_fn)

def report(step, lr, t0, data, res):
    k = float(mx.exp(model.log_k).item())
    ut = np.array(model(mx.array(x_test)))
    err = np.abs(ut - u_true(x_test)).max()
    print(f"{step:>6} {lr:>9.2e} {data:>10.2e} {np.sqrt(res):>10.4f} {k:>8.4f} "
          f"{100*abs(k-K_TRUE)/K_TRUE:>7.2f} {err:>9.4f} {time.time()-t0:>6.1f}")

print(f"rod: 12 thermocouples, noise {NOISE} C; k_true hidden; initial guess k=1.000")
print(f"baseline (finite differences of readings): k={k_fd:.4f} ({100*abs(k_fd-K_TRUE)/K_TRUE:.1f}% off)")
print(f"{'step':>6} {'lr':>9} {'data_mse':>10} {'res_rms':>10} {'k':>8} {'k_err%':>7} {'max|du|':>9} {'s':>6}")
t0 = time.time()
for step in range(1, STEPS + 1):
    xc = mx.random.uniform(shape=(128,))
    (loss, (data, res)), g = lg(model, xc)
    if step == 1:
        nz = sum(1 for _, v in tree_flatten(g) if mx.abs(v).max().item() > 0)
        print(f"grad check: {len(tree_flatten(g))} leaves, {nz} non-zero")
    opt.update(model, g)
    mx.eval(model.parameters(), opt.state, loss, data, res)
    lr = opt.learning_rate.item()
    if step in (1, 2, 50, 200) or step % 750 == 0:
        report(step, lr, t0, data.item(), res.item())
k = float(mx.exp(model.log_k).item())
print(f"identified k = {k:.4f} (true {K_TRUE}, {100*abs(k-K_TRUE)/K_TRUE:.2f}% off; baseline {k_fd:.4f})")
print("done")
