"""Train a small adapter head from a JSON training spec (optimizer picked by name)."""
import json
import logging
from dataclasses import dataclass

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
log = logging.getLogger("train")

SPEC_JSON = """
{
  "seed": 3,
  "steps": 600,
  "batch_size": 32,
  "optimizer": {"name": "Adam", "learning_rate": 0.003},
  "log_every": 50
}
"""


@dataclass
class OptimizerSpec:
    name: str
    learning_rate: float
    state_path: str | None = None


class Optimizers:
    ALIASES = {"adam": optim.Adam, "adamw": optim.AdamW, "lion": optim.Lion}

    @staticmethod
    def from_alias(name):
        return Optimizers.ALIASES[name.lower()]


def optimizer_from_spec(spec: OptimizerSpec):
    opt_cls = Optimizers.from_alias(spec.name)
    return opt_cls(learning_rate=spec.learning_rate)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(10, 64)
        self.l2 = nn.Linear(64, 3)

    def __call__(self, x):
        return self.l2(nn.gelu(self.l1(x)))


def make_data(n):
    x = mx.random.normal((n, 10))
    w = mx.random.normal((10, 3))
    y = mx.argmax(x @ w + 0.3 * mx.random.normal((n, 3)), axis=1)
    return x, y


def main():
    spec = json.loads(SPEC_JSON)
    mx.random.seed(spec["seed"])
    log.info("loaded training spec: %s", spec)
    x, y = make_data(4096)
    xv, yv = x[-512:], y[-512:]
    x, y = x[:-512], y[:-512]
    mx.eval(x, y, xv, yv)
    log.info("dataset: %d train / %d val", x.shape[0], xv.shape[0])

    model = Net()
    mx.eval(model.parameters())
    opt_spec = OptimizerSpec(**spec["optimizer"])
    opt = optimizer_from_spec(opt_spec)
    log.info("optimizer: %s lr=%g", type(opt).__name__, opt_spec.learning_rate)

    def loss_fn(m, xb, yb):
        return nn.losses.cross_entropy(m(xb), yb, reduction="mean")

    vg = nn.value_and_grad(model, loss_fn)
    bs = spec["batch_size"]
    for step in range(1, spec["steps"] + 1):
        i = mx.random.randint(0, x.shape[0], (bs,))
        loss, grads = vg(model, x[i], y[i])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        if step % spec["log_every"] == 0:
            acc = mx.mean(mx.argmax(model(xv), axis=1) == yv).item()
            log.info("step %4d  loss %.4f  val_acc %.3f", step, loss.item(), acc)
    log.info("finished")


if __name__ == "__main__":
    main()
