"""Sea-kayak capsize risk, three seeds from scratch, hand-written momentum SGD; silent until the end."""
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
from mlx.utils import tree_flatten, tree_unflatten

def make_data(seed, n):
    r = np.random.default_rng(seed)
    wave = r.gamma(2.0, 0.5, n); wind = r.uniform(0, 30, n); beam = r.uniform(50, 65, n)
    skill = r.integers(1, 6, n).astype(float); load = r.uniform(0, 40, n); cold = r.integers(0, 2, n).astype(float)
    z = 1.6 * wave + 0.08 * wind - 0.12 * (beam - 57) - 0.7 * skill + 0.03 * load + 0.4 * cold - 0.5
    y = (r.random(n) < 1 / (1 + np.exp(-z))).astype(np.float32)
    return np.stack([wave, wind, beam, skill, load, cold], 1).astype(np.float32), y

class RiskNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.hidden = [nn.Linear(6, 48), nn.Linear(48, 48)]
        self.head = nn.Linear(48, 1)
    def __call__(self, x):
        for l in self.hidden:
            x = nn.relu(l(x))
        return self.head(x).squeeze(-1)

class MomentumSGD:
    def __init__(self, lr, mom): self.lr, self.mom, self.vel = lr, mom, {}
    def step(self, model, grads):
        flat_p = dict(tree_flatten(model.trainable_parameters()))
        new = []
        for k, g in tree_flatten(grads):
            v = self.mom * self.vel.get(k, mx.zeros_like(g)) + g
            self.vel[k] = v
            new.append((k, flat_p[k] - self.lr * v))
        model.update(tree_unflatten(new))
        return list(self.vel.values())

def auc(scores, y):
    order = np.argsort(scores); ranks = np.empty(len(y)); ranks[order] = np.arange(1, len(y) + 1)
    npos = y.sum(); nneg = len(y) - npos
    return (ranks[y == 1].sum() - npos * (npos + 1) / 2) / (npos * nneg)

def run(seed):
    Xtr, ytr = make_data(100 + seed, 6000); Xte, yte = make_data(900 + seed, 1500)
    mu, sd = Xtr.mean(0), Xtr.std(0); Xtr = (Xtr - mu) / sd; Xte = (Xte - mu) / sd
    mx.random.seed(seed); model = RiskNet(); opt = MomentumSGD(0.05, 0.9)
    lossf = lambda m, x, y: nn.losses.binary_cross_entropy(m(x), y, reduction="mean")
    vg = nn.value_and_grad(model, lossf)
    Xtr_m, ytr_m, Xte_m = mx.array(Xtr), mx.array(ytr), mx.array(Xte)
    def evaluate():
        p = np.array(mx.sigmoid(model(Xte_m)))
        return float(np.mean((p - yte) ** 2)), auc(p, yte)
    r = np.random.default_rng(seed); first, zero, nleaf, hist = None, None, 0, []
    brier0, auc0 = evaluate()
    for ep in range(10):
        perm = r.permutation(len(ytr)); tot, nb = 0.0, 0
        for i in range(0, len(perm) - 63, 64):
            idx = mx.array(perm[i:i + 64])
            loss, g = vg(model, Xtr_m[idx], ytr_m[idx])
            if first is None:
                fl = tree_flatten(g); nleaf = len(fl)
                zero = [k for k, a in fl if float(mx.abs(a).max()) == 0.0]; first = loss.item()
            vel = opt.step(model, g)
            mx.eval(model.parameters(), vel, loss)
            tot += loss.item(); nb += 1
        hist.append((ep + 1, tot / nb) + evaluate())
    return dict(seed=seed, leaves=nleaf, zero=zero, first=first, brier0=brier0, auc0=auc0,
                hist=hist, base=float(np.mean((ytr.mean() - yte) ** 2)), pos=float(yte.mean()))

t0 = time.time()
results = [run(s) for s in (1, 2, 3)]
for res in results:
    print(f"[seed {res['seed']}]")
    print(f"gradient_leaves = {res['leaves']}   zero_gradient = {res['zero']}")
    print(f"capsize_rate_test = {100 * res['pos']:.1f}%   constant_rate_brier = {res['base']:.4f}")
    print(f"untrained: brier = {res['brier0']:.4f}  auc = {res['auc0']:.3f}   first_batch_bce = {res['first']:.4f}")
    for ep, tr, b, a in res["hist"]:
        print(f"  epoch {ep:2d}: train_bce = {tr:.4f}  test_brier = {b:.4f} (lower is better)  test_auc = {a:.3f}")
    print()
fb = [r["hist"][-1][2] for r in results]; fa = [r["hist"][-1][3] for r in results]
print(f"[summary]\nseeds = 3\nfinal_test_brier = {np.mean(fb):.4f} +- {np.std(fb):.4f}\n"
      f"final_test_auc = {np.mean(fa):.3f} +- {np.std(fa):.3f}\nwall_seconds = {time.time() - t0:.1f}")
