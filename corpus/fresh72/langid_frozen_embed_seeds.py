# Language ID of short made-up words with a FIXED character embedding table
# (frozen on purpose); only the pooling MLP trains. Three seeds, one after another,
# each from scratch; accuracies are reported as percentages at the end.
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

ALPHA = "abcdefghijklmnopqrstuvwxyz"
V, L, LANGS = len(ALPHA) + 1, 10, ["Aelvic", "Korrish", "Tumbani", "Zeshet"]
gen = np.random.default_rng(5)
# each made-up language: its own Markov chain over letters (sparse, peaked bigrams)
chains = []
for _ in LANGS:
    m = gen.gamma(0.25, 1.0, (V - 1, V - 1)) + 1e-3
    chains.append(m / m.sum(1, keepdims=True))
starts = [gen.dirichlet(np.full(V - 1, 0.4)) for _ in LANGS]

def words(n, rng):
    X = np.zeros((n, L), np.int32); y = rng.integers(0, len(LANGS), n)
    for i in range(n):
        k = y[i]; ln = rng.integers(3, L + 1)
        c = rng.choice(V - 1, p=starts[k])
        for j in range(ln):
            X[i, j] = c + 1
            c = rng.choice(V - 1, p=chains[k][c])
    return X, y.astype(np.int32)

t_prep = time.time()
Xtr, ytr = words(5000, np.random.default_rng(1))
Xte, yte = words(1500, np.random.default_rng(2))
Xtr, ytr, Xte, yte = map(mx.array, (Xtr, ytr, Xte, yte))
# fixed "pretrained" table: random unit vectors, padding row 0 = zeros
E = gen.normal(0, 1, (V, 24)).astype(np.float32); E /= np.linalg.norm(E, axis=1, keepdims=True); E[0] = 0
print(f"data ready in {time.time() - t_prep:.1f}s: {Xtr.shape[0]} train / {Xte.shape[0]} test words, {len(LANGS)} languages")

class LangID(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(V, 24)
        self.embed.weight = mx.array(E)
        self.mix = nn.Linear(2 * 24, 96)      # char + next-char pair features
        self.hid = nn.Linear(96, 96)
        self.head = nn.Linear(96, len(LANGS))
    def __call__(self, ids):
        e = self.embed(ids)                                  # B, L, 24
        pair = mx.concatenate([e[:, :-1], e[:, 1:]], -1)     # B, L-1, 48
        mask = (ids[:, 1:] > 0).astype(e.dtype)[..., None]
        h = nn.relu(self.mix(pair)) * mask
        h = h.sum(1) / mx.maximum(mask.sum(1), 1.0)
        return self.head(nn.relu(self.hid(h)))

def loss_fn(m, x, y):
    return nn.losses.cross_entropy(m(x), y, reduction="mean")

def accuracy(m, x, y):
    return 100.0 * mx.mean(mx.argmax(m(x), -1) == y).item()

results = []
for seed in (0, 1, 2):
    mx.random.seed(seed)
    model = LangID()
    model.embed.freeze()                    # the table stays as loaded
    mx.eval(model.parameters())
    opt = optim.Adam(learning_rate=2e-3)
    vg = nn.value_and_grad(model, loss_fn)
    _, g = vg(model, Xtr[:128], ytr[:128])
    flat = tree_flatten(g)
    nz = sum(float(mx.abs(v).max()) > 0 for _, v in flat)
    emb0 = np.array(model.embed.weight)
    print(f"seed {seed}: {nz}/{len(flat)} trainable leaves with non-zero gradient; "
          f"frozen: {[k for k, _ in tree_flatten(model.parameters()) if k not in dict(flat)]}; "
          f"untrained test acc {accuracy(model, Xte, yte):.1f}%")
    order = np.random.default_rng(100 + seed)
    t0 = time.time(); hist = []
    for epoch in range(1, 9):
        perm = mx.array(order.permutation(Xtr.shape[0]))
        tot, nb = 0.0, 0
        for i in range(0, Xtr.shape[0], 100):
            idx = perm[i:i + 100]
            loss, g = vg(model, Xtr[idx], ytr[idx])
            opt.update(model, g)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item(); nb += 1
        hist.append((epoch, tot / nb, accuracy(model, Xte, yte)))
    drift = float(np.abs(np.array(model.embed.weight) - emb0).max())
    results.append((seed, hist, drift, time.time() - t0))

print()
print("seed  epoch  train_ce  test_acc")
for seed, hist, drift, dt in results:
    for ep, ce, acc in hist:
        if ep in (1, 2, 4, 8):
            print(f"{seed:>4}  {ep:>5}  {ce:8.4f}  {acc:7.2f}%")
    print(f"      (seed {seed}: {dt:.1f}s, max change of the frozen table {drift:.1e})")
final = [h[-1][2] for _, h, _, _ in results]
print(f"\nfinal test accuracy over seeds: mean {np.mean(final):.2f}%  min {min(final):.2f}%  max {max(final):.2f}%  (chance 25.00%)")
