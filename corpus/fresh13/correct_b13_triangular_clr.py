"""Cyclical learning rate (triangular policy, Smith 2017) on a small MLP
classifier: the lr sweeps 0.005 -> 0.2 -> 0.005 every 200 steps, so the
training loss rises a little at every peak of the cycle and falls in every
trough, while the per-cycle minimum keeps going down."""
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

BASE_LR, MAX_LR, HALF = 0.005, 0.2, 100


def triangular(step):
    cycle = step // (2 * HALF)
    x = abs(step / HALF - 2 * cycle - 1)
    return BASE_LR + (MAX_LR - BASE_LR) * max(0.0, 1.0 - x)


def spirals(n=1500, k=3, noise=0.15, seed=0):
    mx.random.seed(seed)
    t = mx.random.uniform(0.0, 1.0, (n,))
    cls = mx.random.randint(0, k, (n,))
    ang = 4.0 * t + cls.astype(mx.float32) * (2 * 3.14159 / k)
    x = mx.stack([t * mx.cos(ang), t * mx.sin(ang)], axis=1) + noise * mx.random.normal((n, 2)) * t[:, None]
    return x, cls


def main():
    x, y = spirals()
    model = nn.Sequential(nn.Linear(2, 64), nn.Tanh(), nn.Linear(64, 64), nn.Tanh(), nn.Linear(64, 3))
    mx.eval(model.parameters())
    opt = optim.SGD(learning_rate=BASE_LR, momentum=0.9)

    def loss_fn(m, xb, yb):
        return nn.losses.cross_entropy(m(xb), yb, reduction="mean")

    vg = nn.value_and_grad(model, loss_fn)
    t0 = time.time()
    print(f"{'step':>5} | {'lr':>7} | {'loss':>7} | {'acc':>5}")
    print("-" * 34)
    window = []
    for step in range(1, 1601):
        opt.learning_rate = triangular(step)
        idx = mx.random.randint(0, x.shape[0], (64,))
        loss, grads = vg(model, x[idx], y[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        window.append(loss.item())
        if step % 50 == 0:
            acc = (mx.argmax(model(x), axis=1) == y).mean().item()
            print(f"{step:5d} | {triangular(step):7.4f} | {sum(window) / len(window):7.4f} | {acc:5.3f}")
            window = []
    print(f"done in {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
