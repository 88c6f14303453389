"""Sea-ice charting: classify synthetic SAR backscatter patches into ice stages.

Classes: 0 open water (wind-roughened), 1 new/nilas ice (dark, smooth),
2 first-year ice (medium, speckled), 3 multi-year ice (bright blobs),
4 ridged ice (bright linear ridges).  16x16 single-channel patches, NHWC.

Training plan (all intended):
  * depthwise-separable CNN (grouped 3x3 convs + 1x1 convs) with GroupNorm,
  * AdamW with SGDR warm restarts: three cosine cycles of growing length; the
    learning rate jumps back to its peak at each restart, so the loss bumps up,
  * mixup during cycles 1-2 (soft targets keep the training loss high, well above
    the validation loss), switched off for the last cycle,
  * an exponential moving average (EMA) of the weights is evaluated beside the
    raw weights; the report also gives the mean log-likelihood of the true class
    (a negative number that rises towards 0).
Logs are printed only at cycle ends and a few probes, so there are quiet stretches.
"""
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

SEED = 11
S = 16
K = 5
NAMES = ["water", "nilas", "fy", "my", "ridged"]
N_TRAIN, N_VALID = 2000, 500
BATCH = 40
CYCLES = [60, 100, 140]      # steps per SGDR cycle
PEAK_LR = 6e-3
MIN_LR = 1e-5
MIXUP_ALPHA = 0.4
EMA_DECAY = 0.97


def smooth(img, k=3):
    pad = k // 2
    p = np.pad(img, pad, mode="wrap")
    out = np.zeros_like(img)
    for dy in range(k):
        for dx in range(k):
            out += p[dy:dy + img.shape[0], dx:dx + img.shape[1]]
    return out / (k * k)


def render(n, rng):
    y = rng.integers(0, K, size=n)
    x = np.empty((n, S, S, 1), dtype=np.float32)
    rr, cc = np.mgrid[0:S, 0:S]
    for i in range(n):
        c = y[i]
        if c == 0:
            ang = rng.uniform(0, np.pi)
            f = rng.uniform(0.6, 1.1)
            img = -0.2 + 0.35 * np.sin(f * (np.cos(ang) * rr + np.sin(ang) * cc) + rng.uniform(0, 6.3))
        elif c == 1:
            img = np.full((S, S), -0.9) + 0.1 * smooth(rng.standard_normal((S, S)))
        elif c == 2:
            img = 0.0 + 0.5 * smooth(rng.standard_normal((S, S)), 3)
        elif c == 3:
            img = np.full((S, S), 0.1)
            for _ in range(rng.integers(2, 4)):
                r0, c0 = rng.uniform(0, S, 2)
                rad = rng.uniform(2.0, 3.5)
                img = img + 0.8 * np.exp(-((rr - r0) ** 2 + (cc - c0) ** 2) / (2 * rad ** 2))
        else:
            img = np.full((S, S), 0.0)
            ang = rng.uniform(0, np.pi)
            for _ in range(rng.integers(1, 3)):
                off = rng.uniform(-5, 5)
                d = np.abs(np.cos(ang) * (rr - S / 2) + np.sin(ang) * (cc - S / 2) - off)
                img = img + 1.1 * (d < 0.9)
        img = img * rng.uniform(0.85, 1.15) + rng.uniform(-0.15, 0.15)
        img = img + 0.25 * rng.standard_normal((S, S))   # speckle
        x[i, :, :, 0] = img
    return x, y.astype(np.int32)


class SepBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.dw = nn.Conv2d(cin, cin, 3, stride=stride, padding=1, groups=cin, bias=False)
        self.pw = nn.Conv2d(cin, cout, 1, bias=False)
        self.norm = nn.GroupNorm(4, cout, pytorch_compatible=True)

    def __call__(self, x):
        return nn.gelu(self.norm(self.pw(self.dw(x))))


class FloeNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(1, 12, 3, padding=1)
        self.blocks = [SepBlock(12, 24, 2), SepBlock(24, 32, 2), SepBlock(32, 32, 1)]
        self.head = nn.Linear(32, K)

    def __call__(self, x):
        x = nn.gelu(self.stem(x))
        for b in self.blocks:
            x = b(x)
        return self.head(mx.mean(x, axis=(1, 2)))


def soft_loss(model, x, t):
    logp = nn.log_softmax(model(x), axis=-1)
    return -mx.mean(mx.sum(t * logp, axis=-1))


def sgdr_lr(step):
    """Learning rate for a global step under warm restarts."""
    start = 0
    for length in CYCLES:
        if step < start + length:
            frac = (step - start) / length
            return MIN_LR + 0.5 * (PEAK_LR - MIN_LR) * (1 + math.cos(math.pi * frac))
        start += length
    return MIN_LR


def metrics(model, x, y):
    logits = model(mx.array(x))
    logp = nn.log_softmax(logits, axis=-1)
    ll = mx.mean(mx.take_along_axis(logp, mx.array(y)[:, None], axis=1)).item()
    pred = np.array(mx.argmax(logits, axis=1))
    return ll, float((pred == y).mean())


def main():
    t0 = time.time()
    mx.random.seed(SEED)
    rng = np.random.default_rng(SEED)
    xtr, ytr = render(N_TRAIN, rng)
    xva, yva = render(N_VALID, rng)
    mu, sd = xtr.mean(), xtr.std()
    xtr, xva = (xtr - mu) / sd, (xva - mu) / sd
    prior = np.bincount(ytr, minlength=K) / len(ytr)
    prior_ll = float(np.mean(np.log(prior[yva])))
    print(f"train {xtr.shape} valid {xva.shape}; class-prior baseline: "
          f"acc {float((yva == prior.argmax()).mean()):.3f} loglik {prior_ll:.3f}")

    model = FloeNet()
    mx.eval(model.parameters())
    n_params = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
    opt = optim.AdamW(learning_rate=0.0, weight_decay=0.02)
    ema = tree_map(lambda p: mx.array(p), model.trainable_parameters())
    loss_and_grad = nn.value_and_grad(model, soft_loss)
    eye = np.eye(K, dtype=np.float32)
    print(f"params {n_params}; SGDR cycles {CYCLES} (total {sum(CYCLES)} steps)")

    step = 0
    for cyc, length in enumerate(CYCLES):
        use_mix = cyc < len(CYCLES) - 1
        losses = []
        for k in range(length):
            idx = rng.integers(0, N_TRAIN, size=BATCH)
            xb, tb = xtr[idx], eye[ytr[idx]]
            if use_mix:
                lam = rng.beta(MIXUP_ALPHA, MIXUP_ALPHA)
                j = rng.permutation(BATCH)
                xb = lam * xb + (1 - lam) * xb[j]
                tb = lam * tb + (1 - lam) * tb[j]
            opt.learning_rate = mx.array(sgdr_lr(step))
            loss, grads = loss_and_grad(model, mx.array(xb), mx.array(tb))
            opt.update(model, grads)
            ema = tree_map(lambda e, p: EMA_DECAY * e + (1 - EMA_DECAY) * p,
                           ema, model.trainable_parameters())
            mx.eval(model.parameters(), opt.state, ema, loss)
            losses.append(loss.item())
            step += 1
            if k in (2, length // 2):
                print(f"  cycle {cyc} step {step:3d} lr {sgdr_lr(step - 1):.5f} "
                      f"batch_loss {losses[-1]:.4f}")
        raw_ll, raw_acc = metrics(model, xva, yva)
        backup = model.trainable_parameters()
        model.update(ema)
        ema_ll, ema_acc = metrics(model, xva, yva)
        model.update(backup)
        print(f"cycle {cyc} end (mixup {'on' if use_mix else 'off'}): "
              f"train_loss(last 20) {np.mean(losses[-20:]):.4f} | "
              f"valid raw acc {raw_acc:.3f} loglik {raw_ll:.4f} | "
              f"ema acc {ema_acc:.3f} loglik {ema_ll:.4f}")

    model.update(ema)
    logits = model(mx.array(xva))
    pred = np.array(mx.argmax(logits, axis=1))
    per = " ".join(f"{n}={float((pred[yva == c] == c).mean()):.2f}" for c, n in enumerate(NAMES))
    print(f"final EMA per-class recall: {per}")
    print(f"final EMA valid acc {float((pred == yva).mean()):.3f} "
          f"(prior baseline loglik {prior_ll:.3f}) time {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
