"""Training driven by a generator that yields lazy losses; parameters and
optimizer state are materialised every `sync_every` steps by a helper."""
import resource

import mlx.core as mx
import mlx.nn as nn
from mlx.optimizers import SGD


def _sync(*trees):
    mx.eval(*trees)


def train_iter(net, opt, n_steps, sync_every=8, dim=8):
    w_true = mx.random.normal((dim, 2))
    vg = nn.value_and_grad(net, lambda x, y: nn.losses.mse_loss(net(x), y))
    for step in range(n_steps):
        x = mx.random.normal((32, dim))
        loss, grads = vg(x, nn.relu(x @ w_true))
        opt.update(net, grads)
        if (step + 1) % sync_every == 0:
            _sync(net.parameters(), opt.state)
        yield step, loss


def main():
    mx.random.seed(2)
    net = nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Linear(32, 2))
    opt = SGD(learning_rate=0.05, momentum=0.9)
    window = []
    for step, loss in train_iter(net, opt, 4000):
        window.append(loss)
        if len(window) == 500:
            avg = mx.mean(mx.stack(window)).item()
            window.clear()
            rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            print(f"step {step + 1:5d} avg loss {avg:.5f} peak rss {rss:.0f} MB")


if __name__ == "__main__":
    main()
