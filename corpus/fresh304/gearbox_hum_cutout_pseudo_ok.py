"""Gearbox condition from short accelerometer snippets, few labels + a big unlabelled pool.

Each snippet is turned into a log-magnitude spectrum. Consistency training with
confidence-thresholded pseudo-labels: the model labels the clean pool itself (confident
predictions only) and is trained to give the same answer on a view of the pool with a
band of frequency bins blanked out (SpecAugment-style frequency masking). The labelled
snippets get the same band masking as augmentation.
"""
import builtins
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

CONDITIONS = ["healthy", "chipped", "misalign", "outer_race", "dry"]
L = 64
N_LAB_PER_CLASS = 20
N_POOL = 2000
N_TEST = 600
EPOCHS = 20
SPAN = 8
THRESH = 0.95
LAMBDA_U = 1.0
BATCH_U = 200

rng = np.random.default_rng(7)
mx.random.seed(7)


def snippets(n, labels):
    t = np.arange(L) / L
    x = np.zeros((n, L), dtype=np.float32)
    mesh = rng.uniform(5.5, 6.5, size=n)
    phase = rng.uniform(0, 2 * np.pi, size=(n, 3))
    x += np.sin(2 * np.pi * mesh[:, None] * t + phase[:, :1])
    for i, c in enumerate(labels):
        if c == 1:  # one impulse per revolution
            k = rng.integers(0, 16)
            x[i, k::16] += 2.0
        elif c == 2:  # strong 2x shaft component
            x[i] += 1.2 * np.sin(2 * np.pi * 2 * mesh[i] * t + phase[i, 1])
        elif c == 3:  # high-frequency ringing
            x[i] += 0.9 * np.sin(2 * np.pi * 23.0 * t + phase[i, 2])
        elif c == 4:  # broadband rise
            x[i] += 0.9 * rng.normal(size=L)
    x += 0.3 * rng.normal(size=(n, L))
    spec = np.log1p(np.abs(np.fft.rfft(x, axis=1)))
    return spec.astype(np.float32)


def make_split(n):
    y = rng.integers(0, len(CONDITIONS), size=n)
    return snippets(n, y), y.astype(np.int32)


NB = L // 2 + 1
y_lab = np.repeat(np.arange(len(CONDITIONS)), N_LAB_PER_CLASS).astype(np.int32)
x_lab = snippets(len(y_lab), y_lab)
x_pool, y_pool_hidden = make_split(N_POOL)
x_test, y_test = make_split(N_TEST)

mu, sd = x_pool.mean(axis=0), x_pool.std(axis=0) + 1e-6
x_lab, x_pool, x_test = [(a - mu) / sd for a in (x_lab, x_pool, x_test)]

XL, YL = mx.array(x_lab), mx.array(y_lab)
XU = mx.array(x_pool)
XT, YT = mx.array(x_test), mx.array(y_test)
YU_hidden = mx.array(y_pool_hidden)


def slice_update(inputs, start_indices, updates):
    slices = tuple(
        builtins.slice(start_index, start_index + update_length)
        for start_index, update_length in zip(start_indices, updates.shape)
    )
    inputs = mx.array(inputs)
    inputs[slices] = updates
    return inputs


def cutout(x, start):
    return slice_update(x, (0, start), mx.zeros((x.shape[0], SPAN)))


class VibNet(nn.Module):
    def __init__(self, n_cls, width=96):
        super().__init__()
        self.l1 = nn.Linear(NB, width)
        self.l2 = nn.Linear(width, width)
        self.head = nn.Linear(width, n_cls)

    def __call__(self, x):
        h = nn.gelu(self.l1(x))
        h = nn.gelu(self.l2(h)) + h
        return self.head(h)


model = VibNet(len(CONDITIONS))
mx.eval(model.parameters())
opt = optim.Adam(learning_rate=1e-3)


def loss_fn(model, xl, yl, xu_strong, pseudo, keep):
    sup = nn.losses.cross_entropy(model(xl), yl, reduction="mean")
    per = nn.losses.cross_entropy(model(xu_strong), pseudo, reduction="none")
    cons = (per * keep).sum() / mx.maximum(keep.sum(), 1.0)
    return sup + LAMBDA_U * cons, (sup, cons)


grad_fn = nn.value_and_grad(model, loss_fn)


def accuracy(x, y):
    return (mx.argmax(model(x), axis=-1) == y).mean().item() * 100


print(f"labelled {len(y_lab)}  pool {N_POOL}  test {N_TEST}  masked band {SPAN}/{NB} bins  threshold {THRESH}")
print(f"untrained test acc {accuracy(XT, YT):5.1f}%  (chance {100 / len(CONDITIONS):.1f}%)")
t0 = time.time()
for epoch in range(1, EPOCHS + 1):
    order = mx.array(rng.permutation(N_POOL))
    sup_sum = cons_sum = 0.0
    kept = correct_pl = 0
    steps = 0
    for b in range(0, N_POOL, BATCH_U):
        idx = order[b : b + BATCH_U]
        xu = XU[idx]
        probs = mx.softmax(mx.stop_gradient(model(xu)), axis=-1)
        conf = probs.max(axis=-1)
        pseudo = mx.argmax(probs, axis=-1)
        keep = (conf >= THRESH).astype(mx.float32)
        xl_aug = cutout(XL, int(rng.integers(0, NB - SPAN + 1)))
        xu_strong = cutout(xu, int(rng.integers(0, NB - SPAN + 1)))
        (loss, (sup, cons)), grads = grad_fn(model, xl_aug, YL, xu_strong, pseudo, keep)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss, sup, cons, keep)
        sup_sum += sup.item()
        cons_sum += cons.item()
        kept += int(keep.sum().item())
        correct_pl += int(((pseudo == YU_hidden[idx]).astype(mx.float32) * keep).sum().item())
        steps += 1
    pl_acc = 100 * correct_pl / max(kept, 1)
    print(
        f"epoch {epoch:2d}  sup_ce {sup_sum / steps:.4f}  cons_ce {cons_sum / steps:.4f}  "
        f"pseudo {100 * kept / N_POOL:5.1f}% of pool (right {pl_acc:5.1f}%)  "
        f"test acc {accuracy(XT, YT):5.1f}%  {time.time() - t0:5.1f}s"
    )

per_class = []
pred = np.array(mx.argmax(model(XT), axis=-1))
for c, name in enumerate(CONDITIONS):
    m = y_test == c
    per_class.append(f"{name} {100 * (pred[m] == c).mean():.0f}%")
print("recall: " + "  ".join(per_class))
print(f"done  final test acc {accuracy(XT, YT):.1f}%")
