"""Glass studio: predict annealing hold time (minutes) of a blown piece.

Small MLP, SGD with momentum, SGDR (cosine with warm restarts, cycle doubles).
Reports go to stdout as tab-separated rows via csv.writer.
"""
import csv, sys, time, math
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(7)

def make(n):
    thick = rng.uniform(2, 25, n)          # wall thickness mm
    coe = rng.uniform(80, 100, n)          # expansion coefficient
    lead = rng.integers(0, 2, n)           # lead crystal flag
    mass = rng.lognormal(6, 0.6, n)        # grams
    color = rng.uniform(0, 1, n)           # colourant share
    hold = 12 + 0.09 * thick ** 2 * (1 + 0.4 * lead) + 0.02 * (coe - 90) ** 2 \
        + 6 * np.log(mass / 400 + 1) + 8 * color * thick / 25
    hold = hold + rng.normal(0, 2.0, n)
    X = np.stack([thick, coe, lead, np.log(mass), color], 1).astype(np.float32)
    return X, hold.astype(np.float32)

Xtr, ytr = make(12000)
Xva, yva = make(2000)
mu, sd = Xtr.mean(0), Xtr.std(0)
ym, ys = ytr.mean(), ytr.std()
Xtr = (Xtr - mu) / sd; Xva = (Xva - mu) / sd
ttr = (ytr - ym) / ys

class HoldNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(5, 128)
        self.l2 = nn.Linear(128, 128)
        self.out = nn.Linear(128, 1)
    def __call__(self, x):
        h = nn.silu(self.l1(x))
        h = h + nn.silu(self.l2(h))
        return self.out(h).squeeze(-1)

mx.random.seed(7)
model = HoldNet()
opt = optim.SGD(learning_rate=0.05, momentum=0.9)

def loss_fn(m, x, y):
    return nn.losses.mse_loss(m(x), y)

vg = nn.value_and_grad(model, loss_fn)

def sgdr_lr(step, base=0.05, floor=5e-4, first=300):
    # cycle lengths 300, 600, 1200 ... ; returns lr and whether step starts a cycle
    start, length = 0, first
    while step >= start + length:
        start += length
        length *= 2
    t = (step - start) / length
    return floor + 0.5 * (base - floor) * (1 + math.cos(math.pi * t)), step == start

Xv, yv = mx.array(Xva), yva
out = csv.writer(sys.stdout, delimiter="\t", lineterminator="\n")
sys.stdout.flush()
out.writerow(["step", "lr", "restart", "train_mse_std", "val_rmse_min", "val_mae_min", "secs"])

# first-step gradient check
xb, yb = mx.array(Xtr[:64]), mx.array(ttr[:64])
_, g = vg(model, xb, yb)
leaves = tree_flatten(g)
zero = [k for k, v in leaves if float(mx.abs(v).max()) == 0.0]
print(f"# grad leaves={len(leaves)} zero={zero}", flush=True)

def val():
    p = np.array(model(Xv)) * ys + ym
    e = p - yv
    return float(np.sqrt((e ** 2).mean())), float(np.abs(e).mean())

r, a = val()
out.writerow([0, "-", "-", "-", f"{r:.2f}", f"{a:.2f}", "0.0"])
total = 4500   # four full cycles: 300 + 600 + 1200 + 2400
t0 = time.time()
perm = rng.permutation(len(Xtr)); cur = 0; win = []
for step in range(total):
    lr, restart = sgdr_lr(step)
    opt.learning_rate = lr
    if cur + 64 > len(perm):
        perm = rng.permutation(len(Xtr)); cur = 0
    idx = perm[cur:cur + 64]; cur += 64
    loss, g = vg(model, mx.array(Xtr[idx]), mx.array(ttr[idx]))
    opt.update(model, g)
    mx.eval(model.parameters(), opt.state, loss)
    win.append(loss.item())
    if (step + 1) % 300 == 0 or (step > 0 and sgdr_lr(step + 1)[1]) or step + 1 == total:
        r, a = val()
        out.writerow([step + 1, f"{lr:.5f}", int(sgdr_lr(step + 1)[1]),
                      f"{np.mean(win):.4f}", f"{r:.2f}", f"{a:.2f}", f"{time.time()-t0:.1f}"])
        sys.stdout.flush()
        win = []
print(f"# done: noise floor rmse 2.00 min, final val rmse {val()[0]:.2f} min")
