# Ropeway (cable car) maintenance: classify cabin sway regime (calm / gusty / resonant)
# from 8 tower-sensor features. Hand-written RMSprop over tree_flatten paths, gradients
# averaged through a single-process mx.distributed all_sum, early stopping that restores
# the best weights.
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
from mlx.utils import tree_flatten, tree_unflatten, tree_map

group = mx.distributed.init()
WORLD = group.size()

rng = np.random.default_rng(11)
def make(n):
    wind = rng.gamma(2.0, 3.0, n)
    gust = wind * rng.uniform(1.0, 2.2, n)
    speed = rng.uniform(1.0, 6.0, n)           # m/s line speed
    load = rng.uniform(0, 8, n)                # passengers
    span = rng.uniform(80, 600, n)             # m between towers
    freq = 1.0 / np.sqrt(span / 9.81) / (2 * np.pi) * (1 + 0.03 * load)
    excite = speed / span * 10
    near = np.exp(-((excite - freq * 3) ** 2) / 0.02)
    temp = rng.uniform(-15, 25, n)
    noise = rng.normal(0, 1, n)
    score_g = 0.35 * (gust - wind) + 0.1 * wind - 1.5
    score_r = 4.0 * near + 0.05 * load - 2.0
    z = np.stack([np.zeros(n), score_g, score_r], 1) + rng.gumbel(0, 0.6, (n, 3))
    y = z.argmax(1)
    X = np.stack([wind, gust, speed, load, span, excite, temp, noise], 1)
    return X.astype(np.float32), y.astype(np.int32)

Xtr, ytr = make(9000); Xva, yva = make(1500); Xte, yte = make(1500)
mu, sd = Xtr.mean(0), Xtr.std(0)
Xtr, Xva, Xte = [(a - mu) / sd for a in (Xtr, Xva, Xte)]
Xtr_m, ytr_m = mx.array(Xtr), mx.array(ytr)
print(f"world size {WORLD}  train {len(Xtr)}  val {len(Xva)}  test {len(Xte)}  class shares {np.bincount(ytr) / len(ytr)}")

class SwayNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Linear(8, 96)
        self.b = nn.Linear(96, 96)
        self.head = nn.Linear(96, 3)
    def __call__(self, x):
        return self.head(nn.relu(self.b(nn.relu(self.a(x)))))

class RMSpropByHand:
    def __init__(self, lr=2e-3, alpha=0.95, eps=1e-8):
        self.lr, self.alpha, self.eps = lr, alpha, eps
        self.sq = None
    def step(self, model, grads):
        params = dict(tree_flatten(model.trainable_parameters()))
        g = dict(tree_flatten(grads))
        if self.sq is None:
            self.sq = {k: mx.zeros_like(v) for k, v in params.items()}
        new = []
        for k, p in params.items():
            self.sq[k] = self.alpha * self.sq[k] + (1 - self.alpha) * g[k] * g[k]
            new.append((k, p - self.lr * g[k] / (mx.sqrt(self.sq[k]) + self.eps)))
        model.update(tree_unflatten(new))

def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")

def allreduce_mean(grads):
    return tree_map(lambda g: mx.distributed.all_sum(g, group=group) / WORLD, grads)

def evaluate(model, X, y):
    logits = model(mx.array(X))
    ce = float(nn.losses.cross_entropy(logits, mx.array(y), reduction="mean"))
    acc = float(mx.mean(mx.argmax(logits, axis=1) == mx.array(y))) * 100
    return ce, acc

mx.random.seed(3)
model = SwayNet()
opt = RMSpropByHand()
vg = nn.value_and_grad(model, loss_fn)

ce0, acc0 = evaluate(model, Xva, yva)
print(f"{'epoch':>5} {'train_ce':>9} {'val_ce':>8} {'val_acc%':>8} {'best':>5} {'wait':>4} {'secs':>5}")
print(f"{0:>5} {'':>9} {ce0:>8.4f} {acc0:>8.2f} {'':>5} {'':>4} {0.0:>5.1f}")

best_ce, best_params, best_epoch, wait, patience = float("inf"), None, 0, 0, 4
t0 = time.time(); B = 64
for epoch in range(1, 41):
    perm = rng.permutation(len(Xtr)); tot = 0.0; nb = 0
    for s in range(0, len(perm) - B + 1, B):
        idx = mx.array(perm[s:s + B])
        loss, g = vg(model, Xtr_m[idx], ytr_m[idx])
        g = allreduce_mean(g)
        if epoch == 1 and s == 0:
            leaves = tree_flatten(g)
            zero = [k for k, v in leaves if float(mx.abs(v).max()) == 0.0]
            first_grad = f"first-step gradients: {len(leaves)} leaves, zero: {zero or 'none'}"
        opt.step(model, g)
        mx.eval(model.parameters(), opt.sq, loss)
        tot += float(loss); nb += 1
    ce, acc = evaluate(model, Xva, yva)
    mark = ""
    if ce < best_ce - 1e-4:
        best_ce, best_epoch, wait, mark = ce, epoch, 0, "*"
        best_params = tree_map(lambda p: mx.array(p), model.parameters())
        mx.eval(best_params)
    else:
        wait += 1
    print(f"{epoch:>5} {tot / nb:>9.4f} {ce:>8.4f} {acc:>8.2f} {mark:>5} {wait:>4} {time.time() - t0:>5.1f}")
    if wait >= patience:
        print(f"early stop at epoch {epoch}: no val improvement for {patience} epochs")
        break

print(first_grad)
last_ce, last_acc = evaluate(model, Xte, yte)
model.update(best_params)
mx.eval(model.parameters())
te_ce, te_acc = evaluate(model, Xte, yte)
print(f"restored weights of epoch {best_epoch}: test ce {te_ce:.4f} acc {te_acc:.2f}%  (last-epoch weights: ce {last_ce:.4f} acc {last_acc:.2f}%)")
