"""Small regression trainer: a generator feeds batches, the Trainer keeps a loss
history and reports the epoch mean at the end of each epoch."""
import resource
import time
from dataclasses import dataclass, field

import mlx.core as core
import mlx.nn as mnn
from mlx.optimizers import AdamW


@dataclass
class TrainConfig:
    in_dim: int = 8
    hidden: int = 32
    batch: int = 16
    steps_per_epoch: int = 3000
    epochs: int = 2
    lr: float = 3e-3


def batches(cfg, w_true):
    while True:
        x = core.random.normal((cfg.batch, cfg.in_dim))
        yield x, core.tanh(x @ w_true)


class Regressor(mnn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.body = mnn.Sequential(mnn.Linear(cfg.in_dim, cfg.hidden), mnn.GELU(),
                                   mnn.Linear(cfg.hidden, 1))

    def __call__(self, x):
        return self.body(x)


class Trainer:
    def __init__(self, net, cfg):
        self.net = net
        self.cfg = cfg
        self.opt = AdamW(learning_rate=cfg.lr, weight_decay=0.0)
        self._vg = mnn.value_and_grad(net, self._objective)
        self.history = []

    def _objective(self, x, y):
        return mnn.losses.mse_loss(self.net(x), y)

    def step(self, x, y):
        value, grads = self._vg(x, y)
        self.opt.update(self.net, grads)
        self.history.append(value)
        return value

    def run_epoch(self, stream):
        self.history = []
        t0 = time.perf_counter()
        for _ in range(self.cfg.steps_per_epoch):
            x, y = next(stream)
            self.step(x, y)
        t_build = time.perf_counter() - t0
        mean_loss = core.mean(core.stack(self.history)).item()
        return mean_loss, t_build, time.perf_counter() - t0


def main():
    cfg = TrainConfig()
    core.random.seed(1)
    w_true = core.random.normal((cfg.in_dim, 1)) * 0.5
    net = Regressor(cfg)
    core.eval(net.parameters())
    trainer = Trainer(net, cfg)
    stream = batches(cfg, w_true)
    for epoch in range(cfg.epochs):
        mean_loss, t_loop, t_total = trainer.run_epoch(stream)
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"epoch {epoch}: mean loss {mean_loss:.4f}  loop {t_loop:.2f}s  "
              f"total {t_total:.2f}s  peak rss {rss:.0f} MB")


if __name__ == "__main__":
    main()
