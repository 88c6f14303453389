# Coffee roast level (light / medium / dark / french) from roast-log features.
# Logs like `iostat -x` every 150 steps.
import time, math
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(7)

def make_roasts(n):
    charge = rng.uniform(180, 220, n)           # charge temp C
    ror = rng.uniform(6, 16, n)                 # rate of rise C/min
    fc_time = rng.uniform(7, 11, n)             # first crack minute
    dev = rng.uniform(0.5, 4.5, n)              # development minutes
    drop = 196 + ror * 0.6 * dev + rng.normal(0, 2.5, n)   # drop temperature
    weight_loss = 11 + 0.9 * dev + 0.02 * (drop - 200) * 10 + rng.normal(0, 0.6, n)
    agtron = 95 - 1.6 * (drop - 196) - 2.5 * dev + rng.normal(0, 3, n)
    score = -agtron
    cuts = np.quantile(score, [0.3, 0.6, 0.88])
    y = np.digitize(score, cuts)
    X = np.stack([charge, ror, fc_time, dev, drop, weight_loss], 1)
    return X.astype(np.float32), y.astype(np.int32)

Xtr, ytr = make_roasts(6000)
Xva, yva = make_roasts(1500)
mu, sd = Xtr.mean(0), Xtr.std(0)
Xtr = (Xtr - mu) / sd; Xva = (Xva - mu) / sd
Xtr, ytr, Xva, yva = map(mx.array, (Xtr, ytr, Xva, yva))

class RoastNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.inp = nn.Linear(6, 48)
        self.mid = nn.Linear(48, 48)
        self.drop = nn.Dropout(0.1)
        self.out = nn.Linear(48, 4)
    def __call__(self, x):
        h = nn.silu(self.inp(x))
        h = h + self.drop(nn.silu(self.mid(h)))
        return self.out(h)

model = RoastNet()
mx.eval(model.parameters())
sched = optim.join_schedules([optim.linear_schedule(1e-5, 2e-3, 100), lambda s: 2e-3], [100])
opt = optim.AdamW(learning_rate=sched, weight_decay=0.02)

def loss_fn(m, x, y):
    return nn.losses.cross_entropy(m(x), y, reduction="mean")

vg = nn.value_and_grad(model, loss_fn)

def batches(bs):
    n = Xtr.shape[0]
    while True:
        perm = mx.array(np.random.permutation(n))
        for i in range(0, n - bs + 1, bs):
            idx = perm[i:i + bs]
            yield Xtr[idx], ytr[idx]

def evaluate():
    model.eval()
    logits = model(Xva)
    ce = nn.losses.cross_entropy(logits, yva, reduction="mean")
    acc = mx.mean(mx.argmax(logits, 1) == yva)
    model.train()
    return ce.item(), acc.item()

np.random.seed(3)
it = batches(64)
x0, y0 = next(it)
l0, g0 = vg(model, x0, y0)
leaves = tree_flatten(g0)
zero = [k for k, v in leaves if mx.abs(v).max().item() == 0]
ce0, acc0 = evaluate()
print("Linux 6.1.0 (roaster-01) \t03/14/2026 \t_arm64_\t(1 CPU)\n")
print(f"avg-cpu:  leaves  zero_grad  loss0   val_ce0  chance_ce")
print(f"          {len(leaves):6d}  {len(zero):9d}  {l0.item():6.3f}  {ce0:7.3f}  {math.log(4):9.3f}\n")
print(f"{'Device':<10}{'step':>7}{'r/s':>9}{'train_ce':>10}{'val_ce':>9}{'val_acc':>9}{'lr':>10}{'ms/step':>9}")
t0 = time.time(); run = []; steps = 1500
opt.update(model, g0); mx.eval(model.parameters(), opt.state)
for step in range(2, steps + 1):
    x, y = next(it)
    loss, grads = vg(model, x, y)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    run.append(loss.item())
    if step % 150 == 0:
        ce, acc = evaluate()
        el = time.time() - t0
        print(f"{'roast0':<10}{step:>7}{step/el:>9.1f}{np.mean(run):>10.4f}{ce:>9.4f}{acc:>9.3f}{opt.learning_rate.item():>10.2e}{1000*el/step:>9.2f}")
        run = []
print(f"\nfinal val_acc {evaluate()[1]:.3f} after {steps} steps, {time.time()-t0:.1f}s")
