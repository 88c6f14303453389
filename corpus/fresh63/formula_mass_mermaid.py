"""Learn atomic masses from molecular formulas.

Each synthetic formula like C6H12O6 is turned into a bag of element tokens; a
sum-pooled nn.Embedding(8, 16) + small GELU head regresses the molecular
weight (g/mol, measured with 0.05% noise).  Training is silent; at the end a
Mermaid xychart-beta block with the validation curve and an element table.
"""
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

ELEMENTS = ["H", "C", "N", "O", "S", "P", "Cl", "F"]
MASS = np.array([1.008, 12.011, 14.007, 15.999, 32.06, 30.974, 35.45, 18.998], dtype=np.float32)
MAX_COUNT = np.array([30, 20, 6, 10, 3, 2, 4, 6])

rng = np.random.default_rng(11)


def make_formulas(n):
    counts = np.zeros((n, len(ELEMENTS)), dtype=np.int64)
    for i in range(n):
        present = rng.random(len(ELEMENTS)) < np.array([1.0, 1.0, .5, .7, .2, .15, .2, .2])
        counts[i] = np.where(present, rng.integers(1, MAX_COUNT + 1), 0)
    mw = counts @ MASS
    mw = mw * (1 + 0.0005 * rng.standard_normal(n))
    return counts, mw.astype(np.float32)


def formula_str(c):
    return "".join(f"{e}{k if k > 1 else ''}" for e, k in zip(ELEMENTS, c) if k)


counts_tr, mw_tr = make_formulas(6000)
counts_va, mw_va = make_formulas(1000)
SCALE = 100.0  # predict mw / 100


class FormulaNet(nn.Module):
    def __init__(self, n_el, dim=16):
        super().__init__()
        self.emb = nn.Embedding(n_el, dim)
        self.head = nn.Sequential(nn.Linear(dim, 32), nn.GELU(), nn.Linear(32, 1))
        self.direct = nn.Linear(dim, 1, bias=False)

    def atom_vec(self):
        return self.emb.weight  # (n_el, dim)

    def __call__(self, counts):
        # bag of tokens: counts-weighted sum of element embeddings
        pooled = counts @ self.atom_vec()
        return (self.direct(pooled) + 0.1 * self.head(pooled / 20.0)).squeeze(-1)


model = FormulaNet(len(ELEMENTS))
opt = optim.Adamax(learning_rate=optim.cosine_decay(2e-2, 3000, end=5e-4))


def loss_fn(m, c, y):
    return nn.losses.huber_loss(m(c), y, delta=0.5, reduction="mean")


step = nn.value_and_grad(model, loss_fn)

Xtr = mx.array(counts_tr.astype(np.float32))
Ytr = mx.array(mw_tr / SCALE)
Xva = mx.array(counts_va.astype(np.float32))
Yva = mx.array(mw_va / SCALE)

# first-step gradient audit
_, g0 = step(model, Xtr[:64], Ytr[:64])
zero_leaves = [k for k, v in tree_flatten(g0) if float(mx.abs(v).max()) == 0.0]

history = []
t0 = time.time()
for it in range(1, 3001):
    idx = mx.array(rng.integers(0, len(mw_tr), 128))
    loss, grads = step(model, Xtr[idx], Ytr[idx])
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    if it in (1, 10, 50, 100, 250, 500, 1000, 1500, 2000, 2500, 3000):
        err = (model(Xva) - Yva) * SCALE
        mae = float(mx.abs(err).mean())
        history.append((it, mae))
elapsed = time.time() - t0

# implied per-element mass: prediction for a formula with a single atom of the element
eye = mx.eye(len(ELEMENTS))
single = np.array(model(eye) * SCALE)
base_mae = float(np.abs(mw_va - mw_tr.mean()).mean())

print("```mermaid")
print("%% formula -> molecular weight, FormulaNet (embedding bag), Adamax + cosine_decay")
print(f"%% train formulas {len(mw_tr)}, val {len(mw_va)}; e.g. {formula_str(counts_va[0])} = {mw_va[0]:.2f} g/mol")
print(f"%% step-0 zero-gradient leaves: {len(zero_leaves)} {zero_leaves}")
print(f"%% predict-the-mean val MAE: {base_mae:.2f} g/mol; wall {elapsed:.1f}s")
print("xychart-beta")
print('    title "validation MAE (g/mol) vs step"')
print("    x-axis [" + ", ".join(str(h[0]) for h in history) + "]")
print('    y-axis "MAE g/mol"')
print("    line [" + ", ".join(f"{h[1]:.3f}" for h in history) + "]")
print("```")
print()
print("| element | implied mass | true mass |")
print("|---|---|---|")
for e, s, m in zip(ELEMENTS, single, MASS):
    print(f"| {e} | {s:.3f} | {m:.3f} |")
