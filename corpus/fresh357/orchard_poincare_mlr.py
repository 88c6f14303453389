import json, math, time
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

mx.random.seed(11)
# hierarchical synthetic data: 4 coarse groups x 3 fine classes, 10% label noise
C, D, NPC = 12, 16, 200
coarse = mx.random.normal((4, D)) * 3.0
fine = mx.concatenate([coarse[i // 3][None] + mx.random.normal((1, D)) * 1.0 for i in range(C)])
y = mx.repeat(mx.arange(C), NPC)
X = fine[y] + mx.random.normal((C * NPC, D)) * 0.9
flip = mx.random.uniform(shape=y.shape) < 0.10
y = mx.where(flip, mx.random.randint(0, C, y.shape), y)
perm = mx.random.permutation(y.shape[0])
X, y = X[perm], y[perm]
Xtr, ytr, Xte, yte = X[:1920], y[:1920], X[1920:], y[1920:]

def expmap0(v, c):
    sc = mx.sqrt(c)
    n = mx.maximum(mx.linalg.norm(v, axis=-1, keepdims=True), 1e-6)
    return mx.tanh(mx.minimum(sc * n, 15.0)) * v / (sc * n)

def mobius_add(x, y, c):
    xy = mx.sum(x * y, -1, keepdims=True)
    x2 = mx.sum(x * x, -1, keepdims=True)
    y2 = mx.sum(y * y, -1, keepdims=True)
    num = (1 + 2 * c * xy + c * y2) * x + (1 - c * x2) * y
    return num / mx.maximum(1 + 2 * c * xy + c * c * x2 * y2, 1e-6)

class HypMLR(nn.Module):
    """Ganea et al. hyperbolic multinomial logistic regression on the Poincare ball."""
    def __init__(self, d_in, d_h, n_cls):
        super().__init__()
        self.enc = nn.Sequential(nn.Linear(d_in, 64), nn.GELU(), nn.Linear(64, d_h))
        self.p = mx.random.normal((n_cls, d_h)) * 0.01
        self.a = mx.random.normal((n_cls, d_h)) * 0.1
        self.log_c = mx.array(0.0)
    def __call__(self, x):
        c = mx.exp(self.log_c)
        h = expmap0(self.enc(x) * 0.1, c)                       # (B, d)
        pk = expmap0(self.p, c)                                  # (K, d)
        z = mobius_add(-pk[None], h[:, None], c)                 # (B, K, d)
        z2 = mx.sum(z * z, -1)
        lam = 2.0 / mx.maximum(1 - c * mx.sum(pk * pk, -1), 1e-5)  # (K,)
        an = mx.maximum(mx.linalg.norm(self.a, axis=-1), 1e-6)
        arg = 2 * mx.sqrt(c) * mx.sum(z * self.a[None], -1) / (an * mx.maximum(1 - c * z2, 1e-5))
        return lam * an / mx.sqrt(c) * mx.arcsinh(arg)

def loss_fn(m, xb, yb):
    return nn.losses.cross_entropy(m(xb), yb, reduction="mean")

def acc(m, xs, ys):
    return mx.mean(mx.argmax(m(xs), -1) == ys).item()

model = HypMLR(D, 8, C)
clean_ceiling = 0.90 + 0.10 / C
majority = max(mx.sum(yte == k).item() for k in range(C)) / yte.shape[0]
log = lambda **kw: print(json.dumps(kw))
log(event="baselines", majority_acc=round(majority, 4), noise_ceiling=round(clean_ceiling, 4),
    untrained_test_acc=round(acc(model, Xte, yte), 4))

def run_stage(name, steps, lr, freeze_curv, every):
    if freeze_curv:
        model.freeze(keys=["log_c"])
    else:
        model.unfreeze(keys=["log_c"])
    opt = optim.AdamW(learning_rate=optim.cosine_decay(lr, steps, lr * 0.05), weight_decay=1e-2)
    vg = nn.value_and_grad(model, loss_fn)
    n_tr = len(tree_flatten(model.trainable_parameters()))
    log(event="stage_start", stage=name, trainable_arrays=n_tr, curvature=round(math.exp(model.log_c.item()), 4))
    best = 0.0
    for s in range(1, steps + 1):
        idx = mx.random.randint(0, Xtr.shape[0], (128,))
        loss, g = vg(model, Xtr[idx], ytr[idx])
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state)
        if s % every == 0:
            te = acc(model, Xte, yte)
            if te > best + 0.01 or s == steps:   # only report real progress
                best = max(best, te)
                log(stage=name, step=s, loss=round(loss.item(), 4), train_acc=round(acc(model, Xtr, ytr), 4),
                    test_acc=round(te, 4), curvature=round(math.exp(model.log_c.item()), 4))

t0 = time.time()
run_stage("frozen_curvature", 1000, 1e-2, True, 50)
run_stage("learned_curvature", 600, 1e-3, False, 50)
te = acc(model, Xte, yte)
log(event="done", test_acc=round(te, 4), majority_acc=round(majority, 4), noise_ceiling=round(clean_ceiling, 4),
    curvature=round(math.exp(model.log_c.item()), 4), seconds=round(time.time() - t0, 1))
