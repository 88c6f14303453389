"""Poisson regression on count data; the per-step losses are kept in a history list for plotting."""
import resource
from dataclasses import dataclass, field

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim


@dataclass
class History:
    loss: list = field(default_factory=list)
    rate_err: list = field(default_factory=list)

    def summary(self, last=100):
        tail = mx.stack(self.loss[-last:]).mean().item()
        return f"mean loss over last {last} steps {tail:.4f}, last rate error {self.rate_err[-1].item():.4f}"


class CountModel(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.lin = nn.Linear(d, 1)

    def __call__(self, x):
        return self.lin(x)[:, 0]          # log-rate


def poisson_nll(model, x, counts):
    log_rate = model(x)
    return (mx.exp(log_rate) - counts * log_rate).mean()


def main():
    mx.random.seed(2)
    d, n = 6, 4096
    X = mx.random.normal((n, d)) * 0.5
    true_w = mx.random.normal((d,)) * 0.5
    rate = mx.exp(X @ true_w + 1.0)
    counts = mx.maximum(mx.round(rate + mx.sqrt(rate) * mx.random.normal(rate.shape)), 0)
    model = CountModel(d)
    opt = optim.Adam(learning_rate=1e-2)
    mx.eval(model.parameters(), X, counts)
    vg = nn.value_and_grad(model, poisson_nll)
    hist = History()

    for step in range(2000):
        idx = mx.random.randint(0, n, (256,))
        loss, grads = vg(model, X[idx], counts[idx])
        opt.update(model, grads)
        err = mx.abs(mx.exp(model(X[idx])) - rate[idx]).mean()
        mx.eval(model.parameters(), opt.state, loss, err)
        hist.loss.append(loss)
        hist.rate_err.append(err)
        if step % 500 == 0:
            print(f"step {step:4d}  loss {loss.item():.4f}  maxrss {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024} MB")

    print(hist.summary())


if __name__ == "__main__":
    main()
