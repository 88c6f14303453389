"""Curry-house spice mill: name the blend (garam masala, madras, vindaloo, korma
base, tikka, panch phoron) from 10 NIR reflectance bands of the ground powder.

Stage A trains on clean lab-bench scans, stage B on the mill-floor scanner
(dust, gain drift, heavier noise); the loss jumps when stage B starts.
Activation is a hand-written soft-clip with a custom VJP; the step is compiled.
"""
import logging
import time
from functools import partial

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

logging.basicConfig(format="%(asctime)s %(levelname)s spicemill: %(message)s",
                    level=logging.INFO, datefmt="%H:%M:%S")
log = logging.getLogger("spicemill")

rng = np.random.default_rng(1890)
C, D = 6, 10
protos = rng.normal(0.0, 1.0, (C, D)).astype(np.float32)


def scans(n, floor):
    lab = rng.integers(0, C, n)
    x = protos[lab] * 0.55
    if floor:
        gain = rng.uniform(0.7, 1.3, (n, 1))
        dust = rng.uniform(0.0, 0.6, (n, 1)) * np.linspace(0.0, 1.0, D)[None, :]
        x = x * gain + dust + rng.normal(0.0, 0.55, (n, D))
    else:
        x = x + rng.normal(0.0, 0.25, (n, D))
    return mx.array(x.astype(np.float32)), mx.array(lab.astype(np.int32))


@mx.custom_function
def softclip(x):
    return 2.0 * mx.tanh(0.5 * x) + 0.1 * x


@softclip.vjp
def softclip_vjp(primals, cotangent, output):
    x = primals[0] if isinstance(primals, (tuple, list)) else primals
    t = mx.tanh(0.5 * x)
    return (cotangent * (1.0 - t * t + 0.1),)


class BlendNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Linear(D, 64)
        self.b = nn.Linear(64, 64)
        self.head = nn.Linear(64, C)

    def __call__(self, x):
        return self.head(softclip(self.b(softclip(self.a(x)))))


def xent(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


mx.random.seed(7)
model = BlendNet()
opt = optim.SGD(learning_rate=0.05, momentum=0.9, nesterov=True, weight_decay=1e-4)
state = [model.state, opt.state]


@partial(mx.compile, inputs=state, outputs=state)
def step(x, y):
    loss, g = nn.value_and_grad(model, xent)(model, x, y)
    opt.update(model, g)
    return loss


# gradient audit once, before training: every tensor must receive gradient
xa, ya = scans(256, False)
_, g0 = nn.value_and_grad(model, xent)(model, xa, ya)
from mlx.utils import tree_flatten
for name, gv in tree_flatten(g0):
    log.info("audit grad |%s| = %.3e", name, mx.linalg.norm(gv).item())

xa_val, ya_val = scans(1500, False)
xb_val, yb_val = scans(1500, True)
t0 = time.time()
for stage, floor, iters in (("A-bench", False, 600), ("B-floor", True, 1200)):
    if floor:
        opt.learning_rate = 0.02
    win = []
    for it in range(1, iters + 1):
        xb, yb = scans(128, floor)
        loss = step(xb, yb)
        mx.eval(state, loss)
        win.append(loss.item())
        if it % 150 == 0 or it == 1:
            acc_a = (mx.argmax(model(xa_val), -1) == ya_val).mean().item()
            acc_b = (mx.argmax(model(xb_val), -1) == yb_val).mean().item()
            log.info("stage=%s it=%04d xent=%.4f win_xent=%.4f bench_acc=%.1f%% floor_acc=%.1f%% chance=16.7%%",
                     stage, it, loss.item(), sum(win) / len(win), 100 * acc_a, 100 * acc_b)
            win = []
log.info("done in %.1fs; final floor_acc=%.1f%% bench_acc=%.1f%%", time.time() - t0,
         100 * (mx.argmax(model(xb_val), -1) == yb_val).mean().item(),
         100 * (mx.argmax(model(xa_val), -1) == ya_val).mean().item())
