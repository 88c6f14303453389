"""Ropewalk: classify hemp-strand twist defects (4 classes) from tension traces.

Stage A trains on clean traces; stage B adds noisy, shifted traces (harder), so the
loss jumps when it starts. A fixed random-projection stem is frozen on purpose.
Early stopping on validation accuracy restores the best weights at the end.
"""
import logging
import sys

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

logging.basicConfig(stream=sys.stdout, level=logging.INFO,
                    format="%(asctime)s %(levelname)s ropewalk: %(message)s", datefmt="%H:%M:%S")
log = logging.getLogger("ropewalk")

T = 32


def traces(n, noise, shift, key):
    k1, k2, k3 = mx.random.split(key, 3)
    cls = mx.random.randint(0, 4, (n,), key=k1)
    t = mx.arange(T).astype(mx.float32)[None, :] / T
    freq = (1.0 + cls.astype(mx.float32))[:, None] * 2.0
    phase = shift * mx.random.uniform(0, 6.28, (n, 1), key=k2)
    x = mx.sin(6.28 * freq * t + phase) + noise * mx.random.normal((n, T), key=k3)
    return x, cls


class TwistNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Linear(T, 96)      # frozen random features
        self.body = nn.Linear(96, 48)
        self.head = nn.Linear(48, 4)

    def __call__(self, x):
        h = mx.cos(self.stem(x))
        return self.head(nn.gelu(self.body(h)))


def main():
    mx.random.seed(5)
    keys = mx.random.split(mx.random.key(77), 4)
    xa, ya = traces(1024, 0.1, 0.0, keys[0])
    xb, yb = traces(1024, 0.6, 1.0, keys[1])
    xv, yv = traces(512, 0.6, 1.0, keys[2])

    model = TwistNet()
    model.stem.freeze()
    n_train = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
    n_all = sum(v.size for _, v in tree_flatten(model.parameters()))
    log.info("params trainable=%d total=%d (stem frozen)", n_train, n_all)

    opt = optim.Lion(learning_rate=3e-4, weight_decay=1e-3)

    def loss_fn(m, x, y):
        return nn.losses.cross_entropy(m(x), y, reduction="mean")

    vg = nn.value_and_grad(model, loss_fn)
    _, g0 = vg(model, xa[:64], ya[:64])
    zero = [k for k, v in tree_flatten(g0) if float(mx.abs(v).sum()) == 0.0]
    log.info("grad check: %d trainable tensors, zero-grad=%s", len(tree_flatten(g0)), zero or "none")

    best_acc, best_w, bad, patience = -1.0, None, 0, 6
    stages = [("A-clean", xa, ya, 8), ("B-noisy", mx.concatenate([xa, xb]), mx.concatenate([ya, yb]), 40)]
    ep_global = 0
    stop = False
    for name, xs, ys, epochs in stages:
        for ep in range(1, epochs + 1):
            ep_global += 1
            perm = mx.random.permutation(xs.shape[0])
            losses = []
            nb = xs.shape[0] // 128
            for b in range(nb):
                idx = perm[b * 128:(b + 1) * 128]
                loss, g = vg(model, xs[idx], ys[idx])
                opt.update(model, g)
                mx.eval(model.parameters(), opt.state, loss)
                losses.append(loss.item())
            acc = mx.mean(mx.argmax(model(xv), axis=1) == yv).item()
            vloss = loss_fn(model, xv, yv).item()
            bar = "#" * int(20 * ep / epochs)
            log.info("%s |%-20s| %d/%d  ce=%.4f  val_ce=%.4f  acc=%.1f%%", name, bar, ep, epochs,
                     sum(losses) / len(losses), vloss, 100 * acc)
            if name.startswith("B"):
                if acc > best_acc + 1e-4:
                    best_acc, bad = acc, 0
                    best_w = tree_map(lambda a: mx.array(a), model.trainable_parameters())
                    mx.eval(best_w)
                else:
                    bad += 1
                    if bad >= patience:
                        log.info("early stop at epoch %d (best acc %.1f%%)", ep_global, 100 * best_acc)
                        stop = True
                        break
        if stop:
            break
    model.update(best_w)
    acc = mx.mean(mx.argmax(model(xv), axis=1) == yv).item()
    log.info("restored best: val acc=%.1f%% (chance 25.0%%)", 100 * acc)


if __name__ == "__main__":
    main()
