"""Pro-shop restringing log: how many lbs of tension a freshly strung racquet
loses after a number of hours of play.

Data is made up (a plausible-looking law + noise).  The model is trained with
a two-stage curriculum: first only polyester/gut jobs at low hours (easy,
nearly linear), then every job including hybrids and long play (harder, so
the loss jumps when stage 2 starts).  The learning rate warms up from exactly
0 in each stage.  The step is mx.compile'd.
"""
import math
import time
from functools import partial

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(7)

N_TRAIN, N_VAL = 6000, 1000
MATERIALS = ["poly", "gut", "multi", "hybrid"]


def make_jobs(n, key):
    k = mx.random.split(key, 8)
    mat = mx.random.randint(0, 4, (n,), key=k[0])
    ref_lbs = 44 + 16 * mx.random.uniform(shape=(n,), key=k[1])       # reference tension
    hours = mx.random.uniform(shape=(n,), key=k[2]) * 40             # hours played
    gauge = 1.15 + 0.2 * mx.random.uniform(shape=(n,), key=k[3])     # mm
    temp = 10 + 25 * mx.random.uniform(shape=(n,), key=k[4])         # deg C at court
    spin = mx.random.uniform(shape=(n,), key=k[5])                   # player spin index 0..1
    rate = mx.array([0.9, 0.35, 0.6, 0.7])[mat]
    loss = rate * mx.log1p(hours) * (ref_lbs / 52) * (1 + 0.6 * spin)
    loss = loss + 0.04 * (temp - 20) + 1.5 * (gauge - 1.25) * (mat == 3)
    loss = loss + 0.5 * (mat == 3) * mx.sin(hours / 6)                # hybrids settle in waves
    loss = loss + 0.25 * mx.random.normal((n,), key=k[6])
    onehot = (mat[:, None] == mx.arange(4)[None, :]).astype(mx.float32)
    x = mx.concatenate(
        [onehot, mx.stack([(ref_lbs - 52) / 5, hours / 20 - 1, (gauge - 1.25) * 10,
                           (temp - 22) / 7, spin * 2 - 1], axis=1)], axis=1)
    easy = (mat <= 1) & (hours < 15)
    return x, loss, easy


key = mx.random.key(7)
ktr, kva = mx.random.split(key)
xtr, ytr, easy_tr = make_jobs(N_TRAIN, ktr)
xva, yva, easy_va = make_jobs(N_VAL, kva)


class TensionDrop(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(9, 48)
        self.l2 = nn.Linear(48, 48)
        self.out = nn.Linear(48, 1)

    def __call__(self, x):
        h = nn.silu(self.l1(x))
        h = h + nn.silu(self.l2(h))
        return self.out(h).squeeze(-1)


model = TensionDrop()
opt = optim.AdamW(learning_rate=0.0, weight_decay=1e-4)


def mse(m, x, y):
    return ((m(x) - y) ** 2).mean()


state = [model.state, opt.state]


@partial(mx.compile, inputs=state, outputs=state)
def step(x, y):
    loss, g = nn.value_and_grad(model, mse)(model, x, y)
    opt.update(model, g)
    return loss


def warm_lr(i, peak, warm):
    # exactly 0 at i == 0
    return peak * min(1.0, i / warm)


stages = [("easy strings, <15 h", 40), ("all jobs", 80)]
base_all = float(((yva - ytr.mean()) ** 2).mean())

print(f"{'stage':<20}{'ep':>4}{'lr':>10}{'train mse':>11}{'val mse':>10}{'val mae lbs':>12}{'ref mse':>9}")
t0 = time.time()
bs = 128
for stage_name, epochs in stages:
    if stage_name.startswith("easy"):
        idx = mx.array([i for i, e in enumerate(easy_tr.tolist()) if e])
    else:
        idx = mx.arange(N_TRAIN)
    xs, ys = xtr[idx], ytr[idx]
    n = xs.shape[0]
    steps_per_ep = math.ceil(n / bs)
    it = 0
    for ep in range(1, epochs + 1):
        perm = mx.random.permutation(n)
        tot = 0.0
        for b in range(steps_per_ep):
            opt.learning_rate = warm_lr(it, 2e-3, 3 * steps_per_ep)
            sel = perm[b * bs:(b + 1) * bs]
            loss = step(xs[sel], ys[sel])
            mx.eval(loss, model.parameters(), opt.state)
            tot += loss.item() * sel.shape[0]
            it += 1
        if ep in (1, 2, 5) or ep % 10 == 0:
            pv = model(xva)
            vm = float(((pv - yva) ** 2).mean())
            va = float(mx.abs(pv - yva).mean())
            print(f"{stage_name:<20}{ep:>4}{float(opt.learning_rate):>10.2e}{tot / n:>11.4f}{vm:>10.4f}{va:>12.3f}{base_all:>9.3f}")

pv = model(xva)
final = float(((pv - yva) ** 2).mean())
print(f"done in {time.time() - t0:.1f}s; val mse {final:.4f} vs predict-the-mean {base_all:.4f} "
      f"({100 * (1 - final / base_all):.1f}% of variance explained), noise floor ~0.0625")
