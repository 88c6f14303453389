# Reef transect survey: 8 fish species from 10 diver-slate morphometrics.
# Long-tailed counts; three phases: instance-balanced training, classifier
# re-training with class-balanced sampling (trunk frozen), tau-normalised head.
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

SPECIES = ["damselfish", "wrasse", "parrotfish", "butterflyfish",
           "surgeonfish", "grouper", "moray", "frogfish"]
TRAIN_COUNTS = [2400, 1300, 700, 380, 200, 110, 60, 32]
SPLIT = {"many": [0, 1], "medium": [2, 3, 4, 5], "few": [6, 7]}
D, K = 10, len(SPECIES)

rng = np.random.default_rng(11)
mx.random.seed(11)
centres = rng.normal(0.0, 1.0, (K, D))
scales = rng.uniform(0.8, 1.2, (K, D))


def draw(counts):
    xs, ys = [], []
    for k, n in enumerate(counts):
        xs.append(centres[k] + scales[k] * rng.normal(0.0, 1.0, (n, D)))
        ys.append(np.full(n, k))
    x = np.concatenate(xs).astype(np.float32)
    y = np.concatenate(ys).astype(np.int32)
    p = rng.permutation(len(y))
    return x[p], y[p]


xtr, ytr = draw(TRAIN_COUNTS)
xva, yva = draw([120] * K)
xte, yte = draw([200] * K)
mu, sd = xtr.mean(0), xtr.std(0)
xtr, xva, xte = [(a - mu) / sd for a in (xtr, xva, xte)]
Xtr, Ytr = mx.array(xtr), mx.array(ytr)
Xva, Xte = mx.array(xva), mx.array(xte)


class Tally(nn.Module):
    def __init__(self):
        super().__init__()
        self.trunk = nn.Sequential(nn.Linear(D, 64), nn.ReLU(),
                                   nn.Linear(64, 64), nn.ReLU())
        self.head = nn.Linear(64, K)

    def __call__(self, x):
        return self.head(self.trunk(x))


def recalls(pred, y):
    return np.array([(pred[y == k] == k).mean() for k in range(K)])


def report(logits, y):
    r = recalls(np.array(mx.argmax(logits, axis=1)), y)
    out = {"all": 100 * r.mean()}
    for name, ks in SPLIT.items():
        out[name] = 100 * r[ks].mean()
    return out


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


model = Tally()
mx.eval(model.parameters())
vg = nn.value_and_grad(model, loss_fn)

_, g0 = vg(model, Xtr[:256], Ytr[:256])
leaves = tree_flatten(g0)
print(f"grad audit: {len(leaves)} leaves, "
      f"min |g| {min(float(mx.abs(v).max()) for _, v in leaves):.2e}")
print(f"train counts {TRAIN_COUNTS}  (head/tail ratio {TRAIN_COUNTS[0] / TRAIN_COUNTS[-1]:.0f}x)")
print(f"balanced test, chance recall 12.50%, always-damselfish recall 12.50%")

# phase 1: instance-balanced sampling
opt = optim.SGD(learning_rate=optim.cosine_decay(0.05, 20 * 42, 1e-3), momentum=0.9,
                weight_decay=5e-4)
B = 128
t0 = time.time()
print("\nphase IB  (instance-balanced)")
for ep in range(1, 21):
    perm = rng.permutation(len(ytr))
    tot, n = 0.0, 0
    for i in range(0, len(perm) - B + 1, B):
        idx = mx.array(perm[i:i + B])
        loss, g = vg(model, Xtr[idx], Ytr[idx])
        opt.update(model, g)
        mx.eval(loss, model.parameters(), opt.state)
        tot += float(loss); n += 1
    if ep % 4 == 0 or ep == 1:
        m = report(model(Xva), yva)
        print(f"  ep {ep:2d}  ce {tot / n:.4f}  val bal-acc {m['all']:5.1f}%  "
              f"many {m['many']:5.1f}%  medium {m['medium']:5.1f}%  few {m['few']:5.1f}%")

ib_test = report(model(Xte), yte)
W1 = mx.array(model.head.weight)
b1 = mx.array(model.head.bias)

# phase 2: classifier re-training on frozen features, class-balanced sampling
trunk_before = [mx.array(v) for _, v in tree_flatten(model.trunk.parameters())]
model.trunk.freeze()
model.head = nn.Linear(64, K)
mx.eval(model.head.parameters())
opt2 = optim.SGD(learning_rate=optim.cosine_decay(0.05, 400, 1e-3), momentum=0.9)
by_class = [np.flatnonzero(ytr == k) for k in range(K)]
print("\nphase cRT (class-balanced, trunk frozen, new head; step counter from 1)")
win = []
for step in range(1, 401):
    ks = rng.integers(0, K, B)
    idx = np.array([by_class[k][rng.integers(len(by_class[k]))] for k in ks])
    idx = mx.array(idx)
    loss, g = vg(model, Xtr[idx], Ytr[idx])
    opt2.update(model, g)
    mx.eval(loss, model.parameters(), opt2.state)
    win.append(float(loss))
    if step in (1, 50, 100, 200, 300, 400):
        m = report(model(Xva), yva)
        print(f"  step {step:3d}  ce(balanced batch) {np.mean(win):.4f}  val bal-acc {m['all']:5.1f}%  "
              f"many {m['many']:5.1f}%  medium {m['medium']:5.1f}%  few {m['few']:5.1f}%")
        win = []
drift = max(float(mx.abs(a - b).max()) for a, (_, b) in
            zip(trunk_before, tree_flatten(model.trunk.parameters())))
print(f"  trunk drift while frozen: {drift:.1e}")
crt_test = report(model(Xte), yte)

# phase 3: tau-normalised phase-1 head, tau picked on validation
feats_va = model.trunk(Xva)
feats_te = model.trunk(Xte)
print("\nphase tau-norm (no training, phase-1 head rescaled by ||w_k||^tau)")
best = None
norms = mx.linalg.norm(W1, axis=1, keepdims=True)
print("  head row norms: " + " ".join(f"{v:.2f}" for v in np.array(norms[:, 0])))
for tau in (0.0, 0.25, 0.5, 0.75, 1.0, 1.25):
    W = W1 / norms ** tau
    m = report(feats_va @ W.T, yva)
    print(f"  tau {tau:4.2f}  val bal-acc {m['all']:5.1f}%  many {m['many']:5.1f}%  few {m['few']:5.1f}%")
    if best is None or m["all"] > best[1]:
        best = (tau, m["all"])
tau = best[0]
tn_test = report(feats_te @ (W1 / norms ** tau).T, yte)

print(f"\n========  ========  ========  ========  ========")
print(f"method    all %     many %    medium %  few %")
print(f"========  ========  ========  ========  ========")
for name, m in (("chance", {"all": 12.5, "many": 12.5, "medium": 12.5, "few": 12.5}),
                ("IB", ib_test), ("cRT", crt_test), (f"tau={tau:g}", tn_test)):
    print(f"{name:<8}  {m['all']:8.1f}  {m['many']:8.1f}  {m['medium']:8.1f}  {m['few']:8.1f}")
print(f"========  ========  ========  ========  ========")
print(f"done in {time.time() - t0:.1f}s")
