# petanque club stats: will a pointing throw end within 50 cm of the cochonnet?
# trained as a curriculum: short throws first, then long throws, then every terrain.
import sys
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

R = np.random.default_rng(2024)
STYLES = ["roulette", "demi-portee", "portee"]
GROUNDS = ["clay", "gravel", "sand"]


def throws(n, dmin, dmax, grounds):
    dist = R.uniform(dmin, dmax, n)
    style = R.integers(0, 3, n)
    ground = R.choice(grounds, n)
    slope = R.normal(0, 1.5, n)            # percent
    wind = R.uniform(0, 8, n)              # m/s
    rough = np.array([0.1, 0.9, 0.5])[ground]
    loft = np.array([0.0, 0.5, 1.0])[style]
    # made-up club law: rolls win on clay, lobs beat rough ground, wind hurts lobs,
    # and long throws are simply less repeatable (flatter odds)
    z = (2.0 - 0.55 * (dist - 4) - 4.0 * rough * (1 - loft) + 1.5 * loft * rough
         - 0.45 * (wind - 4) * loft - 0.6 * np.abs(slope) * (1 - loft)
         + 1.2 * loft * (dist > 7) - 0.8 * loft)
    z = z * 3.0 / (1 + 0.3 * (dist - 4))
    p = 1 / (1 + np.exp(-z))
    y = (R.uniform(size=n) < p).astype(np.float32)
    feats = np.concatenate([
        ((dist - 7) / 2)[:, None], np.eye(3)[style], np.eye(3)[ground],
        (slope / 1.5)[:, None], ((wind - 4) / 2.3)[:, None]], 1).astype(np.float32)
    bayes = float(np.mean((p > 0.5) == (y > 0.5)))
    return mx.array(feats), mx.array(y), bayes


class Pointer(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(9, 48), nn.Tanh(), nn.Linear(48, 48), nn.Tanh())
        self.head = nn.Linear(48, 1)

    def __call__(self, x):
        return self.head(self.body(x)).squeeze(-1)


def bce(m, x, y):
    return nn.losses.binary_cross_entropy(m(x), y, with_logits=True, reduction="mean")


def acc(m, x, y):
    return float(mx.mean((m(x) > 0) == (y > 0.5)))


def bar(i, n, w=20):
    k = int(w * i / n)
    return "[" + "#" * k + "-" * (w - k) + "]"


mx.random.seed(11)
net = Pointer()
opt = optim.SGD(learning_rate=0.08, momentum=0.9, nesterov=True)
vg = nn.value_and_grad(net, bce)

stages = [
    ("short 4-6m, clay", 4, 6, [0], 250),
    ("long 6-10m, clay", 6, 10, [0], 250),
    ("all 4-10m, all grounds", 4, 10, [0, 1, 2], 400),
]
Xev, yev, bayes_ev = throws(3000, 4, 10, [0, 1, 2])
table = []
t0 = time.time()
for s, (label, dmin, dmax, grounds, iters) in enumerate(stages, 1):
    X, y, bayes = throws(1500, dmin, dmax, grounds)
    base = max(float(mx.mean(y)), 1 - float(mx.mean(y)))
    it = 0
    while it < iters:
        idx = mx.array(R.integers(0, X.shape[0], 64))
        loss, g = vg(net, X[idx], y[idx])
        if s == 1 and it == 0:
            zero = [k for k, v in tree_flatten(g) if float(mx.abs(v).max()) == 0]
            print(f"  grad check: {len(tree_flatten(g))} tensors, zero-grad tensors: {zero or 'none'}")
        opt.update(net, g)
        mx.eval(net.parameters(), opt.state, loss)
        it += 1
        if it % 50 == 0 or it == 1:
            a = acc(net, X, y)
            sys.stdout.write(f"stage {s}/3 {bar(it, iters)} {100*it/iters:5.1f}% {it:3d}/{iters} "
                             f"loss={loss.item():.3f} hit-acc={100*a:.1f}% (majority {100*base:.1f}%, bayes {100*bayes:.1f}%)\n")
    full_loss, full_acc = bce(net, X, y).item(), acc(net, X, y)
    table.append((s, label, full_loss, 100 * full_acc, 100 * base, 100 * bayes))

print()
print(f"{'st':>2} | {'curriculum':<24} | {'bce':>6} | {'acc%':>6} | {'maj%':>6} | {'bayes%':>6}")
print("-" * 66)
for row in table:
    print(f"{row[0]:>2} | {row[1]:<24} | {row[2]:6.3f} | {row[3]:6.1f} | {row[4]:6.1f} | {row[5]:6.1f}")
print(f"held-out 3000 throws: acc {100*acc(net, Xev, yev):.1f}%  bce {bce(net, Xev, yev).item():.3f}  "
      f"bayes {100*bayes_ev:.1f}%  ({time.time()-t0:.1f}s)")
