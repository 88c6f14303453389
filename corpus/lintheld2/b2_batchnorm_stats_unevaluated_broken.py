"""Tabular churn model with BatchNorm; logs memory every few hundred steps."""
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim


def churn_data(n=4096, d=32):
    mx.random.seed(2)
    x = mx.random.normal((n, d)) * mx.random.uniform(0.5, 20.0, (1, d)) + 5.0
    w = mx.random.normal((d,)) / mx.sqrt(d)
    logits = ((x - 5.0) / 10.0) @ w
    y = (logits + 0.3 * mx.random.normal((n,)) > 0).astype(mx.int32)
    return x, y


def build(d):
    return nn.Sequential(
        nn.BatchNorm(d),
        nn.Linear(d, 128), nn.BatchNorm(128), nn.ReLU(),
        nn.Linear(128, 128), nn.BatchNorm(128), nn.ReLU(),
        nn.Linear(128, 2),
    )


def train(steps=600, bs=128):
    x, y = churn_data()
    net = build(x.shape[1])
    opt = optim.SGD(learning_rate=0.05, momentum=0.9)
    grad_fn = nn.value_and_grad(net, lambda m, a, b: nn.losses.cross_entropy(m(a), b).mean())
    net.train()
    tick = time.perf_counter()
    for step in range(1, steps + 1):
        idx = mx.random.randint(0, x.shape[0], (bs,))
        loss, grads = grad_fn(net, x[idx], y[idx])
        opt.update(net, grads)
        mx.eval(net.trainable_parameters(), opt.state, loss)
        if step % 100 == 0:
            now = time.perf_counter()
            print(f"step {step:4d} loss {loss.item():.4f} "
                  f"active {mx.get_active_memory() / 2**20:7.1f} MiB "
                  f"{(now - tick) / 100 * 1e3:5.2f} ms/step", flush=True)
            tick = now
    net.eval()
    acc = (mx.argmax(net(x), axis=1) == y).mean().item()
    print(f"eval accuracy {acc:.3f}, peak {mx.get_peak_memory() / 2**20:.1f} MiB")


if __name__ == "__main__":
    train()
