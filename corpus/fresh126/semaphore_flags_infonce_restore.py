"""Flag-semaphore letter embeddings learned contrastively from noisy arm-angle readings.

Two noisy "camera" views of the same signaller pose form a positive pair; InfoNCE over
the batch. Cosine LR with warm restarts, early stopping on held-out prototype accuracy
with the best weights restored at the end.
"""
import logging
import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten, tree_map

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s semaphore: %(message)s",
                    datefmt="%H:%M:%S")
log = logging.getLogger("semaphore")

rng = np.random.default_rng(7)

# 26 letters -> (left arm, right arm) positions in multiples of 45 degrees (made-up table)
pairs = [(a, b) for a in range(8) for b in range(a + 1, 8)]
rng.shuffle(pairs)
LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
TABLE = {c: pairs[i] for i, c in enumerate(LETTERS)}


def observe(letter_ids, r):
    """8 readings: sin/cos of both arm angles (with jitter), body lean, range, light, wind."""
    n = len(letter_ids)
    arms = np.array([TABLE[LETTERS[i]] for i in letter_ids], dtype=np.float64) * (math.pi / 4)
    lean = r.normal(0, 0.25, n)
    ang = arms + lean[:, None] + r.normal(0, 0.18, (n, 2))
    dist = r.uniform(0.5, 2.0, n)
    feats = np.stack([np.sin(ang[:, 0]), np.cos(ang[:, 0]), np.sin(ang[:, 1]), np.cos(ang[:, 1]),
                      lean + r.normal(0, 0.1, n), dist, r.normal(0, 1, n), r.normal(0, 1, n)], 1)
    feats[:, :4] *= (1.0 / dist)[:, None] ** 0.3          # far signallers look smaller
    return feats.astype(np.float32)


n_train, n_val = 3000, 780
ytr = rng.integers(0, 26, n_train)
yva = np.repeat(np.arange(26), n_val // 26)
va_x = mx.array(observe(yva, rng))
va_y = mx.array(yva)


@mx.custom_function
def unit_norm(x):
    return x / mx.sqrt(mx.sum(x * x, axis=-1, keepdims=True) + 1e-6)


@unit_norm.vjp
def unit_norm_vjp(primals, cotangent, output):
    x = primals  # single input: mlx passes the array itself
    n = mx.sqrt(mx.sum(x * x, axis=-1, keepdims=True) + 1e-6)
    y = output
    g = cotangent
    return (g - y * mx.sum(g * y, axis=-1, keepdims=True)) / n


class Encoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(8, 64)
        self.l2 = nn.Linear(64, 64)
        self.out = nn.Linear(64, 24)

    def __call__(self, x):
        h = nn.gelu(self.l1(x))
        h = nn.gelu(self.l2(h)) + h
        return unit_norm(self.out(h))


TAU = 0.2


def info_nce(model, a, b):
    za, zb = model(a), model(b)
    logits = (za @ zb.T) / TAU
    labels = mx.arange(a.shape[0])
    return 0.5 * (nn.losses.cross_entropy(logits, labels, reduction="mean")
                  + nn.losses.cross_entropy(logits.T, labels, reduction="mean"))


def proto_accuracy(model, xs_proto, ys_proto):
    z = model(mx.array(xs_proto))
    protos = mx.stack([mx.mean(z[mx.array(np.where(ys_proto == c)[0])], axis=0) for c in range(26)])
    protos = unit_norm(protos)
    pred = mx.argmax(model(va_x) @ protos.T, axis=1)
    return mx.mean(pred == va_y).item() * 100.0


mx.random.seed(3)
model = Encoder()
mx.eval(model.parameters())

# audit the hand-written VJP against autograd of the same formula
probe = mx.random.normal((5, 24))
cot = mx.random.normal((5, 24))
_, (g_custom,) = mx.vjp(unit_norm, [probe], [cot])
_, (g_auto,) = mx.vjp(lambda x: x / mx.sqrt(mx.sum(x * x, axis=-1, keepdims=True) + 1e-6), [probe], [cot])
log.info("vjp audit: max|custom-auto| = %.2e", mx.max(mx.abs(g_custom - g_auto)).item())

BASE_LR, CYCLE, EPOCHS, BATCH = 0.08, 6, 30, 128
opt = optim.SGD(learning_rate=BASE_LR, momentum=0.9, weight_decay=1e-4)
loss_and_grad = nn.value_and_grad(model, info_nce)

# gradient coverage check on one batch
xa, xb = observe(ytr[:BATCH], rng), observe(ytr[:BATCH], rng)
_, g0 = loss_and_grad(model, mx.array(xa), mx.array(xb))
dead = [k for k, v in tree_flatten(g0) if mx.max(mx.abs(v)).item() == 0.0]
log.info("grad coverage: %d tensors, %d with all-zero gradient", len(tree_flatten(g0)), len(dead))

proto_y = np.repeat(np.arange(26), 20)
proto_x = observe(proto_y, np.random.default_rng(99))

best_acc, best_epoch, best_params, patience, bad = -1.0, -1, None, 9, 0
log.info("chance accuracy is %.1f%%; epochs=%d cycle=%d", 100 / 26, EPOCHS, CYCLE)
t0 = time.time()
for epoch in range(EPOCHS):
    pos = epoch % CYCLE
    lr = 0.002 + 0.5 * (BASE_LR - 0.002) * (1 + math.cos(math.pi * pos / CYCLE))
    opt.learning_rate = lr
    # fresh pair of noisy views every epoch (same underlying letters)
    perm = rng.permutation(n_train)
    va, vb = observe(ytr[perm], rng), observe(ytr[perm], rng)
    tot, nb = 0.0, 0
    for i in range(0, n_train - BATCH + 1, BATCH):
        loss, grads = loss_and_grad(model, mx.array(va[i:i + BATCH]), mx.array(vb[i:i + BATCH]))
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        tot += loss.item()
        nb += 1
    acc = proto_accuracy(model, proto_x, proto_y)
    mark = ""
    if acc > best_acc:
        best_acc, best_epoch, bad = acc, epoch, 0
        best_params = tree_map(lambda p: mx.array(p), model.parameters())
        mark = " *best"
    else:
        bad += 1
    log.info("epoch %02d cyc %d.%d lr %.4f | nce %.4f (ln B = %.3f) | proto acc %5.1f%%%s",
             epoch, epoch // CYCLE, pos, lr, tot / nb, math.log(BATCH), acc, mark)
    if bad >= patience:
        log.info("no improvement for %d epochs, stopping", patience)
        break

model.update(best_params)
mx.eval(model.parameters())
final = proto_accuracy(model, proto_x, proto_y)
log.info("restored epoch %d weights: proto acc %.1f%% (best seen %.1f%%), %.1fs",
         best_epoch, final, best_acc, time.time() - t0)
