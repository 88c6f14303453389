# Stained-glass conservation: predict colour shift (Delta-E) of painted glass after UV ageing.
# Heteroscedastic Gaussian NLL, AdamW, warm-up from lr 0 then cosine cycles with warm restarts.
import math
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(7)

def make_panels(n):
    # pigment iron share, firing temp (C, scaled), paint thickness (um), south facing, years, lead came age
    iron = rng.uniform(0, 1, n)
    temp = rng.uniform(560, 680, n)
    thick = rng.uniform(10, 80, n)
    south = rng.integers(0, 2, n).astype(np.float64)
    years = rng.uniform(1, 150, n)
    came = rng.uniform(0, 1, n)
    under = np.clip((640 - temp) / 80.0, 0, None)          # underfired paint fades more
    mean = (1.5 + 4.0 * under * np.log1p(years) * (0.6 + 0.8 * south)
            + 1.2 * iron * np.sqrt(years / 50.0) - 0.02 * thick + 0.8 * came)
    sd = 0.25 + 0.6 * under + 0.3 * south
    y = mean + sd * rng.standard_normal(n)
    X = np.stack([iron, (temp - 620) / 35.0, (thick - 45) / 20.0, south,
                  np.log1p(years) - 3.5, came], 1)
    return X.astype(np.float32), y.astype(np.float32)

Xtr, ytr = make_panels(6000)
Xva, yva = make_panels(1500)
Xtr, ytr, Xva, yva = map(mx.array, (Xtr, ytr, Xva, yva))

class FadeNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(6, 64), nn.SiLU(), nn.Linear(64, 64), nn.SiLU())
        self.mu = nn.Linear(64, 1)
        self.logsd = nn.Linear(64, 1)

    def __call__(self, x):
        h = self.body(x)
        return self.mu(h).squeeze(-1), mx.clip(self.logsd(h).squeeze(-1), -4.0, 3.0)

def nll(model, x, y):
    mu, ls = model(x)
    return mx.mean(ls + 0.5 * ((y - mu) / mx.exp(ls)) ** 2) + 0.5 * math.log(2 * math.pi)

model = FadeNet()
mx.eval(model.parameters())

steps_per_cycle = 300
warm = optim.linear_schedule(0.0, 3e-3, 60)
cycle = optim.cosine_decay(3e-3, steps_per_cycle, 1e-5)
cycles = 3
sched = optim.join_schedules([warm] + [cycle] * cycles,
                             [60 + i * steps_per_cycle for i in range(cycles)])
opt = optim.AdamW(learning_rate=sched, weight_decay=1e-4)
loss_and_grad = nn.value_and_grad(model, nll)

# naive reference: constant mean and constant sd fitted on train
m0 = float(ytr.mean()); s0 = float(mx.sqrt(mx.mean((ytr - m0) ** 2)))
ref_nll = float(mx.mean(mx.log(s0) + 0.5 * ((yva - m0) / s0) ** 2)) + 0.5 * math.log(2 * math.pi)
ref_rmse = float(mx.sqrt(mx.mean((yva - m0) ** 2)))

# one-off gradient audit
_, g0 = loss_and_grad(model, Xtr[:256], ytr[:256])
from mlx.utils import tree_flatten
zero = [k for k, v in tree_flatten(g0) if float(mx.abs(v).sum()) == 0.0]
print(f"grad audit: {len(tree_flatten(g0))} tensors, zero-grad tensors: {zero if zero else 'none'}")

print(f"{'step':>5} | {'lr':>8} | {'train nll':>9} | {'valid nll':>9} | {'ref nll':>7} | {'rmse dE':>7} | {'ref rmse':>8}")
print("-" * 72)
total = 60 + cycles * steps_per_cycle
bs = 128
perm = np.arange(6000)
step = 0
run = []
while step < total:
    rng.shuffle(perm)
    for i in range(0, 6000 - bs + 1, bs):
        idx = mx.array(perm[i:i + bs])
        lr_now = float(sched(opt.step)) if isinstance(opt.step, mx.array) else 0.0
        loss, grads = loss_and_grad(model, Xtr[idx], ytr[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        run.append(loss.item())
        step += 1
        if step % 60 == 0 or step == 1:
            mu, ls = model(Xva)
            vn = nll(model, Xva, yva).item()
            rmse = mx.sqrt(mx.mean((mu - yva) ** 2)).item()
            print(f"{step:5d} | {lr_now:8.2e} | {np.mean(run[-60:]):9.4f} | {vn:9.4f} | {ref_nll:7.4f} | {rmse:7.3f} | {ref_rmse:8.3f}")
        if step >= total:
            break

mu, ls = model(Xva)
cover = mx.mean((mx.abs(yva - mu) < 1.96 * mx.exp(ls)).astype(mx.float32)).item()
print(f"done: valid nll {nll(model, Xva, yva).item():.4f} (ref {ref_nll:.4f}), "
      f"rmse {mx.sqrt(mx.mean((mu - yva) ** 2)).item():.3f} dE, 95% band coverage {100*cover:.1f}%")
