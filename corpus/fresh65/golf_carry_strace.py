# Golf-ball carry regression: a small MLP learns carry distance (m) from launch
# conditions; the "ground truth" comes from a numpy flight simulator with drag
# and Magnus lift. The log mimics strace output, one syscall-ish line per event.
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(7)
T0 = time.time()
PID = 40417


def trace(call, args, ret):
    print(f"[pid {PID}] {time.time() - T0:9.4f} {call}({args}) = {ret}")


def simulate(speed, angle_deg, spin_rpm, dt=0.01):
    # point-mass ball, quadratic drag, lift ~ spin; returns carry (m)
    m, r, rho = 0.0459, 0.02135, 1.2
    area = np.pi * r * r
    th = np.radians(angle_deg)
    vx, vy = speed * np.cos(th), speed * np.sin(th)
    x = np.zeros_like(speed)
    y = np.zeros_like(speed)
    done = np.zeros(speed.shape, bool)
    carry = np.zeros_like(speed)
    omega = spin_rpm * 2 * np.pi / 60.0
    for _ in range(1500):
        v = np.sqrt(vx * vx + vy * vy) + 1e-9
        spin_ratio = omega * r / v
        cd = 0.24 + 0.18 * spin_ratio
        cl = np.clip(0.54 * spin_ratio ** 0.4, 0, 0.35)
        k = 0.5 * rho * area / m
        ax = -k * v * (cd * vx + cl * vy)
        ay = -9.81 + k * v * (cl * vx - cd * vy)
        vx = vx + ax * dt
        vy = vy + ay * dt
        x = x + vx * dt
        y = y + vy * dt
        landed = (~done) & (y < 0)
        carry[landed] = x[landed]
        done |= landed
        omega = omega * (1 - 0.0005)
        if done.all():
            break
    carry[~done] = x[~done]
    return carry


def make(n):
    speed = rng.uniform(45, 80, n)          # m/s ball speed
    angle = rng.uniform(6, 26, n)           # launch angle
    spin = rng.uniform(1500, 7500, n)       # rpm back spin
    carry = simulate(speed, angle, spin)
    carry = carry * (1 + 0.01 * rng.standard_normal(n))  # launch-monitor noise
    X = np.stack([speed, angle, spin], 1).astype(np.float32)
    return X, carry.astype(np.float32)


trace("openat", 'AT_FDCWD, "launch_monitor.csv", O_RDONLY', 3)
Xtr, ytr = make(6000)
Xte, yte = make(1000)
mu, sd = Xtr.mean(0), Xtr.std(0)
ymu, ysd = float(ytr.mean()), float(ytr.std())
norm = lambda a: (a - mu) / sd
trace("read", f"3, shots={len(Xtr)}+{len(Xte)}, carry_mean={ymu:.1f}m sd={ysd:.1f}m", len(Xtr) + len(Xte))
trace("close", "3", 0)

Xtr_m, Xte_m = mx.array(norm(Xtr)), mx.array(norm(Xte))
ytr_m, yte_m = mx.array((ytr - ymu) / ysd), mx.array((yte - ymu) / ysd)


class CarryNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.inp = nn.Linear(3, 64)
        self.hid = nn.Linear(64, 64)
        self.out = nn.Linear(64, 1)

    def __call__(self, x):
        h = nn.silu(self.inp(x))
        h = nn.silu(self.hid(h)) + h
        return self.out(h).squeeze(-1)


model = CarryNet()
mx.eval(model.parameters())


def loss_fn(model, x, y):
    return nn.losses.mse_loss(model(x), y)


loss_and_grad = nn.value_and_grad(model, loss_fn)
EPOCHS, BS = 12, 64
steps_per_epoch = len(Xtr) // BS
sched = optim.exponential_decay(3e-3, 0.9995)
opt = optim.AdamW(learning_rate=sched, weight_decay=1e-4)

# gradient audit at the first batch
_, g0 = loss_and_grad(model, Xtr_m[:BS], ytr_m[:BS])
leaves = tree_flatten(g0)
zero = [k for k, v in leaves if float(mx.abs(v).max()) == 0.0]
trace("ioctl", f"GRADCHECK, leaves={len(leaves)}, zero={zero}", 0 if not zero else -1)

base = float(np.sqrt(np.mean((yte - ytr.mean()) ** 2)))
trace("stat", f'"baseline", {{mean_predictor_rmse={base:.2f}m}}', 0)


def test_metrics():
    p = np.array(model(Xte_m)) * ysd + ymu
    err = p - yte
    return float(np.sqrt(np.mean(err ** 2))), float(np.percentile(np.abs(err), 95))


step = 0
for epoch in range(1, EPOCHS + 1):
    perm = mx.array(rng.permutation(len(Xtr)))
    tot = 0.0
    for i in range(steps_per_epoch):
        idx = perm[i * BS:(i + 1) * BS]
        loss, grads = loss_and_grad(model, Xtr_m[idx], ytr_m[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        tot += loss.item()
        step += 1
    rmse, p95 = test_metrics()
    lr = opt.learning_rate.item()
    trace("write", f'1, "epoch={epoch:02d} step={step} train_mse={tot / steps_per_epoch:.5f} '
          f'test_rmse={rmse:.2f}m p95={p95:.2f}m lr={lr:.2e}"', step)

rmse, p95 = test_metrics()
for s, a, sp in [(70.0, 11.0, 2600.0), (55.0, 18.0, 5500.0), (48.0, 24.0, 7000.0)]:
    true = float(simulate(np.array([s]), np.array([a]), np.array([sp]))[0])
    pred = float(np.array(model(mx.array(norm(np.array([[s, a, sp]], np.float32)))))[0] * ysd + ymu)
    trace("getxattr", f'"shot", speed={s} angle={a} spin={sp:.0f}, pred={pred:.1f}m sim={true:.1f}m', 0)
trace("exit_group", f"test_rmse={rmse:.2f}m", 0)
print(f"+++ exited with 0 +++")
