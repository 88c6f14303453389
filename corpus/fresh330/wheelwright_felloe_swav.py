"""
Wheelwright's shop: tap-tone spectra of cart-wheel rims (felloes).
Self-supervised SwAV pretraining (online clustering with Sinkhorn-Knopp
codes and swapped prediction), then a k-NN probe with 300 labelled wheels.

Schedule notes for whoever reads the log:
  * lr ramps from exactly 0 (step 0 moves nothing),
  * the prototype vectors are held still for the first FREEZE_STEPS steps
    (their drift reads 0.0000 until then), and only then start to move,
  * the SwAV loss falls slowly late in the run and stays far from zero,
  * the k-NN probe dips below its step-0 value before it climbs.
"""

import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_map

mx.random.seed(11)
rng = np.random.default_rng(11)

N_BINS = 40
CLASSES = ["sound oak", "sound ash", "checked rim", "loose spoke", "soft rot"]


def make_spectra(n):
    """Synthetic tap-tone spectra: three resonance peaks whose positions and
    widths depend on the rim condition, plus strike gain, a small pitch shift
    from wheel size, a hum line and noise."""
    y = rng.integers(0, len(CLASSES), size=n)
    centres = np.array([[6, 15, 27], [7, 17, 30], [6, 12, 21], [9, 15, 33], [5, 10, 16]], dtype=np.float32)
    widths = np.array([1.2, 1.2, 2.6, 1.6, 3.5], dtype=np.float32)
    bins = np.arange(N_BINS, dtype=np.float32)
    x = np.zeros((n, N_BINS), dtype=np.float32)
    for i in range(n):
        c = centres[y[i]] + rng.normal(0, 0.4, size=3)
        amp = np.array([1.0, 0.7, 0.45]) * rng.uniform(0.8, 1.2, size=3)
        for k in range(3):
            x[i] += amp[k] * np.exp(-0.5 * ((bins - c[k]) / widths[y[i]]) ** 2)
    x *= rng.uniform(0.5, 2.0, size=(n, 1))          # strike force
    x[:, 2] += rng.uniform(0.0, 0.6, size=n)          # hum line
    x += np.linspace(0, 1, N_BINS)[None, :] * rng.normal(0, 0.4, size=(n, 1))  # rim tilt
    x += rng.normal(0, 0.08, size=x.shape)
    x = np.log1p(np.maximum(x, 0))
    roll = rng.integers(-4, 5, size=n)                 # wheel size moves the whole pattern
    x = np.stack([np.roll(row, r) for row, r in zip(x, roll)])
    return x.astype(np.float32), y


x_unlab, _ = make_spectra(4000)
x_lab, y_lab = make_spectra(300)
x_test, y_test = make_spectra(1000)
mu, sd = x_unlab.mean(0), x_unlab.std(0) + 1e-6
x_unlab, x_lab, x_test = [(a - mu) / sd for a in (x_unlab, x_lab, x_test)]


def augment(xb):
    """Two views: random gain, level offset, tilt, circular shift of up to 4 bins, noise."""
    xb = xb * rng.uniform(0.8, 1.25, size=(xb.shape[0], 1)).astype(np.float32)
    xb = xb + rng.normal(0, 0.5, size=(xb.shape[0], 1)).astype(np.float32)
    xb = xb + np.linspace(-1, 1, N_BINS)[None, :] * rng.normal(0, 0.5, size=(xb.shape[0], 1))
    shift = rng.integers(-4, 5, size=xb.shape[0])
    xb = np.stack([np.roll(row, s) for row, s in zip(xb, shift)])
    xb = xb + rng.normal(0, 0.15, size=xb.shape).astype(np.float32)
    return mx.array(xb.astype(np.float32))


class SwAVNet(nn.Module):
    def __init__(self, n_in=N_BINS, hidden=128, feat=64, proj=32, n_protos=15):
        super().__init__()
        self.encoder = nn.Sequential(
            nn.Linear(n_in, hidden), nn.LayerNorm(hidden), nn.GELU(),
            nn.Linear(hidden, feat),
        )
        self.projector = nn.Sequential(nn.Linear(feat, 64), nn.GELU(), nn.Linear(64, proj))
        self.prototypes = nn.Linear(proj, n_protos, bias=False)

    def features(self, x):
        return self.encoder(x)

    def __call__(self, x):
        z = self.projector(self.encoder(x))
        z = z / (mx.linalg.norm(z, axis=-1, keepdims=True) + 1e-8)
        return self.prototypes(z)  # cosine scores against the prototypes


def normalise_rows(w):
    return w / (mx.linalg.norm(w, axis=-1, keepdims=True) + 1e-8)


def sinkhorn(scores, eps=0.05, n_iters=3):
    """Balanced soft assignment of a batch to K prototypes (SwAV codes)."""
    s = scores / eps
    q = mx.exp(s - mx.max(s)).T          # K x B
    q = q / mx.sum(q)
    k, b = q.shape
    for _ in range(n_iters):
        q = q / mx.sum(q, axis=1, keepdims=True) / k
        q = q / mx.sum(q, axis=0, keepdims=True) / b
    return (q * b).T                     # B x K, rows sum to 1


TEMP = 0.1


def swav_loss(model, v1, v2):
    s1, s2 = model(v1), model(v2)
    q1 = mx.stop_gradient(sinkhorn(s1))
    q2 = mx.stop_gradient(sinkhorn(s2))
    p1 = nn.log_softmax(s1 / TEMP, axis=-1)
    p2 = nn.log_softmax(s2 / TEMP, axis=-1)
    loss = -0.5 * (mx.mean(mx.sum(q1 * p2, axis=-1)) + mx.mean(mx.sum(q2 * p1, axis=-1)))
    return loss, q1


def knn_accuracy(f_train, y_train, f_eval, y_eval, k=10):
    a = f_train / (np.linalg.norm(f_train, axis=1, keepdims=True) + 1e-8)
    b = f_eval / (np.linalg.norm(f_eval, axis=1, keepdims=True) + 1e-8)
    sims = b @ a.T
    nn_idx = np.argsort(-sims, axis=1)[:, :k]
    votes = np.zeros((len(b), len(CLASSES)))
    for j in range(k):
        np.add.at(votes, (np.arange(len(b)), y_train[nn_idx[:, j]]), sims[np.arange(len(b)), nn_idx[:, j]])
    return 100.0 * np.mean(votes.argmax(1) == y_eval)


def probe(model):
    f_lab = np.array(model.features(mx.array(x_lab)))
    f_test = np.array(model.features(mx.array(x_test)))
    return knn_accuracy(f_lab, y_lab, f_test, y_test)


# ---------------------------------------------------------------------------
STEPS = 720
BATCH = 128
WARMUP = 60
FREEZE_STEPS = 150
PEAK_LR = 0.08

model = SwAVNet()
model.prototypes.weight = normalise_rows(model.prototypes.weight)
mx.eval(model.parameters())

reference = SwAVNet()           # untouched random encoder, a baseline only
mx.eval(reference.parameters())

lr_sched = optim.join_schedules(
    [optim.linear_schedule(0.0, PEAK_LR, WARMUP), optim.cosine_decay(PEAK_LR, STEPS - WARMUP, 1e-3)],
    [WARMUP],
)
opt = optim.SGD(learning_rate=lr_sched, momentum=0.9, nesterov=True)
loss_and_grad = nn.value_and_grad(model, swav_loss)

raw_knn = knn_accuracy(x_lab, y_lab, x_test, y_test)
rand_knn = probe(reference)
print(f"felloes: unlabelled={len(x_unlab)} labelled={len(x_lab)} test={len(x_test)} "
      f"classes={len(CLASSES)} protos={model.prototypes.weight.shape[0]}")
print(f"baselines  kNN@10: chance {100 / len(CLASSES):.1f}% | raw spectra {raw_knn:.1f}% | "
      f"random encoder {rand_knn:.1f}%  | log(K) = {math.log(model.prototypes.weight.shape[0]):.3f}")
print(f"{'step':>5} {'lr':>8} {'swav':>7} {'usage_bits':>10} {'proto_drift':>11} {'enc_drift':>9} {'kNN%':>6} {'sec':>6}")

protos0 = np.array(model.prototypes.weight)
enc0 = np.array(model.encoder.layers[0].weight)
t0 = time.time()
running = None
for step in range(STEPS + 1):
    idx = rng.choice(len(x_unlab), size=BATCH, replace=False)
    xb = x_unlab[idx]
    v1, v2 = augment(xb), augment(xb)
    lr_now = float(lr_sched(mx.array(step)))
    (loss, codes), grads = loss_and_grad(model, v1, v2)
    if step < FREEZE_STEPS:
        grads["prototypes"] = tree_map(mx.zeros_like, grads["prototypes"])
    opt.update(model, grads)
    if step >= FREEZE_STEPS:
        model.prototypes.weight = normalise_rows(model.prototypes.weight)
    mx.eval(model.parameters(), opt.state, loss, codes)

    running = float(loss.item()) if running is None else 0.9 * running + 0.1 * float(loss.item())
    if step % 40 == 0 or step == STEPS:
        usage = np.bincount(np.array(codes).argmax(1), minlength=model.prototypes.weight.shape[0]) / BATCH
        usage_bits = float(-(usage[usage > 0] * np.log2(usage[usage > 0])).sum())
        proto_drift = float(np.abs(np.array(model.prototypes.weight) - protos0).max())
        enc_drift = float(np.abs(np.array(model.encoder.layers[0].weight) - enc0).max())
        knn = probe(model) if step % 80 == 0 or step == STEPS else float("nan")
        print(f"{step:>5} {lr_now:>8.5f} {running:>7.4f} {usage_bits:>10.3f} {proto_drift:>11.4f} "
              f"{enc_drift:>9.4f} {knn:>6.1f} {time.time() - t0:>6.1f}")

final = probe(model)
print(f"final kNN@10 on frozen SwAV encoder: {final:.1f}%  (raw {raw_knn:.1f}%, random encoder {rand_knn:.1f}%, "
      f"chance {100 / len(CLASSES):.1f}%)")
