"""Record-pressing plant: predict the defect of a pressed vinyl record.

Classes: 0 = good, 1 = non-fill, 2 = blister.  Four ensemble members are
trained one after another, each from scratch with its own seed, with a small
hand-written Adam (no mlx.optimizers).  Nothing is printed while the members
train; one summary table comes at the end.  Losses are in bits per record.
"""
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
from mlx.utils import tree_flatten, tree_map

mx.set_default_device(mx.cpu)
LN2 = math.log(2.0)
CLASSES = ("good", "non-fill", "blister")


def press_log(n, rng):
    steam = rng.uniform(150, 185, n)
    cook = rng.uniform(10, 25, n)
    cool = rng.uniform(8, 20, n)
    puck = rng.uniform(150, 190, n)
    age = rng.uniform(0, 50, n)
    bar = rng.uniform(100, 160, n)
    recyc = rng.uniform(0, 0.5, n)
    # made-up defect physics
    fill = 0.12 * (steam - 165) + 0.25 * (cook - 16) + 0.04 * (puck - 170) + 0.03 * (bar - 130)
    l_nonfill = -1.2 * fill - 0.02 * age + 2.5 * recyc - 0.5
    l_blister = 0.18 * (steam - 172) - 0.35 * (cool - 12) + 3.0 * recyc ** 2 - 0.8
    logits = np.stack([np.zeros(n), l_nonfill, l_blister], 1)
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    y = (rng.uniform(size=(n, 1)) > np.cumsum(p, 1)).sum(1)
    X = np.stack([steam, cook, cool, puck, age, bar, recyc], 1)
    return X.astype(np.float32), y.astype(np.int32), p


class DefectNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(7, 64)
        self.l2 = nn.Linear(64, 64)
        self.l3 = nn.Linear(64, 3)

    def __call__(self, x):
        return self.l3(nn.relu(self.l2(nn.relu(self.l1(x)))))


class HandAdam:
    def __init__(self, params, lr=2e-3, b1=0.9, b2=0.999, eps=1e-8):
        self.lr, self.b1, self.b2, self.eps, self.t = lr, b1, b2, eps, 0
        self.m = tree_map(mx.zeros_like, params)
        self.v = tree_map(mx.zeros_like, params)

    def apply(self, model, grads):
        self.t += 1
        b1, b2 = self.b1, self.b2
        self.m = tree_map(lambda m, g: b1 * m + (1 - b1) * g, self.m, grads)
        self.v = tree_map(lambda v, g: b2 * v + (1 - b2) * g * g, self.v, grads)
        c1, c2 = 1 - b1 ** self.t, 1 - b2 ** self.t
        new = tree_map(
            lambda p, m, v: p - self.lr * (m / c1) / (mx.sqrt(v / c2) + self.eps),
            model.trainable_parameters(), self.m, self.v)
        model.update(new)


def bits(logits, y):
    return float(nn.losses.cross_entropy(logits, y, reduction="mean")) / LN2


def train_member(seed, Xtr, ytr, Xva, yva, epochs=8, bs=128):
    mx.random.seed(seed)
    model = DefectNet()
    mx.eval(model.parameters())
    opt = HandAdam(model.trainable_parameters())

    def loss_fn(m, xb, yb):
        return nn.losses.cross_entropy(m(xb), yb, reduction="mean")

    vg = nn.value_and_grad(model, loss_fn)
    start_bits = bits(model(Xva), yva)
    _, g0 = vg(model, Xtr[:512], ytr[:512])
    zero = sum(1 for _, g in tree_flatten(g0) if float(mx.abs(g).max()) == 0.0)

    rng = np.random.default_rng(seed)
    n = Xtr.shape[0]
    steps = 0
    for _ in range(epochs):
        perm = rng.permutation(n)
        for i in range(0, n - bs + 1, bs):
            idx = mx.array(perm[i:i + bs])
            loss, grads = vg(model, Xtr[idx], ytr[idx])
            opt.apply(model, grads)
            mx.eval(model.parameters(), opt.m, opt.v, loss)
            steps += 1
    return model, start_bits, zero, len(tree_flatten(g0)), steps


def main():
    rng = np.random.default_rng(2024)
    Xtr, ytr, _ = press_log(8000, rng)
    Xva, yva, pva = press_log(2000, rng)
    mu, sd = Xtr.mean(0), Xtr.std(0)
    Xtr_m, Xva_m = mx.array((Xtr - mu) / sd), mx.array((Xva - mu) / sd)
    ytr_m, yva_m = mx.array(ytr), mx.array(yva)

    prior = np.bincount(ytr, minlength=3) / len(ytr)
    prior_bits = float(-np.log2(prior[yva]).mean())
    bayes_bits = float(-np.log2(pva[np.arange(len(yva)), yva]).mean())
    print(f"training 4 ensemble members on {len(ytr)} pressings "
          f"(class mix {', '.join(f'{c} {100 * q:.1f}%' for c, q in zip(CLASSES, prior))}) ...",
          flush=True)

    rows, probs = [], []
    for seed in (1, 2, 3, 4):
        t0 = time.time()
        model, b0, zero, leaves, steps = train_member(seed, Xtr_m, ytr_m, Xva_m, yva_m)
        logits = model(Xva_m)
        p = np.array(mx.softmax(logits, axis=-1))
        probs.append(p)
        acc = 100.0 * float((p.argmax(1) == yva).mean())
        rows.append((seed, steps, f"{zero}/{leaves}", b0, bits(logits, yva_m), acc,
                     time.time() - t0))

    print()
    print(f"{'seed':>4} {'steps':>6} {'zero_grads':>10} {'bits@init':>10} "
          f"{'val_bits':>9} {'val_acc%':>9} {'secs':>6}")
    for r in rows:
        print(f"{r[0]:>4} {r[1]:>6} {r[2]:>10} {r[3]:>10.4f} {r[4]:>9.4f} {r[5]:>9.2f} {r[6]:>6.1f}")
    pe = np.mean(probs, 0)
    ens_bits = float(-np.log2(np.clip(pe[np.arange(len(yva)), yva], 1e-12, 1)).mean())
    ens_acc = 100.0 * float((pe.argmax(1) == yva).mean())
    bayes_acc = 100.0 * float((pva.argmax(1) == yva).mean())
    print(f"{'ens':>4} {'':>6} {'':>10} {'':>10} {ens_bits:>9.4f} {ens_acc:>9.2f}")
    print(f"reference: class-prior {prior_bits:.4f} bits/record, "
          f"true-law {bayes_bits:.4f} bits/record ({bayes_acc:.2f}% acc)")


if __name__ == "__main__":
    main()
