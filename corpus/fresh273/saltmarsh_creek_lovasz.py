# Salt-marsh creek mapping from drone near-infrared tiles.
# 16x16 tiles: bright vegetated marsh with texture, thin dark meandering creeks
# (1-2 px wide, the target) and round dark pools that are NOT creek.
# Per-pixel classifier over a 7x7 neighbourhood (49 shifted copies of the tile
# fed to a pixel-wise MLP) plus a tile-level context vector.
# Two stages in one run:
#   stage A  BCE-with-logits (pixel loss, values well below 1)
#   stage B  Lovasz hinge (a convex surrogate of 1 - IoU per tile; its values
#            sit on a different scale, so the printed loss jumps at the switch)
# Validation IoU is printed next to two reference points: predicting creek
# everywhere, and a plain darkness threshold.
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

S = 16
R = 3                      # neighbourhood radius -> 7x7
OFFS = [(dy, dx) for dy in range(-R, R + 1) for dx in range(-R, R + 1)]


def make_tiles(n, rng):
    yy, xx = np.mgrid[0:S, 0:S].astype(np.float32)
    img = np.zeros((n, S, S), np.float32)
    lab = np.zeros((n, S, S), np.float32)
    for i in range(n):
        base = 0.8 + 0.08 * np.sin(rng.uniform(0.5, 1.5) * xx + rng.uniform(0, 6)) \
            + rng.normal(0, 0.07, (S, S))
        mask = np.zeros((S, S), bool)
        for _ in range(rng.integers(1, 3)):             # 1-2 creeks
            horizontal = rng.random() < 0.5
            a = rng.uniform(3, S - 3)
            amp, freq, ph = rng.uniform(1, 3), rng.uniform(0.2, 0.6), rng.uniform(0, 6)
            width = rng.choice([0.6, 1.1])
            t = xx if horizontal else yy
            u = yy if horizontal else xx
            centre = a + amp * np.sin(freq * t + ph)
            mask |= np.abs(u - centre) <= width
        pools = np.zeros((S, S), bool)
        for _ in range(rng.integers(0, 3)):             # 0-2 round pools
            cy, cx, r = rng.uniform(2, S - 2), rng.uniform(2, S - 2), rng.uniform(1.5, 2.6)
            pools |= (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r
        pools &= ~mask
        dark = 0.25 + rng.normal(0, 0.07, (S, S))
        tile = np.where(mask | pools, dark, base)
        img[i] = tile
        lab[i] = mask
    return img, lab


def neighbourhood(x):
    # x (B,S,S) -> (B,S*S,49) with edge padding
    xp = mx.pad(x, [(0, 0), (R, R), (R, R)], mode="edge")
    cols = [xp[:, R + dy:R + dy + S, R + dx:R + dx + S] for dy, dx in OFFS]
    return mx.stack(cols, axis=-1).reshape(x.shape[0], S * S, len(OFFS))


class CreekNet(nn.Module):
    def __init__(self, width=32):
        super().__init__()
        self.inp = nn.Linear(len(OFFS), width)
        self.ctx = nn.Linear(2, width)            # tile mean / std as context
        self.h1 = nn.Linear(width, width)
        self.out = nn.Linear(width, 1)

    def __call__(self, x):
        nb = neighbourhood(x)
        stats = mx.stack([x.mean((1, 2)), x.std((1, 2))], axis=-1)[:, None, :]
        h = nn.gelu(self.inp(nb) + self.ctx(stats))
        h = nn.gelu(self.h1(h)) + h
        return self.out(h).squeeze(-1)            # (B, S*S) logits


def bce_loss(model, x, y):
    return nn.losses.binary_cross_entropy(model(x), y.reshape(y.shape[0], -1), reduction="mean")


def lovasz_hinge(model, x, y):
    logits = model(x)
    labels = y.reshape(y.shape[0], -1)
    signs = 2.0 * labels - 1.0
    errors = 1.0 - logits * signs
    order = mx.argsort(-mx.stop_gradient(errors), axis=1)
    err_sorted = mx.take_along_axis(errors, order, axis=1)
    gt_sorted = mx.take_along_axis(labels, order, axis=1)
    gts = gt_sorted.sum(axis=1, keepdims=True)
    inter = gts - mx.cumsum(gt_sorted, axis=1)
    union = gts + mx.cumsum(1.0 - gt_sorted, axis=1)
    jac = 1.0 - inter / union
    jgrad = mx.concatenate([jac[:, :1], jac[:, 1:] - jac[:, :-1]], axis=1)
    return (nn.relu(err_sorted) * mx.stop_gradient(jgrad)).sum(axis=1).mean()


def iou_of(pred, lab):
    inter = (pred & lab).sum()
    union = (pred | lab).sum()
    return (inter / mx.maximum(union, 1)).item()


def val_iou(model, x, y):
    pred = model(x) > 0
    return iou_of(pred, y.reshape(y.shape[0], -1) > 0.5)


def main():
    t0 = time.time()
    mx.random.seed(3)
    rng = np.random.default_rng(3)
    xtr, ytr = make_tiles(2400, rng)
    xva, yva = make_tiles(400, rng)
    xtr, ytr, xva, yva = map(mx.array, (xtr, ytr, xva, yva))
    frac = ytr.mean().item()
    print(f"tiles: train {xtr.shape[0]}  val {xva.shape[0]}  creek pixel share {frac:.3f}")
    lab_va = yva.reshape(yva.shape[0], -1) > 0.5
    all_creek = iou_of(mx.ones(lab_va.shape, dtype=mx.bool_), lab_va)
    thr = iou_of(xva.reshape(xva.shape[0], -1) < 0.5, lab_va)
    print(f"reference IoU: everything creek {all_creek:.3f}   darkness threshold {thr:.3f}")

    model = CreekNet()
    mx.eval(model.parameters())
    stages = [("A bce", bce_loss, 200, 3e-3), ("B lovasz", lovasz_hinge, 200, 1e-3)]
    B = 32
    step = 0
    for name, fn, steps, lr in stages:
        opt = optim.Adam(learning_rate=lr)
        lg = nn.value_and_grad(model, fn)
        print(f"stage {name}: {steps} steps, lr {lr}")
        run = 0.0
        for k in range(steps):
            idx = mx.array(rng.integers(0, xtr.shape[0], B))
            loss, grads = lg(model, xtr[idx], ytr[idx])
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            run += loss.item()
            step += 1
            if (k + 1) % 50 == 0:
                print(f"  step {step:4d}  {name.split()[1]} loss (avg of 50) {run / 50:.4f}")
                run = 0.0
            if (k + 1) % 100 == 0:
                print(f"  val IoU {val_iou(model, xva, yva):.3f}")
    final = val_iou(model, xva, yva)
    print(f"final val IoU {final:.3f}  (everything creek {all_creek:.3f}, darkness threshold {thr:.3f})")
    print(f"elapsed {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
