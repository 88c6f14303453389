# Expected-goals (xG) model for ice-hockey shots, 4-fold CV with early stopping + restore.
import math
import random
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

random.seed(7)
mx.random.seed(7)

SHOT_TYPES = ["wrist", "slap", "snap", "backhand", "tip", "wrap"]


def synth_shots(n):
    rows, labels = [], []
    for _ in range(n):
        dist = random.uniform(3.0, 60.0)            # feet from goal line
        angle = random.uniform(-80.0, 80.0)          # degrees off centre
        st = random.randrange(len(SHOT_TYPES))
        rebound = 1.0 if random.random() < 0.12 else 0.0
        rush = 1.0 if random.random() < 0.18 else 0.0
        pp = 1.0 if random.random() < 0.2 else 0.0
        traffic = random.randint(0, 3)
        z = (1.2 - 0.075 * dist - 0.018 * abs(angle) + 1.1 * rebound + 0.45 * rush
             + 0.35 * pp - 0.25 * traffic + [0.0, 0.2, 0.1, -0.4, 0.6, -0.7][st]
             + 0.6 * rebound * (dist < 15))
        p = 1.0 / (1.0 + math.exp(-z))
        labels.append(1.0 if random.random() < p else 0.0)
        onehot = [1.0 if i == st else 0.0 for i in range(len(SHOT_TYPES))]
        rows.append([dist / 30.0, abs(angle) / 45.0, math.cos(math.radians(angle)),
                     rebound, rush, pp, traffic / 3.0] + onehot)
    return mx.array(rows), mx.array(labels)


X, Y = synth_shots(3200)
N, D = X.shape


class XGNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(D, 48), nn.SiLU(), nn.Linear(48, 48), nn.SiLU())
        self.out = nn.Linear(48, 1)

    def __call__(self, x):
        return self.out(self.body(x)).squeeze(-1)


def bce(model, x, y):
    return nn.losses.binary_cross_entropy(model(x), y, with_logits=True, reduction="mean")


def auc(scores, y):
    order = sorted(range(len(y)), key=lambda i: scores[i])
    ranks = [0.0] * len(y)
    for r, i in enumerate(order):
        ranks[i] = r + 1.0
    pos = sum(y)
    neg = len(y) - pos
    s = sum(r for r, t in zip(ranks, y) if t > 0.5)
    return (s - pos * (pos + 1) / 2) / (pos * neg)


def baseline_logloss(ytr, yva):
    rate = sum(ytr) / len(ytr)
    return -sum(t * math.log(rate) + (1 - t) * math.log(1 - rate) for t in yva) / len(yva)


perm = list(range(N))
random.shuffle(perm)
K, BS, MAX_EPOCHS, PATIENCE = 4, 32, 40, 5
folds = [perm[k::K] for k in range(K)]
summary = []

for k in range(K):
    va_idx = folds[k]
    tr_idx = [i for j in range(K) if j != k for i in folds[j]]
    xtr, ytr = X[mx.array(tr_idx)], Y[mx.array(tr_idx)]
    xva, yva = X[mx.array(va_idx)], Y[mx.array(va_idx)]
    ytr_l, yva_l = ytr.tolist(), yva.tolist()
    base = baseline_logloss(ytr_l, yva_l)

    model = XGNet()
    mx.eval(model.parameters())
    opt = optim.RMSprop(learning_rate=1e-3, alpha=0.95)
    vg = nn.value_and_grad(model, bce)

    if k == 0:
        _, g0 = vg(model, xtr[:256], ytr[:256])
        print("grad audit (fold 1, first batch):")
        for name, g in tree_flatten(g0):
            print(f"   {name:<18s} |g|={mx.linalg.norm(g).item():.3e}")

    print(f"\n== fold {k + 1}/{K}  train={len(tr_idx)} valid={len(va_idx)}  prior-rate logloss={base:.4f}")
    print(f"{'ep':>3} | {'train':>7} | {'valid':>7} | {'auc':>6} | {'best':>7} | wait")
    best, best_params, best_ep, wait = float("inf"), None, 0, 0
    ntr = len(tr_idx)
    for ep in range(1, MAX_EPOCHS + 1):
        order = mx.random.permutation(ntr)
        tot = 0.0
        nb = 0
        for s in range(0, ntr, BS):
            idx = order[s:s + BS]
            loss, grads = vg(model, xtr[idx], ytr[idx])
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item()
            nb += 1
        model.eval()
        logits = model(xva)
        vloss = nn.losses.binary_cross_entropy(logits, yva, with_logits=True).item()
        a = auc(mx.sigmoid(logits).tolist(), yva_l)
        model.train()
        if vloss < best - 1e-4:
            best, best_ep, wait = vloss, ep, 0
            best_params = [(n, mx.array(p)) for n, p in tree_flatten(model.parameters())]
        else:
            wait += 1
        print(f"{ep:>3} | {tot / nb:7.4f} | {vloss:7.4f} | {a:6.3f} | {best:7.4f} | {wait}")
        if wait >= PATIENCE:
            print(f"   early stop at epoch {ep}; restoring epoch {best_ep}")
            break
    model.load_weights(best_params)
    mx.eval(model.parameters())
    logits = model(xva)
    rl = nn.losses.binary_cross_entropy(logits, yva, with_logits=True).item()
    ra = auc(mx.sigmoid(logits).tolist(), yva_l)
    xg_sum = mx.sigmoid(logits).sum().item()
    print(f"   restored: valid={rl:.4f} auc={ra:.3f} xG={xg_sum:.1f} vs goals={sum(yva_l):.0f}")
    summary.append((k + 1, best_ep, base, rl, ra))

print("\nfold  best_ep  prior_ll  model_ll  auc")
for f, e, b, l, a in summary:
    print(f"{f:>4}  {e:>7}  {b:8.4f}  {l:8.4f}  {a:.3f}")
print(f"mean  {'':>7}  {sum(s[2] for s in summary) / K:8.4f}  {sum(s[3] for s in summary) / K:8.4f}  "
      f"{sum(s[4] for s in summary) / K:.3f}")
