"""Batik workshop: crackle-pattern type from a scanned cloth patch.

After the wax is cracked and the cloth is dyed, dye runs into the cracks.
Four crackle types on 14x14 grey scans (NHWC):
  0 fine web, 1 vertical veins, 2 diagonal veins, 3 blotchy (dye pooled in spots).
Small CNN: Conv2d -> BatchNorm -> ReLU -> Dropout2d (whole feature maps are
dropped), twice, global average pooling, Linear head.
Cross-entropy with label smoothing 0.15, AdamW under warm restarts
(three cosine cycles of growing length). The log is quiet inside a cycle and
prints one line at every cycle end, plus a few steps right after each restart.
"""
import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

SEED = 11
SIDE = 14
N_TRAIN, N_VALID = 2400, 600
BATCH = 32
CYCLES = [50, 100, 150]          # optimizer steps per cosine cycle
PEAK = [1.2e-2, 8e-3, 5e-3]
SMOOTH = 0.15


def draw_patch(kind, rng):
    img = np.zeros((SIDE, SIDE), np.float32)
    if kind == 0:
        for _ in range(rng.integers(7, 11)):
            r, c = rng.integers(0, SIDE, 2)
            dr, dc = rng.choice([-1, 0, 1], 2)
            for t in range(rng.integers(2, 5)):
                rr, cc = (r + t * dr) % SIDE, (c + t * dc) % SIDE
                img[rr, cc] = 1.0
    elif kind == 1:
        for _ in range(rng.integers(2, 4)):
            c = rng.integers(0, SIDE)
            for r in range(SIDE):
                c = int(np.clip(c + rng.choice([-1, 0, 0, 1]), 0, SIDE - 1))
                img[r, c] = 1.0
    elif kind == 2:
        for _ in range(rng.integers(2, 4)):
            off = rng.integers(-SIDE // 2, SIDE // 2)
            for r in range(SIDE):
                c = r + off + rng.choice([-1, 0, 0, 1])
                if 0 <= c < SIDE:
                    img[r, c] = 1.0
    else:
        for _ in range(rng.integers(3, 6)):
            r, c = rng.integers(1, SIDE - 1, 2)
            img[r - 1:r + 2, c - 1:c + 2] += rng.uniform(0.4, 0.9)
    dye = rng.uniform(0.5, 1.5)
    img = dye * img + rng.normal(0, 0.25, img.shape) + rng.uniform(-0.3, 0.3)
    return img


def make_set(n, rng):
    y = rng.integers(0, 4, n).astype(np.int32)
    x = np.stack([draw_patch(k, rng) for k in y])[..., None]
    return x.astype(np.float32), y


class CrackleNet(nn.Module):
    def __init__(self, ch=(8, 16), p=0.1):
        super().__init__()
        self.c1 = nn.Conv2d(1, ch[0], 3, padding=1, bias=False)
        self.b1 = nn.BatchNorm(ch[0])
        self.c2 = nn.Conv2d(ch[0], ch[1], 3, padding=1, bias=False)
        self.b2 = nn.BatchNorm(ch[1])
        self.drop = nn.Dropout2d(p)
        self.head = nn.Linear(ch[1], 4)

    def __call__(self, x):
        x = self.drop(nn.relu(self.b1(self.c1(x))))
        x = self.drop(nn.relu(self.b2(self.c2(x))))
        return self.head(mx.mean(x, axis=(1, 2)))


def schedule():
    parts = [optim.cosine_decay(pk, n, pk * 0.02) for pk, n in zip(PEAK, CYCLES)]
    bounds = list(np.cumsum(CYCLES[:-1]))
    return optim.join_schedules(parts, bounds), bounds


def main():
    mx.random.seed(SEED)
    rng = np.random.default_rng(SEED)
    xtr, ytr = make_set(N_TRAIN, rng)
    xva, yva = make_set(N_VALID, rng)
    xtr, ytr, xva, yva = map(mx.array, (xtr, ytr, xva, yva))

    # smoothed-target CE floor: the entropy of the smoothed label distribution
    q = np.full(4, SMOOTH / 4)
    q[0] += 1 - SMOOTH
    floor = float(-(q * np.log(q)).sum())
    print(f"label smoothing {SMOOTH}: train CE cannot go below ~{floor:.3f}; chance acc 0.25, chance CE {math.log(4):.3f}")

    model = CrackleNet()
    sched, bounds = schedule()
    opt = optim.AdamW(learning_rate=sched, weight_decay=1e-3)

    def loss_fn(m, x, y):
        return nn.losses.cross_entropy(m(x), y, label_smoothing=SMOOTH, reduction="mean")

    step_fn = nn.value_and_grad(model, loss_fn)

    def valid():
        model.eval()
        logits = model(xva)
        ce = nn.losses.cross_entropy(logits, yva, reduction="mean").item()
        acc = mx.mean(mx.argmax(logits, 1) == yva).item()
        model.train()
        return ce, acc

    total_steps = sum(CYCLES)
    step, cycle, window = 0, 0, []
    t0 = time.perf_counter()
    order = rng.permutation(N_TRAIN)
    pos = 0
    while step < total_steps:
        if pos + BATCH > N_TRAIN:
            order, pos = rng.permutation(N_TRAIN), 0
        idx = mx.array(order[pos:pos + BATCH])
        pos += BATCH
        loss, grads = step_fn(model, xtr[idx], ytr[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        step += 1
        window.append(loss.item())
        if cycle > 0 and step - bounds[cycle - 1] in (1, 5, 10):
            print(f"  step {step:4d} (cycle {cycle + 1}, just restarted) train_ce {loss.item():.4f} "
                  f"lr {opt.learning_rate.item():.2e}")
        if cycle < len(bounds) and step == bounds[cycle] or step == total_steps:
            ce, acc = valid()
            print(f"cycle {cycle + 1} end @ step {step:4d} | train_ce(last 40) {np.mean(window[-40:]):.4f} "
                  f"| valid_ce {ce:.4f} valid_acc {acc:.3f} | lr {opt.learning_rate.item():.2e} "
                  f"| {time.perf_counter() - t0:.1f}s")
            cycle += 1

    ce, acc = valid()
    print(f"done: valid_acc {acc:.3f} (chance 0.25), valid_ce {ce:.4f}")


if __name__ == "__main__":
    main()
