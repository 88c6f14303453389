# Cuttlefish skin-pattern strips: self-supervised BYOL pre-training of a small
# 1-D conv encoder, then a linear probe on the frozen encoder.
# A strip is 32 chromatophore brightness readings along the mantle.
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

rng = np.random.default_rng(135)
mx.random.seed(135)
L = 32
PATTERNS = ["uniform", "mottle", "stripe", "disruptive"]


def make_strip(kind):
    x = np.arange(L)
    base = rng.uniform(0.3, 0.7)
    if kind == 0:  # uniform, slight gradient
        s = base + rng.uniform(-0.004, 0.004) * (x - L / 2)
    elif kind == 1:  # mottle: smooth blobs
        s = base + np.convolve(rng.normal(0, 0.3, L + 6), np.ones(7) / 7, mode="valid")
    elif kind == 2:  # stripes with random period and phase
        period = rng.uniform(4.0, 8.0)
        s = base + 0.12 * np.sin(2 * np.pi * x / period + rng.uniform(0, 2 * np.pi))
    else:  # disruptive: dark half + bright square patch
        s = np.full(L, base + 0.1)
        cut = rng.integers(10, 22)
        s[cut:] -= 0.2
        p = rng.integers(0, L - 5)
        s[p:p + 5] = base + 0.25
    return s + rng.normal(0, 0.12, L)


def make_set(n):
    y = rng.integers(0, 4, n)
    X = np.stack([make_strip(k) for k in y]).astype(np.float32)
    return X, y


X_unlab, _ = make_set(4000)
X_tr, y_tr = make_set(3000)
X_te, y_te = make_set(1000)


def augment(X):
    n = X.shape[0]
    shifts = rng.integers(0, L, n)
    idx = (np.arange(L)[None, :] + shifts[:, None]) % L
    V = np.take_along_axis(X, idx, axis=1)
    V = V * rng.uniform(0.7, 1.3, (n, 1)) + rng.uniform(-0.15, 0.15, (n, 1))
    V = V + rng.normal(0, 0.05, V.shape)
    drop = rng.random(V.shape) < 0.1
    V = np.where(drop, V.mean(axis=1, keepdims=True), V)
    return mx.array(V.astype(np.float32))


class Encoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv1d(1, 16, 5, padding=2)
        self.c2 = nn.Conv1d(16, 32, 5, padding=2)
        self.out = nn.Linear(64, 64)

    def __call__(self, x):
        h = nn.relu(self.c1(x[..., None]))
        h = nn.relu(self.c2(h))
        h = mx.concatenate([h.mean(axis=1), h.max(axis=1)], axis=-1)
        return self.out(h)


def mlp(i, h, o):
    return nn.Sequential(nn.Linear(i, h), nn.BatchNorm(h), nn.ReLU(), nn.Linear(h, o))


class Online(nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = Encoder()
        self.projector = mlp(64, 128, 32)
        self.predictor = mlp(32, 128, 32)

    def project(self, x):
        return self.projector(self.encoder(x))


class Target(nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = Encoder()
        self.projector = mlp(64, 128, 32)

    def project(self, x):
        return self.projector(self.encoder(x))


def cos_loss(p, z):
    p = p / mx.linalg.norm(p, axis=-1, keepdims=True)
    z = z / mx.linalg.norm(z, axis=-1, keepdims=True)
    return 2.0 - 2.0 * (p * z).sum(axis=-1).mean()


online = Online()
target = Target()
# target starts as an exact copy of the online encoder+projector
target.update(tree_map(lambda a: mx.array(a), {"encoder": online.encoder.parameters(),
                                               "projector": online.projector.parameters()}))
target.freeze()
mx.eval(online.parameters(), target.parameters())

group = mx.distributed.init()  # one process here; gradients still go through all_sum


def byol_loss(model, v1, v2, t1, t2):
    p1 = model.predictor(model.project(v1))
    p2 = model.predictor(model.project(v2))
    return 0.5 * (cos_loss(p1, t2) + cos_loss(p2, t1))


loss_and_grad = nn.value_and_grad(online, byol_loss)
opt = optim.AdamW(learning_rate=2e-3, weight_decay=1e-4)

EPOCHS, BS = 10, 250
steps_per_epoch = X_unlab.shape[0] // BS
total = EPOCHS * steps_per_epoch
tau0 = 0.99

# one-off check that every online tensor receives gradient
v1, v2 = augment(X_unlab[:BS]), augment(X_unlab[:BS])
_, g = loss_and_grad(online, v1, v2, mx.stop_gradient(target.project(v1)),
                     mx.stop_gradient(target.project(v2)))
flat = tree_flatten(g)
nz = sum(int(mx.abs(a).sum().item() > 0) for _, a in flat)
print(f"grad check: {nz}/{len(flat)} online tensors with non-zero gradient, world size {group.size()}")

step = 0
for ep in range(1, EPOCHS + 1):
    perm = rng.permutation(X_unlab.shape[0])
    t0 = time.time()
    run = 0.0
    for b in range(steps_per_epoch):
        xb = X_unlab[perm[b * BS:(b + 1) * BS]]
        v1, v2 = augment(xb), augment(xb)
        t1 = mx.stop_gradient(target.project(v1))
        t2 = mx.stop_gradient(target.project(v2))
        loss, grads = loss_and_grad(online, v1, v2, t1, t2)
        grads = tree_map(lambda a: mx.distributed.all_sum(a, group=group) / group.size(), grads)
        opt.update(online, grads)
        # EMA of the target towards the online encoder/projector, tau -> 1 (cosine)
        tau = float(1 - (1 - tau0) * (np.cos(np.pi * step / total) + 1) / 2)
        new_t = tree_map(lambda t, o: tau * t + (1 - tau) * o,
                         {"encoder": target.encoder.parameters(), "projector": target.projector.parameters()},
                         {"encoder": online.encoder.parameters(), "projector": online.projector.parameters()})
        target.update(new_t)
        mx.eval(loss, online.parameters(), target.parameters(), opt.state)
        run += loss.item()
        step += 1
    bar = "#" * 20
    print(f"byol ep {ep:02d}/{EPOCHS}: 100%|{bar}| {steps_per_epoch}/{steps_per_epoch} "
          f"[{time.time() - t0:.1f}s, loss={run / steps_per_epoch:.4f}, tau={tau:.4f}]")
    if ep % 3 == 0 or ep == EPOCHS:
        z = online.project(mx.array(X_te[:500]))
        z = z / mx.linalg.norm(z, axis=-1, keepdims=True)
        gap = sum(mx.abs(a - b).sum().item() for (_, a), (_, b) in
                  zip(tree_flatten(online.encoder.parameters()), tree_flatten(target.encoder.parameters())))
        gn = sum((a * a).sum().item() for _, a in tree_flatten(grads)) ** 0.5
        print(f"  audit: z_std={z.std(axis=0).mean().item():.4f} (collapse ~0) "
              f"|online-target|_1={gap:.2f} grad_norm={gn:.4f}")


def probe(encoder, tag):
    encoder.freeze()
    head = nn.Linear(64, 4)
    popt = optim.SGD(learning_rate=0.1, momentum=0.9)
    Ftr = mx.stop_gradient(encoder(mx.array(X_tr)))
    Fte = mx.stop_gradient(encoder(mx.array(X_te)))
    mu, sd = Ftr.mean(axis=0), Ftr.std(axis=0) + 1e-5
    Ftr, Fte = (Ftr - mu) / sd, (Fte - mu) / sd
    ytr, yte = mx.array(y_tr), mx.array(y_te)

    def ce(h, f, y):
        return nn.losses.cross_entropy(h(f), y, reduction="mean")

    lg = nn.value_and_grad(head, ce)
    for it in range(1, 151):
        l, gh = lg(head, Ftr, ytr)
        popt.update(head, gh)
        mx.eval(l, head.parameters(), popt.state)
        if it % 50 == 0:
            acc = (mx.argmax(head(Fte), axis=1) == yte).mean().item()
            print(f"  probe[{tag}] it {it:3d}/150  xent {l.item():.4f}  test acc {100 * acc:5.1f}%")
    return acc


print("linear probe on frozen encoders (chance = 25.0%)")
acc_rand = probe(Encoder(), "random-init")
acc_byol = probe(online.encoder, "byol")
print(f"summary: probe acc byol {100 * acc_byol:.1f}% vs random-init {100 * acc_rand:.1f}% vs chance 25.0%")
