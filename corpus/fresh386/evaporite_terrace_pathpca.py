"""Sea-salt terrace harvest model, with the weight path kept for a PCA landscape plot."""
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

rng = np.random.default_rng(7)
mx.random.seed(7)


def make_pans(n):
    evap = rng.uniform(2.0, 9.0, n)          # mm/day
    baume = rng.uniform(18.0, 29.0, n)       # brine density
    days = rng.uniform(3.0, 40.0, n)         # days since flooding
    wind = rng.uniform(0.0, 12.0, n)         # m/s
    rain = rng.exponential(4.0, n)           # mm over the period
    depth = rng.uniform(2.0, 12.0, n)        # cm of brine
    crystal = 1.0 / (1.0 + np.exp(-(baume - 25.5) * 0.9))
    tonnes = (0.35 * evap * np.log1p(days) * crystal + 0.08 * wind * crystal
              - 0.06 * rain + 0.12 * depth * crystal - 0.004 * depth ** 2 + 1.0)
    tonnes = np.maximum(tonnes, 0.0) + rng.normal(0.0, 0.45, n)
    X = np.stack([evap, baume, days, wind, rain, depth], 1).astype(np.float32)
    return X, tonnes.astype(np.float32)


Xtr, ytr = make_pans(3000)
Xva, yva = make_pans(800)
mu, sd = Xtr.mean(0), Xtr.std(0)
ym, ys = ytr.mean(), ytr.std()
Xtr_m, Xva_m = mx.array((Xtr - mu) / sd), mx.array((Xva - mu) / sd)
ytr_m, yva_m = mx.array((ytr - ym) / ys), mx.array((yva - ym) / ys)


class TerraceNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(6, 64)
        self.l2 = nn.Linear(64, 64)
        self.out = nn.Linear(64, 1)

    def __call__(self, x):
        h = nn.tanh(self.l1(x))
        h = nn.tanh(self.l2(h))
        return self.out(h).squeeze(-1)


def loss_fn(m, x, y):
    return nn.losses.mse_loss(m(x), y)


model = TerraceNet()
mx.eval(model.parameters())
steps = 2400
sched = optim.join_schedules(
    [optim.linear_schedule(0.0, 0.05, 120), optim.cosine_decay(0.05, steps - 120, 0.002)], [120])
opt = optim.SGD(learning_rate=sched, momentum=0.9)
value_and_grad = nn.value_and_grad(model, loss_fn)

names = [k for k, _ in tree_flatten(model.trainable_parameters())]
shapes = [v.shape for _, v in tree_flatten(model.trainable_parameters())]


def flat_params():
    return mx.concatenate([v.reshape(-1) for _, v in tree_flatten(model.trainable_parameters())])


def set_flat(vec):
    out, i = [], 0
    for k, s in zip(names, shapes):
        n = int(np.prod(s))
        out.append((k, vec[i:i + n].reshape(s)))
        i += n
    model.update(tree_unflatten(out))


trail = [flat_params()]          # every iterate is kept for the landscape figure
trail_loss = []
n_params = trail[0].size
print(f"terrace net: {n_params} weights, {len(Xtr)} train pans, {len(Xva)} check pans")
print(f"mean-yield guess rmse {float(np.sqrt(np.mean((yva - ym) ** 2))):.3f} t, noise sd 0.450 t")
print(f"{'step':>5} {'lr':>8} {'batch mse':>10} {'check rmse t':>13} {'path pts':>9} {'path MB':>8} {'sec':>6}")

t0 = time.time()
batch = 96
for step in range(1, steps + 1):
    idx = mx.array(rng.integers(0, len(Xtr), batch))
    lr_now = float(sched(opt.step))
    loss, grads = value_and_grad(model, Xtr_m[idx], ytr_m[idx])
    opt.update(model, grads)
    p = flat_params()
    mx.eval(model.parameters(), opt.state, loss, p)
    trail.append(p)
    trail_loss.append(loss.item())
    if step == 1 or step % 200 == 0:
        pred = model(Xva_m) * ys + ym
        rmse = float(mx.sqrt(mx.mean((pred - mx.array(yva)) ** 2)))
        mb = len(trail) * n_params * 4 / 2 ** 20
        print(f"{step:>5} {lr_now:>8.4f} {np.mean(trail_loss[-200:]):>10.4f} {rmse:>13.3f} "
              f"{len(trail):>9} {mb:>8.1f} {time.time() - t0:>6.1f}")

# principal directions of the path, then the loss surface on that plane
W = np.stack([np.array(v) for v in trail])
final = W[-1]
centred = (W - W.mean(0))[::4].astype(np.float64)
G = centred @ centred.T
evals, evecs = np.linalg.eigh(G)
order = np.argsort(evals)[::-1]
var = evals[order] / np.trace(G)
d1 = centred.T @ evecs[:, order[0]]
d2 = centred.T @ evecs[:, order[1]]
d1, d2 = d1 / np.linalg.norm(d1), d2 / np.linalg.norm(d2)
coords = (W - final) @ np.stack([d1, d2], 1)
print(f"path PCA: pc1 {100 * var[0]:.1f}% pc2 {100 * var[1]:.1f}% of the movement")

a_lo, a_hi = coords[:, 0].min() - 0.5, coords[:, 0].max() + 0.5
b_lo, b_hi = coords[:, 1].min() - 0.5, coords[:, 1].max() + 0.5
A = np.linspace(a_lo, a_hi, 15)
B = np.linspace(b_lo, b_hi, 9)
grid = np.zeros((len(B), len(A)))
for i, b in enumerate(B):
    for j, a in enumerate(A):
        set_flat(mx.array((final + a * d1 + b * d2).astype(np.float32)))
        grid[i, j] = loss_fn(model, Xva_m, yva_m).item()
set_flat(mx.array(final))
shade = " .:-=+*#%@"
lg = np.log(grid)
levels = np.clip(((lg - lg.min()) / (lg.max() - lg.min() + 1e-9) * 9).astype(int), 0, 9)
path_cells = set()
for a, b in coords[:: max(1, len(coords) // 60)]:
    path_cells.add((int(np.argmin(abs(B - b))), int(np.argmin(abs(A - a)))))
print("check-set loss on the pc1/pc2 plane (o = path, X = final):")
fi, fj = int(np.argmin(abs(B))), int(np.argmin(abs(A)))
for i in range(len(B) - 1, -1, -1):
    row = "".join("X" if (i, j) == (fi, fj) else "o" if (i, j) in path_cells else shade[levels[i, j]]
                  for j in range(len(A)))
    print("   |" + row + "|")
pred = model(Xva_m) * ys + ym
rmse = float(mx.sqrt(mx.mean((pred - mx.array(yva)) ** 2)))
print(f"final check rmse {rmse:.3f} t over {len(trail)} stored iterates ({W.nbytes / 2 ** 20:.1f} MB), "
      f"{time.time() - t0:.1f}s")
