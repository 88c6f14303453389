"""Library bookshelf mid-span sag (mm, made-up creep law) from six readings.

Curriculum in three stages (paperbacks -> hardbacks -> humid-summer); each stage adds
harder shelves to the training pool, so the stage's first loss jumps before it
settles.  The step is compiled with its model/optimizer state, the positive
output head is a softplus with a hand-written VJP, and every stage ends with an
audit of that VJP against autodiff.
"""
import logging
import math
from functools import partial

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

logging.basicConfig(level=logging.INFO, format="%(levelname)s shelf-fit | %(message)s")
log = logging.getLogger("sag")

mx.random.seed(211)


def make_shelves(n, max_span, max_load, humid):
    k = mx.random.split(mx.random.key(n + int(max_span * 10) + int(humid * 100)), 7)
    span = mx.random.uniform(4.0, max_span, (n,), key=k[0])          # dm between brackets
    load = mx.random.uniform(20.0, max_load, (n,), key=k[1])          # kg of books
    stiff = mx.random.uniform(6.0, 30.0, (n,), key=k[2])              # board stiffness index
    thick = mx.random.uniform(16.0, 40.0, (n,), key=k[3])             # board thickness mm
    veneer = mx.random.uniform(0.0, 1.0, (n,), key=k[4])              # hardwood veneer fraction
    rh = humid * mx.random.uniform(0.0, 1.0, (n,), key=k[5])          # % RH above 40
    w_line = 0.9 * (thick / 25.0) ** 2 + 6.0 * veneer + load / span   # kg per dm
    sag = 100.0 * (w_line * 9.81 * span ** 2) / (8.0 * stiff * 1000.0)
    sag = sag * (1.0 + 0.015 * rh) + 0.4 * mx.random.normal((n,), key=k[6])
    x = mx.stack([span / 30.0, load / 400.0, stiff / 30.0, thick / 40.0, veneer, rh / 12.0], axis=1)
    return x, mx.maximum(sag, 0.05)


@mx.custom_function
def soft_pos(z):
    return mx.logaddexp(z, mx.zeros_like(z))


@soft_pos.vjp
def soft_pos_vjp(primals, cotangent, output):
    z = primals  # single-argument function: primals is the array itself
    return cotangent * mx.sigmoid(z)


class SagNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = [nn.Linear(6, 48), nn.Linear(48, 48)]
        self.head = nn.Linear(48, 1)

    def __call__(self, x):
        for layer in self.body:
            x = nn.gelu(layer(x))
        return soft_pos(self.head(x)).squeeze(-1) * 10.0


def sag_loss(model, x, y):
    return nn.losses.huber_loss(model(x), y, delta=2.0, reduction="mean")


model = SagNet()
opt = optim.Lion(learning_rate=1e-3, weight_decay=1e-3)
opt.init(model.trainable_parameters())
state = [model.state, opt.state]


@partial(mx.compile, inputs=state, outputs=state)
def train_step(x, y):
    loss, grads = nn.value_and_grad(model, sag_loss)(model, x, y)
    opt.update(model, grads)
    return loss


def eval_mae(x, y):
    return mx.mean(mx.abs(model(x) - y)).item()


stages = [
    ("paperbacks", dict(max_span=12.0, max_load=120.0, humid=0.0), 260),
    ("hardbacks", dict(max_span=30.0, max_load=400.0, humid=0.0), 320),
    ("humid-summer", dict(max_span=30.0, max_load=400.0, humid=12.0), 320),
]
xv, yv = make_shelves(1500, 30.0, 400.0, 12.0)
mx.eval(xv, yv)
log.info("validation shelves: %d, mean sag %.1f mm, spread %.1f mm", yv.size, mx.mean(yv).item(), mx.std(yv).item())
mean_predictor = mx.mean(mx.abs(yv - mx.mean(yv))).item()
log.info("reference: constant-mean MAE on validation = %.2f mm", mean_predictor)

batch = 128
for stage_name, cfg, steps in stages:
    xs, ys = make_shelves(6000, **cfg)
    mx.eval(xs, ys)
    log.info("=== stage %s: %d shelves, sag range %.1f-%.1f mm ===", stage_name, ys.size, mx.min(ys).item(), mx.max(ys).item())
    running = None
    for step in range(1, steps + 1):
        idx = mx.random.randint(0, xs.shape[0], (batch,))
        loss = train_step(xs[idx], ys[idx])
        mx.eval(state, loss)
        lv = loss.item()
        running = lv if running is None else 0.9 * running + 0.1 * lv
        if step == 1 or step % 80 == 0 or step == steps:
            log.info("%s step %4d/%d  huber %.3f  (ema %.3f)  val MAE %.2f mm",
                     stage_name, step, steps, lv, running, eval_mae(xv, yv))
    # audit: hand-written softplus VJP vs autodiff of the same expression
    z = mx.random.normal((256,)) * 3.0
    g_custom = mx.grad(lambda t: soft_pos(t).sum())(z)
    g_auto = mx.grad(lambda t: mx.logaddexp(t, mx.zeros_like(t)).sum())(z)
    diff = mx.max(mx.abs(g_custom - g_auto)).item()
    wnorm = math.sqrt(sum((p * p).sum().item() for _, p in nn.utils.tree_flatten(model.trainable_parameters())))
    log.info("audit %s: |vjp - autodiff|_max = %.2e, weight norm %.3f", stage_name, diff, wnorm)

final = eval_mae(xv, yv)
log.info("done: validation MAE %.2f mm vs constant-mean %.2f mm (%.0f%% lower)", final, mean_predictor, 100 * (1 - final / mean_predictor))
