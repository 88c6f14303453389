"""Road survey: binary pothole mask on 12x12 asphalt patches (NHWC, 2 channels:
grey level and a laser depth reading). Survey labels are hand-painted, so about 6%
of mask pixels are flipped; the loss cannot go below that noise.

Loss = BCE with a positive-class weight + soft Dice. Gradients are accumulated over
two micro-batches per optimizer step. The learning rate is cut by 10x at step 150.
The best validation Dice is kept in memory and put back at the end.
Output: CSV rows to stdout (one every 25 optimizer steps), notes on stderr.
"""
import sys
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_map

H = W = 12
FLIP = 0.06


def make_patches(n, rng):
    yy, xx = np.mgrid[0:H, 0:W]
    x = np.zeros((n, H, W, 2), np.float32)
    y = np.zeros((n, H, W, 1), np.float32)
    y_survey = np.zeros((n, H, W, 1), np.float32)
    for i in range(n):
        grey = 0.45 + 0.08 * rng.standard_normal((H, W))
        depth = 0.05 * rng.standard_normal((H, W))
        m = np.zeros((H, W), bool)
        for _ in range(rng.integers(0, 3)):
            cy, cx = rng.uniform(1, 11, size=2)
            r = rng.uniform(1.0, 2.6)
            blob = (yy - cy) ** 2 + (xx - cx) ** 2 < r ** 2
            m |= blob
        grey[m] -= 0.18
        depth[m] += 0.35 + 0.1 * rng.standard_normal(m.sum())
        lab = m.astype(np.float32)
        flip = rng.random((H, W)) < FLIP
        x[i, ..., 0], x[i, ..., 1], y[i, ..., 0] = grey, depth, lab
        y_survey[i, ..., 0] = np.where(flip, 1 - lab, lab)
    return x, y, y_survey


class PotholeNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(2, 12, 3, padding=1)
        self.c2 = nn.Conv2d(12, 12, 3, padding=2, dilation=2)
        self.c3 = nn.Conv2d(12, 12, 3, padding=1)
        self.out = nn.Conv2d(12, 1, 1)

    def __call__(self, x):
        h = nn.gelu(self.c1(x))
        h = h + nn.gelu(self.c2(h))
        h = nn.gelu(self.c3(h))
        return self.out(h)


def seg_loss(model, x, y, pos_w):
    logits = model(x)
    bce = nn.losses.binary_cross_entropy(logits, y, with_logits=True, reduction="none")
    bce = (bce * (1 + (pos_w - 1) * y)).mean()
    p = mx.sigmoid(logits)
    inter = (p * y).sum(axis=(1, 2, 3))
    denom = p.sum(axis=(1, 2, 3)) + y.sum(axis=(1, 2, 3))
    dice = 1 - ((2 * inter + 1) / (denom + 1)).mean()
    return bce + dice


def scores(model, x, y_clean):
    pred = np.array(model(x) > 0).astype(bool)
    t = np.array(y_clean).astype(bool)
    tp = (pred & t).sum()
    fp = (pred & ~t).sum()
    fn = (~pred & t).sum()
    dice = 2 * tp / max(2 * tp + fp + fn, 1)
    return dice, tp / max(tp + fp, 1), tp / max(tp + fn, 1)


def main():
    rng = np.random.default_rng(5)
    mx.random.seed(5)
    xtr, _, ytr = map(mx.array, make_patches(800, rng))
    # validation: survey (noisy) masks for the loss, clean masks for the scores
    xva, yva, yva_n = map(mx.array, make_patches(200, rng))

    share = float(np.array(ytr).mean())
    pos_w = (1 - share) / share / 3.0
    print(f"# positive pixel share {share:.3f} (incl. {FLIP:.0%} flipped); pos weight {pos_w:.2f}",
          file=sys.stderr)
    print("# reference: all-background mask has Dice 0.000 and pixel accuracy "
          f"{1 - float(np.array(yva).mean()):.3f}", file=sys.stderr)

    model = PotholeNet()
    lr = optim.step_decay(0.05, 0.1, 150)
    opt = optim.SGD(learning_rate=lr, momentum=0.9, nesterov=True)
    loss_and_grad = nn.value_and_grad(model, seg_loss)

    micro, accum, steps = 16, 2, 260
    n = xtr.shape[0]
    cursor, perm = 0, rng.permutation(n)
    best = (-1.0, None, 0)
    window = []
    print("step,lr,train_loss_window,val_loss_noisy,val_dice_clean,precision,recall,secs")
    t0 = time.perf_counter()
    for step in range(1, steps + 1):
        acc = None
        for _ in range(accum):
            if cursor + micro > n:
                cursor, perm = 0, rng.permutation(n)
            idx = mx.array(perm[cursor:cursor + micro])
            cursor += micro
            loss, g = loss_and_grad(model, xtr[idx], ytr[idx], pos_w)
            acc = g if acc is None else tree_map(lambda a, b: a + b, acc, g)
            window.append(loss.item())
        acc = tree_map(lambda a: a / accum, acc)
        opt.update(model, acc)
        mx.eval(model.parameters(), opt.state)
        if step % 25 == 0 or step == 1:
            vloss = seg_loss(model, xva, yva_n, pos_w).item()
            d, p, r = scores(model, xva, yva)
            print(f"{step},{opt.learning_rate.item():.4f},{np.mean(window):.4f},{vloss:.4f},"
                  f"{d:.3f},{p:.3f},{r:.3f},{time.perf_counter() - t0:.1f}")
            window = []
            if d > best[0]:
                best = (d, tree_map(lambda a: mx.array(a), model.parameters()), step)
    model.update(best[1])
    mx.eval(model.parameters())
    d, p, r = scores(model, xva, yva)
    print(f"# restored best weights from step {best[2]}: val Dice {d:.3f} "
          f"precision {p:.3f} recall {r:.3f}", file=sys.stderr)


if __name__ == "__main__":
    main()
