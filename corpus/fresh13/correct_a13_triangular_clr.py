"""Classifier trained with a triangular cyclical learning rate (Smith 2017).

The lr ramps 0.002 -> 0.08 -> 0.002 every 3 epochs, so the training loss rises
during each high-lr half cycle before dropping again. SGD + momentum.
"""
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim


def spirals(n, k=3, seed=0):
    key = mx.random.key(seed)
    k1, k2 = mx.random.split(key)
    per = n // k
    t = mx.random.uniform(shape=(per * k,), key=k1) * 3.5 + 0.3
    lab = mx.repeat(mx.arange(k), per)
    ang = t * 1.8 + lab * (2 * 3.14159 / k)
    x = mx.stack([t * mx.cos(ang), t * mx.sin(ang)], axis=1)
    x = x + 0.12 * mx.random.normal(x.shape, key=k2)
    return x, lab


class MLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.layers = [nn.Linear(2, 64), nn.Linear(64, 64), nn.Linear(64, 3)]

    def __call__(self, x):
        for l in self.layers[:-1]:
            x = nn.relu(l(x))
        return self.layers[-1](x)


def clr(step, base=0.002, peak=0.08, half=120):
    cycle_pos = step % (2 * half)
    frac = cycle_pos / half if cycle_pos < half else 2 - cycle_pos / half
    return base + (peak - base) * frac


def main():
    mx.random.seed(3)
    xtr, ytr = spirals(2400, seed=1)
    xte, yte = spirals(600, seed=2)
    model = MLP()
    opt = optim.SGD(learning_rate=clr(0), momentum=0.9)
    lf = lambda m, x, y: nn.losses.cross_entropy(m(x), y, reduction="mean")
    vg = nn.value_and_grad(model, lf)
    bs, step = 30, 0
    print(f"{'epoch':>5} | {'lr_end':>7} | {'train_ce':>8} | {'test_acc':>8}")
    t0 = time.time()
    for epoch in range(24):
        perm = mx.random.permutation(xtr.shape[0])
        tot = 0.0
        for i in range(0, xtr.shape[0], bs):
            idx = perm[i : i + bs]
            opt.learning_rate = clr(step)
            loss, g = vg(model, xtr[idx], ytr[idx])
            opt.update(model, g)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item()
            step += 1
        acc = (mx.argmax(model(xte), axis=1) == yte).mean().item()
        print(f"{epoch:>5} | {clr(step - 1):7.4f} | {tot / (xtr.shape[0] // bs):8.4f} | {acc:8.3f}")
    print(f"done in {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
