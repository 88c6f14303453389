"""Needlepoint sampler motifs: a tiny PixelCNN on 8x8 binary stitch charts.

Each chart is a repeat motif: the left half is stitched row by row (a row
repeats the one above it 70% of the time, otherwise it is a fresh row with
30% filled cells) and the right half repeats the left half's pattern.  The model reads
the chart in raster order through masked convolutions and predicts the
probability that each cell is stitched.  The loss is reported in bits per
cell (lower is better): 1.0 is a coin flip, and the generator's own entropy
is printed as the floor to aim for.
"""
import math
import time
from functools import partial

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

H = W = 8
LN2 = math.log(2.0)


def make_charts(rng, n, p_repeat=0.7, p_fill=0.3):
    left = np.zeros((n, H, W // 2), dtype=np.float32)
    left[:, 0] = rng.random((n, W // 2)) < p_fill
    for r in range(1, H):
        fresh = (rng.random((n, W // 2)) < p_fill).astype(np.float32)
        keep = rng.random((n, 1)) < p_repeat
        left[:, r] = np.where(keep, left[:, r - 1], fresh)
    charts = np.concatenate([left, left], axis=2)
    return charts[..., None]  # NHWC, one channel


def generator_entropy_bits(p_repeat=0.7, p_fill=0.3):
    """Exact entropy per cell of the chart law (the repeated half is free)."""
    q = W // 2
    hb = lambda p: -(p * math.log2(p) + (1 - p) * math.log2(1 - p))
    first_row = q * hb(p_fill)
    h_rows = 0.0  # H(row | previous row), averaged over previous rows
    for prev_bits in range(2**q):
        prev = [(prev_bits >> i) & 1 for i in range(q)]
        w_prev = math.prod(p_fill if b else 1 - p_fill for b in prev)
        h = 0.0
        for bits in range(2**q):
            row = [(bits >> i) & 1 for i in range(q)]
            p_fresh = math.prod(p_fill if b else 1 - p_fill for b in row)
            p = (1 - p_repeat) * p_fresh + (p_repeat if row == prev else 0.0)
            h -= p * math.log2(p)
        h_rows += w_prev * h
    return (first_row + (H - 1) * h_rows) / (H * W)


class MaskedConv2d(nn.Module):
    """Conv2d whose kernel only sees cells above, and to the left in the same row.

    mask type 'A' also hides the centre cell (first layer); 'B' shows it.
    The mask is kept in a private attribute so it is not a parameter.
    """

    def __init__(self, cin, cout, k, mask_type):
        super().__init__()
        scale = 1.0 / math.sqrt(cin * k * k)
        self.weight = mx.random.uniform(-scale, scale, (cout, k, k, cin))
        self.bias = mx.zeros((cout,))
        m = np.ones((1, k, k, 1), dtype=np.float32)
        c = k // 2
        m[:, c, c + (1 if mask_type == "B" else 0):, :] = 0
        m[:, c + 1:, :, :] = 0
        self._mask = mx.array(m)
        self._pad = c

    def __call__(self, x):
        return mx.conv2d(x, self.weight * self._mask, padding=self._pad) + self.bias


class TinyPixelCNN(nn.Module):
    def __init__(self, ch=16, k=3, n_b=3):
        super().__init__()
        self.first = MaskedConv2d(1, ch, k, "A")
        self.body = [MaskedConv2d(ch, ch, k, "B") for _ in range(n_b)]
        self.out = nn.Conv2d(ch, 1, 1)

    def __call__(self, x):
        h = nn.relu(self.first(x * 2.0 - 1.0))
        for layer in self.body:
            h = h + nn.relu(layer(h))
        return self.out(h)  # logits, NHWC


def bits_per_cell(model, x):
    logits = model(x)
    nats = nn.losses.binary_cross_entropy(logits, x, with_logits=True, reduction="mean")
    return nats / LN2


def main():
    mx.random.seed(11)
    rng = np.random.default_rng(11)
    train = mx.array(make_charts(rng, 6000))
    valid = mx.array(make_charts(rng, 500))
    floor = generator_entropy_bits()

    model = TinyPixelCNN()
    mx.eval(model.parameters())
    n_params = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))

    steps, batch = 490, 64
    warm = 60
    schedule = optim.join_schedules(
        [optim.linear_schedule(0.0, 3e-3, warm), optim.cosine_decay(3e-3, steps - warm, 2e-4)],
        [warm],
    )
    opt = optim.Adam(learning_rate=schedule)

    # first-step gradient audit (before any update)
    g0 = nn.value_and_grad(model, bits_per_cell)(model, train[:batch])[1]
    dead = [k for k, v in tree_flatten(g0) if float(mx.abs(v).max()) == 0.0]
    print(f"sampler-pixelcnn: {n_params} parameters, 6000 charts, floor {floor:.3f} bits/cell")
    print(f"gradient audit: {len(tree_flatten(g0))} leaves, zero-gradient leaves: {dead or 'none'}")

    state = [model.state, opt.state]

    @partial(mx.compile, inputs=state, outputs=state)
    def step(x):
        loss, grads = nn.value_and_grad(model, bits_per_cell)(model, x)
        opt.update(model, grads)
        return loss

    t0 = time.perf_counter()
    order = rng.permutation(train.shape[0])
    pos = 0
    run = []
    for it in range(1, steps + 1):
        if pos + batch > len(order):
            order, pos = rng.permutation(train.shape[0]), 0
        idx = mx.array(order[pos:pos + batch])
        pos += batch
        loss = step(train[idx])
        mx.eval(state, loss)
        run.append(loss.item())
        if it == 1 or it % 70 == 0:
            v = bits_per_cell(model, valid).item()
            lr = opt.learning_rate.item()
            print(
                f"step {it:4d}  lr {lr:.2e}  train {np.mean(run):.3f} b/cell  "
                f"valid {v:.3f} b/cell  (floor {floor:.3f})  {time.perf_counter() - t0:5.1f}s"
            )
            run = []

    # draw three charts cell by cell from the trained model
    mx.random.seed(3)
    canvas = mx.zeros((3, H, W, 1))
    for r in range(H):
        for c in range(W):
            p = mx.sigmoid(model(canvas)[:, r, c, 0])
            cell = (mx.random.uniform(shape=p.shape) < p).astype(mx.float32)
            canvas[:, r, c, 0] = cell
    mx.eval(canvas)
    charts = np.array(canvas)[..., 0]
    sym = np.mean(charts[:, :, : W // 2] == charts[:, :, W // 2:]) * 100
    print(f"sampled charts (repeat agreement {sym:.0f}%):")
    for r in range(H):
        print("   ".join("".join("x" if v else "." for v in charts[i, r]) for i in range(3)))


if __name__ == "__main__":
    main()
