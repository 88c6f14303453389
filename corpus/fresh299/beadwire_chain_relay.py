# Message-passing learned simulator for a chain of beads joined by stiffening springs.
# One-step acceleration targets, random-walk noise injected into input states,
# cosine schedule with warm restarts, long free-running rollouts at the end.
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(11)
N, DT, K, K3, DAMP = 12, 0.02, 40.0, 400.0, 0.3

def accel(x, v):
    xp = np.concatenate([np.zeros_like(x[..., :1]), x, np.zeros_like(x[..., :1])], -1)
    ext = np.diff(xp, axis=-1)  # spring extensions, N+1 springs (ends pinned at 0 offset)
    f = K * ext + K3 * ext ** 3
    return f[..., 1:] - f[..., :-1] - DAMP * v

def simulate(x, v, n):
    xs, vs = [x], [v]
    for _ in range(n):
        for _ in range(5):
            v = v + DT / 5 * accel(x, v)
            x = x + DT / 5 * v
        xs.append(x); vs.append(v)
    return np.stack(xs, 1), np.stack(vs, 1)

def episodes(m, n):
    x0 = 0.15 * np.sin(np.outer(rng.uniform(0.5, 3.0, m), np.arange(1, N + 1)) * np.pi / (N + 1))
    x0 += rng.normal(0, 0.03, (m, N))
    v0 = rng.normal(0, 0.2, (m, N))
    return simulate(x0, v0, n)

trX, trV = episodes(160, 80)
vaX, vaV = episodes(32, 80)
acc_tr = (trV[:, 1:] - trV[:, :-1]) / DT
A_SD = float(acc_tr.std())

def edge_feats(x, v):
    z = mx.zeros(x.shape[:-1] + (1,))
    xp = mx.concatenate([z, x, z], -1); vp = mx.concatenate([z, v, z], -1)
    return mx.stack([xp[..., 1:] - xp[..., :-1], vp[..., 1:] - vp[..., :-1]], -1)

class ChainNet(nn.Module):
    def __init__(self, h=48):
        super().__init__()
        self.edge = nn.Sequential(nn.Linear(2, h), nn.SiLU(), nn.Linear(h, h), nn.SiLU(), nn.Linear(h, h))
        self.node = nn.Sequential(nn.Linear(2 * h + 1, h), nn.SiLU(), nn.Linear(h, 1))
    def __call__(self, x, v):
        e = self.edge(edge_feats(x, v) * mx.array([10.0, 2.0]))
        msg = mx.concatenate([e[..., :-1, :], e[..., 1:, :], v[..., None]], -1)
        return self.node(msg)[..., 0] * A_SD

def step(model, x, v):
    v = v + DT * model(x, v)
    return x + DT * v, v

NOISE = 3e-3
def batch(bs=64):
    i = rng.integers(0, trX.shape[0], bs); t = rng.integers(0, trX.shape[1] - 1, bs)
    x, v = trX[i, t], trV[i, t]
    nx = rng.normal(0, NOISE, x.shape); nv = rng.normal(0, NOISE / DT * 0.1, v.shape)
    xn, vn = x + nx, v + nv
    target = (trV[i, t + 1] - vn) / DT   # target velocity at the clean next state
    return mx.array(xn, dtype=mx.float32), mx.array(vn, dtype=mx.float32), mx.array(target / A_SD, dtype=mx.float32)

def loss_fn(model, x, v, a):
    return mx.mean((model(x, v) / A_SD - a) ** 2)

def rollout_err(model, n):
    x = mx.array(vaX[:, 0], dtype=mx.float32); v = mx.array(vaV[:, 0], dtype=mx.float32)
    errs = []
    for t in range(1, n + 1):
        x, v = step(model, x, v)
        errs.append(mx.mean((x - mx.array(vaX[:, t], dtype=mx.float32)) ** 2))
    mx.eval(errs)
    cv = np.mean((vaX[:, :1] + vaV[:, :1] * DT * np.arange(1, n + 1)[None, :, None] - vaX[:, 1:n + 1]) ** 2)
    still = np.mean((vaX[:, :1] - vaX[:, 1:n + 1]) ** 2)
    return float(np.mean([e.item() for e in errs])), float(cv), float(still)

model = ChainNet()
mx.eval(model.parameters())
cycle, cycles = 400, 3
sched = optim.join_schedules([optim.cosine_decay(2e-3, cycle, 2e-5) for _ in range(cycles)],
                             [cycle * (c + 1) for c in range(cycles - 1)])
opt = optim.AdamW(learning_rate=sched, weight_decay=1e-4)
vg = nn.value_and_grad(model, loss_fn)

t0 = time.time()
run = 0.0
for it in range(1, cycle * cycles + 1):
    x, v, a = batch()
    loss, g = vg(model, x, v, a)
    opt.update(model, g)
    mx.eval(model.parameters(), opt.state)
    run += loss.item()
    if it % 100 == 0:
        print(f"iter {it:5d}  lr {opt.learning_rate.item():.2e}  accel loss {run / 100:.4f}")
        run = 0.0
    if it % cycle == 0:
        r, cv, still = rollout_err(model, 40)
        print(f"cycle {it // cycle}: 40-step val position mse {r:.2e} | const-velocity {cv:.2e} | at-rest {still:.2e}")

for n in (20, 80):
    r, cv, still = rollout_err(model, n)
    print(f"final {n}-step rollout mse {r:.2e}  const-velocity {cv:.2e}  at-rest {still:.2e}")
print(f"elapsed {time.time() - t0:.1f}s")
