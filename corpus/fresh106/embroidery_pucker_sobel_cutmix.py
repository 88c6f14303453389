"""Embroidery QA: classify fabric pucker (flat / mild / severe) from 8x8
stitch-density maps scanned after a run.

The first conv is a fixed pair of Sobel edge filters (set by hand and frozen on
purpose); the rest of the CNN trains.  Training uses CutMix, so the training loss
is a soft-label cross-entropy and sits ABOVE the clean validation loss.
"""
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

SEED = 11
EPOCHS = 12
BATCH = 64
N_TRAIN, N_VAL = 4096, 1024
CLASSES = ("flat", "mild", "severe")


def make_maps(n, rng):
    """Stitch stripes at a random angle + a pucker ripple whose amplitude is the class."""
    yy, xx = np.mgrid[0:8, 0:8].astype(np.float32)
    labels = rng.integers(0, 3, size=n)
    amp = np.array([0.0, 0.55, 1.1], dtype=np.float32)[labels]
    amp = amp * rng.uniform(0.8, 1.2, size=n).astype(np.float32)
    theta = rng.uniform(0, np.pi, size=n).astype(np.float32)
    phi = rng.uniform(0, 2 * np.pi, size=n).astype(np.float32)
    density = rng.uniform(0.6, 1.4, size=n).astype(np.float32)
    u = np.cos(theta)[:, None, None] * xx + np.sin(theta)[:, None, None] * yy
    v = -np.sin(theta)[:, None, None] * xx + np.cos(theta)[:, None, None] * yy
    stripes = density[:, None, None] * np.sign(np.sin(2.2 * u))
    ripple = amp[:, None, None] * np.sin(2 * np.pi * v / 8.0 + phi[:, None, None])
    noise = rng.normal(0, 0.35, size=(n, 8, 8)).astype(np.float32)
    img = (stripes + ripple + noise).astype(np.float32)
    return img[..., None], labels.astype(np.int32)  # NHWC


class PuckerNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.sobel = nn.Conv2d(1, 2, kernel_size=3, padding=1, bias=False)
        gx = np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], dtype=np.float32) / 4.0
        w = np.stack([gx, gx.T])[..., None]  # (out=2, kh, kw, in=1)
        self.sobel.weight = mx.array(w)
        self.conv1 = nn.Conv2d(3, 16, kernel_size=3, padding=1)
        self.conv2 = nn.Conv2d(16, 24, kernel_size=3, stride=2, padding=1)
        self.head = nn.Linear(24, 3)

    def __call__(self, x):
        edges = self.sobel(x)
        h = nn.relu(self.conv1(mx.concatenate([x, edges], axis=-1)))
        h = nn.relu(self.conv2(h))
        return self.head(h.mean(axis=(1, 2)))


def soft_ce(logits, target_probs):
    return -(target_probs * nn.log_softmax(logits, axis=-1)).sum(axis=-1).mean()


def cutmix(x, y, rng):
    """Paste one random box from a shuffled partner; label weight = kept area."""
    n = x.shape[0]
    partner = rng.permutation(n)
    lam = rng.beta(1.0, 1.0)
    side = int(round(8 * np.sqrt(1.0 - lam)))
    onehot = np.eye(3, dtype=np.float32)[y]
    if side == 0:
        return x, onehot
    r0, c0 = rng.integers(0, 8 - side + 1, size=2)
    mixed = x.copy()
    mixed[:, r0:r0 + side, c0:c0 + side, :] = x[partner, r0:r0 + side, c0:c0 + side, :]
    kept = 1.0 - (side * side) / 64.0
    return mixed, kept * onehot + (1.0 - kept) * onehot[partner]


def evaluate(model, x, y):
    logits = model(mx.array(x))
    loss = nn.losses.cross_entropy(logits, mx.array(y), reduction="mean")
    acc = (mx.argmax(logits, axis=-1) == mx.array(y)).astype(mx.float32).mean()
    return loss.item(), acc.item()


def main():
    rng = np.random.default_rng(SEED)
    mx.random.seed(SEED)
    x_tr, y_tr = make_maps(N_TRAIN, rng)
    x_va, y_va = make_maps(N_VAL, rng)

    model = PuckerNet()
    model.sobel.freeze()
    mx.eval(model.parameters())
    sobel_before = np.array(model.sobel.weight)

    steps_per_epoch = N_TRAIN // BATCH
    sched = optim.exponential_decay(0.05, 0.997)
    opt = optim.SGD(learning_rate=sched, momentum=0.9, nesterov=True)

    def loss_fn(m, xb, tb):
        return soft_ce(m(xb), tb)

    loss_and_grad = nn.value_and_grad(model, loss_fn)

    n_train_leaves = len(tree_flatten(model.trainable_parameters()))
    n_all_leaves = len(tree_flatten(model.parameters()))
    print(f"Train on {N_TRAIN} maps, validate on {N_VAL} maps "
          f"({n_train_leaves} trainable / {n_all_leaves} parameter arrays; Sobel pair frozen)")
    l0, a0 = evaluate(model, x_va, y_va)
    print(f"Epoch 0/{EPOCHS} - val_loss: {l0:.4f} - val_acc: {100 * a0:.2f}%")

    for epoch in range(1, EPOCHS + 1):
        t0 = time.perf_counter()
        order = rng.permutation(N_TRAIN)
        run_loss = 0.0
        for b in range(steps_per_epoch):
            idx = order[b * BATCH:(b + 1) * BATCH]
            xb, tb = cutmix(x_tr[idx], y_tr[idx], rng)
            loss, grads = loss_and_grad(model, mx.array(xb), mx.array(tb))
            if epoch == 1 and b == 0:
                flat = tree_flatten(grads)
                zero = [k for k, g in flat if mx.abs(g).max().item() == 0.0]
                print(f"  first step: {len(flat)} gradient arrays, zero: {zero or 'none'}, "
                      f"sobel arrays in grads: {len(tree_flatten(grads.get('sobel', {})))}")
            opt.update(model, grads)
            mx.eval(loss, model.parameters(), opt.state)
            run_loss += loss.item()
        vl, va = evaluate(model, x_va, y_va)
        dt = time.perf_counter() - t0
        print(f"Epoch {epoch}/{EPOCHS} - {dt:.1f}s - loss: {run_loss / steps_per_epoch:.4f} "
              f"- val_loss: {vl:.4f} - val_acc: {100 * va:.2f}% - lr: {opt.learning_rate.item():.5f}")

    drift = float(np.abs(np.array(model.sobel.weight) - sobel_before).max())
    logits = model(mx.array(x_va))
    pred = np.array(mx.argmax(logits, axis=-1))
    per_class = [100.0 * float((pred[y_va == c] == c).mean()) for c in range(3)]
    print("Recall: " + ", ".join(f"{n} {r:.1f}%" for n, r in zip(CLASSES, per_class)))
    print(f"Sobel filter drift: {drift:.1e}")


if __name__ == "__main__":
    main()
