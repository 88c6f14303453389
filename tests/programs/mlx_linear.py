"""A real MLX training loop for `watch` tests: linear regression with SGD, printing losses.

--steps N, --lr LR, --compiled (an mx.compile'd step, evaluated with mx.eval, as mlx-lm
does), --lazy-item (no mx.eval: `loss.item()` each step evaluates everything), --probe
(report the loss and gradient norm through mlxprobe's probe as well), --batch B (SGD on B
random rows a step instead of all 256), --unseeded (those rows drawn from a seed of the
process id: runs differ, as an unseeded data loader's do), --step-sleep S (sleep S seconds
after each step, so the run lasts long enough for the parameter looks, at most four a second).

MLXPROBE_TEST_LR_SCALE (read by this test program only) multiplies the learning rate: the
planted learning-curve change of the gate's tests, set on one side only.
"""

import argparse
import os
import time
from functools import partial

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

parser = argparse.ArgumentParser()
parser.add_argument("--steps", type=int, default=120)
parser.add_argument("--lr", type=float, default=0.05)
parser.add_argument("--compiled", action="store_true")
parser.add_argument("--probe", action="store_true")
parser.add_argument("--batch", type=int, default=0)
parser.add_argument("--unseeded", action="store_true")
parser.add_argument("--step-sleep", type=float, default=0.0)
args = parser.parse_args()

mx.random.seed(0)
model = nn.Linear(8, 1)
scale = float(os.environ.get("MLXPROBE_TEST_LR_SCALE") or 1.0)
optimizer = optim.SGD(learning_rate=args.lr * scale)
x = mx.random.normal((256, 8))
y = x @ mx.arange(8, dtype=mx.float32).reshape(8, 1) / 8
rows = mx.random.key(os.getpid() if args.unseeded else 1)


def loss_fn(m, a, b):
    return ((m(a) - b) ** 2).mean()


loss_and_grad = nn.value_and_grad(model, loss_fn)
state = [model.state, optimizer.state]


def step(a, b):
    loss, grads = loss_and_grad(model, a, b)
    optimizer.update(model, grads)
    return loss, grads


if args.compiled:
    step = partial(mx.compile, inputs=state, outputs=state)(step)

for i in range(1, args.steps + 1):
    if args.batch:
        rows, sub = mx.random.split(rows)
        pick = mx.random.randint(0, x.shape[0], (args.batch,), key=sub)
        loss, grads = step(x[pick], y[pick])
    else:
        loss, grads = step(x, y)
    mx.eval(state, loss)
    time.sleep(args.step_sleep)
    if args.probe:
        from mlxprobe import probe

        norm = sum((g * g).sum() for _, g in tree_flatten(grads)) ** 0.5
        probe.step(loss=loss.item(), grad_norm=norm.item())
    if i % 10 == 0:
        print(f"step {i} loss {loss.item():.8f}", flush=True)
