"""Bakery: is a proofing dough under-proofed / ready / over-proofed?
Hand-written RMSprop over tree_flatten paths; loss shown as a raw EMA (starts
from 0, so it first climbs) and its bias-corrected version; Cohen's kappa."""
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
from mlx.utils import tree_flatten, tree_unflatten

rng = np.random.default_rng(11)
N = 9000
# minutes proofed, room temp, yeast %, hydration, dough mass, poke-spring-back score
X = rng.normal(size=(N, 6)).astype(np.float32)
s = 1.4 * X[:, 0] + 0.9 * X[:, 1] + 0.7 * X[:, 2] + 0.4 * X[:, 3] * X[:, 1] - 0.3 * X[:, 4] + 0.8 * np.tanh(X[:, 5])
s = s + rng.logistic(0, 0.35, N)
Y = np.digitize(s, [-0.9, 1.1]).astype(np.int32)  # 0 under, 1 ready, 2 over
Xtr, Ytr = mx.array(X[:7500]), mx.array(Y[:7500])
Xte, Yte = mx.array(X[7500:]), Y[7500:]


class ProofNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(6, 48)
        self.l2 = nn.Linear(48, 48)
        self.head = nn.Linear(48, 3)

    def __call__(self, x):
        return self.head(nn.silu(self.l2(nn.silu(self.l1(x)))))


class HandRMSprop:
    def __init__(self, lr=2e-3, alpha=0.99, eps=1e-8):
        self.lr, self.alpha, self.eps = lr, alpha, eps
        self.sq = {}

    def step(self, model, grads):
        params = dict(tree_flatten(model.trainable_parameters()))
        new = []
        for k, g in tree_flatten(grads):
            v = self.sq.get(k, mx.zeros_like(g))
            v = self.alpha * v + (1 - self.alpha) * g * g
            self.sq[k] = v
            new.append((k, params[k] - self.lr * g / (mx.sqrt(v) + self.eps)))
        model.update(tree_unflatten(new))


def kappa(y, p, k=3):
    cm = np.zeros((k, k))
    np.add.at(cm, (y, p), 1)
    n = cm.sum()
    po = np.trace(cm) / n
    pe = (cm.sum(0) * cm.sum(1)).sum() / n ** 2
    return (po - pe) / (1 - pe)


def evaluate(model):
    pred = np.array(mx.argmax(model(Xte), axis=-1))
    return kappa(Yte, pred), float(np.mean(pred == Yte))


loss_fn = lambda m, xb, yb: nn.losses.cross_entropy(m(xb), yb, reduction="mean")
mx.random.seed(5)
net = ProofNet()
mx.eval(net.parameters())
opt = HandRMSprop()
vg = nn.value_and_grad(net, loss_fn)

shares = np.bincount(Y, minlength=3) / N
print("classes under/ready/over: " + " / ".join(f"{100 * c:.1f}%" for c in shares))
k0, a0 = evaluate(net)
print(f"step 0     kappa={k0:+.3f}  acc={100 * a0:.1f}%")

beta, ema, t0 = 0.98, 0.0, time.time()
B, steps, cur = 64, 1800, 0
perm = rng.permutation(7500)
for t in range(1, steps + 1):
    if cur + B > 7500:
        perm, cur = rng.permutation(7500), 0
    idx = mx.array(perm[cur:cur + B]); cur += B
    loss, g = vg(net, Xtr[idx], Ytr[idx])
    if t == 1:
        flat = tree_flatten(g)
        print(f"grad leaves {len(flat)}, all-zero: {[k for k, v in flat if not mx.any(v != 0).item()]}")
    opt.step(net, g)
    mx.eval(loss, net.parameters(), opt.sq)
    ema = beta * ema + (1 - beta) * loss.item()
    if t in (1, 10, 50) or t % 300 == 0:
        k, a = evaluate(net)
        print(f"step {t:<5d} ema_raw={ema:.4f}  ema_corrected={ema / (1 - beta ** t):.4f}  "
              f"kappa={k:+.3f}  acc={100 * a:.1f}%  {time.time() - t0:.1f}s")
k, a = evaluate(net)
print(f"finished: kappa {k:.3f} (1 = perfect agreement, 0 = chance), accuracy {100 * a:.1f}%")
