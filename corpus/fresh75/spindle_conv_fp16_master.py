"""Sleep EEG: detect sleep spindles (11-16 Hz bursts) in 2-second, 2-channel
windows sampled at 64 Hz.  Synthetic data: pink-ish background + alpha/theta
rhythms + eye-movement drifts; positives carry a waxing/waning sigma burst.

Model (channels-last, MLX Conv1d takes (N, L, C)):
  front : a FIXED band-pass filter bank (6 cosine-windowed sinusoids, 4..20 Hz)
          built by hand and frozen on purpose
  rest  : two trainable Conv1d blocks + global max pool + Linear head
Mixed precision: float32 master weights owned by the Adam optimizer, float16
compute (a loss-scaled fp16 copy of the weights is put into the model inside
the differentiated function).  A progress bar is redrawn with \r each epoch.
"""
import math
import sys
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

FS, SECS, CH = 64, 2, 2
L = FS * SECS
LOSS_SCALE = 256.0


def synth(n, rng):
    t = np.arange(L) / FS
    x = np.zeros((n, L, CH), np.float32)
    y = (rng.random(n) < 0.35).astype(np.int32)
    for i in range(n):
        white = rng.normal(0, 1, (L, CH))
        bg = np.cumsum(white, 0) * 0.08
        bg -= bg.mean(0)
        alpha = rng.uniform(0, 0.8) * np.sin(2 * np.pi * rng.uniform(8, 10.5) * t + rng.uniform(0, 6))
        theta = rng.uniform(0, 0.8) * np.sin(2 * np.pi * rng.uniform(4, 7) * t + rng.uniform(0, 6))
        sig = bg + white * 0.35 + (alpha + theta)[:, None] * np.array([1.0, 0.7])
        if y[i]:
            f = rng.uniform(11.5, 15.5)
            c, w = rng.uniform(0.5, 1.5), rng.uniform(0.15, 0.3)
            env = np.exp(-0.5 * ((t - c) / w) ** 2)
            burst = rng.uniform(0.6, 1.3) * env * np.sin(2 * np.pi * f * t)
            sig += burst[:, None] * np.array([1.0, rng.uniform(0.5, 0.9)])
        x[i] = sig
    return x, y


def filterbank(freqs, k=25):
    n = np.arange(k) - k // 2
    win = 0.5 + 0.5 * np.cos(np.pi * n / (k // 2 + 1))
    w = np.zeros((len(freqs) * CH, k, CH), np.float32)  # (out, K, in)
    for j, f in enumerate(freqs):
        ker = win * np.cos(2 * np.pi * f * n / FS)
        ker /= np.abs(ker).sum()
        for c in range(CH):
            w[j * CH + c, :, c] = ker
    return w


class SpindleNet(nn.Module):
    def __init__(self):
        super().__init__()
        freqs = [4, 7, 10, 13, 16, 20]
        self.front = nn.Conv1d(CH, len(freqs) * CH, 25, padding=12, bias=False)
        self.front.weight = mx.array(filterbank(freqs))
        self.c1 = nn.Conv1d(len(freqs) * CH, 16, 7, padding=3)
        self.c2 = nn.Conv1d(16, 16, 7, padding=3, stride=2)
        self.head = nn.Linear(16, 2)

    def __call__(self, x):
        h = self.front(x)
        h = h * h  # band power
        h = nn.gelu(self.c1(h))
        h = nn.gelu(self.c2(h))
        return self.head(mx.max(h, axis=1))


def bar(epoch, done, total, loss, width=30):
    k = int(width * done / total)
    sys.stdout.write(f"\repoch {epoch:2d} [{'#' * k}{'.' * (width - k)}] {done:4d}/{total} loss {loss:.4f}")
    sys.stdout.flush()


def f1_pct(logits, y):
    pred = np.array(mx.argmax(logits, -1))
    tp = int(((pred == 1) & (y == 1)).sum())
    fp = int(((pred == 1) & (y == 0)).sum())
    fn = int(((pred == 0) & (y == 1)).sum())
    return 100.0 * 2 * tp / max(1, 2 * tp + fp + fn)


def main():
    rng = np.random.default_rng(3)
    mx.random.seed(3)
    t_prep = time.time()
    xtr, ytr = synth(3000, rng)
    xte, yte = synth(800, rng)
    mu, sd = xtr.mean((0, 1)), xtr.std((0, 1))
    xtr, xte = (xtr - mu) / sd, (xte - mu) / sd
    print(f"data: {len(xtr)} train / {len(xte)} test windows of {L} samples x {CH} ch, "
          f"spindle share {ytr.mean():.1%}, prep {time.time() - t_prep:.1f}s")

    model = SpindleNet()
    model.front.freeze()
    model.front.update(tree_map(lambda a: a.astype(mx.float16), model.front.parameters()))
    master = tree_map(lambda a: a.astype(mx.float32), model.trainable_parameters())
    mx.eval(model.parameters(), master)
    front0 = np.array(model.front.weight)
    n_tr = sum(v.size for _, v in tree_flatten(master))
    n_all = sum(v.size for _, v in tree_flatten(model.parameters()))
    print(f"params: {n_tr} trainable fp32 master / {n_all} total; front filter bank frozen (fp16)")

    opt = optim.Adam(learning_rate=2e-3)

    def scaled_loss(p32, xb, yb):
        model.update(tree_map(lambda a: a.astype(mx.float16), p32))
        logits = model(xb.astype(mx.float16)).astype(mx.float32)
        return nn.losses.cross_entropy(logits, yb, reduction="mean") * LOSS_SCALE

    step_fn = mx.value_and_grad(scaled_loss)

    def predict(x):
        model.update(tree_map(lambda a: a.astype(mx.float16), master))
        out = []
        for i in range(0, len(x), 200):
            out.append(model(mx.array(x[i:i + 200]).astype(mx.float16)).astype(mx.float32))
        return mx.concatenate(out)

    Xtr, Ytr = mx.array(xtr), mx.array(ytr)
    lg = predict(xte)
    print(f"untrained: test CE {nn.losses.cross_entropy(lg, mx.array(yte), reduction='mean').item():.4f} "
          f"F1 {f1_pct(lg, yte):.1f}%")

    bs, epochs = 50, 8
    nb = len(xtr) // bs
    t0 = time.time()
    for epoch in range(1, epochs + 1):
        perm = mx.array(rng.permutation(len(xtr)))
        run = 0.0
        for b in range(nb):
            idx = perm[b * bs:(b + 1) * bs]
            sloss, sgrads = step_fn(master, Xtr[idx], Ytr[idx])
            grads = tree_map(lambda g: g / LOSS_SCALE, sgrads)
            if epoch == 1 and b == 0:
                flat = tree_flatten(grads)
                zero = [k for k, g in flat if float(mx.abs(g).max()) == 0.0]
                print(f"grad check: {len(flat)} trainable leaves, dtypes "
                      f"{sorted({str(g.dtype) for _, g in flat})}, zero leaves {zero}")
            master = opt.apply_gradients(grads, master)
            mx.eval(master, opt.state, sloss)
            run += sloss.item() / LOSS_SCALE
            if (b + 1) % 10 == 0 or b + 1 == nb:
                bar(epoch, b + 1, nb, run / (b + 1))
        lg = predict(xte)
        te_ce = nn.losses.cross_entropy(lg, mx.array(yte), reduction="mean").item()
        sys.stdout.write(f"  | test CE {te_ce:.4f}  F1 {f1_pct(lg, yte):5.1f}%  "
                         f"{time.time() - t0:5.1f}s\n")
        sys.stdout.flush()

    moved = float(np.abs(np.array(model.front.weight) - front0).max())
    print(f"done: master dtype {tree_flatten(master)[0][1].dtype}, "
          f"frozen filter bank max change {moved}")


if __name__ == "__main__":
    main()
