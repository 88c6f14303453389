# Sourdough starter readiness: underproofed / ready / overproofed, from a bake log.
# Three seeds trained one after another from scratch; each run stops early on
# validation error and restores its best weights before the test pass.
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

rng = np.random.default_rng(2024)
n = 6000
hours = rng.uniform(1, 16, n)
temp = rng.uniform(18, 30, n)
hydration = rng.uniform(0.6, 1.2, n)
rye = rng.random(n) < 0.3
feed_ratio = rng.choice([1.0, 2.0, 5.0], n)
rise = np.clip(1 + 1.6 * (1 - np.exp(-hours * np.exp(0.08 * (temp - 24)) / (3 * feed_ratio ** 0.5)))
               - 0.02 * np.maximum(0, hours - 9) ** 1.5 + rng.normal(0, 0.08, n), 1.0, None)
act = hours * np.exp(0.08 * (temp - 24)) * 1.25 * np.where(rye, 1.3, 1.0) / feed_ratio ** 0.5 \
      * (0.8 + 0.4 * hydration) + rng.normal(0, 0.6, n)
label = np.where(act < 4.0, 0, np.where(act < 8.5, 1, 2))
X = np.stack([hours / 8 - 1, (temp - 24) / 4, hydration * 2 - 1.8, rye * 1.0, np.log(feed_ratio) - 0.8,
              (rise - 2) * 2, np.log(hours) - 1.9], 1).astype(np.float32)
ntr, nva = 4000, 1000
Xtr, ytr = mx.array(X[:ntr]), mx.array(label[:ntr])
Xva, yva = mx.array(X[ntr:ntr + nva]), mx.array(label[ntr:ntr + nva])
Xte, yte = mx.array(X[ntr + nva:]), mx.array(label[ntr + nva:])
names = ["under", "ready", "over"]


class Starter(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(7, 48), nn.ReLU(), nn.Linear(48, 48), nn.ReLU())
        self.out = nn.Linear(48, 3)

    def __call__(self, x):
        return self.out(self.body(x))


def ce(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def err_pct(model, x, y):
    return 100.0 * float(mx.mean(mx.argmax(model(x), axis=1) != y))


print(f"bake log: {ntr} train / {nva} valid / {n - ntr - nva} test, "
      f"classes {np.bincount(label).tolist()} (majority error {100 * (1 - np.bincount(label).max() / n):.1f}%)")
summary = []
for seed in (3, 17, 41):
    mx.random.seed(seed)
    order = np.random.default_rng(seed)
    model = Starter()
    opt = optim.RMSprop(learning_rate=1e-3)
    vg = nn.value_and_grad(model, ce)
    best_err, best_ep, best_w, waited, patience = 101.0, 0, None, 0, 4
    t0 = time.time()
    print(f"\nseed {seed}")
    print(f"{'epoch':>5} {'train_ce':>9} {'valid_ce':>9} {'valid_err':>10} {'best':>6}")
    for ep in range(1, 61):
        perm = mx.array(order.permutation(ntr))
        tot = 0.0
        for i in range(0, ntr, 50):
            idx = perm[i:i + 50]
            loss, g = vg(model, Xtr[idx], ytr[idx])
            if ep == 1 and i == 0:
                flat = tree_flatten(g)
                nz = sum(1 for _, v in flat if float(mx.abs(v).sum()) > 0)
                print(f"  (first step: {nz}/{len(flat)} gradient leaves non-zero)")
            opt.update(model, g)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item()
        vce = ce(model, Xva, yva).item()
        verr = err_pct(model, Xva, yva)
        mark = ""
        if verr < best_err:
            best_err, best_ep, waited, mark = verr, ep, 0, "*"
            best_w = tree_map(lambda a: mx.array(a), model.parameters())
            mx.eval(best_w)
        else:
            waited += 1
        print(f"{ep:5d} {tot / (ntr // 50):9.4f} {vce:9.4f} {verr:9.2f}% {mark:>6}")
        if waited >= patience:
            print(f"  no better valid error for {patience} epochs, stopping")
            break
    model.update(best_w)
    assert abs(err_pct(model, Xva, yva) - best_err) < 1e-6, "restore failed"
    te = err_pct(model, Xte, yte)
    pred = np.array(mx.argmax(model(Xte), axis=1))
    truth = label[ntr + nva:]
    recall = [100.0 * np.mean(pred[truth == c] == c) for c in range(3)]
    print(f"  restored epoch {best_ep} (valid error {best_err:.2f}%) -> test error {te:.2f}%  "
          + "  ".join(f"{nm} recall {r:.1f}%" for nm, r in zip(names, recall)) + f"  [{time.time() - t0:.1f}s]")
    summary.append(te)
print(f"\ntest error over seeds: mean {np.mean(summary):.2f}%  spread {np.min(summary):.2f}%..{np.max(summary):.2f}%")
