"""Sled-dog trail log: tell the trail surface (hardpack / punchy crust / sugar
snow / overflow) from 2-second windows of the sled's runner sensor
(vertical acceleration and runner drag, 32 samples each).  Synthetic traces."""
import math
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(7391)
SURF = ["hardpack", "punchy", "sugar", "overflow"]
SHARE = [0.45, 0.30, 0.17, 0.08]
T = 32


def windows(n):
    y = rng.choice(4, size=n, p=SHARE)
    t = np.arange(T)[None, :]
    base_f = rng.uniform(0.25, 0.45, (n, 1))
    acc = 0.25 * np.sin(base_f * t + rng.uniform(0, 6.3, (n, 1)))
    drag = rng.uniform(0.8, 1.2, (n, 1)) * np.ones((n, T))
    for i in range(n):
        c = y[i]
        if c == 0:
            acc[i] += 0.20 * rng.standard_normal(T)
        elif c == 1:
            for _ in range(rng.integers(1, 3)):
                k = rng.integers(2, T - 4)
                acc[i, k:k + 3] -= rng.uniform(0.4, 1.0) * np.array([0.6, 1.0, 0.5])
                drag[i, k:k + 4] += rng.uniform(0.1, 0.4)
        elif c == 2:
            acc[i] *= 0.5
            drag[i] += rng.uniform(0.15, 0.45) + 0.1 * np.sin(0.15 * np.arange(T) + rng.uniform(0, 6))
        else:
            k = rng.integers(0, T - 10)
            L = rng.integers(5, 10)
            drag[i, k:k + L] += rng.uniform(0.3, 0.8)
            acc[i, k:k + L] *= 0.3
    acc += 0.20 * rng.standard_normal((n, T))
    drag += 0.12 * rng.standard_normal((n, T))
    flip = rng.random(n) < 0.03          # musher's surface notes are not perfect
    y = np.where(flip, rng.integers(0, 4, n), y)
    X = np.stack([acc, drag - 1.0], axis=2).astype(np.float32)   # (n, T, 2) channels-last
    return X, y.astype(np.int32)


Xtr, ytr = windows(6000)
Xva, yva = windows(1500)
Xtr_m, ytr_m, Xva_m = mx.array(Xtr), mx.array(ytr), mx.array(Xva)


class RunnerNet(nn.Module):
    def __init__(self, ch=24, classes=4):
        super().__init__()
        self.c1 = nn.Conv1d(2, ch, kernel_size=5, padding=2)
        self.c2 = nn.Conv1d(ch, ch, kernel_size=5, padding=2)
        self.norm = nn.LayerNorm(ch)
        self.head = nn.Linear(2 * ch, classes)

    def __call__(self, x):
        h = nn.gelu(self.c1(x))
        h = h + nn.gelu(self.c2(h))
        h = self.norm(h)
        feat = mx.concatenate([h.mean(axis=1), h.max(axis=1)], axis=1)
        return self.head(feat)


SMOOTH = 0.1


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, label_smoothing=SMOOTH, reduction="mean")


mx.random.seed(7391)
model = RunnerNet()
opt = optim.SGD(learning_rate=0.0, momentum=0.9, nesterov=True, weight_decay=5e-4)
vg = nn.value_and_grad(model, loss_fn)

BATCH = 64
CYCLES = [(2, 0.08), (4, 0.06), (6, 0.04)]   # (epochs, peak lr) of each warm restart
steps_per_epoch = len(ytr) // BATCH


def evaluate():
    logits = model(Xva_m)
    ce = nn.losses.cross_entropy(logits, mx.array(yva), reduction="mean").item()
    pred = np.array(mx.argmax(logits, axis=1))
    acc = 100.0 * np.mean(pred == yva)
    rec = [100.0 * np.mean(pred[yva == c] == c) for c in range(4)]
    return ce, acc, rec


counts = np.bincount(ytr, minlength=4)
maj = int(np.argmax(counts))
maj_acc = 100.0 * np.mean(yva == maj)
prior = counts / counts.sum()
prior_ce = float(-np.mean(np.log(prior[yva])))
floor = -(1 - SMOOTH + SMOOTH / 4) * math.log(1 - SMOOTH + SMOOTH / 4) - 3 * (SMOOTH / 4) * math.log(SMOOTH / 4)
print(f"trail log: {len(ytr)} training windows, {len(yva)} check windows, "
      + ", ".join(f"{s} {100 * p:.0f}%" for s, p in zip(SURF, prior)))
print(f"references: chance CE ln4 = {math.log(4):.3f} nats, class-prior CE {prior_ce:.3f} nats, "
      f"always-'{SURF[maj]}' accuracy {maj_acc:.1f} %")
print(f"smoothed-label CE cannot go below {floor:.3f} nats on training batches (label_smoothing {SMOOTH})")

W = 78


def header(k, ep, peak):
    print()
    print(f"== restart {k}: {ep} epochs, lr {peak:g} -> 0 (cosine), SGD Nesterov 0.9 ==")
    print(f"{'':>5} {'':>7} {'train':>8} | {'check':>7} {'check':>7} | {'recall by surface':^31} | {'':>5}")
    print(f"{'epoch':>5} {'lr':>7} {'CE':>8} | {'CE':>7} {'acc':>7} | {'hard':>7} {'punchy':>7} {'sugar':>7} {'overfl':>7} | {'secs':>5}")
    print(f"{'':>5} {'(end)':>7} {'(nats)':>8} | {'(nats)':>7} {'(%)':>7} | {'(%)':>7} {'(%)':>7} {'(%)':>7} {'(%)':>7} | {'':>5}")
    print("-" * W)


ce, acc, rec = evaluate()
print(f"untrained: check CE {ce:.3f} nats, accuracy {acc:.1f} %")
t0 = time.time()
gstep = 0
for k, (ep_n, peak) in enumerate(CYCLES, start=1):
    header(k, ep_n, peak)
    total = ep_n * steps_per_epoch
    s = 0
    for ep in range(1, ep_n + 1):
        perm = mx.array(rng.permutation(len(ytr)))
        tot = 0.0
        for b in range(steps_per_epoch):
            lr = 0.5 * peak * (1 + math.cos(math.pi * s / total))
            opt.learning_rate = lr
            idx = perm[b * BATCH:(b + 1) * BATCH]
            loss, grads = vg(model, Xtr_m[idx], ytr_m[idx])
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item()
            s += 1
            gstep += 1
        ce, acc, rec = evaluate()
        print(f"{ep:>5d} {lr:>7.4f} {tot / steps_per_epoch:>8.4f} | {ce:>7.4f} {acc:>7.1f} | "
              f"{rec[0]:>7.1f} {rec[1]:>7.1f} {rec[2]:>7.1f} {rec[3]:>7.1f} | {time.time() - t0:>5.1f}")
    print("-" * W)
print(f"{'ref':>5} {'':>7} {floor:>8.4f} | {prior_ce:>7.4f} {maj_acc:>7.1f} | "
      f"{100.0:>7.1f} {0.0:>7.1f} {0.0:>7.1f} {0.0:>7.1f} |   (always '{SURF[maj]}'; train CE = smoothing floor)")
print(f"done: {gstep} SGD steps over {len(CYCLES)} restarts, check accuracy {acc:.1f} % "
      f"vs {maj_acc:.1f} % always-'{SURF[maj]}'")
