"""Cocoa fermentation box -> cut-test grade.

Estate QA notebook: from six days of box temperature and pulp pH readings plus
turning count and box depth, predict the cut-test grade of the beans
(0 well-fermented brown, 1 partly purple, 2 slaty, 3 over-fermented/mouldy).
Hidden layer uses a hand-written softsign with its own VJP; the train step is
compiled; SGD with Nesterov momentum on cosine warm restarts (the loss climbs
after each restart).  Logged with the logging module.
"""
import logging
import math
import sys

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten
from functools import partial

logging.basicConfig(stream=sys.stdout, level=logging.INFO,
                    format="%(levelname)-5s cut-test | %(message)s")
log = logging.getLogger("cocoa")

mx.random.seed(3)
GRADES = ["brown", "purple", "slaty", "overfmt"]


def make_boxes(n, key):
    k = mx.random.split(key, 6)
    peak_day = mx.random.uniform(1.5, 4.5, (n, 1), key=k[0])
    peak_temp = mx.random.uniform(38, 50, (n, 1), key=k[1])
    days = mx.arange(6).reshape(1, 6).astype(mx.float32)
    temp = 28 + (peak_temp - 28) * mx.exp(-((days - peak_day) ** 2) / 3.0)
    temp = temp + 0.8 * mx.random.normal((n, 6), key=k[2])
    ph = 3.6 + 0.35 * days * (peak_temp - 30) / 15 + 0.1 * mx.random.normal((n, 6), key=k[3])
    turns = mx.random.randint(0, 4, (n, 1), key=k[4]).astype(mx.float32)
    depth = mx.random.uniform(0.4, 1.0, (n, 1), key=k[5])
    heat = mx.sum(mx.maximum(temp - 40, 0), axis=1, keepdims=True)
    # made-up grading law
    score_purple = 6.0 - 0.9 * heat - 0.8 * turns
    score_slaty = 4.0 - 1.6 * heat + 2.0 * (depth - 0.7) - 0.6 * turns
    score_over = -6.0 + 0.55 * heat + 1.6 * (ph[:, 5:6] - 5.0) + 0.9 * turns
    score_brown = mx.zeros_like(heat) + 1.5
    logits = mx.concatenate([score_brown, score_purple, score_slaty, score_over], axis=1)
    y = mx.argmax(logits + mx.random.gumbel((n, 4)), axis=1)
    X = mx.concatenate([temp, ph, turns, depth], axis=1)
    return X, y


Xtr, ytr = make_boxes(6000, mx.random.key(10))
Xva, yva = make_boxes(1500, mx.random.key(11))
mu, sd = mx.mean(Xtr, axis=0), mx.std(Xtr, axis=0)
Xtr, Xva = (Xtr - mu) / sd, (Xva - mu) / sd


@mx.custom_function
def softsign(x):
    return x / (1.0 + mx.abs(x))


@softsign.vjp
def softsign_vjp(primals, cotangent, output):
    x = primals  # single input: MLX hands the array itself, not a tuple
    d = 1.0 + mx.abs(x)
    return cotangent / (d * d)


class GradeNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.inp = nn.Linear(14, 64)
        self.mid = nn.Linear(64, 64)
        self.head = nn.Linear(64, 4)

    def __call__(self, x):
        h = softsign(self.inp(x))
        h = nn.relu(self.mid(h))
        return self.head(h)


# audit: the custom VJP must agree with autodiff of the same formula
probe = mx.random.normal((256,)) * 3
g_custom = mx.grad(lambda z: mx.sum(softsign(z) * mx.cos(z)))(probe)
g_auto = mx.grad(lambda z: mx.sum(z / (1.0 + mx.abs(z)) * mx.cos(z)))(probe)
log.info("audit softsign vjp  max|custom-auto| = %.2e", mx.abs(g_custom - g_auto).max().item())

model = GradeNet()
mx.eval(model.parameters())
opt = optim.SGD(learning_rate=0.0, momentum=0.9, nesterov=True, weight_decay=1e-4)


def loss_fn(m, x, y):
    return nn.losses.cross_entropy(m(x), y, reduction="mean")


vg = nn.value_and_grad(model, loss_fn)
_, g0 = vg(model, Xtr[:512], ytr[:512])
norms = {k: mx.sqrt(mx.sum(v * v)).item() for k, v in tree_flatten(g0)}
log.info("audit grad norms  min %.3e over %d tensors (none zero: %s)",
         min(norms.values()), len(norms), all(v > 0 for v in norms.values()))

state = [model.state, opt.state]


@partial(mx.compile, inputs=state, outputs=state)
def train_step(x, y):
    loss, grads = vg(model, x, y)
    opt.update(model, grads)
    return loss


def evaluate(X, y):
    logits = model(X)
    nll = nn.losses.cross_entropy(logits, y, reduction="mean").item()
    acc = mx.mean(mx.argmax(logits, axis=1) == y).item()
    return nll, acc


counts = [mx.sum(ytr == c).item() for c in range(4)]
majority = max(counts) / len(ytr)
log.info("grades in train: %s  majority-class accuracy %.1f%%",
         " ".join(f"{g}={c}" for g, c in zip(GRADES, counts)), 100 * majority)

B, lr_max, lr_min = 128, 0.08, 0.002
cycles = [6, 6, 12]  # epochs per restart cycle
nb = Xtr.shape[0] // B
log.info("%-5s %-5s %-8s %-9s %-8s %-7s", "cyc", "ep", "lr_end", "train_ce", "val_ce", "val_acc")
for c, ep_in_cycle in enumerate(cycles):
    total = ep_in_cycle * nb
    t = 0
    for ep in range(ep_in_cycle):
        perm = mx.random.permutation(Xtr.shape[0])
        run = 0.0
        for i in range(nb):
            lr = lr_min + 0.5 * (lr_max - lr_min) * (1 + math.cos(math.pi * t / total))
            opt.learning_rate = mx.array(lr)
            idx = perm[i * B:(i + 1) * B]
            loss = train_step(Xtr[idx], ytr[idx])
            mx.eval(loss, model.parameters(), opt.state)
            run += loss.item()
            t += 1
        vce, vacc = evaluate(Xva, yva)
        log.info("%-5d %-5d %-8.4f %-9.4f %-8.4f %5.1f%%", c + 1, ep + 1, lr, run / nb, vce, 100 * vacc)
    log.info("restart %d done; lr jumps back to %.3f", c + 1, lr_max)

vce, vacc = evaluate(Xva, yva)
log.info("final val_ce %.4f  val_acc %.1f%%  (majority baseline %.1f%%)", vce, 100 * vacc, 100 * majority)
