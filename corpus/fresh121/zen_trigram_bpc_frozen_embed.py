"""Character trigram model on the Zen of Python (stdlib `this`), frozen random
embedding table, trainable MLP head, compiled step, bits-per-char report with a
bias-corrected EMA of the training loss."""
import codecs, math, time
from functools import partial
import numpy as np
import this  # noqa: F401  (prints the Zen once; we re-decode it below)
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

text = codecs.decode(this.s, "rot13")
chars = sorted(set(text))
stoi = {c: i for i, c in enumerate(chars)}
ids = np.array([stoi[c] for c in text], dtype=np.int32)
V, CTX = len(chars), 3
X = np.stack([ids[i:len(ids) - CTX + i] for i in range(CTX)], axis=1)
Y = ids[CTX:]
n_val = len(Y) // 10
sp = np.random.default_rng(1).permutation(len(Y))  # random held-out windows
Xtr, Ytr, Xva, Yva = X[sp[n_val:]], Y[sp[n_val:]], X[sp[:n_val]], Y[sp[:n_val]]
print(f"\nvocab={V} train={len(Ytr)} val={len(Yva)} chars")


class TriMLP(nn.Module):
    def __init__(self, vocab, dim=24, hidden=768):
        super().__init__()
        self.emb = nn.Embedding(vocab, dim)  # fixed random code table
        self.fc1 = nn.Linear(CTX * dim, hidden)
        self.fc2 = nn.Linear(hidden, vocab)

    def __call__(self, x):
        h = self.emb(x).reshape(x.shape[0], -1)
        return self.fc2(nn.gelu(self.fc1(h)))


mx.random.seed(3)
model = TriMLP(V)
model.emb.freeze()                       # the embedding table is NOT trained
emb_before = np.array(model.emb.weight)
opt = optim.Adam(learning_rate=1e-3)


def loss_fn(m, x, y):
    return nn.losses.cross_entropy(m(x), y, reduction="mean")


vg = nn.value_and_grad(model, loss_fn)
state = [model.state, opt.state]


@partial(mx.compile, inputs=state, outputs=state)
def step(x, y):
    loss, g = vg(model, x, y)
    opt.update(model, g)
    return loss


# first-step gradient audit (trainable leaves only)
_, g0 = vg(model, mx.array(Xtr[:256]), mx.array(Ytr[:256]))
for k, v in tree_flatten(g0):
    print(f"grad  {k:<12s} max|g|={mx.abs(v).max().item():.3e}")

LN2 = math.log(2.0)
rng = np.random.default_rng(0)
B, beta, ema, t = 64, 0.98, 0.0, 0
best_val, best_params, bad = float('inf'), None, 0
t0 = time.time()
for epoch in range(1, 61):
    perm = rng.permutation(len(Ytr))
    for s in range(0, len(perm) - B + 1, B):
        j = perm[s:s + B]
        loss = step(mx.array(Xtr[j]), mx.array(Ytr[j]))
        mx.eval(state, loss)
        t += 1
        ema = beta * ema + (1 - beta) * loss.item()
    if epoch % 5:
        continue
    va = loss_fn(model, mx.array(Xva), mx.array(Yva)).item()
    print(f"epoch {epoch:3d}  step {t:5d}  train_bpc(ema,bc)={ema / (1 - beta ** t) / LN2:.3f}"
          f"  val_bpc={va / LN2:.3f}  uniform_bpc={math.log2(V):.3f}  {time.time() - t0:.1f}s")
    if va < best_val:
        best_val, bad = va, 0
        best_params = tree_map(lambda a: mx.array(a), model.trainable_parameters())
    else:
        bad += 1
        if bad >= 3:
            print(f"early stop at epoch {epoch}: no val gain for 3 reports")
            break
model.update(best_params)
va = loss_fn(model, mx.array(Xva), mx.array(Yva)).item()
print(f"restored best weights: val_bpc={va / LN2:.3f} (best seen {best_val / LN2:.3f})")

drift = float(np.abs(np.array(model.emb.weight) - emb_before).max())
print(f"embedding drift (frozen, expect 0): {drift:.1e}")
