"""Cheese cave: classify the rind type (washed, bloomy, natural, waxed) of a wheel from
cave sensor and make-sheet readings. Compiled step, a redrawn progress bar, early stopping
that restores the best weights."""
import sys, time
from functools import partial
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

rng = np.random.default_rng(11)
K, D = 4, 9
centres = rng.normal(0, 1.0, (K, D)); centres[:, -1] = 0.0   # last feature: pure noise
def make(n):
    y = rng.integers(0, K, n)
    x = centres[y] + rng.normal(0, 1.1, (n, D))
    x[:, 0] = x[:, 0] * 0.5 + 0.3 * x[:, 1] ** 2                # a little nonlinearity
    return x.astype(np.float32), y
Xtr, ytr = make(6000); Xva, yva = make(1500); Xte, yte = make(1500)
mu, sd = Xtr.mean(0), Xtr.std(0)
norm = lambda a: mx.array((a - mu) / sd)
Xtr_m, Xva_m, Xte_m = norm(Xtr), norm(Xva), norm(Xte)
ytr_m, yva_m, yte_m = mx.array(ytr), mx.array(yva), mx.array(yte)

class RindNet(nn.Module):
    def __init__(self, width=256):
        super().__init__()
        self.a = nn.Linear(D, width); self.b = nn.Linear(width, width); self.head = nn.Linear(width, K)
        self.drop = nn.Dropout(0.1)
    def __call__(self, x):
        h = nn.relu(self.a(x)); h = self.drop(nn.relu(self.b(h)))
        return self.head(h)

def loss_fn(m, x, y):
    return nn.losses.cross_entropy(m(x), y, reduction="mean")

mx.random.seed(3)
model = RindNet(); opt = optim.AdamW(learning_rate=1e-3, weight_decay=0.01)
state = [model.state, opt.state, mx.random.state]

@partial(mx.compile, inputs=state, outputs=state)
def step(x, y):
    l, g = nn.value_and_grad(model, loss_fn)(model, x, y)
    opt.update(model, g)
    return l

def evaluate(X, Y):
    model.eval(); lg = model(X)
    ce = nn.losses.cross_entropy(lg, Y, reduction="mean"); acc = mx.mean(mx.argmax(lg, -1) == Y)
    mx.eval(ce, acc); model.train()
    return ce.item(), 100.0 * acc.item()

print(f"cheese cave: {len(ytr)} train / {len(yva)} val / {len(yte)} test wheels, {K} rind types, chance 25.0%")
ce0, a0 = evaluate(Xva_m, yva_m)
print(f"untrained   val ce {ce0:.4f}  val acc {a0:5.1f}%")

# eager gradient audit of the first batch (the compiled step does not expose grads)
model.train()
_, g0 = nn.value_and_grad(model, loss_fn)(model, Xtr_m[:64], ytr_m[:64])
zero = [k for k, v in tree_flatten(g0) if mx.abs(v).max().item() == 0.0]
print(f"first-batch gradients: {len(tree_flatten(g0))} leaves, zero-gradient leaves {zero}")

B, PATIENCE = 64, 4
nb = len(ytr) // B
best, best_ep, best_params, waited = float("inf"), 0, None, 0
t0 = time.time()
for ep in range(1, 41):
    perm = mx.array(rng.permutation(len(ytr)))
    run = 0.0
    for i in range(nb):
        idx = perm[i * B:(i + 1) * B]
        l = step(Xtr_m[idx], ytr_m[idx]); mx.eval(state, l)
        run += l.item()
        if (i + 1) % 10 == 0 or i + 1 == nb:
            done = (i + 1) * 30 // nb
            sys.stdout.write(f"\repoch {ep:2d} [{'#' * done}{'.' * (30 - done)}] loss {run / (i + 1):.4f}")
            sys.stdout.flush()
    vce, vacc = evaluate(Xva_m, yva_m)
    mark = ""
    if vce < best - 1e-4:
        best, best_ep, waited = vce, ep, 0
        best_params = tree_map(lambda p: mx.array(p), model.parameters()); mx.eval(best_params)
        mark = " *"
    else:
        waited += 1
    sys.stdout.write(f"\repoch {ep:2d} train ce {run / nb:.4f}  val ce {vce:.4f}  val acc {vacc:5.1f}%  {time.time() - t0:5.1f}s{mark}\n")
    if waited >= PATIENCE:
        print(f"early stop: no val improvement for {PATIENCE} epochs")
        break
model.update(best_params); mx.eval(model.parameters())
tce, tacc = evaluate(Xte_m, yte_m); vce, _ = evaluate(Xva_m, yva_m)
print(f"restored epoch {best_ep} weights (val ce {vce:.4f} == best {best:.4f}); test ce {tce:.4f}  test acc {tacc:.1f}%")
