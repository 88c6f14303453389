# Wool dyeing: does a dye bath give an even shade? Binary classifier on random Fourier
# features. The RFF projection is fixed on purpose (frozen); only the head trains.
from functools import partial
import math, time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(7)

def make(n):
    temp = rng.uniform(60, 98, n)        # deg C
    ph = rng.uniform(3.0, 6.5, n)
    mordant = rng.uniform(0, 15, n)      # % alum
    minutes = rng.uniform(20, 120, n)
    fine = rng.integers(0, 2, n).astype(float)
    z = (-(temp - 85) ** 2 / 60 + 1.2 * np.sin(ph * 1.7) + 0.25 * mordant - 0.012 * (mordant - 8) ** 2 * 8
         + 0.02 * minutes + 0.8 * fine - 1.0)
    p = 1 / (1 + np.exp(-z))
    y = (rng.uniform(size=n) < p).astype(np.float32)
    X = np.stack([temp, ph, mordant, minutes, fine], 1)
    return X, y, p

Xtr, ytr, _ = make(8000)
Xte, yte, pte = make(2000)
mu, sd = Xtr.mean(0), Xtr.std(0)
Xtr = ((Xtr - mu) / sd).astype(np.float32)
Xte = ((Xte - mu) / sd).astype(np.float32)

class RFFNet(nn.Module):
    def __init__(self, d_in, n_feat=128, scale=1.0):
        super().__init__()
        self.rff = nn.Linear(d_in, n_feat)
        self.rff.weight = mx.random.normal((n_feat, d_in)) * scale
        self.rff.bias = mx.random.uniform(0, 2 * math.pi, (n_feat,))
        self.hidden = nn.Linear(n_feat, 32)
        self.out = nn.Linear(32, 1)
    def __call__(self, x):
        f = math.sqrt(2.0 / self.rff.weight.shape[0]) * mx.cos(self.rff(x))
        return self.out(nn.gelu(self.hidden(f))).squeeze(-1)

mx.random.seed(3)
model = RFFNet(5)
model.rff.freeze()
rff_before = np.array(model.rff.weight)
opt = optim.RMSprop(learning_rate=3e-3)

def loss_fn(m, x, y):
    return nn.losses.binary_cross_entropy(m(x), y, with_logits=True, reduction="mean")

lg = nn.value_and_grad(model, loss_fn)
state = [model.state, opt.state]

@partial(mx.compile, inputs=state, outputs=state)
def step(x, y):
    loss, g = lg(model, x, y)
    opt.update(model, g)
    return loss

def evaluate():
    logit = model(mx.array(Xte))
    p = np.array(mx.sigmoid(logit))
    brier = float(np.mean((p - yte) ** 2))
    bits = float(nn.losses.binary_cross_entropy(logit, mx.array(yte), with_logits=True).item() / math.log(2))
    return brier, bits

# gradient audit on the first batch (eager)
_, g0 = lg(model, mx.array(Xtr[:64]), mx.array(ytr[:64]))
leaves = tree_flatten(g0)
zero = [k for k, v in leaves if float(mx.abs(v).max()) == 0.0]
print(f"gradient audit ; trainable leaves {len(leaves)} ; zero {zero}")
oracle_brier = float(np.mean(pte * (1 - pte)))
b, bits = evaluate()
print(f"epoch 0 ; brier {b:.4f} ; logloss_bits {bits:.4f} ; oracle brier {oracle_brier:.4f}")
t0 = time.perf_counter()
bs = 64
for epoch in range(1, 9):
    perm = rng.permutation(len(Xtr))
    tot, nb = 0.0, 0
    for i in range(0, len(perm) - bs + 1, bs):
        idx = mx.array(perm[i:i + bs])
        loss = step(mx.array(Xtr)[idx], mx.array(ytr)[idx])
        mx.eval(loss, model.state, opt.state)
        tot += loss.item(); nb += 1
    b, bits = evaluate()
    print(f"epoch {epoch} ; train_bits {tot / nb / math.log(2):.4f} ; brier {b:.4f} ; logloss_bits {bits:.4f} ; {time.perf_counter() - t0:.1f}s")
drift = float(np.abs(np.array(model.rff.weight) - rff_before).max())
print(f"done ; frozen rff max change {drift} ; lower brier is better")
