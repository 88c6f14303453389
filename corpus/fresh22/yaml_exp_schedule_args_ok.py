"""Fine-tune a small classifier head from a YAML run config (mlx-forge style)."""
import logging
import time

import yaml
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
log = logging.getLogger("train")

CONFIG_YAML = """
model:
  hidden: 64
  classes: 4
training:
  batch_size: 32
  num_iters: 900
  learning_rate: 0.003
  optimizer: adamw
  optimizer_config:
    weight_decay: 0.01
  lr_schedule:
    name: cosine_decay
    arguments: [0.003, 900, 0.00001]   # [init, decay_steps, end]
    warmup: 50
    warmup_init: 0.00001
  steps_per_report: 50
  seed: 7
"""


def build_scheduler(tcfg):
    base_lr = float(tcfg["learning_rate"])          # typed field -> coerced to float
    sched = tcfg.get("lr_schedule")
    if sched is None:
        return base_lr
    warmup = int(sched.get("warmup", 0))
    warmup_init = float(sched.get("warmup_init", 0.0))
    args = sched["arguments"]                        # plain list, passed through as parsed
    if sched["name"] == "cosine_decay":
        main = optim.cosine_decay(*args)
    elif sched["name"] == "linear_schedule":
        main = optim.linear_schedule(*args)
    else:
        raise ValueError(sched["name"])
    if warmup > 0:
        ramp = optim.linear_schedule(warmup_init, base_lr, warmup)
        return optim.join_schedules([ramp, main], [warmup])
    return main


class Net(nn.Module):
    def __init__(self, d_in, hidden, classes):
        super().__init__()
        self.l1 = nn.Linear(d_in, hidden)
        self.l2 = nn.Linear(hidden, hidden)
        self.out = nn.Linear(hidden, classes)

    def __call__(self, x):
        x = nn.gelu(self.l1(x))
        x = nn.gelu(self.l2(x))
        return self.out(x)


def make_data(n, d, classes, key):
    k1, k2 = mx.random.split(key)
    centers = mx.random.normal((classes, d), key=k1) * 0.45
    y = mx.random.randint(0, classes, (n,), key=k2)
    x = centers[y] + mx.random.normal((n, d))
    return x, y


def main():
    cfg = yaml.safe_load(CONFIG_YAML)
    tcfg = cfg["training"]
    mx.random.seed(tcfg["seed"])
    d = 16
    x, y = make_data(4096, d, cfg["model"]["classes"], mx.random.key(tcfg["seed"]))
    model = Net(d, cfg["model"]["hidden"], cfg["model"]["classes"])
    mx.eval(model.parameters())

    lr = build_scheduler(tcfg)
    opt = optim.AdamW(learning_rate=lr, **tcfg["optimizer_config"])

    def loss_fn(m, xb, yb):
        return nn.losses.cross_entropy(m(xb), yb, reduction="mean")

    loss_and_grad = nn.value_and_grad(model, loss_fn)
    bs = tcfg["batch_size"]
    n = x.shape[0]
    log.info("starting training: %d iters, bs=%d", tcfg["num_iters"], bs)
    t0 = time.time()
    run = 0.0
    for it in range(1, tcfg["num_iters"] + 1):
        idx = mx.random.randint(0, n, (bs,))
        loss, grads = loss_and_grad(model, x[idx], y[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        run += loss.item()
        if it % tcfg["steps_per_report"] == 0:
            acc = (mx.argmax(model(x[:1024]), axis=1) == y[:1024]).mean().item()
            log.info("iter %d  train_loss %.4f  acc %.3f  lr %.2e  (%.1fs)",
                     it, run / tcfg["steps_per_report"], acc,
                     opt.learning_rate.item(), time.time() - t0)
            run = 0.0
    log.info("done")


if __name__ == "__main__":
    main()
