# Peat bog monitoring: water-table depth (cm) with a predicted spread per dipwell.
# Each step splits its batch into 4 worker shards, averages shard gradients, then
# all_sums over the process group (one process here, so the all_sum is a no-op).
import math
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_map

group = mx.distributed.init()
mx.random.seed(3)
SHARDS = 4

def make_wells(n, stage, key):
    k1, k2 = mx.random.split(key)
    x = mx.random.uniform(shape=(n, 6), key=k1)  # rainfall, evap, moss cover, drain dist, slope, month phase
    mu = 12.0 + 18.0 * x[:, 1] - 14.0 * x[:, 0] + 9.0 * x[:, 3] * x[:, 4] + 3.0 * mx.sin(6.28 * x[:, 5])
    spread = 0.6 + (2.5 if stage == 2 else 0.8) * x[:, 2]   # stage 2: patchy moss, noisier wells
    y = mu + spread * mx.random.normal((n,), key=k2)
    return x, y / 10.0  # decimetres

class Dipwell(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(6, 64), nn.SiLU(), nn.Linear(64, 64), nn.SiLU())
        self.mean = nn.Linear(64, 1)
        self.logvar = nn.Linear(64, 1)
    def __call__(self, x):
        h = self.body(x)
        return self.mean(h).squeeze(-1), self.logvar(h).squeeze(-1)

def nll(model, x, y):
    m, lv = model(x)
    return mx.mean(0.5 * (lv + (y - m) ** 2 * mx.exp(-lv) + math.log(2 * math.pi)))

model = Dipwell()
opt = optim.Adam(learning_rate=2e-3)
vg = nn.value_and_grad(model, nll)

def step(x, y):
    xs, ys = mx.split(x, SHARDS), mx.split(y, SHARDS)
    acc, tot = None, 0.0
    for xi, yi in zip(xs, ys):
        l, g = vg(model, xi, yi)
        acc = g if acc is None else tree_map(mx.add, acc, g)
        tot = tot + l
    acc = tree_map(lambda a: mx.distributed.all_sum(a / SHARDS) / group.size(), acc)
    opt.update(model, acc)
    return tot / SHARDS

for stage, iters in ((1, 500), (2, 500)):
    xtr, ytr = make_wells(4096, stage, mx.random.key(stage))
    xva, yva = make_wells(1024, stage, mx.random.key(10 + stage))
    print(f"stage {stage}: {xtr.shape[0]} wells, batch 128 split over {SHARDS} shards")
    for it in range(iters):
        idx = mx.random.randint(0, xtr.shape[0], (128,), key=mx.random.key(stage * 10000 + it))
        loss = step(xtr[idx], ytr[idx])
        mx.eval(model.parameters(), opt.state, loss)
        if it % 100 == 0 or it == iters - 1:
            m, lv = model(xva)
            v = nll(model, xva, yva).item()
            mae = mx.mean(mx.abs(m - yva)).item() * 10
            cover = mx.mean((mx.abs(m - yva) < 1.96 * mx.exp(0.5 * lv)).astype(mx.float32)).item()
            print(f"  stage {stage} it {it:3d} train_nll {loss.item():+.4f} val_nll {v:+.4f} mae_cm {mae:.3f} cover95 {cover:.3f}")
    base = mx.mean(mx.abs(yva - mx.mean(ytr))).item() * 10
    print(f"stage {stage} done: val mae {mae:.3f} cm vs constant-depth baseline {base:.3f} cm")
