"""Learn a heater controller by backpropagating through a simulated day.

Room model (15-minute steps, 96 per day):  T[t+1] = T[t] + dt*((T_out - T)/tau + gain*u)
Policy: small MLP on (T - setpoint, T_out, sin/cos hour) -> u in [0, 1] (sigmoid).
Loss: comfort error (degC^2, against a day/night setpoint) + energy price * u.
Every iteration draws 16 fresh random outdoor-temperature days, so the loss is noisy.
"""
import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

STEPS_PER_DAY = 96
DT = 0.25          # hours
TAU = 6.0          # room time constant, hours
GAIN = 9.0         # degC per hour at full power
ENERGY_W = 0.5     # price of one hour at full power, in comfort units
BATCH = 16
ITERS = 400
REPORT = 40

hours = mx.arange(STEPS_PER_DAY) * DT
setpoint = mx.where((hours >= 7) & (hours < 22), 21.0, 17.0)   # day / night


def outdoor_days(key, n):
    k1, k2, k3 = mx.random.split(key, 3)
    mean = mx.random.uniform(-6.0, 10.0, (n, 1), key=k1)
    amp = mx.random.uniform(2.0, 6.0, (n, 1), key=k2)
    noise = 0.6 * mx.random.normal((n, STEPS_PER_DAY), key=k3)
    return mean + amp * mx.sin(2 * math.pi * (hours[None, :] - 9.0) / 24.0) + noise


class Controller(nn.Module):
    def __init__(self, width=32):
        super().__init__()
        self.l1 = nn.Linear(4, width)
        self.l2 = nn.Linear(width, width)
        self.head = nn.Linear(width, 1)

    def __call__(self, feats):
        h = mx.tanh(self.l1(feats))
        h = mx.tanh(self.l2(h))
        return mx.sigmoid(self.head(h)).squeeze(-1)


def simulate(policy, t_out, controlled=True):
    n = t_out.shape[0]
    temp = mx.full((n,), 18.0)
    comfort, energy = 0.0, 0.0
    for t in range(STEPS_PER_DAY):
        sp = setpoint[t]
        ang = 2 * math.pi * hours[t] / 24.0
        if controlled:
            feats = mx.stack([(temp - sp) / 5.0, t_out[:, t] / 10.0,
                              mx.broadcast_to(mx.sin(ang), (n,)),
                              mx.broadcast_to(mx.cos(ang), (n,))], axis=1)
            u = policy(feats)
        else:  # bang-bang baseline with a 0.5 degC band
            u = (temp < sp - 0.5).astype(mx.float32)
        temp = temp + DT * ((t_out[:, t] - temp) / TAU + GAIN * u)
        comfort = comfort + (temp - sp) ** 2
        energy = energy + u * DT
    return comfort / STEPS_PER_DAY, energy


def loss_fn(policy, t_out):
    comfort, energy = simulate(policy, t_out)
    return mx.mean(comfort + ENERGY_W * energy / STEPS_PER_DAY * 4), (comfort, energy)


mx.random.seed(3)
policy = Controller()
opt = optim.Adam(learning_rate=3e-3)
vg = nn.value_and_grad(policy, loss_fn)

key = mx.random.key(42)
val_days = outdoor_days(mx.random.key(999), 64)

(_, _), g0 = vg(policy, outdoor_days(mx.random.key(1), BATCH))
flat = tree_flatten(g0)
zero = [n for n, g in flat if float(mx.abs(g).max()) == 0.0]
print(f"grad check: {len(flat)} leaves, {len(zero)} all-zero {zero if zero else ''}")

bb_comfort, bb_energy = simulate(None, val_days, controlled=False)
print(f"bang-bang baseline on 64 validation days: comfort rmse {math.sqrt(float(bb_comfort.mean())):.2f} degC, "
      f"energy {float(bb_energy.mean()):.1f} full-power-hours/day")

t0 = time.time()
for it in range(1, ITERS + 1):
    key, sub = mx.random.split(key)
    (loss, (c, e)), grads = vg(policy, outdoor_days(sub, BATCH))
    grads, gnorm = optim.clip_grad_norm(grads, 5.0)
    opt.update(policy, grads)
    mx.eval(policy.parameters(), opt.state, loss)
    if it % REPORT == 0 or it == 1:
        vc, ve = simulate(policy, val_days)
        print(f"it {it:3d} | batch loss {loss.item():7.3f} | val comfort rmse {math.sqrt(float(vc.mean())):5.2f} degC"
              f" | val energy {float(ve.mean()):5.1f} h/day | grad norm {gnorm.item():6.2f} | {time.time() - t0:5.1f}s")

vc, ve = simulate(policy, val_days)
print(f"final: learned controller {math.sqrt(float(vc.mean())):.2f} degC rmse at {float(ve.mean()):.1f} h/day "
      f"vs bang-bang {math.sqrt(float(bb_comfort.mean())):.2f} degC at {float(bb_energy.mean()):.1f} h/day")
