"""Blending-house leaf lots: self-supervised embeddings of aroma-sensor assays.

Each tobacco leaf lot is assayed by a 24-sensor electronic nose. We learn an
embedding per lot without variety labels (instance discrimination against a
non-parametric memory bank, one slot per training lot), then check whether
nearest neighbours in the embedding space share the leaf variety.

Run layout: 10 epochs, a checkpoint is written after epoch 5 and the run is
resumed from it in a fresh model / optimizer (as if the job was restarted).
"""
import math
import os
import tempfile
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten, tree_unflatten

VARIETIES = ["virginia", "burley", "latakia", "perique",
             "oriental", "kentucky", "cavendish", "maryland"]
N_SENS = 24
N_TRAIN, N_TEST = 2400, 600
DIM = 32
TAU = 0.07
BANK_MOMENTUM = 0.5
BATCH = 64
EPOCHS = 10
RESUME_AFTER = 5
WARMUP = 40
PEAK_LR = 0.03

rng = np.random.default_rng(271)
protos = rng.normal(0, 0.8, (len(VARIETIES), 8))
mix = rng.normal(0, 1.0 / math.sqrt(8), (8, N_SENS))
humid_dir = rng.normal(0, 1.0, (2, N_SENS))


def make_lots(n):
    y = rng.integers(0, len(VARIETIES), n)
    lot = protos[y] + 0.45 * rng.normal(0, 1, (n, 8))       # lot-to-lot spread
    x = np.tanh(lot @ mix)
    cellar = rng.normal(0, 1.0, (n, 2))                     # cellar humidity / age
    x = x + cellar @ humid_dir * 1.2
    x = x + 0.1 * rng.normal(0, 1, (n, N_SENS))             # assay noise
    return x.astype(np.float32), y


xtr, ytr = make_lots(N_TRAIN)
xte, yte = make_lots(N_TEST)
mu, sd = xtr.mean(0), xtr.std(0) + 1e-6
xtr = (xtr - mu) / sd
xte = (xte - mu) / sd


def augment(x):
    n = x.shape[0]
    gain = 1.0 + 0.15 * rng.normal(0, 1, (n, N_SENS))        # sensor gain drift
    offset = 0.2 * rng.normal(0, 1, (n, 1))                   # baseline shift
    keep = rng.random((n, N_SENS)) > 0.1                      # dead sensors
    noise = 0.2 * rng.normal(0, 1, (n, N_SENS))
    cellar = 1.0 * rng.normal(0, 1, (n, 2)) @ humid_dir * 1.2 / sd   # humidity swing
    return ((x * gain + offset + noise + cellar) * keep).astype(np.float32)


class Nose(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(
            nn.Linear(N_SENS, 128), nn.ReLU(),
            nn.Linear(128, 128), nn.ReLU(),
            nn.Linear(128, DIM),
        )

    def __call__(self, x):
        z = self.body(x)
        return z / mx.sqrt(mx.sum(z * z, axis=-1, keepdims=True) + 1e-8)


def l2n(a):
    return a / mx.sqrt(mx.sum(a * a, axis=-1, keepdims=True) + 1e-8)


steps_per_epoch = N_TRAIN // BATCH
total_steps = EPOCHS * steps_per_epoch


def make_optimizer():
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, PEAK_LR, WARMUP),
         optim.cosine_decay(PEAK_LR, total_steps - WARMUP, 1e-3)],
        [WARMUP])
    return optim.SGD(learning_rate=sched, momentum=0.9, weight_decay=5e-4)


def knn_accuracy(model, k=10):
    bank_tr = model(mx.array(xtr))
    q = model(mx.array(xte))
    sims = q @ bank_tr.T
    idx = mx.argsort(-sims, axis=1)[:, :k]
    w = mx.exp(mx.take_along_axis(sims, idx, axis=1) / TAU)
    votes = np.zeros((N_TEST, len(VARIETIES)))
    idx_np, w_np = np.array(idx), np.array(w)
    for c in range(len(VARIETIES)):
        votes[:, c] = (w_np * (ytr[idx_np] == c)).sum(1)
    return float((votes.argmax(1) == yte).mean())


def raw_knn_accuracy(k=10):
    a = xtr / np.linalg.norm(xtr, axis=1, keepdims=True)
    b = xte / np.linalg.norm(xte, axis=1, keepdims=True)
    sims = b @ a.T
    idx = np.argsort(-sims, axis=1)[:, :k]
    pred = np.array([np.bincount(ytr[r], minlength=len(VARIETIES)).argmax() for r in idx])
    return float((pred == yte).mean())


mx.random.seed(7)
model = Nose()
mx.eval(model.parameters())
opt = make_optimizer()
bank = mx.stop_gradient(model(mx.array(xtr)))   # bank starts from the untrained encoder

print(f"leaf lots: train {N_TRAIN}  test {N_TEST}  varieties {len(VARIETIES)}  sensors {N_SENS}")
print(f"baselines  chance {1/len(VARIETIES):.3f}  raw-assay cosine kNN {raw_knn_accuracy():.3f}  "
      f"untrained encoder kNN {knn_accuracy(model):.3f}")
print(f"full-softmax loss at uniform similarity = ln({N_TRAIN}) = {math.log(N_TRAIN):.3f}")


def loss_fn(model, xb, ib, bank):
    z = model(xb)
    logits = (z @ bank.T) / TAU
    return nn.losses.cross_entropy(logits, ib, reduction="mean"), z


def run_epochs(model, opt, bank, first_epoch, last_epoch):
    grad_fn = nn.value_and_grad(model, loss_fn)
    step = first_epoch * steps_per_epoch
    for epoch in range(first_epoch, last_epoch):
        t0 = time.perf_counter()
        perm = rng.permutation(N_TRAIN)
        tot = 0.0
        for b in range(steps_per_epoch):
            ids = perm[b * BATCH:(b + 1) * BATCH]
            xb = mx.array(augment(xtr[ids]))
            ib = mx.array(ids)
            (loss, z), grads = grad_fn(model, xb, ib, bank)
            lr_now = opt.learning_rate
            opt.update(model, grads)
            z = mx.stop_gradient(z)
            new_rows = l2n(BANK_MOMENTUM * bank[ib] + (1 - BANK_MOMENTUM) * z)
            bank[ib] = new_rows
            mx.eval(model.parameters(), opt.state, bank, loss)
            tot += loss.item()
            if step < 3:
                print(f"  step {step:4d}  lr {lr_now.item():.4f}  loss {loss.item():.4f}")
            step += 1
        acc = knn_accuracy(model)
        print(f"epoch {epoch + 1}/{EPOCHS}  mean loss {tot / steps_per_epoch:.4f}  "
              f"lr {opt.learning_rate.item():.4f}  kNN variety acc {acc:.3f}  "
              f"({time.perf_counter() - t0:.1f}s)")
    return bank


bank = run_epochs(model, opt, bank, 0, RESUME_AFTER)

ckpt = tempfile.mkdtemp()
model.save_weights(os.path.join(ckpt, "nose.safetensors"))
mx.save_safetensors(os.path.join(ckpt, "opt.safetensors"), dict(tree_flatten(opt.state)))
mx.save(os.path.join(ckpt, "bank.npy"), bank)
print(f"checkpoint written after epoch {RESUME_AFTER}: {sorted(os.listdir(ckpt))}")
ref_acc = knn_accuracy(model)
del model, opt, bank

model = Nose()
model.load_weights(os.path.join(ckpt, "nose.safetensors"))
opt = make_optimizer()
opt.state = tree_unflatten(list(mx.load(os.path.join(ckpt, "opt.safetensors")).items()))
bank = mx.load(os.path.join(ckpt, "bank.npy"))
mx.eval(model.parameters(), opt.state, bank)
print(f"resumed at step {opt.step.item()}  lr {opt.learning_rate.item():.4f}  "
      f"kNN acc after reload {knn_accuracy(model):.3f} (before save {ref_acc:.3f})")

bank = run_epochs(model, opt, bank, RESUME_AFTER, EPOCHS)

final = knn_accuracy(model)
print(f"final kNN variety accuracy {final:.3f}  vs raw-assay {raw_knn_accuracy():.3f}  "
      f"vs chance {1/len(VARIETIES):.3f}")
