import math
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(7)


def spirals(n_per, k=3, noise=0.08):
    xs, ys = [], []
    for c in range(k):
        t = rng.uniform(0.15, 1.0, n_per)
        ang = 3.2 * t * math.pi + 2 * math.pi * c / k
        pts = np.stack([t * np.cos(ang), t * np.sin(ang)], 1)
        xs.append(pts + noise * rng.standard_normal(pts.shape))
        ys.append(np.full(n_per, c))
    x = np.concatenate(xs).astype(np.float32)
    y = np.concatenate(ys).astype(np.int32)
    p = rng.permutation(len(y))
    return mx.array(x[p]), mx.array(y[p])


class ChebEdge(nn.Module):
    def __init__(self, d_in, d_out, degree):
        super().__init__()
        self.degree = degree
        s = 1.0 / (d_in * (degree + 1))
        self.coef = mx.random.normal((d_in, d_out, degree + 1)) * math.sqrt(s)

    def __call__(self, x):
        x = mx.tanh(x) * 0.98
        terms = [mx.ones_like(x), x]
        for _ in range(2, self.degree + 1):
            terms.append(2 * x * terms[-1] - terms[-2])
        basis = mx.stack(terms[: self.degree + 1], axis=-1)
        return mx.einsum("bid,iod->bo", basis, self.coef)


class ChebNet(nn.Module):
    def __init__(self, degree):
        super().__init__()
        self.l1 = ChebEdge(2, 12, degree)
        self.norm = nn.LayerNorm(12)
        self.l2 = ChebEdge(12, 3, degree)

    def __call__(self, x):
        return self.l2(self.norm(self.l1(x)))

    def widen(self, degree):
        for layer in (self.l1, self.l2):
            pad = degree - layer.degree
            layer.coef = mx.concatenate(
                [layer.coef, mx.zeros(layer.coef.shape[:2] + (pad,))], axis=-1)
            layer.degree = degree


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def accuracy(model, x, y):
    return mx.mean(mx.argmax(model(x), axis=1) == y).item()


xtr, ytr = spirals(700)
xva, yva = spirals(300)

# linear softmax baseline, closed-form-ish by a few hundred full-batch steps
lin = nn.Linear(2, 3)
lopt = optim.SGD(learning_rate=0.5)
lstep = nn.value_and_grad(lin, lambda m, x, y: nn.losses.cross_entropy(m(x), y, reduction="mean"))
for _ in range(300):
    _, g = lstep(lin, xtr, ytr)
    lopt.update(lin, g)
    mx.eval(lin.parameters())
base_acc = mx.mean(mx.argmax(lin(xva), 1) == yva).item()
print(f"baseline linear softmax val_acc={base_acc:.3f}")

stages = [(4, 900), (8, 900)]
peak, warm, bs = 3e-3, 150, 128
ckpt = "/tmp/quiver_chebyshev_stage0.safetensors"

mx.random.seed(3)
model = ChebNet(stages[0][0])
t0 = time.time()
step_total = 0
for si, (deg, steps) in enumerate(stages):
    if si > 0:
        model = ChebNet(stages[0][0])
        model.load_weights(ckpt)
        model.widen(deg)
        print(f"resumed from {ckpt}, basis degree {stages[0][0]} -> {deg}, "
              f"val_acc after widening={accuracy(model, xva, yva):.3f}")
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, peak, warm),
         optim.cosine_decay(peak, steps - warm, 1e-5)], [warm])
    opt = optim.Lion(learning_rate=sched, weight_decay=1e-4)
    step = nn.value_and_grad(model, loss_fn)
    n = xtr.shape[0]
    for it in range(steps):
        idx = mx.array(rng.integers(0, n, bs))
        loss, g = step(model, xtr[idx], ytr[idx])
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state)
        step_total += 1
        if it in (0, warm) or (it + 1) % 300 == 0:
            va = accuracy(model, xva, yva)
            print(f"stage {si} deg {deg} it {it+1:4d}/{steps} lr={opt.learning_rate.item():.2e} "
                  f"loss={loss.item():.4f} val_acc={va:.3f} (baseline {base_acc:.3f}) "
                  f"t={time.time()-t0:.1f}s")
    if si == 0:
        model.save_weights(ckpt)
        print(f"saved {ckpt}")

n_params = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
final = accuracy(model, xva, yva)
print(f"done: params={n_params} steps={step_total} final val_acc={final:.3f} "
      f"baseline={base_acc:.3f} gain={final-base_acc:+.3f}")
