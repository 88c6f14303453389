"""Fit first-order decomposition kinetics measured at six temperatures.

C(t) = C0_run * exp(-k(T) t),  k(T) = k_ref * exp(-Ea/R * (1/T - 1/T_ref))

Global parameters (log k_ref, Ea in kJ/mol / 100) are plain mx.array
attributes; the per-run log initial concentrations are one raw (n_runs,)
array initialised from each run's first measurement and gathered by run id.
Noise is multiplicative, so the loss is the MSE of log concentrations.
Optimiser: RMSprop with an exponential-decay lr schedule, the whole update
step wrapped in mx.compile (model and optimizer state as inputs/outputs);
progress is a fixed-width table.
"""
from functools import partial
import mlx.optimizers as optim
import numpy as np
import mlx.core as mx
import mlx.nn as nn
from mlx.utils import tree_flatten, tree_map

R = 8.314e-3          # kJ / (mol K)
T_REF = 330.0
rng = np.random.default_rng(5)

temps = np.array([300.0, 310.0, 320.0, 330.0, 345.0, 360.0])
true_logk_ref, true_ea = np.log(0.05), 72.0
runs, times, temp_of, logc = [], [], [], []
for r_id, T in enumerate(np.repeat(temps, 2)):        # duplicate runs per temperature
    c0 = rng.uniform(0.8, 1.2)
    k = np.exp(true_logk_ref - true_ea / R * (1 / T - 1 / T_REF))
    t = np.linspace(0, 3.0 / k, 15)
    c = c0 * np.exp(-k * t) * np.exp(rng.normal(0, 0.04, t.shape))
    runs += [r_id] * len(t); times += list(t); temp_of += [T] * len(t); logc += list(np.log(c))
run_ids = mx.array(np.array(runs, dtype=np.int32))
t_obs = mx.array(np.array(times, dtype=np.float32))
inv_dT = mx.array((1 / np.array(temp_of) - 1 / T_REF).astype(np.float32))
y = mx.array(np.array(logc, dtype=np.float32))
n_runs = int(run_ids.max().item()) + 1


class Kinetics(nn.Module):
    def __init__(self):
        super().__init__()
        self.logk_ref = mx.array(np.log(0.01), dtype=mx.float32)
        self.ea_h = mx.array(0.5)             # Ea / 100 kJ/mol
        first = np.array([np.array(logc)[np.array(runs) == r][0] for r in range(n_runs)])
        self.log_c0 = mx.array(first.astype(np.float32))

    def __call__(self, rid, t, inv_dt):
        k = mx.exp(self.logk_ref - 100.0 * self.ea_h / R * inv_dt)
        return self.log_c0[rid] - k * t


def loss_fn(m):
    return mx.mean((m(run_ids, t_obs, inv_dT) - y) ** 2)


model = Kinetics()
vg = nn.value_and_grad(model, loss_fn)
opt = optim.RMSprop(learning_rate=optim.exponential_decay(3e-2, 0.9999))
state = [model.state, opt.state]


@partial(mx.compile, inputs=state, outputs=state)
def step():
    loss, grads = vg(model)
    opt.update(model, grads)
    gnorm = mx.sqrt(sum(mx.sum(v * v) for _, v in tree_flatten(grads)))
    return loss, gnorm


loss, g = vg(model)
print("first-step |grad| per leaf:",
      ", ".join(f"{k}={mx.abs(v).max().item():.3g}" for k, v in tree_flatten(g)))

print(f"{'iter':>6} | {'mse(logC)':>10} | {'rmse':>7} | {'k_ref 1/s':>9} | {'Ea kJ/mol':>9} | {'|grad|':>8} | {'lr':>8}")
print("-" * 76)
for it in range(1, 30001):
    loss, gn = step()
    mx.eval(state, loss, gn)
    if it % 2500 == 0:
        print(f"{it:6d} | {loss.item():10.3e} | {loss.item() ** 0.5:7.4f} | "
              f"{np.exp(model.logk_ref.item()):9.4f} | {100 * model.ea_h.item():9.2f} | "
              f"{gn.item():8.2e} | {opt.learning_rate.item():8.2e}")

print(f"truth: k_ref {np.exp(true_logk_ref):.4f} 1/s, Ea {true_ea:.2f} kJ/mol, noise sd 0.040")
