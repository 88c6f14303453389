"""Self-supervised pre-training of a grain-spectrum encoder, MoCo style, then a linear probe.

A seed sorter reads 24-band reflectance spectra of kernels of 6 grain varieties. Most
readings are unlabelled. The query encoder is trained with InfoNCE against a momentum
(EMA) key encoder whose keys are kept in a FIFO queue of negatives. The queue starts
with 256 keys and grows by one batch per step up to 4096, so the InfoNCE value first
RISES (more negatives = a harder task; chance level is log(1 + K)) and only then falls.
The key encoder is frozen on purpose: it only follows the query encoder by EMA.
Afterwards the encoder body is frozen and a linear probe is trained on 600 labels.
"""
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

BANDS, CLASSES = 24, 6
rng = np.random.default_rng(11)
mx.random.seed(11)
wl = np.linspace(0.0, 1.0, BANDS, dtype=np.float32)

# every kernel has its own two absorption dips; the variety is set by where the
# deep (starch) dip sits; the shallow second dip is a kernel-level nuisance, in 6 bands of wavelength, so instances never repeat
SLOPE = 0.1


def spectra(n):
    c = rng.uniform(0.15, 0.85, size=(n, 2))
    labels = np.minimum(((c[:, 0] - 0.15) / 0.7 * CLASSES).astype(np.int64), CLASSES - 1)
    d = np.stack([rng.uniform(0.18, 0.30, n), rng.uniform(0.04, 0.12, n)], axis=1)
    x = 0.6 + SLOPE * wl[None]
    for j in range(2):
        x = x - d[:, j:j + 1] * np.exp(-((wl[None] - c[:, j:j + 1]) ** 2) / (2 * 0.06 ** 2))
    x = x * rng.uniform(0.8, 1.2, size=(n, 1))              # illumination gain
    x = x + rng.normal(0, 0.03, size=(n, 1))                 # dark offset
    x = x + rng.normal(0, 0.08, size=(n, 1)) * (wl[None] - 0.5)   # lamp tilt
    x = x + rng.normal(0, 0.006, size=x.shape)               # detector noise
    return x.astype(np.float32), labels


def augment(x):
    n = len(x)
    y = x * rng.uniform(0.85, 1.15, size=(n, 1))
    y = y + rng.normal(0, 0.03, size=(n, 1)) + rng.normal(0, 0.08, size=(n, 1)) * (wl[None] - 0.5)
    y = y + rng.normal(0, 0.006, size=y.shape)
    drop = rng.random(size=y.shape) < 0.05
    y = np.where(drop, 0.0, y)
    return ((y - 0.5) / 0.2).astype(np.float32)


def normalise(x):
    return ((x - 0.5) / 0.2).astype(np.float32)


class Encoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(BANDS, 64), nn.GELU(), nn.Linear(64, 64), nn.GELU())
        self.proj = nn.Linear(64, 16)

    def features(self, x):
        return self.body(x)

    def __call__(self, x):
        z = self.proj(self.body(x))
        return z / mx.linalg.norm(z, axis=-1, keepdims=True)


unlabelled, _ = spectra(8000)
x_lab, y_lab = spectra(600)
x_lab = normalise(x_lab)
x_test, y_test = spectra(1200)
x_test = normalise(x_test)

query = Encoder()
key = Encoder()
key.update(tree_map(lambda p: p, query.parameters()))
key.freeze()

TAU, MOMENTUM, CAP, BS, STEPS = 0.2, 0.99, 4096, 128, 700
queue = key(mx.array(augment(unlabelled[rng.integers(0, len(unlabelled), 256)])))
mx.eval(queue, query.parameters(), key.parameters())


def info_nce(model, xq, xk, negatives):
    q = model(xq)
    k = mx.stop_gradient(key(xk))
    pos = (q * k).sum(-1, keepdims=True)
    neg = q @ negatives.T
    logits = mx.concatenate([pos, neg], axis=1) / TAU
    target = mx.zeros((q.shape[0],), dtype=mx.int32)
    return nn.losses.cross_entropy(logits, target, reduction="mean"), (pos.mean(), k)


loss_and_grad = nn.value_and_grad(query, info_nce)
sched = optim.cosine_decay(2e-3, STEPS, 1e-4)
opt = optim.Adam(learning_rate=sched)


def knn_accuracy(k=10):
    bank = query(mx.array(x_lab))
    test = query(mx.array(x_test))
    sims = test @ bank.T
    top = np.array(mx.argsort(-sims, axis=1)[:, :k])
    votes = np.apply_along_axis(lambda r: np.bincount(r, minlength=CLASSES), 1, y_lab[top])
    return 100.0 * float((votes.argmax(1) == y_test).mean())


t0 = time.perf_counter()
print(f"unlabelled {len(unlabelled)} | labelled {len(y_lab)} | test {len(y_test)} | chance {100 / CLASSES:.1f}%")
print(f"[pretrain] step    0 | kNN@10 {knn_accuracy():5.1f}% (random encoder)")

# one audit of the first gradient
sample = unlabelled[:BS]
(_, _), g = loss_and_grad(query, mx.array(augment(sample)), mx.array(augment(sample)), queue)
flat = tree_flatten(g)
n_zero = sum(1 for _, v in flat if float(mx.abs(v).max()) == 0.0)
print(f"[pretrain] grad audit: {len(flat)} query leaves, {n_zero} all-zero; "
      f"key encoder trainable leaves: {len(tree_flatten(key.trainable_parameters()))}")

running = []
for step in range(1, STEPS + 1):
    batch = unlabelled[rng.integers(0, len(unlabelled), BS)]
    xq, xk = mx.array(augment(batch)), mx.array(augment(batch))
    (loss, (pos_sim, keys)), grads = loss_and_grad(query, xq, xk, queue)
    opt.update(query, grads)
    key.update(tree_map(lambda kp, qp: MOMENTUM * kp + (1 - MOMENTUM) * qp,
                        key.parameters(), query.parameters()))
    queue = mx.concatenate([keys, queue], axis=0)[:CAP]
    mx.eval(query.parameters(), key.parameters(), opt.state, queue, loss, pos_sim)
    running.append((loss.item(), pos_sim.item()))
    if step in (1, 10, 25) or step % 100 == 0:
        l, p = np.mean(running, axis=0)
        running = []
        print(f"[pretrain] step {step:4d} | infonce {l:6.3f} (chance log(1+K) = {np.log(1 + queue.shape[0]):.2f}) "
              f"| queue {queue.shape[0]:4d} | pos-cos {p:.3f} | lr {float(sched(opt.step)):.4f} "
              f"| kNN@10 {knn_accuracy():5.1f}%")

# linear probe on the frozen 64-d body features
query.freeze()
feats_lab = query.features(mx.array(x_lab))
feats_test = query.features(mx.array(x_test))
mx.eval(feats_lab, feats_test)
probe = nn.Linear(64, CLASSES)
probe_opt = optim.Adam(learning_rate=1e-2)
ylab = mx.array(y_lab)


def probe_loss(m, f, y):
    return nn.losses.cross_entropy(m(f), y, reduction="mean")


probe_step = nn.value_and_grad(probe, probe_loss)
for it in range(1, 301):
    l, g = probe_step(probe, feats_lab, ylab)
    probe_opt.update(probe, g)
    mx.eval(probe.parameters(), probe_opt.state, l)
    if it % 100 == 0:
        acc = 100.0 * float((mx.argmax(probe(feats_test), axis=1) == mx.array(y_test)).mean())
        print(f"[probe]    iter {it:4d} | ce {l.item():.4f} | test acc {acc:5.1f}%")
print(f"finished in {time.perf_counter() - t0:.1f}s")
