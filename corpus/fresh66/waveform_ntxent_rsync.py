"""Self-supervised SimCLR-style pre-training (NT-Xent) of a waveform encoder on unlabelled
synthetic signals, judged by a k-NN probe; the log imitates `rsync -av --progress`."""
import time
from functools import partial
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(5)
mx.random.seed(5)
L = 64
t = np.arange(L) / L
KINDS = ["sine", "square", "saw", "triangle", "pulses"]


def wave(kind, f, ph):
    u = (f * t + ph) % 1.0
    if kind == 0:
        return np.sin(2 * np.pi * u)
    if kind == 1:
        return np.where(u < 0.5, 1.0, -1.0)
    if kind == 2:
        return 2 * u - 1
    if kind == 3:
        return 1 - 4 * np.abs(u - 0.5)
    return np.exp(-((u - 0.5) ** 2) / 0.004) * 2 - 0.5


def sample(n):
    ys = rng.integers(0, 5, n)
    xs = np.stack([wave(y, rng.uniform(2, 5), rng.random()) for y in ys])
    return xs.astype(np.float32), ys


def augment(x):
    n = len(x)
    shift = rng.integers(0, L, n)
    idx = (np.arange(L)[None, :] + shift[:, None]) % L
    out = np.take_along_axis(x, idx, 1)
    out = out * rng.uniform(0.5, 1.5, (n, 1)) + rng.normal(0, 0.3, (n, 1))
    out = out + rng.normal(0, 0.15, out.shape)
    return out.astype(np.float32)


unlab, _ = sample(6000)
bank_x, bank_y = sample(1000)
test_x, test_y = sample(500)
# the probe sees recorded-style signals: shifted, rescaled, offset and noisy
bank_x, test_x = augment(bank_x), augment(test_x)


class Encoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv1d(1, 16, 5)
        self.c2 = nn.Conv1d(16, 32, 5)
        self.proj = nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 32))

    def features(self, x):
        h = x[:, :, None]
        h = nn.relu(self.c1(mx.concatenate([h[:, -2:], h, h[:, :2]], 1)))  # circular pad
        h = nn.relu(self.c2(mx.concatenate([h[:, -2:], h, h[:, :2]], 1)))
        return mx.concatenate([h.mean(1), h.max(1)], 1)

    def __call__(self, x):
        return self.proj(self.features(x))


def ntxent(model, a, b, tau=0.2):
    z = mx.concatenate([model(a), model(b)], 0)
    z = z / mx.linalg.norm(z, axis=1, keepdims=True)
    n = a.shape[0]
    sim = (z @ z.T) / tau
    sim = sim - 1e9 * mx.eye(2 * n)
    target = mx.concatenate([mx.arange(n, 2 * n), mx.arange(0, n)])
    return nn.losses.cross_entropy(sim, target, reduction="mean")


def knn_acc(model, k=5):
    fb = model.features(mx.array(bank_x))
    ft = model.features(mx.array(test_x))
    fb = fb / mx.linalg.norm(fb, axis=1, keepdims=True)
    ft = ft / mx.linalg.norm(ft, axis=1, keepdims=True)
    s = np.array(ft @ fb.T)
    nn_idx = np.argsort(-s, 1)[:, :k]
    votes = bank_y[nn_idx]
    pred = np.array([np.bincount(v, minlength=5).argmax() for v in votes])
    return float((pred == test_y).mean())


model = Encoder()
sched = optim.exponential_decay(3e-3, 0.999)
opt = optim.Adamax(learning_rate=sched)
vg = nn.value_and_grad(model, ntxent)

state = [model.state, opt.state]


@partial(mx.compile, inputs=state, outputs=state)
def step(a, b):
    loss, grads = vg(model, a, b)
    opt.update(model, grads)
    return loss


print("sending incremental file list")
a0, b0 = mx.array(augment(unlab[:128])), mx.array(augment(unlab[:128]))
l0, g0 = vg(model, a0, b0)
flat = tree_flatten(g0)
zero = [k for k, v in flat if float(mx.abs(v).max()) == 0]
print(f"./gradcheck  leaves={len(flat)} zero={len(zero)} loss0={float(l0):.4f} (chance ln(255)={np.log(255):.4f})")
print(f"./baseline   knn@5 random-init={knn_acc(model):.3f} chance=0.200")

t0 = time.perf_counter()
bs, epochs = 128, 10
steps = 0
sent = 0
for ep in range(1, epochs + 1):
    perm = rng.permutation(len(unlab))
    run = []
    for i in range(0, len(perm) - bs + 1, bs):
        x = unlab[perm[i:i + bs]]
        loss = step(mx.array(augment(x)), mx.array(augment(x)))
        mx.eval(loss, model.parameters(), opt.state)
        run.append(float(loss))
        steps += 1
        sent += 2 * x.nbytes
    acc = knn_acc(model)
    el = time.perf_counter() - t0
    lr = float(sched(steps))
    print(f"epoch_{ep:02d}/ntxent={np.mean(run):.4f} knn@5={acc:.3f} lr={lr:.2e}")
    print(f"{sent:>14,} 100% {sent / max(el, 1e-9) / 1e6:8.2f}MB/s {int(el // 60)}:{el % 60:05.2f} "
          f"(xfr#{ep}, to-chk={epochs - ep}/{epochs})")

el = time.perf_counter() - t0
print()
print(f"sent {sent:,} bytes  received {steps} bytes  {sent / el:,.2f} bytes/sec")
print(f"total size is {len(unlab) * L * 4:,}  speedup is {sent / (len(unlab) * L * 4):.2f}  final knn@5={acc:.3f}")
