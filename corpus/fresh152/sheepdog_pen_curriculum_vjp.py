"""Sheepdog trial scoring: regress points dropped (out of 20) on the drive+pen
from run readings. Curriculum: stage 'calm' (quiet ewes, light wind) first,
then stage 'flighty' mixes in skittish hoggets and gusts, so the loss jumps
when the stage opens. Random-feature front layer is frozen on purpose; the
activation has a hand-written VJP; updates are hand-written Nesterov SGD."""
import logging
import math
import sys
import time

import mlx.core as mx
import mlx.nn as nn
from mlx.utils import tree_flatten, tree_map

logging.basicConfig(stream=sys.stdout, level=logging.INFO,
                    format="%(asctime)s %(levelname)s trial: %(message)s", datefmt="%H:%M:%S")
log = logging.getLogger("trial")
mx.random.seed(3)


@mx.custom_function
def softclip(x):
    # smooth clamp to (-3, 3)
    return 3.0 * mx.tanh(x / 3.0)


@softclip.vjp
def softclip_vjp(primals, cotangent, output):
    t = mx.tanh(primals / 3.0)
    return cotangent * (1.0 - t * t)


def runs(n, flighty, key):
    k1, k2, k3 = mx.random.split(key, 3)
    # dog age (y), handler years, outrun (m), wind (m/s), flock flightiness 0..1, whistle count
    lo = mx.array([1.5, 0.0, 250.0, 0.0, 0.0, 10.0])
    hi = mx.array([11.0, 40.0, 550.0, 12.0, 1.0, 60.0])
    span = hi - lo
    u = mx.random.uniform(shape=(n, 6), key=k1)
    if not flighty:
        u = u * mx.array([1, 1, 1, 0.4, 0.3, 1])  # light wind, quiet ewes
    raw = lo + span * u
    age, yrs, outrun, wind, fl, wh = [raw[:, i] for i in range(6)]
    drop = (4.0 + 0.08 * (age - 6.0) ** 2 - 0.07 * yrs + 0.006 * (outrun - 400.0)
            + 0.35 * wind + 6.0 * fl * fl + 0.05 * (wh - 35.0) + 2.5 * fl * wind / 12.0)
    noise = (0.4 + 1.2 * fl) * mx.random.normal(shape=(n,), key=k2)
    y = mx.clip(drop + noise, 0.0, 20.0)
    x = (raw - lo) / span * 2.0 - 1.0
    return x, y


class Scorer(nn.Module):
    def __init__(self):
        super().__init__()
        self.rf = nn.Linear(6, 64)          # frozen random features
        self.h = nn.Linear(64, 32)
        self.out = nn.Linear(32, 1)
        self.rf.freeze()

    def __call__(self, x):
        z = mx.sin(self.rf(x))
        z = softclip(self.h(z))
        return self.out(z).squeeze(-1) + 5.0


model = Scorer()
mx.eval(model.parameters())
rf_before = model.rf.weight.sum().item()


def loss_fn(m, x, y):
    return nn.losses.huber_loss(m(x), y, delta=2.0, reduction="mean")


vg = nn.value_and_grad(model, loss_fn)
params = model.trainable_parameters()
velocity = tree_map(mx.zeros_like, params)
MU = 0.9

xa, ya = runs(512, False, mx.random.key(1))
_, g = vg(model, xa[:64], ya[:64])
gn = {k: round(mx.sqrt((v * v).sum()).item(), 4) for k, v in tree_flatten(g)}
log.info("grad audit (trainable only): %s", gn)
log.info("frozen rf params: %d, trainable: %d",
         sum(v.size for _, v in tree_flatten(model.rf.parameters())),
         sum(v.size for _, v in tree_flatten(model.trainable_parameters())))

stages = [("calm", False, 0.05, 24), ("flighty", True, 0.03, 40)]
x_hold, y_hold = runs(400, True, mx.random.key(99))
base_mae = mx.abs(y_hold - y_hold.mean()).mean().item()
log.info("holdout (mixed flocks) constant-guess MAE %.2f pts", base_mae)

t0 = time.time()
for si, (name, flighty, lr, epochs) in enumerate(stages):
    xs, ys = runs(1024, flighty, mx.random.key(10 + si))
    if flighty:
        xc, yc = runs(512, False, mx.random.key(20))
        xs, ys = mx.concatenate([xs, xc]), mx.concatenate([ys, yc])
    n = xs.shape[0]
    log.info("stage %d/%d '%s': %d runs, lr %.3f", si + 1, len(stages), name, n, lr)
    for ep in range(1, epochs + 1):
        perm = mx.random.permutation(n)
        tot, nb = 0.0, 0
        for b in range(0, n, 64):
            idx = perm[b:b + 64]
            loss, grads = vg(model, xs[idx], ys[idx])
            # Nesterov momentum, by hand
            velocity = tree_map(lambda v, gr: MU * v + gr, velocity, grads)
            step = tree_map(lambda v, gr: gr + MU * v, velocity, grads)
            model.update(tree_map(lambda p, s: p - lr * s, model.trainable_parameters(), step))
            mx.eval(loss, model.parameters(), velocity)
            tot += loss.item()
            nb += 1
        if ep % 4 == 0 or ep == 1:
            pred = model(x_hold)
            mae = mx.abs(pred - y_hold).mean().item()
            bar = "#" * int(20 * ep / epochs)
            print(f"{name:>8} {ep:3d}/{epochs} |{bar:<20}| huber={tot / nb:.3f} holdout_mae={mae:.2f}pt "
                  f"({100 * mae / base_mae:.0f}% of const) {time.time() - t0:.1f}s")
    log.info("stage '%s' done", name)

pred = model(x_hold)
mae = mx.abs(pred - y_hold).mean().item()
drift = abs(model.rf.weight.sum().item() - rf_before)
log.info("final holdout MAE %.2f pts vs const %.2f; rf drift %.1e", mae, base_mae, drift)
