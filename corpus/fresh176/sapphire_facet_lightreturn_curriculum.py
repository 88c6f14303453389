"""Sapphire faceting bench: predict light return (%) of an oval brilliant
from its cut proportions.  Two-stage curriculum: stage 1 only well-cut
stones (narrow angle ranges), stage 2 the whole bench log including
windowed / extinct stones.  Frozen random-Fourier front end, compiled
Nesterov-SGD step, logging with progress bars and audit lines.
"""
import logging
import math
import sys
import time
from functools import partial

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

logging.basicConfig(stream=sys.stdout, level=logging.INFO,
                    format="%(asctime)s %(levelname)s facet: %(message)s", datefmt="%H:%M:%S")
log = logging.getLogger("facet")

mx.random.seed(5)


def bench(n, easy):
    if easy:
        pav = mx.random.uniform(40.0, 42.2, (n,))
        crown = mx.random.uniform(32.0, 36.0, (n,))
    else:
        pav = mx.random.uniform(37.0, 45.0, (n,))
        crown = mx.random.uniform(26.0, 42.0, (n,))
    table = mx.random.uniform(50.0, 66.0, (n,))
    girdle = mx.random.uniform(1.5, 6.0, (n,))
    ri = mx.random.uniform(1.757, 1.779, (n,))
    culet = mx.random.uniform(0.0, 3.0, (n,))
    p_opt = 41.2 - 40.0 * (ri - 1.768)
    window = nn.relu(p_opt - 1.0 - pav)          # shallow pavilion leaks light
    extinction = nn.relu(pav - p_opt - 1.5)      # deep pavilion goes dark
    ret = (84.0 - 2.2 * (pav - p_opt) ** 2 - 0.12 * (crown - 34.0) ** 2
           - 0.06 * (table - 58.0) ** 2 - 1.1 * girdle - 1.5 * culet
           - 6.0 * window ** 1.5 - 4.0 * extinction ** 2
           + 0.8 * mx.random.normal((n,)))
    x = mx.stack([(pav - 41.0) / 2.3, (crown - 34.0) / 4.6, (table - 58.0) / 4.6,
                  (girdle - 3.75) / 1.3, (ri - 1.768) / 0.0064, (culet - 1.5) / 0.87], axis=1)
    return x, ret


X1, y1 = bench(1500, easy=True)
X2, y2 = bench(3000, easy=False)
Xv, yv = bench(800, easy=False)
Y_MU, Y_SD = 60.0, 20.0
mx.eval(X1, y1, X2, y2, Xv, yv)

# cutter's rule of thumb used at the bench: 84 minus a penalty for pavilion off 41 deg
rule = 84.0 - 2.2 * (Xv[:, 0] * 2.3) ** 2
rule_rmse = mx.sqrt(mx.mean((rule - yv) ** 2)).item()


class FacetNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.rff = nn.Linear(6, 64)      # fixed random Fourier projection, frozen on purpose
        self.rff.weight = mx.random.normal((64, 6)) * 1.2
        self.rff.bias = mx.random.uniform(0, 2 * math.pi, (64,))
        self.h1 = nn.Linear(6 + 128, 96)
        self.h2 = nn.Linear(96, 96)
        self.head = nn.Linear(96, 1)

    def __call__(self, x):
        z = self.rff(x)
        f = mx.concatenate([x, mx.sin(z), mx.cos(z)], axis=1)
        return self.head(nn.gelu(self.h2(nn.gelu(self.h1(f))))).squeeze(-1)


model = FacetNet()
model.rff.freeze()
rff_before = mx.array(model.rff.weight)
opt = optim.SGD(learning_rate=0.05, momentum=0.9, nesterov=True, weight_decay=1e-5)


def mse(m, xb, yb):
    return mx.mean((m(xb) - (yb - Y_MU) / Y_SD) ** 2)


loss_and_grad = nn.value_and_grad(model, mse)
state = [model.state, opt.state]


@partial(mx.compile, inputs=state, outputs=state)
def train_step(xb, yb, lr):
    opt.learning_rate = lr
    loss, grads = loss_and_grad(model, xb, yb)
    gnorm = optim.clip_grad_norm(grads, 1e9)[1]
    opt.update(model, grads)
    return loss, gnorm


def val_rmse_pct():
    pred = model(Xv) * Y_SD + Y_MU
    return mx.sqrt(mx.mean((pred - yv) ** 2)).item()


def bar(i, n, width=24):
    k = int(width * i / n)
    return f"{100 * i // n:3d}%|{'#' * k}{'.' * (width - k)}| {i}/{n}"


stages = [("well-cut stones", X1, y1, 240, 0.05), ("full bench log", X2, y2, 480, 0.05)]
BATCH = 64
t0 = time.time()
log.info("reference: cutter rule-of-thumb val RMSE %.2f %% light return", rule_rmse)
first = True
for si, (name, Xs, ys, steps, peak) in enumerate(stages, 1):
    n = Xs.shape[0]
    log.info("stage %d/%d '%s': %d stones, %d steps", si, len(stages), name, n, steps)
    run_loss = 0.0
    prev = [mx.array(p) for _, p in tree_flatten(model.trainable_parameters())]
    for it in range(1, steps + 1):
        lr = peak * 0.5 * (1 + math.cos(math.pi * (it - 1) / steps))   # cosine restart each stage
        idx = mx.random.randint(0, n, (BATCH,))
        if first:
            g = nn.value_and_grad(model, mse)(model, Xs[idx], ys[idx])[1]
            flat = tree_flatten(g)
            dead = [k for k, v in flat if mx.max(mx.abs(v)).item() == 0.0]
            log.info("audit grads: %d trainable tensors, zero-grad: %s, frozen: %s",
                     len(flat), dead or "none", [k for k, _ in tree_flatten(model.rff.parameters())])
            first = False
        loss, gnorm = train_step(Xs[idx], ys[idx], mx.array(lr))
        mx.eval(loss, gnorm, model.parameters(), opt.state)
        run_loss = 0.9 * run_loss + 0.1 * loss.item() if it > 1 else loss.item()
        if it % 40 == 0:
            print(f"  stage{si} {bar(it, steps)} [lr={lr:.4f} loss={run_loss:.4f} |g|={gnorm.item():.3f}]",
                  flush=True)
        if it % 120 == 0:
            cur = [p for _, p in tree_flatten(model.trainable_parameters())]
            delta = math.sqrt(sum(mx.sum((a - b) ** 2).item() for a, b in zip(cur, prev)))
            frozen_delta = mx.max(mx.abs(model.rff.weight - rff_before)).item()
            prev = [mx.array(p) for p in cur]
            log.info("audit step %d: val RMSE %.2f %% (rule %.2f %%), param delta %.4f, rff delta %.1e",
                     it, val_rmse_pct(), rule_rmse, delta, frozen_delta)
    log.info("stage %d done: val RMSE %.2f %% light return", si, val_rmse_pct())

log.info("finished in %.1fs: val RMSE %.2f %% vs rule-of-thumb %.2f %%",
         time.time() - t0, val_rmse_pct(), rule_rmse)
