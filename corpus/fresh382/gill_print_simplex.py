"""Spore-print genus sorting (6 genera) from 10 microscope measurements.

The classifier layer is a constant simplex equiangular tight frame: 6 unit
vectors with pairwise cosine -1/5, set once and never trained. Only the
backbone learns to place features next to its genus vector. Training runs in
two sessions with a checkpoint in between.
"""
import os, tempfile, time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

K, D = 6, 16
rng = np.random.default_rng(23)
mx.random.seed(23)
centres = rng.normal(0, 1.0, (K, 10))


def sample(n):
    y = rng.integers(0, K, n)
    x = centres[y] + rng.normal(0, 0.9, (n, 10))
    x[:, 3] = np.exp(0.4 * x[:, 3])          # spore length is skewed
    return x.astype(np.float32), y


Xtr, ytr = sample(4800); Xte, yte = sample(1200)
mu, sd = Xtr.mean(0), Xtr.std(0)
Xtr, Xte = mx.array((Xtr - mu) / sd), mx.array((Xte - mu) / sd)
ytr, yte = mx.array(ytr), mx.array(yte)


def etf(k, d, seed=0):
    q, _ = np.linalg.qr(np.random.default_rng(seed).normal(size=(d, k)))
    m = np.sqrt(k / (k - 1)) * q @ (np.eye(k) - np.ones((k, k)) / k)
    return m.T.astype(np.float32)            # (k, d), unit rows


class Sorter(nn.Module):
    def __init__(self):
        super().__init__()
        self.backbone = nn.Sequential(nn.Linear(10, 64), nn.GELU(), nn.Linear(64, 64), nn.GELU(), nn.Linear(64, D))
        self.classifier = nn.Linear(D, K, bias=False)
        self.classifier.weight = mx.array(etf(K, D))
        self.classifier.freeze()

    def features(self, x):
        f = self.backbone(x)
        return f / (mx.linalg.norm(f, axis=-1, keepdims=True) + 1e-6)

    def __call__(self, x):
        return 12.0 * self.classifier(self.features(x))


def report(model):
    logits = model(Xte)
    acc = float(mx.mean(mx.argmax(logits, -1) == yte).item()) * 100
    f = np.array(model.features(Xte)); y = np.array(yte)
    means = np.stack([f[y == c].mean(0) for c in range(K)])
    within = np.mean([((f[y == c] - means[c]) ** 2).sum(1).mean() for c in range(K)])
    between = ((means - means.mean(0)) ** 2).sum(1).mean()
    return acc, within / between


def run(model, opt, ep_from, ep_to):
    loss_fn = lambda md, xb, yb: nn.losses.cross_entropy(md(xb), yb, reduction="mean")
    vg = nn.value_and_grad(model, loss_fn)
    for ep in range(ep_from, ep_to + 1):
        t0 = time.time(); perm = np.random.default_rng(ep).permutation(4800); tot = 0.0
        for i in range(0, 4800, 64):
            idx = mx.array(perm[i:i + 64])
            l, g = vg(model, Xtr[idx], ytr[idx])
            if ep == 1 and i == 0:
                names = [k for k, _ in tree_flatten(g)]
                print(f"  . first update touches {len(names)} arrays: {', '.join(names)}")
            opt.update(model, g); mx.eval(model.parameters(), opt.state, l); tot += l.item()
        acc, ratio = report(model)
        print(f"  epoch {ep:2d} | lr {opt.learning_rate.item():.4f} | train CE {tot / 75:.4f} | "
              f"test acc {acc:5.1f}% | within/between {ratio:.3f} | {time.time() - t0:.2f}s")


sched = optim.cosine_decay(0.05, 24 * 75, end=5e-4)
model = Sorter()
W0 = np.array(model.classifier.weight)
cos = W0 @ W0.T
print(f"simplex head: {K} genera in {D}-d, off-diagonal cosine {cos[~np.eye(K, dtype=bool)].mean():+.4f} (target {-1 / (K - 1):+.4f})")
acc0, r0 = report(model)
print(f"untrained: test acc {acc0:.1f}% (chance {100 / K:.1f}%), within/between {r0:.3f}")
print("session 1")
opt = optim.SGD(learning_rate=sched, momentum=0.9, weight_decay=5e-4)
run(model, opt, 1, 12)

ckdir = tempfile.mkdtemp()
model.save_weights(os.path.join(ckdir, "sorter.safetensors"))
mx.save_safetensors(os.path.join(ckdir, "opt.safetensors"), dict(tree_flatten(opt.state)))
acc_saved, _ = report(model)
del model, opt

print("session 2 (resumed from checkpoint)")
model = Sorter()
model.load_weights(os.path.join(ckdir, "sorter.safetensors"))
model.classifier.freeze()
opt = optim.SGD(learning_rate=sched, momentum=0.9, weight_decay=5e-4)
opt.state = tree_unflatten(list(mx.load(os.path.join(ckdir, "opt.safetensors")).items()))
acc_loaded, _ = report(model)
print(f"  . reloaded test acc {acc_loaded:.1f}% (saved {acc_saved:.1f}%), optimizer step {int(opt.state['step'].item())}")
run(model, opt, 13, 24)

drift = float(np.abs(np.array(model.classifier.weight) - W0).max())
print(f"simplex head max change over both sessions: {drift:.1e}")
print(f"final test accuracy: {report(model)[0]:.1f}%")
