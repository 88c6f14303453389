# Learned vector field for a two-species autocatalytic reaction (Brusselator),
# integrated with RK4 and trained on multi-step rollouts with a growing horizon.
import math, os, tempfile, time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(7)
A, B, DT = 1.0, 2.6, 0.1

def true_field(u):
    x, y = u[..., 0], u[..., 1]
    return np.stack([A - (B + 1) * x + x * x * y, B * x - x * x * y], -1)

def simulate(u0, n):
    out = [u0]
    u = u0
    for _ in range(n):
        for _ in range(4):
            h = DT / 4
            k1 = true_field(u); k2 = true_field(u + h / 2 * k1)
            k3 = true_field(u + h / 2 * k2); k4 = true_field(u + h * k3)
            u = u + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
        out.append(u)
    return np.stack(out, 1)

def make(n_traj, n_steps):
    u0 = np.stack([rng.uniform(0.4, 2.2, n_traj), rng.uniform(1.0, 4.0, n_traj)], -1)
    tr = simulate(u0, n_steps)
    return (tr + rng.normal(0, 0.01, tr.shape)).astype(np.float32)

train = make(240, 60)
val = make(48, 60)
MU = train.reshape(-1, 2).mean(0); SD = train.reshape(-1, 2).std(0)

class Field(nn.Module):
    def __init__(self, h=64):
        super().__init__()
        self.l1 = nn.Linear(2, h); self.l2 = nn.Linear(h, h); self.l3 = nn.Linear(h, 2)
    def __call__(self, u):
        z = (u - mx.array(MU)) / mx.array(SD)
        return self.l3(nn.silu(self.l2(nn.silu(self.l1(z)))))

def rk4(f, u, h=DT):
    k1 = f(u); k2 = f(u + h / 2 * k1); k3 = f(u + h / 2 * k2); k4 = f(u + h * k3)
    return u + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)

def rollout(model, u0, n):
    states = []
    u = u0
    for _ in range(n):
        u = rk4(model, u)
        states.append(u)
    return mx.stack(states, 1)

def loss_fn(model, windows, n):
    pred = rollout(model, windows[:, 0], n)
    return mx.mean((pred - windows[:, 1:n + 1]) ** 2)

def windows_from(data, n, count):
    i = rng.integers(0, data.shape[0], count)
    s = rng.integers(0, data.shape[1] - n, count)
    return mx.array(np.stack([data[a, b:b + n + 1] for a, b in zip(i, s)]))

def val_metrics(model, n):
    w = mx.array(val[:, : n + 1])
    pred = rollout(model, w[:, 0], n)
    mse = mx.mean((pred - w[:, 1:]) ** 2).item()
    hold = mx.mean((w[:, :1] - w[:, 1:]) ** 2).item()
    return mse, hold

model = Field()
mx.eval(model.parameters())
stages = [(4, 300), (8, 250), (16, 200)]
total = sum(s for _, s in stages)
warm = 60
sched = optim.join_schedules([optim.linear_schedule(0.0, 3e-3, warm),
                              optim.cosine_decay(3e-3, total - warm, 1e-4)], [warm])
opt = optim.Adam(learning_rate=sched)
step_fn = nn.value_and_grad(model, loss_fn)
ckpt = os.path.join(tempfile.mkdtemp(), "field.safetensors")

t0 = time.time()
gstep = 0
for si, (horizon, iters) in enumerate(stages):
    print(f"-- stage {si + 1}: rollout horizon {horizon} steps ({horizon * DT:.1f} time units)")
    run = 0.0
    for it in range(iters):
        w = windows_from(train, horizon, 32)
        loss, g = step_fn(model, w, horizon)
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state, loss)
        run += loss.item(); gstep += 1
        if (it + 1) % 50 == 0:
            lr = opt.learning_rate.item()
            print(f"step {gstep:4d}  horizon {horizon:2d}  lr {lr:.2e}  train mse {run / 50:.5f}")
            run = 0.0
    mse, hold = val_metrics(model, horizon)
    print(f"stage {si + 1} done: val rollout mse {mse:.5f} vs hold-last-state baseline {hold:.5f}")
    if si == 1:
        model.save_weights(ckpt)
        fresh = Field(); fresh.load_weights(ckpt); mx.eval(fresh.parameters())
        before = val_metrics(model, horizon)[0]; after = val_metrics(fresh, horizon)[0]
        print(f"checkpoint reloaded: val mse {before:.5f} -> {after:.5f}")
        model = fresh
        step_fn = nn.value_and_grad(model, loss_fn)

for n in (16, 40, 60):
    mse, hold = val_metrics(model, n)
    print(f"final {n:2d}-step rollout: val mse {mse:.5f}  hold baseline {hold:.5f}  ratio {mse / hold:.3f}")
print(f"elapsed {time.time() - t0:.1f}s")
