"""Classify a Yahtzee roll (5 unordered dice) into its best pattern, DeepSets style.
Log lines look like tcpdump so they can be grepped with the same tooling as our net logs."""
import itertools, time, random
from collections import Counter
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

CLASSES = ["chance", "pair", "two_pair", "three_kind", "full_house",
           "four_kind", "small_straight", "large_straight", "yahtzee"]

def label(roll):
    c = sorted(Counter(roll).values(), reverse=True)
    s = set(roll)
    if c[0] == 5: return 8
    if {1,2,3,4,5} <= s or {2,3,4,5,6} <= s: return 7
    if c[0] == 4: return 5
    if c[0] == 3 and c[1] == 2: return 4
    if {1,2,3,4} <= s or {2,3,4,5} <= s or {3,4,5,6} <= s: return 6
    if c[0] == 3: return 3
    if c[0] == 2 and c[1] == 2: return 2
    if c[0] == 2: return 1
    return 0

rolls = list(itertools.product(range(1, 7), repeat=5))
rng = random.Random(7)
rng.shuffle(rolls)
X = np.array(rolls, dtype=np.int32) - 1           # (7776, 5) face index 0..5
Y = np.array([label(r) for r in rolls], dtype=np.int32)
n_test = 1576
Xtr, Ytr, Xte, Yte = X[n_test:], Y[n_test:], X[:n_test], Y[:n_test]

class DeepSet(nn.Module):
    def __init__(self, d=48):
        super().__init__()
        self.face = nn.Embedding(6, d)
        self.phi = nn.Sequential(nn.Linear(d, d), nn.ReLU(), nn.Linear(d, d))
        self.rho = nn.Sequential(nn.Linear(2 * d, 64), nn.ReLU(), nn.Linear(64, len(CLASSES)))
    def __call__(self, dice):
        h = self.phi(self.face(dice))                  # (B, 5, d)
        pooled = mx.concatenate([h.sum(axis=1), h.max(axis=1)], axis=-1)
        return self.rho(pooled)

mx.random.seed(3)
model = DeepSet()
opt = optim.Adamax(learning_rate=optim.step_decay(4e-3, 0.5, 600))

def loss_fn(m, xb, yb):
    return nn.losses.cross_entropy(m(xb), yb, reduction="mean")

loss_and_grad = nn.value_and_grad(model, loss_fn)
t0 = time.time()
def stamp():
    t = time.time() - t0
    return time.strftime("%H:%M:%S", time.gmtime(t)) + f".{int((t % 1) * 1e6):06d}"

print("tcpdump: verbose output suppressed, use -v[v]... for full protocol decode")
print("listening on dice0, link-type EN10MB (Ethernet), snapshot length 262144 bytes")
xb0, yb0 = mx.array(Xtr[:128]), mx.array(Ytr[:128])
l0, g0 = loss_and_grad(model, xb0, yb0)
leaves = tree_flatten(g0)
zero = [k for k, v in leaves if float(mx.abs(v).sum()) == 0.0]
print(f"{stamp()} IP trainer.gradcheck > probe: leaves {len(leaves)}, zero {len(zero)} {zero}, loss0 {l0.item():.4f}")
counts = np.bincount(Ytr, minlength=len(CLASSES))
print(f"{stamp()} IP trainer.baseline > probe: majority={CLASSES[int(counts.argmax())]} test_acc {np.mean(Yte == counts.argmax()):.4f}")

def evaluate():
    logits = model(mx.array(Xte))
    ce = nn.losses.cross_entropy(logits, mx.array(Yte), reduction="mean").item()
    acc = (mx.argmax(logits, axis=-1) == mx.array(Yte)).astype(mx.float32).mean().item()
    return ce, acc

bs, seq = 64, 0
for epoch in range(1, 13):
    perm = np.random.default_rng(epoch).permutation(len(Xtr))
    tot, nb = 0.0, 0
    for i in range(0, len(perm) - bs + 1, bs):
        idx = perm[i:i + bs]
        loss, grads = loss_and_grad(model, mx.array(Xtr[idx]), mx.array(Ytr[idx]))
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        tot += loss.item(); nb += 1; seq += 1
    ce, acc = evaluate()
    print(f"{stamp()} IP trainer.{epoch} > eval.{seq}: Flags [P.], seq {seq}, "
          f"train_ce {tot / nb:.4f}, test_ce {ce:.4f}, test_acc {acc:.4f}, lr {opt.learning_rate.item():.2e}, length {nb}")

logits = model(mx.array(Xte))
pred = np.array(mx.argmax(logits, axis=-1))
for k, name in enumerate(CLASSES):
    m = Yte == k
    print(f"{stamp()} IP eval.class > {name}: {int(m.sum())} packets, acc {np.mean(pred[m] == k):.3f}")
print(f"{12 * nb} packets captured")
print(f"{12 * nb} packets received by filter")
print("0 packets dropped by kernel")
