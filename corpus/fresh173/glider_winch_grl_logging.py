# Winch-launch outcome classifier for a gliding club, adapted to a second airfield.
# Home field logs are labelled; the new field's winch telemetry box is calibrated
# differently and nobody has labelled its launches yet. Domain-adversarial training
# with a gradient-reversal layer (custom VJP) pushes the feature extractor to make
# the two fields indistinguishable while still predicting the outcome.
import logging
import math
import time
from functools import partial

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s winch: %(message)s",
                    datefmt="%H:%M:%S")
log = logging.getLogger("winch")

rng = np.random.default_rng(7)
mx.random.seed(7)
OUTCOMES = ["full_launch", "weak_link_break", "power_abort"]


def make_field(n, shifted):
    wind = rng.normal(4.0, 3.0, n)              # kt along runway
    mass = rng.normal(420, 60, n)                 # kg glider + pilot
    rpm = rng.normal(2400, 300, n)                # drum rpm peak
    tension = rng.normal(6.0, 1.4, n)             # kN peak
    rotation = rng.normal(8.0, 2.5, n)            # deg/s pitch-up rate
    cable = rng.normal(1100, 150, n)              # m
    temp = rng.normal(14, 6, n)                   # deg C
    fuel = rng.uniform(0.1, 1.0, n)               # tank fraction
    # made-up outcome law
    z_break = 0.9 * (tension - 6.0) + 0.45 * (rotation - 8.0) - 0.004 * (mass - 420)
    z_abort = -0.004 * (rpm - 2400) - 2.2 * (fuel - 0.55) + 0.12 * (temp - 14)
    logits = np.stack([np.zeros(n), z_break - 0.6, z_abort - 0.8], 1)
    logits += rng.gumbel(size=logits.shape) * 0.45
    y = logits.argmax(1)
    X = np.stack([wind, mass, rpm, tension, rotation, cable, temp, fuel], 1)
    if shifted:
        # the other field's box: rpm in a different unit, tension offset, mixed channels
        X = X.copy()
        X[:, 2] = X[:, 2] * 0.104719755 + 15.0     # rad/s with an offset
        X[:, 3] = X[:, 3] * 1.35 + 0.8
        X[:, 4] = X[:, 4] + 0.3 * X[:, 0]
        X[:, 7] = 1.0 - X[:, 7] * 0.9
    return X.astype(np.float32), y.astype(np.int32)


Xs, ys = make_field(6000, False)
Xt, yt = make_field(6000, True)
Xt_test, yt_test = make_field(2000, True)
mu_s, sd_s = Xs.mean(0), Xs.std(0)
mu_t, sd_t = Xt.mean(0), Xt.std(0)
# each field standardised with its own (unlabelled) statistics
Xs = (Xs - mu_s) / sd_s
Xt = (Xt - mu_t) / sd_t
Xt_test = (Xt_test - mu_t) / sd_t
Xs, ys, Xt, Xt_test, yt_test = map(mx.array, (Xs, ys, Xt, Xt_test, yt_test))


@mx.custom_function
def reverse_grad(x, lam):
    return x


@reverse_grad.vjp
def reverse_grad_vjp(primals, cotangent, output):
    _, lam = primals
    return -lam * cotangent, mx.zeros_like(lam)


class DANN(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Linear(8, 64), nn.GELU(), nn.Linear(64, 48), nn.GELU())
        self.outcome = nn.Linear(48, 3)
        self.field = nn.Sequential(nn.Linear(48, 32), nn.ReLU(), nn.Linear(32, 1))

    def __call__(self, x, lam):
        h = self.features(x)
        return self.outcome(h), self.field(reverse_grad(h, lam)).squeeze(-1)


model = DANN()
optimizer = optim.AdamW(learning_rate=2e-3, weight_decay=1e-4)


def losses(model, xs, ys, xt, lam):
    out_s, dom_s = model(xs, lam)
    _, dom_t = model(xt, lam)
    cls = nn.losses.cross_entropy(out_s, ys, reduction="mean")
    dom_logits = mx.concatenate([dom_s, dom_t])
    dom_lbl = mx.concatenate([mx.zeros(dom_s.shape), mx.ones(dom_t.shape)])
    dom = nn.losses.binary_cross_entropy(dom_logits, dom_lbl, with_logits=True, reduction="mean")
    dom_acc = mx.mean((dom_logits > 0) == (dom_lbl > 0.5))
    return cls + dom, (cls, dom, dom_acc)


state = [model.state, optimizer.state]


@partial(mx.compile, inputs=state, outputs=state)
def train_step(xs, ys, xt, lam):
    (total, aux), grads = nn.value_and_grad(model, losses)(model, xs, ys, xt, lam)
    optimizer.update(model, grads)
    return total, aux[0], aux[1], aux[2]


def accuracy(X, y):
    logits, _ = model(X, mx.array(0.0))
    return mx.mean(mx.argmax(logits, 1) == y).item()


# quick audit: every parameter we mean to train gets a gradient at lam=1
_, g0 = nn.value_and_grad(model, losses)(model, Xs[:128], ys[:128], Xt[:128], mx.array(1.0))
from mlx.utils import tree_flatten
zero = [k for k, v in tree_flatten(g0) if float(mx.abs(v).max()) == 0.0]
log.info("grad audit: %d tensors, %d with zero grad %s", len(tree_flatten(g0)), len(zero), zero)

B = 128
steps_per_epoch = 6000 // B
EPOCHS = 14
LAM_MAX = 1.0
total_steps = EPOCHS * steps_per_epoch
t0 = time.time()
log.info("untrained model on new field (chance is about 0.33): acc=%.3f", accuracy(Xt_test, yt_test))
step = 0
for epoch in range(EPOCHS):
    ps = np.random.permutation(6000)
    pt = np.random.permutation(6000)
    run = np.zeros(4)
    for i in range(steps_per_epoch):
        p = step / total_steps
        lam = LAM_MAX * (2.0 / (1.0 + math.exp(-10 * p)) - 1.0)   # 0 -> LAM_MAX, the adversary ramps in
        bs = mx.array(ps[i * B:(i + 1) * B])
        bt = mx.array(pt[i * B:(i + 1) * B])
        tot, cls, dom, dacc = train_step(Xs[bs], ys[bs], Xt[bt], mx.array(lam, dtype=mx.float32))
        mx.eval(state, tot, cls, dom, dacc)
        run += np.array([tot.item(), cls.item(), dom.item(), dacc.item()])
        step += 1
    run /= steps_per_epoch
    log.info("ep %02d lam=%.3f total=%.4f cls=%.4f field=%.4f field_acc=%.1f%% home_acc=%.3f new_acc=%.3f",
             epoch, lam, run[0], run[1], run[2], 100 * run[3], accuracy(Xs, ys), accuracy(Xt_test, yt_test))

log.info("done in %.1fs: new-field test accuracy %.3f (%s)", time.time() - t0,
         accuracy(Xt_test, yt_test), "/".join(OUTCOMES))
