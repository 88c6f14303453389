"""Railway signal aspect recognition with a binarised hidden layer.

Hidden units are sign()-binarised in the forward pass; the gradient goes
through a clipped straight-through estimator written with mx.custom_function.
Gradients are averaged across the (single-process) distributed group with
mx.distributed.all_sum, as the multi-node version of this script does.
"""
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

group = mx.distributed.init()
WORLD, RANK = group.size(), group.rank()

@mx.custom_function
def binarize(x):
    return mx.where(x >= 0, 1.0, -1.0).astype(x.dtype)

@binarize.vjp
def binarize_vjp(primals, cotangent, output):
    x = primals                       # single input: the array itself
    return cotangent * (mx.abs(x) <= 1.0).astype(cotangent.dtype)

ASPECTS = ["stop", "caution", "prelim_caution", "clear", "shunt"]
# lamp intensities (red, yellow1, yellow2, green, white_pair) per aspect
PROTO = np.array([[1, 0, 0, 0, 0], [0, 1, 0, 0, 0], [0, 1, 1, 0, 0],
                  [0, 0, 0, 1, 0], [0, 0, 0, 0, 1]], np.float32)
rng = np.random.default_rng(11 + RANK)

def sample(n):
    y = rng.integers(0, 5, n)
    lamps = PROTO[y] * rng.uniform(0.5, 1.0, (n, 1)) + rng.normal(0, 0.22, (n, 5))
    fog = rng.uniform(0, 1, (n, 1))
    glare = rng.normal(0, 0.3, (n, 3)) * fog          # three nuisance channels
    feats = np.concatenate([lamps * (1 - 0.5 * fog), fog, glare], 1).astype(np.float32)
    return feats, y.astype(np.int32)

Xtr, Ytr = sample(6000); Xva, Yva = sample(1500)
mu, sd = Xtr.mean(0), Xtr.std(0) + 1e-6
Xtr, Xva = (Xtr - mu) / sd, (Xva - mu) / sd
Xtr, Ytr, Xva, Yva = map(mx.array, (Xtr, Ytr, Xva, Yva))

class BinNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(9, 128)
        self.bn = nn.LayerNorm(128)
        self.l2 = nn.Linear(128, 5)
    def __call__(self, x):
        return self.l2(binarize(self.bn(self.l1(x))) / 128 ** 0.5)

model = BinNet()
mx.eval(model.parameters())
opt = optim.Adam(learning_rate=2e-3)

def loss_fn(m, x, y):
    return nn.losses.cross_entropy(m(x), y, reduction="mean")
vg = nn.value_and_grad(model, loss_fn)

def all_avg(tree):
    return tree_map(lambda g: mx.distributed.all_sum(g, group=group) / WORLD, tree)

def pct(v):
    return f"{100 * v:5.1f}%"

print(f"world={WORLD} rank={RANK} train={Xtr.shape[0]} valid={Xva.shape[0]} chance={pct(0.2)}")
_, g = vg(model, Xtr[:100], Ytr[:100])
flat = tree_flatten(all_avg(g))
print("grad check:", ", ".join(f"{k}={mx.abs(v).max().item():.2e}" for k, v in flat),
      f"(non-zero leaves {sum(mx.any(v != 0).item() for _, v in flat)}/{len(flat)})")

BS = 100
t0 = time.time()
print(f"{'epoch':>5} {'train_loss':>10} {'valid_loss':>10} {'valid_acc':>9} {'flip_rate':>9} {'sec':>5}")
prev_codes = None
for ep in range(1, 21):
    perm = mx.array(rng.permutation(Xtr.shape[0]))
    run = []
    for b in range(Xtr.shape[0] // BS):
        idx = perm[b * BS:(b + 1) * BS]
        loss, g = vg(model, Xtr[idx], Ytr[idx])
        opt.update(model, all_avg(g))
        mx.eval(model.parameters(), opt.state, loss)
        run.append(loss.item())
    logits = model(Xva)
    vl = nn.losses.cross_entropy(logits, Yva, reduction="mean").item()
    acc = mx.mean(mx.argmax(logits, 1) == Yva).item()
    codes = np.array(binarize(model.bn(model.l1(Xva[:500]))))
    flips = 0.0 if prev_codes is None else float((codes != prev_codes).mean())
    prev_codes = codes
    if ep in (1, 2, 3, 5) or ep % 5 == 0:
        print(f"{ep:5d} {np.mean(run):10.4f} {vl:10.4f} {pct(acc):>9} {pct(flips):>9} {time.time()-t0:5.1f}")
hit = np.array(mx.argmax(logits, 1) == Yva); yv = np.array(Yva)
per_class = [hit[yv == c].mean() for c in range(5)]
print("recall:", "  ".join(f"{a}={pct(r)}" for a, r in zip(ASPECTS, per_class)))
