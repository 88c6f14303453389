"""Restore blurred, noisy piecewise-constant 1-D signals with a tiny 1-D U-Net.

Two-level encoder/decoder (avg-pool down, nearest-neighbour up, skip
concatenation), trained on freshly generated signals with Adam and a cosine-decayed
learning rate.  Progress is printed as namedtuple reprs.
"""
import collections
import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

L = 64
rng = np.random.default_rng(7)
KERNEL = np.exp(-0.5 * (np.arange(-4, 5) / 1.8) ** 2)
KERNEL /= KERNEL.sum()

Report = collections.namedtuple("Report", "step lr train_mse val_mse val_snr_gain_db")


def make_batch(n):
    clean = np.zeros((n, L), np.float32)
    for i in range(n):
        cuts = np.sort(rng.choice(np.arange(4, L - 4), size=rng.integers(2, 6), replace=False))
        edges = np.concatenate([[0], cuts, [L]])
        for a, b in zip(edges[:-1], edges[1:]):
            clean[i, a:b] = rng.uniform(-1, 1)
    blurred = np.stack([np.convolve(c, KERNEL, mode="same") for c in clean])
    noisy = blurred + rng.normal(0, 0.08, blurred.shape)
    return mx.array(noisy[..., None].astype(np.float32)), mx.array(clean[..., None])


def down(x):  # (B, L, C) -> (B, L/2, C)
    B, n, C = x.shape
    return x.reshape(B, n // 2, 2, C).mean(axis=2)


def up(x):  # (B, L, C) -> (B, 2L, C)
    return mx.repeat(x, 2, axis=1)


class Block(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.c1 = nn.Conv1d(cin, cout, 5, padding=2)
        self.c2 = nn.Conv1d(cout, cout, 5, padding=2)

    def __call__(self, x):
        return nn.gelu(self.c2(nn.gelu(self.c1(x))))


class UNet1d(nn.Module):
    def __init__(self, w=12):
        super().__init__()
        self.enc1 = Block(1, w)
        self.enc2 = Block(w, 2 * w)
        self.mid = Block(2 * w, 2 * w)
        self.dec2 = Block(4 * w, w)
        self.dec1 = Block(2 * w, w)
        self.head = nn.Conv1d(w, 1, 1)

    def __call__(self, x):
        e1 = self.enc1(x)                 # L
        e2 = self.enc2(down(e1))          # L/2
        m = self.mid(down(e2))            # L/4
        d2 = self.dec2(mx.concatenate([up(m), e2], axis=-1))
        d1 = self.dec1(mx.concatenate([up(d2), e1], axis=-1))
        return x + self.head(d1)          # predict a correction to the input


def mse(model, x, y):
    return ((model(x) - y) ** 2).mean()


def snr_db(est, ref):
    return 10 * math.log10(float((ref ** 2).sum()) / float(((est - ref) ** 2).sum()))


def main():
    mx.random.seed(0)
    model = UNet1d()
    mx.eval(model.parameters())
    steps = 480
    sched = optim.cosine_decay(3e-3, steps, end=1e-4)
    opt = optim.Adam(learning_rate=sched)
    grad_fn = nn.value_and_grad(model, mse)

    xv, yv = make_batch(256)
    base = snr_db(np.array(xv), np.array(yv))
    print(f"# U-Net params: {sum(v.size for _, v in nn.utils.tree_flatten(model.parameters()))}"
          f", input SNR on val = {base:.2f} dB")

    t0 = time.time()
    run = []
    for step in range(1, steps + 1):
        x, y = make_batch(32)
        loss, grads = grad_fn(model, x, y)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        run.append(loss.item())
        if step % 48 == 0:
            pv = model(xv)
            vm = mse(model, xv, yv).item()
            gain = snr_db(np.array(pv), np.array(yv)) - base
            print(Report(step, round(float(sched(opt.step)), 5), round(sum(run) / len(run), 5),
                         round(vm, 5), round(gain, 2)))
            run = []
    print(f"# done in {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
