# Tea tasting room: 5-grade leaf classification from 10 synthetic withering/rolling readings.
# Dropout rate is ramped from 0.0 up to 0.35 over training (curriculum dropout), so the
# printed train loss (measured with dropout active) climbs in the middle of the run.
# Weight decay is applied to 2-D weight matrices only; LayerNorm gains and biases are exempt.
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(11)
N_TR, N_VA, D, K = 3000, 800, 10, 5


def make(n):
    x = rng.normal(size=(n, D)).astype(np.float32)
    z = (1.3 * x[:, 0] - 0.9 * x[:, 1] * x[:, 2] + 0.8 * np.sin(2.0 * x[:, 3])
         + 0.6 * x[:, 4] ** 2 - 0.5 * x[:, 5] + 0.4 * x[:, 6] * x[:, 0])
    z = z + rng.normal(scale=0.45, size=n)
    cuts = np.quantile(z, [0.15, 0.40, 0.65, 0.88]) if n == N_TR else CUTS
    return x, np.digitize(z, cuts).astype(np.int32), cuts


xtr, ytr, CUTS = make(N_TR)
xva, yva, _ = make(N_VA)
Xtr, Ytr, Xva, Yva = map(mx.array, (xtr, ytr, xva, yva))


class RampDropout(nn.Module):
    def __init__(self):
        super().__init__()
        self.rate = 0.0

    def __call__(self, x):
        if not self.training or self.rate <= 0.0:
            return x
        keep = 1.0 - self.rate
        mask = mx.random.bernoulli(keep, x.shape)
        return mx.where(mask, x / keep, 0.0)


class Grader(nn.Module):
    def __init__(self):
        super().__init__()
        self.inp = nn.Linear(D, 128)
        self.n1 = nn.LayerNorm(128)
        self.d1 = RampDropout()
        self.mid = nn.Linear(128, 128)
        self.n2 = nn.LayerNorm(128)
        self.d2 = RampDropout()
        self.out = nn.Linear(128, K)

    def set_rate(self, r):
        self.d1.rate = r
        self.d2.rate = r

    def __call__(self, x):
        h = self.d1(nn.gelu(self.n1(self.inp(x))))
        h = self.d2(nn.gelu(self.n2(self.mid(h))))
        return self.out(h)


mx.random.seed(3)
model = Grader()
mx.eval(model.parameters())

EPOCHS, BS = 28, 64
steps_per_epoch = N_TR // BS
total = EPOCHS * steps_per_epoch
warm = 60
sched = optim.join_schedules(
    [optim.linear_schedule(0.0, 3e-3, warm), optim.cosine_decay(3e-3, total - warm, 1e-4)], [warm])
decayed = optim.AdamW(learning_rate=sched, weight_decay=0.08)
plain = optim.AdamW(learning_rate=sched, weight_decay=0.0)
opt = optim.MultiOptimizer([decayed, plain], filters=[lambda path, w: w.ndim == 2])


def loss_fn(m, x, y):
    return nn.losses.cross_entropy(m(x), y, reduction="mean")


grad_fn = nn.value_and_grad(model, loss_fn)


def norms():
    p = dict(tree_flatten(model.parameters()))
    w = sum(float(mx.sum(v * v)) for k, v in p.items() if v.ndim == 2) ** 0.5
    g = float(mx.mean(mx.concatenate([p["n1.weight"], p["n2.weight"]])))
    return w, g


def evaluate():
    model.eval()
    logits = model(Xva)
    l = float(nn.losses.cross_entropy(logits, Yva, reduction="mean"))
    acc = float(mx.mean(mx.argmax(logits, axis=1) == Yva))
    model.train()
    return l, acc


majority = float(np.mean(yva == np.bincount(ytr).argmax()))
print(f"grades={K} train={N_TR} valid={N_VA} majority-grade accuracy={majority:.3f}")
print(f"lr schedule: linear 0 -> 3e-3 over {warm} steps, cosine to 1e-4; first step lr={float(sched(mx.array(0))):.1e}")
w0, g0 = norms()
l0, a0 = evaluate()
print(f"epoch  0  p=0.00  train_ce=   -    val_ce={l0:.4f} val_acc={a0:.3f}  |W|={w0:.2f} ln_gain={g0:.3f}")

t0 = time.time()
step = 0
for ep in range(1, EPOCHS + 1):
    rate = 0.35 * min(1.0, (ep - 1) / 14.0)
    model.set_rate(rate)
    perm = rng.permutation(N_TR)
    tot = 0.0
    for b in range(steps_per_epoch):
        idx = mx.array(perm[b * BS:(b + 1) * BS])
        loss, grads = grad_fn(model, Xtr[idx], Ytr[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        tot += float(loss)
        step += 1
    if ep % 3 == 0 or ep == 1:
        vl, va = evaluate()
        w, g = norms()
        print(f"epoch {ep:2d}  p={rate:.2f}  train_ce={tot / steps_per_epoch:.4f} "
              f"val_ce={vl:.4f} val_acc={va:.3f}  |W|={w:.2f} ln_gain={g:.3f}")

vl, va = evaluate()
print(f"final val_ce={vl:.4f} val_acc={va:.3f} (majority {majority:.3f}) steps={step} "
      f"time={time.time() - t0:.1f}s")
