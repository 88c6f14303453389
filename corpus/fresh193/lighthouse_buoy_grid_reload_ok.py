"""Tiny YOLO-style grid detector for harbour buoys on synthetic 16x16 sonar frames.
Train, checkpoint with save_weights, then reload the checkpoint in a fresh model
to run detection on a held-out set (like a separate detect.py would)."""
import os, tempfile, time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

S, CELL = 4, 4          # 4x4 grid of 4x4-pixel cells on a 16x16 frame
rng = np.random.default_rng(7)


def make_frames(n):
    imgs = rng.normal(0, 0.15, (n, 16, 16, 1)).astype(np.float32)
    target = np.zeros((n, S, S, 3), np.float32)   # objectness, dx, dy
    for i in range(n):
        cy, cx = rng.integers(0, S, 2)
        oy, ox = rng.uniform(0.2, 0.8, 2)
        py, px = (cy + oy) * CELL, (cx + ox) * CELL
        yy, xx = np.mgrid[0:16, 0:16]
        imgs[i, :, :, 0] += np.exp(-((yy - py) ** 2 + (xx - px) ** 2) / 2.0)
        target[i, cy, cx] = [1.0, ox, oy]
    return mx.array(imgs), mx.array(target)


class YOLO(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(1, 16, 3, padding=1)
        self.c2 = nn.Conv2d(16, 32, 3, padding=1)
        self.head = nn.Conv2d(32, 3, 1)

    def __call__(self, x):
        x = nn.relu(self.c1(x))
        x = nn.MaxPool2d(2, 2)(x)
        x = nn.relu(self.c2(x))
        x = nn.MaxPool2d(2, 2)(x)
        return self.head(x)


def yolo_loss(model, x, t):
    p = model(x)
    obj = t[..., 0]
    bce = nn.losses.binary_cross_entropy(p[..., 0], obj, with_logits=True, reduction="mean")
    box = (mx.sigmoid(p[..., 1:]) - t[..., 1:]) ** 2
    box = (box.sum(-1) * obj).sum() / obj.sum()
    return bce * 4.0 + box * 5.0


def load_model(checkpoint_path):
    """Load trained model from checkpoint"""
    model = YOLO()
    model.load_weights(checkpoint_path)
    return model


def detect(model, x, t):
    p = model(x)
    B = x.shape[0]
    pred_cell = mx.argmax(p[..., 0].reshape(B, -1), axis=1)
    true_cell = mx.argmax(t[..., 0].reshape(B, -1), axis=1)
    hit = (pred_cell == true_cell).astype(mx.float32)
    return hit.mean().item()


def main():
    t0 = time.time()
    xtr, ttr = make_frames(1024)
    xte, tte = make_frames(256)
    model = YOLO()
    opt = optim.Adam(learning_rate=3e-3)
    step = nn.value_and_grad(model, yolo_loss)
    ckdir = tempfile.mkdtemp(prefix="buoy_")
    for epoch in range(1, 9):
        perm = mx.array(rng.permutation(1024))
        tot = 0.0
        for b in range(0, 1024, 64):
            idx = perm[b:b + 64]
            loss, g = step(model, xtr[idx], ttr[idx])
            opt.update(model, g)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item()
        print(f"epoch {epoch} train_loss {tot / 16:.4f}")
        path = os.path.join(ckdir, f"yolo_epoch_{epoch}.npz")
        model.save_weights(path)
    print(f"Successfully saved model to {path}")

    det = load_model(path)
    acc = detect(det, xte, tte)
    acc_live = detect(model, xte, tte)
    print(f"detect: cell hit-rate {acc * 100:.1f}% (in-memory model {acc_live * 100:.1f}%, chance 6.2%)")
    print(f"done in {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
