"""Snow crystal habit from a silhouette's radial profile.

Each sample is the boundary radius of a crystal silhouette at 48 angles
(plate / stellar dendrite / needle / column).  Circular 1-D conv net,
three-stage curriculum:
  stage 1  clean, upright crystals
  stage 2  rotated, scale-jittered, noisy crystals (the loss goes back up)
           with early stopping on held-out accuracy and a restore of the best
  stage 3  trunk frozen, head-only polish
Each stage warms the learning rate up from exactly 0.
"""
import math
import sys
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

HABITS = ["plate", "dendrite", "needle", "column"]
N_ANG = 48


def crystals(n, key, hard):
    ks = mx.random.split(key, 6)
    lab = mx.random.randint(0, 4, (n,), key=ks[0])
    th = mx.arange(N_ANG) * (2 * math.pi / N_ANG)
    u = mx.random.uniform(shape=(n, 1), key=ks[1])
    plate = 1.0 + (0.04 + 0.08 * u) * mx.cos(6 * th)
    p = 6 + 6 * u
    dendrite = 0.55 + 0.45 * mx.abs(mx.cos(3 * th)) ** p + 0.05 * mx.cos(18 * th)
    q = 4 + 4 * u
    needle = 0.25 + 0.75 * mx.abs(mx.cos(th)) ** q
    aspect = 1.5 + u
    c, s = mx.abs(mx.cos(th)) + 1e-6, mx.abs(mx.sin(th)) + 1e-6
    column = mx.minimum(aspect / c, 1.0 / s)
    column = column / mx.max(column, axis=1, keepdims=True)
    allr = mx.stack([plate, dendrite, needle, column], axis=1)  # n,4,L
    r = mx.take_along_axis(allr, lab[:, None, None], axis=1).squeeze(1)
    if hard:
        shift = mx.random.randint(0, N_ANG, (n, 1), key=ks[2])
        idx = (mx.arange(N_ANG)[None, :] + shift) % N_ANG
        r = mx.take_along_axis(r, idx, axis=1)
        r = r * mx.random.uniform(0.6, 1.4, (n, 1), key=ks[3])
        r = r + 0.12 * mx.random.normal(r.shape, key=ks[4])
    else:
        r = r + 0.02 * mx.random.normal(r.shape, key=ks[4])
    return r[..., None], lab


def circ_pad(x, k):
    h = k // 2
    return mx.concatenate([x[:, -h:], x, x[:, :h]], axis=1)


class Trunk(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv1d(1, 16, 5)
        self.c2 = nn.Conv1d(16, 32, 5)

    def __call__(self, x):
        x = x / (mx.mean(x, axis=1, keepdims=True) + 1e-3)
        x = nn.relu(self.c1(circ_pad(x, 5)))
        x = nn.relu(self.c2(circ_pad(x, 5)))
        return mx.concatenate([x.mean(axis=1), x.max(axis=1)], axis=-1)


class HabitNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.trunk = Trunk()
        self.head = nn.Linear(64, 4)

    def __call__(self, x):
        return self.head(self.trunk(x))


def xent(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def accuracy(model, x, y):
    return mx.mean(mx.argmax(model(x), axis=1) == y).item()


def bar(done, total, width=20):
    k = int(width * done / total)
    return "#" * k + "-" * (width - k)


def run_stage(name, model, opt, data, val, epochs, peak_lr, warm, patience=None):
    xtr, ytr = data
    xva, yva = val
    lg = nn.value_and_grad(model, xent)
    bs = 100
    nb = xtr.shape[0] // bs
    step = 0
    best = (-1.0, 0, None)
    bad = 0
    for ep in range(1, epochs + 1):
        perm = mx.random.permutation(xtr.shape[0])
        tot, hits = 0.0, 0.0
        for b in range(nb):
            lr = peak_lr * min(1.0, step / warm)     # step 0 -> lr exactly 0
            opt.learning_rate = lr
            idx = perm[b * bs:(b + 1) * bs]
            loss, g = lg(model, xtr[idx], ytr[idx])
            opt.update(model, g)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item()
            if step == 0:
                print(f"{name} warmup from lr={lr:.4f} to {peak_lr} over {warm} steps, "
                      f"first batch loss={loss.item():.3f}", flush=True)
            step += 1
        tr_acc = accuracy(model, xtr[:1000], ytr[:1000])
        va_acc = accuracy(model, xva, yva)
        print(f"{name} ep {ep:02d} |{bar(ep, epochs)}| {ep}/{epochs} "
              f"[loss={tot / nb:.3f} acc={100 * tr_acc:.1f}% val_acc={100 * va_acc:.1f}% "
              f"lr={lr:.4f}]", flush=True)
        if patience is not None:
            if va_acc > best[0]:
                snap = tree_map(lambda a: mx.array(a), model.parameters())
                mx.eval(snap)
                best, bad = (va_acc, ep, snap), 0
            else:
                bad += 1
                if bad >= patience:
                    print(f"{name} early stop: no val gain for {patience} epochs", flush=True)
                    break
    if patience is not None and best[2] is not None:
        model.update(best[2])
        mx.eval(model.parameters())
        print(f"{name} restored best weights from ep {best[1]:02d} "
              f"(val_acc {100 * best[0]:.1f}%, now {100 * accuracy(model, xva, yva):.1f}%)",
              flush=True)


def main():
    t0 = time.time()
    mx.random.seed(5)
    k = mx.random.split(mx.random.key(2026), 4)
    easy = crystals(3000, k[0], hard=False)
    hard = crystals(3000, k[1], hard=True)
    val = crystals(600, k[2], hard=True)
    test = crystals(600, k[3], hard=True)
    mx.eval(easy, hard, val, test)

    model = HabitNet()
    mx.eval(model.parameters())
    _, g = nn.value_and_grad(model, xent)(model, easy[0][:200], easy[1][:200])
    zero = [n for n, a in tree_flatten(g) if not mx.any(a != 0).item()]
    print(f"grad audit: {len(tree_flatten(g)) - len(zero)}/{len(tree_flatten(g))} "
          f"tensors non-zero {zero if zero else ''}".rstrip(), flush=True)
    print(f"chance level 25.0%, untrained test acc {100 * accuracy(model, *test):.1f}%",
          flush=True)

    opt = optim.SGD(learning_rate=0.0, momentum=0.9, nesterov=True)
    run_stage("stage1", model, opt, easy, val, epochs=6, peak_lr=0.05, warm=40)

    opt = optim.SGD(learning_rate=0.0, momentum=0.9, nesterov=True)
    run_stage("stage2", model, opt, hard, val, epochs=30, peak_lr=0.03, warm=60, patience=4)

    model.trunk.freeze()
    n_train = sum(a.size for _, a in tree_flatten(model.trainable_parameters()))
    print(f"stage3: trunk frozen, {n_train} trainable weights (head only)", flush=True)
    w_before = mx.array(model.trunk.c1.weight)
    opt = optim.SGD(learning_rate=0.0, momentum=0.9, nesterov=True)
    run_stage("stage3", model, opt, hard, val, epochs=4, peak_lr=0.01, warm=30)
    drift = mx.max(mx.abs(model.trunk.c1.weight - w_before)).item()
    print(f"frozen trunk drift max|dW| = {drift:.1e}", flush=True)

    per = []
    pred = mx.argmax(model(test[0]), axis=1)
    for c, name in enumerate(HABITS):
        m = test[1] == c
        per.append(f"{name}={100 * (mx.sum((pred == c) & m) / mx.sum(m)).item():.0f}%")
    print(f"TEST acc {100 * mx.mean(pred == test[1]).item():.1f}%  ({' '.join(per)})  "
          f"[{time.time() - t0:.1f}s]", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
