"""Change-ringing practice log: is a blow struck good, quick or slow?

Stage A is a learning-rate range test (lr grows geometrically each step, the
test stops once the smoothed loss has blown up). The network is then put back
to its initial weights and stage B trains it with a one-cycle schedule whose
peak is a tenth of the lr with the lowest smoothed loss in stage A.
Output is tab-separated, comment lines start with '#'.
"""
import sys
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_map

CLASSES = ["good", "quick", "slow"]


def practice_log(n, rng):
    weight_cwt = rng.uniform(4, 30, n)          # bell weight
    rope_m = rng.uniform(6, 22, n)              # rope length
    years = rng.gamma(2.0, 4.0, n)              # ringer experience
    pull = rng.normal(0, 1, n)                  # pull strength vs needed
    stay = rng.normal(0, 1, n)                  # how far over the balance
    hand = (rng.random(n) < 0.5).astype(float)  # handstroke / backstroke
    err = (18 * pull - 11 * stay + 0.9 * (weight_cwt - 15) * (1 - hand)
           - 0.25 * (rope_m - 14) * pull)
    err = err * np.exp(-years / 25) + rng.normal(0, 6.0, n)   # ms
    label = np.where(err > 9, 1, np.where(err < -9, 2, 0))
    x = np.stack([np.log(weight_cwt), rope_m / 10, np.log1p(years), pull, stay, hand], 1)
    return x.astype(np.float32), label.astype(np.int32)


class BlowNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.layers = [nn.Linear(6, 48), nn.Linear(48, 48), nn.Linear(48, 3)]

    def __call__(self, x):
        for layer in self.layers[:-1]:
            x = nn.gelu(layer(x))
        return self.layers[-1](x)


def ce(model, x, y):
    return mx.mean(nn.losses.cross_entropy(model(x), y))


def accuracy(model, x, y):
    return mx.mean(mx.argmax(model(x), axis=1) == y).item()


def emit(*cols):
    print("\t".join(str(c) for c in cols))


def main():
    rng = np.random.default_rng(7)
    mx.random.seed(7)
    x, y = practice_log(12000, rng)
    xtr, ytr, xte, yte = x[:10000], y[:10000], x[10000:], y[10000:]
    mu, sd = xtr.mean(0), xtr.std(0)
    xt, xv = mx.array((xtr - mu) / sd), mx.array((xte - mu) / sd)
    yt, yv = mx.array(ytr), mx.array(yte)
    shares = np.bincount(ytr, minlength=3) / len(ytr)
    majority = float(np.mean(yte == np.argmax(shares)))
    print(f"# blows train={len(xtr)} test={len(xte)} shares " +
          " ".join(f"{c}={s:.3f}" for c, s in zip(CLASSES, shares)))
    print(f"# majority-class test accuracy {majority:.3f}, chance loss {np.log(3):.3f}")

    model = BlowNet()
    mx.eval(model.parameters())
    initial = tree_map(lambda a: mx.array(a), model.parameters())
    step_fn = nn.value_and_grad(model, ce)
    n = xt.shape[0]

    # ---------- stage A: range test ----------
    print("#")
    print("# stage A: lr range test, lr x1.12 per step from 1e-5")
    emit("stage", "step", "lr", "loss", "smoothed")
    opt = optim.SGD(learning_rate=optim.exponential_decay(1e-5, 1.12), momentum=0.9)
    best, best_lr, smooth = float("inf"), None, 0.0
    for i in range(160):
        idx = mx.array(rng.integers(0, n, 64))
        loss, grads = step_fn(model, xt[idx], yt[idx])
        lr = 1e-5 * 1.12 ** i
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        lv = loss.item()
        if not np.isfinite(lv):
            emit("A", i + 1, f"{lr:.3e}", "nan", "stop")
            break
        smooth = 0.9 * smooth + 0.1 * lv
        sm = smooth / (1 - 0.9 ** (i + 1))
        if sm < best:
            best, best_lr = sm, lr
        if i % 10 == 0 or sm > 4 * best:
            emit("A", i + 1, f"{lr:.3e}", f"{lv:.4f}", f"{sm:.4f}")
        if sm > 4 * best:
            print(f"# range test stopped: smoothed loss {sm:.3f} > 4 x best {best:.3f}")
            break
    peak = best_lr / 10
    print(f"# lowest smoothed loss {best:.4f} at lr {best_lr:.3e} -> one-cycle peak {peak:.3e}")

    # ---------- stage B: one-cycle from the initial weights ----------
    model.update(initial)
    mx.eval(model.parameters())
    print(f"# weights reset to initial: test loss {ce(model, xv, yv).item():.4f}")
    up, total = 300, 1500
    sched = optim.join_schedules(
        [optim.linear_schedule(peak / 25, peak, up),
         optim.linear_schedule(peak, peak / 1000, total - up)],
        [up],
    )
    opt = optim.SGD(learning_rate=sched, momentum=0.9, nesterov=True, weight_decay=5e-4)
    print("#")
    print("# stage B: one-cycle")
    emit("stage", "step", "lr", "train_ce", "test_ce", "test_acc", "majority_acc", "secs")
    t0, window = time.perf_counter(), []
    perm, cursor = rng.permutation(n), 0
    for s in range(total):
        if cursor + 128 > n:
            perm, cursor = rng.permutation(n), 0
        idx = mx.array(perm[cursor:cursor + 128])
        cursor += 128
        loss, grads = step_fn(model, xt[idx], yt[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        window.append(loss.item())
        if (s + 1) % 150 == 0:
            emit("B", s + 1, f"{opt.learning_rate.item():.3e}", f"{np.mean(window):.4f}",
                 f"{ce(model, xv, yv).item():.4f}", f"{accuracy(model, xv, yv):.4f}",
                 f"{majority:.4f}", f"{time.perf_counter() - t0:.1f}")
            window = []
    pred = np.array(mx.argmax(model(xv), axis=1))
    for k, c in enumerate(CLASSES):
        m = yte == k
        print(f"# recall {c}: {np.mean(pred[m] == k):.3f} over {int(m.sum())} blows")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
