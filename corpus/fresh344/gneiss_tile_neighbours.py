"""Petrography lab: self-supervised embeddings of thin-section tiles.

Synthetic 16x16 grey tiles of four rock fabrics (granite, basalt, sandstone,
schist) are pre-trained without labels with NNCLR: the positive for view 2 is
the nearest neighbour of view 1 inside a FIFO support queue of past
projections.  Until the queue holds enough entries (it is only filled after warm-up) the step uses the view-1
projection itself (plain SimCLR positive), so the loss jumps up when the
queue takes over.  Labels are only used by the kNN probe, which is printed
beside a random-encoder and a raw-pixel baseline.  Half way through, the run
is saved to disk and continued from a freshly built model and optimizer.
"""

import os
import shutil
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

SEED = 7
H = W = 16
N_UNLAB = 2000
N_PROBE_TRAIN = 400
N_PROBE_TEST = 200
BATCH = 64
STEPS = 200
RESUME_AT = 100
WARMUP = 30
PEAK_LR = 2e-3
TAU = 0.15
QUEUE = 512
QUEUE_READY = 512
ENQUEUE_FROM = 40
FABRICS = ["granite", "basalt", "sandstone", "schist"]

rng = np.random.default_rng(SEED)
mx.random.seed(SEED)


def make_tile(kind, r):
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    img = np.zeros((H, W), np.float32)
    if kind == 0:  # granite: a few large bright/dark crystals
        for _ in range(r.integers(4, 7)):
            cy, cx = r.uniform(0, H, 2)
            rad = r.uniform(2.0, 4.0)
            img += r.choice([-1.0, 1.0]) * (((yy - cy) ** 2 + (xx - cx) ** 2) < rad**2)
    elif kind == 1:  # basalt: fine dark groundmass with small laths
        img += 0.4 * r.standard_normal((H, W))
        for _ in range(r.integers(6, 10)):
            cy, cx = r.uniform(0, H, 2)
            ang = r.uniform(0, np.pi)
            d = (xx - cx) * np.sin(ang) - (yy - cy) * np.cos(ang)
            along = (xx - cx) * np.cos(ang) + (yy - cy) * np.sin(ang)
            img += 1.0 * ((np.abs(d) < 0.6) & (np.abs(along) < 2.5))
    elif kind == 2:  # sandstone: round grains with dark pores between
        for _ in range(r.integers(10, 15)):
            cy, cx = r.uniform(0, H, 2)
            rad = r.uniform(1.2, 2.0)
            img += 0.9 * (((yy - cy) ** 2 + (xx - cx) ** 2) < rad**2)
        img -= 0.5
    else:  # schist: strong parallel foliation
        ang = r.uniform(-0.35, 0.35)
        period = r.uniform(3.0, 4.5)
        phase = r.uniform(0, 2 * np.pi)
        img += np.sin(2 * np.pi * (yy * np.cos(ang) + xx * np.sin(ang)) / period + phase)
    img += 0.15 * r.standard_normal((H, W))
    return img


def make_set(n, r):
    y = np.arange(n) % 4
    r.shuffle(y)
    x = np.stack([make_tile(k, r) for k in y])
    x = (x - x.mean(axis=(1, 2), keepdims=True)) / (x.std(axis=(1, 2), keepdims=True) + 1e-5)
    return x[..., None].astype(np.float32), y.astype(np.int32)


def augment(x, r):
    n = x.shape[0]
    out = np.empty_like(x)
    for i in range(n):
        t = x[i]
        t = np.roll(t, (r.integers(-3, 4), r.integers(-3, 4)), axis=(0, 1))
        if r.random() < 0.5:
            t = t[:, ::-1]
        t = t * r.uniform(0.7, 1.3) + r.uniform(-0.3, 0.3)
        cy, cx = r.integers(0, H - 4, 2)
        t = t.copy()
        t[cy : cy + 4, cx : cx + 4] = 0.0
        out[i] = t + 0.2 * r.standard_normal(t.shape)
    return out


class Encoder(nn.Module):
    """4x4 patch embedding (a stride-4 convolution written as a matmul),
    a per-patch GELU MLP, then mean+max pooling over the 16 patches."""

    def __init__(self):
        super().__init__()
        self.embed = nn.Linear(16, 32)
        self.pos = mx.zeros((16, 32))
        self.mix = nn.Sequential(nn.LayerNorm(32), nn.Linear(32, 64), nn.GELU(), nn.Linear(64, 32))
        self.fc = nn.Linear(64, 64)

    def __call__(self, x):
        b = x.shape[0]
        p = x.reshape(b, 4, 4, 4, 4).transpose(0, 1, 3, 2, 4).reshape(b, 16, 16)
        h = self.embed(p) + self.pos
        h = h + self.mix(h)
        return self.fc(mx.concatenate([h.mean(axis=1), h.max(axis=1)], axis=-1))


class NNCLRNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = Encoder()
        self.projector = nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 32))
        self.predictor = nn.Sequential(nn.Linear(32, 64), nn.ReLU(), nn.Linear(64, 32))

    def __call__(self, x):
        z = self.projector(self.encoder(x))
        return z, self.predictor(z)


def l2n(v):
    return v / mx.sqrt(mx.sum(v * v, axis=-1, keepdims=True) + 1e-8)


def nearest(z, support):
    sims = z @ support.T
    idx = mx.argmax(sims, axis=1)
    return support[idx]


def loss_fn(model, v1, v2, support, use_queue):
    z1, p1 = model(v1)
    z2, p2 = model(v2)
    z1, z2, p1, p2 = l2n(z1), l2n(z2), l2n(p1), l2n(p2)
    if use_queue:
        pos1 = mx.stop_gradient(nearest(z1, support))
        pos2 = mx.stop_gradient(nearest(z2, support))
    else:
        pos1, pos2 = mx.stop_gradient(z1), mx.stop_gradient(z2)
    labels = mx.arange(v1.shape[0])
    l12 = nn.losses.cross_entropy(pos1 @ p2.T / TAU, labels, reduction="mean")
    l21 = nn.losses.cross_entropy(pos2 @ p1.T / TAU, labels, reduction="mean")
    return 0.5 * (l12 + l21)


def features(enc, x):
    out = []
    for i in range(0, x.shape[0], 400):
        out.append(l2n(enc(mx.array(x[i : i + 400]))))
    f = mx.concatenate(out, axis=0)
    mx.eval(f)
    return np.array(f)


def knn_acc(ftr, ytr, fte, yte, k=10):
    sims = fte @ ftr.T
    top = np.argsort(-sims, axis=1)[:, :k]
    votes = np.zeros((fte.shape[0], 4))
    for j in range(k):
        np.add.at(votes, (np.arange(fte.shape[0]), ytr[top[:, j]]), 1.0)
    return float((votes.argmax(1) == yte).mean())


def make_optimizer():
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, PEAK_LR, WARMUP), optim.cosine_decay(PEAK_LR, STEPS - WARMUP, 1e-5)],
        [WARMUP],
    )
    return optim.AdamW(learning_rate=sched, weight_decay=1e-4)


def main():
    t0 = time.time()
    x_unlab, _ = make_set(N_UNLAB, rng)
    x_ptr, y_ptr = make_set(N_PROBE_TRAIN, rng)
    x_pte, y_pte = make_set(N_PROBE_TEST, rng)

    raw = lambda a: a.reshape(a.shape[0], -1) / np.linalg.norm(a.reshape(a.shape[0], -1), axis=1, keepdims=True)
    raw_acc = knn_acc(raw(x_ptr), y_ptr, raw(x_pte), y_pte)

    model = NNCLRNet()
    mx.eval(model.parameters())
    rand_acc = knn_acc(features(model.encoder, x_ptr), y_ptr, features(model.encoder, x_pte), y_pte)
    print(f"baselines  kNN raw pixels {raw_acc:.3f} | kNN random encoder {rand_acc:.3f} | chance 0.250")

    opt = make_optimizer()
    queue = mx.zeros((QUEUE, 32))
    filled = 0
    ptr = 0
    step = 0
    ckpt_dir = tempfile.mkdtemp()

    def run(model, opt, queue, filled, ptr, start, stop):
        grad_fn = nn.value_and_grad(model, loss_fn)
        announced = filled >= QUEUE_READY
        for step in range(start, stop):
            idx = rng.integers(0, N_UNLAB, BATCH)
            xb = x_unlab[idx]
            v1 = mx.array(augment(xb, rng))
            v2 = mx.array(augment(xb, rng))
            use_queue = filled >= QUEUE_READY
            if use_queue and not announced:
                print(f"step {step:4d}  support queue holds {filled} projections, nearest-neighbour positives on")
                announced = True
            support = queue[: min(filled, QUEUE)]
            loss, grads = grad_fn(model, v1, v2, support, use_queue)
            opt.update(model, grads)
            if step >= ENQUEUE_FROM:
                z1 = mx.stop_gradient(l2n(model(v1)[0]))
                rows = (np.arange(BATCH) + ptr) % QUEUE
                queue[mx.array(rows)] = z1
                ptr = int((ptr + BATCH) % QUEUE)
                filled = min(filled + BATCH, QUEUE)
            mx.eval(model.parameters(), opt.state, queue, loss)
            if step % 20 == 0 or step == stop - 1:
                lr = opt.learning_rate.item()
                print(f"step {step:4d}  loss {loss.item():.4f}  lr {lr:.2e}  queue {'nn' if use_queue else 'self'}")
            if step in (60, stop - 1):
                acc = knn_acc(features(model.encoder, x_ptr), y_ptr, features(model.encoder, x_pte), y_pte)
                print(f"step {step:4d}  kNN probe acc {acc:.3f}  (raw {raw_acc:.3f}, random enc {rand_acc:.3f})")
        return queue, filled, ptr

    queue, filled, ptr = run(model, opt, queue, filled, ptr, 0, RESUME_AT)

    # save and continue from disk
    model.save_weights(os.path.join(ckpt_dir, "model.safetensors"))
    mx.save_safetensors(os.path.join(ckpt_dir, "opt.safetensors"), dict(tree_flatten(opt.state)))
    mx.save_safetensors(os.path.join(ckpt_dir, "queue.safetensors"), {"queue": queue})
    print(f"checkpoint written at step {RESUME_AT} -> {ckpt_dir}")
    del model, opt

    model2 = NNCLRNet()
    model2.load_weights(os.path.join(ckpt_dir, "model.safetensors"))
    opt2 = make_optimizer()
    opt2.state = tree_unflatten(list(mx.load(os.path.join(ckpt_dir, "opt.safetensors")).items()))
    queue2 = mx.load(os.path.join(ckpt_dir, "queue.safetensors"))["queue"]
    mx.eval(model2.parameters(), queue2)
    print(f"resumed at optimizer step {int(opt2.state['step'].item())}, lr {opt2.learning_rate.item():.2e}")
    run(model2, opt2, queue2, filled, ptr, RESUME_AT, STEPS)

    final = knn_acc(features(model2.encoder, x_ptr), y_ptr, features(model2.encoder, x_pte), y_pte)
    print(f"final kNN probe acc {final:.3f} vs random encoder {rand_acc:.3f} vs raw pixels {raw_acc:.3f}")
    shutil.rmtree(ckpt_dir, ignore_errors=True)
    print(f"done in {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
