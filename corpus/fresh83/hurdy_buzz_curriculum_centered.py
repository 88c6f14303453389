"""Hurdy-gurdy trompette buzz: classify a bowed note as clean / buzz / rattle.

Curriculum: stage 1 trains only on clear-cut notes, stage 2 adds the medium
ones, stage 3 the whole set, so the training loss steps UP at each stage
change before falling again. Hand-written centered RMSprop (no mlx.optimizers).
Loss reported in bits per note.
"""
import math
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
from mlx.utils import tree_map, tree_flatten

LN2 = math.log(2.0)


class CenteredRMSprop:
    def __init__(self, params, lr=1e-3, alpha=0.95, eps=1e-6):
        self.lr, self.alpha, self.eps = lr, alpha, eps
        self.sq = tree_map(mx.zeros_like, params)
        self.mean = tree_map(mx.zeros_like, params)

    def step(self, model, grads):
        a = self.alpha
        self.sq = tree_map(lambda s, g: a * s + (1 - a) * g * g, self.sq, grads)
        self.mean = tree_map(lambda m, g: a * m + (1 - a) * g, self.mean, grads)
        new = tree_map(
            lambda p, g, s, m: p - self.lr * g / (mx.sqrt(mx.maximum(s - m * m, 0.0)) + self.eps),
            model.trainable_parameters(), grads, self.sq, self.mean)
        model.update(new)

    def state(self):
        return [self.sq, self.mean]


class BuzzNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = [nn.Linear(7, 96), nn.Linear(96, 96)]
        self.head = nn.Linear(96, 3)

    def __call__(self, x):
        for l in self.body:
            x = nn.relu(l(x))
        return self.head(x)


def make_notes(n, rng):
    wheel_speed = rng.uniform(-1, 1, n)
    chien_pressure = rng.uniform(-1, 1, n)
    cotton = rng.uniform(-1, 1, n)
    rosin = rng.uniform(-1, 1, n)
    humidity = rng.uniform(-1, 1, n)
    tirant = rng.uniform(-1, 1, n)
    noise_feat = rng.normal(0, 1, n)
    drive = 1.6 * wheel_speed + 1.2 * chien_pressure - 0.9 * cotton + 0.4 * rosin * humidity
    slack = 1.3 * tirant - 0.6 * humidity + 0.5 * wheel_speed ** 2
    score_clean = -drive
    score_buzz = drive - slack
    score_rattle = drive + slack - 0.8
    S = np.stack([score_clean, score_buzz, score_rattle], 1) * 2.0
    g = rng.gumbel(0, 0.6, S.shape)
    y = np.argmax(S + g, 1)
    srt = np.sort(S, 1)
    margin = srt[:, -1] - srt[:, -2]           # how clear-cut the note is
    X = np.stack([wheel_speed, chien_pressure, cotton, rosin, humidity, tirant, noise_feat], 1)
    return X.astype(np.float32), y.astype(np.int32), margin


def main():
    rng = np.random.default_rng(11)
    mx.random.seed(11)
    X, y, margin = make_notes(16000, rng)
    Xte, yte, _ = make_notes(3000, rng)
    Xte_m, yte_m = mx.array(Xte), mx.array(yte)
    q_hi, q_mid = np.quantile(margin, [0.6, 0.25])
    stages = [("clear-cut", margin >= q_hi, 6), ("+medium", margin >= q_mid, 6), ("all notes", margin >= -1, 8)]

    model = BuzzNet()
    mx.eval(model.parameters())
    opt = CenteredRMSprop(model.trainable_parameters(), lr=5e-4)

    def loss_fn(m, xb, yb):
        return nn.losses.cross_entropy(m(xb), yb, reduction="mean")

    vg = nn.value_and_grad(model, loss_fn)

    def evaluate():
        logits = model(Xte_m)
        ce = nn.losses.cross_entropy(logits, yte_m, reduction="mean").item() / LN2
        acc = (mx.argmax(logits, 1) == yte_m).astype(mx.float32).mean().item()
        return ce, 100.0 * acc

    ce0, acc0 = evaluate()
    print(f"notes :: train {len(X)} :: test {len(Xte)} :: uniform guess {math.log2(3):.3f} bits/note")
    print(f"untrained :: test {ce0:.3f} bits/note :: test acc {acc0:.1f}%")

    first = True
    bs = 64
    t0 = time.time()
    for sname, mask, epochs in stages:
        idx_pool = np.nonzero(mask)[0]
        Xs, ys = mx.array(X[idx_pool]), mx.array(y[idx_pool])
        print(f"stage {sname} :: {len(idx_pool)} notes :: {epochs} epochs")
        for ep in range(1, epochs + 1):
            perm = rng.permutation(len(idx_pool))
            tot, nb = 0.0, 0
            for i in range(0, len(perm) - bs + 1, bs):
                b = mx.array(perm[i:i + bs])
                loss, grads = vg(model, Xs[b], ys[b])
                if first:
                    leaves = tree_flatten(grads)
                    zero = [k for k, v in leaves if float(mx.abs(v).max()) == 0.0]
                    print(f"grad check :: {len(leaves)} leaves :: all-zero {zero or 'none'}")
                    first = False
                opt.step(model, grads)
                mx.eval(model.parameters(), opt.state(), loss)
                tot += loss.item()
                nb += 1
            ce, acc = evaluate()
            print(f"  {sname:<10} ep {ep} :: train {tot / nb / LN2:.3f} bits/note :: "
                  f"test {ce:.3f} bits/note :: test acc {acc:.1f}% :: {time.time() - t0:.1f}s")
    ce, acc = evaluate()
    print(f"done :: test {ce:.3f} bits/note :: test acc {acc:.1f}%")


if __name__ == "__main__":
    main()
