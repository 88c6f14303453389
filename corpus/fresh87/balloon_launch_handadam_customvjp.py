"""Hot-air balloon launch call (fly / wait / scrub) from the morning briefing.
Hand-written Adam over flattened parameters; a bounded activation with its own VJP."""
import logging, sys, time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
from mlx.utils import tree_flatten, tree_unflatten

logging.basicConfig(stream=sys.stdout, level=logging.INFO, format="%(levelname)-5s balloon: %(message)s")
log = logging.getLogger()

rng = np.random.default_rng(11)
def briefing(n):
    wind = rng.gamma(2.0, 2.5, n)          # knots
    gust = wind + rng.gamma(1.5, 2.0, n)
    cloud = rng.uniform(0, 8, n)           # oktas
    vis = rng.uniform(1, 20, n)            # km
    lapse = rng.normal(6.5, 2.0, n)        # C/km
    precip = (rng.uniform(0, 1, n) < 0.15).astype(np.float64)
    score = 0.35 * wind + 0.25 * (gust - wind) + 0.2 * np.maximum(cloud - 5, 0) \
        - 0.15 * np.log(vis) + 0.3 * np.abs(lapse - 6.5) + 2.0 * precip
    score += rng.logistic(0, 0.5, n)
    y = np.digitize(score, [3.0, 5.0])      # 0 fly, 1 wait, 2 scrub
    return np.stack([wind, gust, cloud, vis, lapse, precip], 1), y

Xtr, ytr = briefing(9000); Xte, yte = briefing(2000)
mu, sd = Xtr.mean(0), Xtr.std(0)
Xtr_m = mx.array(((Xtr - mu) / sd).astype(np.float32)); ytr_m = mx.array(ytr.astype(np.int32))
Xte_m = mx.array(((Xte - mu) / sd).astype(np.float32))

@mx.custom_function
def soft_sign(x):
    return x / (1 + mx.abs(x))

@soft_sign.vjp
def soft_sign_vjp(primals, cotangent, output):
    x = primals[0] if isinstance(primals, (tuple, list)) else primals
    d = 1 + mx.abs(x)
    return cotangent / (d * d)

class Briefer(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(6, 64); self.l2 = nn.Linear(64, 64); self.head = nn.Linear(64, 3)
    def __call__(self, x):
        return self.head(soft_sign(self.l2(soft_sign(self.l1(x)))))

class HandAdam:
    def __init__(self, lr, b1=0.9, b2=0.999, eps=1e-8):
        self.lr, self.b1, self.b2, self.eps, self.t = lr, b1, b2, eps, 0
        self.m, self.v = {}, {}
    def step(self, model, grads):
        self.t += 1
        params = dict(tree_flatten(model.trainable_parameters()))
        new = []
        for k, g in tree_flatten(grads):
            m = self.b1 * self.m.get(k, mx.zeros_like(g)) + (1 - self.b1) * g
            v = self.b2 * self.v.get(k, mx.zeros_like(g)) + (1 - self.b2) * g * g
            self.m[k], self.v[k] = m, v
            mhat = m / (1 - self.b1 ** self.t); vhat = v / (1 - self.b2 ** self.t)
            new.append((k, params[k] - self.lr * mhat / (mx.sqrt(vhat) + self.eps)))
        model.update(tree_unflatten(new))
    def arrays(self):
        return list(self.m.values()) + list(self.v.values())

def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")

def test_report(model):
    pred = np.array(mx.argmax(model(Xte_m), axis=1))
    acc = 100.0 * np.mean(pred == yte)
    scrub_recall = 100.0 * np.mean(pred[yte == 2] == 2)
    return acc, scrub_recall

mx.random.seed(3)
model = Briefer()
opt = HandAdam(lr=1e-3)
vg = nn.value_and_grad(model, loss_fn)
counts = np.bincount(ytr, minlength=3)
log.info("train %d / test %d, class shares fly/wait/scrub = %s %%", len(ytr), len(yte),
         "/".join(f"{100 * c / len(ytr):.1f}" for c in counts))
acc, rec = test_report(model)
log.info("untrained: test accuracy %.1f %%, scrub recall %.1f %%, majority-class accuracy %.1f %%",
         acc, rec, 100.0 * np.mean(yte == np.argmax(counts)))

bs, epochs, n = 64, 12, len(ytr)
t0 = time.time()
for ep in range(1, epochs + 1):
    perm = rng.permutation(n); tot = 0.0; nb = 0
    for b in range(0, n - bs + 1, bs):
        idx = mx.array(perm[b:b + bs])
        loss, g = vg(model, Xtr_m[idx], ytr_m[idx])
        if ep == 1 and b == 0:
            fl = tree_flatten(g)
            log.info("first step: %d gradient leaves, all-zero leaves: %s", len(fl),
                     [k for k, v in fl if float(mx.abs(v).max()) == 0.0] or "none")
        opt.step(model, g)
        mx.eval(loss, model.parameters(), opt.arrays())
        tot += loss.item(); nb += 1
    acc, rec = test_report(model)
    log.info("epoch %2d  train CE %.4f nats  test accuracy %.1f %%  scrub recall %.1f %%  %.1fs",
             ep, tot / nb, acc, rec, time.time() - t0)
log.info("done after %d Adam steps", opt.t)
