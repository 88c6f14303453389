# Dry-stone walling: will a stone sit (good / rocks / falls) given its lithology and shape.
# The lithology embedding table is a fixed, hand-made lookup (frozen on purpose).
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(11)
LITHO = ["limestone", "gritstone", "slate", "granite", "sandstone", "whinstone"]
def make(n):
    lit = rng.integers(0, 6, n)
    flat = rng.uniform(0, 1, n); length = rng.uniform(0.1, 0.6, n); batter = rng.uniform(0, 1, n)
    hearting = rng.uniform(0, 1, n); course = rng.integers(1, 12, n) / 12
    grip = np.array([0.2, 0.9, 0.5, -0.4, 0.4, -0.2])[lit]
    s = 2.5 * flat + 3 * length + grip + 1.2 * hearting - 1.5 * course * (1 - batter)
    u = s + rng.gumbel(0, 0.6, n)
    y = np.where(u > 3.0, 0, np.where(u > 1.8, 1, 2))
    X = np.stack([flat, length, batter, hearting, course], 1).astype(np.float32)
    return lit.astype(np.int32), X, y.astype(np.int32)

lt, Xt, yt = make(12000); lv, Xv, yv = make(2000)
mu, sd = Xt.mean(0), Xt.std(0)
Xt = (Xt - mu) / sd; Xv = (Xv - mu) / sd

class Waller(nn.Module):
    def __init__(self):
        super().__init__()
        self.litho = nn.Embedding(6, 4)
        # fixed descriptors: hardness, porosity, cleavage, roughness (hand-made, not learned)
        self.litho.weight = mx.array([[.3, .5, .2, .4], [.6, .4, .1, .9], [.5, .1, .9, .2],
                                      [.9, .05, .1, .5], [.4, .6, .3, .6], [.95, .05, .05, .3]])
        self.l1 = nn.Linear(9, 96); self.l2 = nn.Linear(96, 96); self.head = nn.Linear(96, 3)
    def __call__(self, lit, x):
        h = mx.concatenate([self.litho(lit), x], axis=1)
        h = nn.relu(self.l1(h)); h = nn.relu(self.l2(h))
        return self.head(h)

mx.random.seed(5)
model = Waller()
model.litho.freeze()
table0 = np.array(model.litho.weight)
opt = optim.Adamax(learning_rate=2e-3)
LN2 = float(np.log(2))

def loss_fn(m, lit, x, y):
    return nn.losses.cross_entropy(m(lit, x), y, reduction="mean")
vg = nn.value_and_grad(model, loss_fn)

def evaluate():
    logits = model(mx.array(lv), mx.array(Xv))
    ce = nn.losses.cross_entropy(logits, mx.array(yv), reduction="mean").item() / LN2
    acc = float((np.array(mx.argmax(logits, 1)) == yv).mean()) * 100
    return ce, acc

print("\t".join(["step", "ema_bits", "val_bits", "val_acc_pct", "secs"]))
ce0, acc0 = evaluate()
print(f"0\t-\t{ce0:.4f}\t{acc0:.1f}\t0.0")
ema, beta, bs, t0 = 0.0, 0.98, 64, time.time()
perm, cur = rng.permutation(len(yt)), 0
for step in range(1, 3001):
    if cur + bs > len(yt):
        perm, cur = rng.permutation(len(yt)), 0
    idx = mx.array(perm[cur:cur + bs]); cur += bs
    loss, g = vg(model, mx.array(lt)[idx], mx.array(Xt)[idx], mx.array(yt)[idx])
    if step == 1:
        leaves = tree_flatten(g)
        zero = [k for k, v in leaves if float(mx.abs(v).max()) == 0]
        grad_note = f"# step-1 grads: {len(leaves)} trainable leaves, zero: {zero or 'none'}"
    opt.update(model, g)
    mx.eval(model.parameters(), opt.state, loss)
    ema = beta * ema + (1 - beta) * loss.item() / LN2
    if step in (1, 50) or step % 500 == 0:
        ce, acc = evaluate()
        print(f"{step}\t{ema / (1 - beta ** step):.4f}\t{ce:.4f}\t{acc:.1f}\t{time.time() - t0:.1f}")
print(grad_note)
print(f"# frozen lithology table max change: {np.abs(np.array(model.litho.weight) - table0).max():.1f}")
print(f"# uniform guess = {np.log2(3):.3f} bits/stone")
