"""Continual learning across two apiaries with elastic weight consolidation (EWC).

Colony state (queenright / queenless / pre-swarm) from 10 acoustic band energies of the
hive hum.  Apiary A (spring, one microphone model) is learnt first; then apiary B (autumn,
another microphone: gain, offset and a partly different sound-to-state relation).

Phase 1  : train on A.
Phase 1b : diagonal Fisher information of the A-solution, from per-example gradients
           (a silent phase: a few hundred single-example backward passes).
Phase 2  : starting from the A-solution, two runs in turn on B:
           - plain fine-tuning (lambda = 0)
           - EWC fine-tuning (penalty lambda/2 * sum F * (w - w_A)^2)
The A-accuracy of the fine-tuned model drops on purpose (that is the forgetting EWC limits).

No mlx.optimizers: SGD with heavy-ball momentum is written over tree_map.
"""
import logging
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
from mlx.utils import tree_flatten, tree_map

logging.basicConfig(level=logging.INFO,
                    format="%(asctime)s %(levelname)-5s %(name)s: %(message)s",
                    datefmt="%H:%M:%S")
log = logging.getLogger("apiary")

N_BANDS = 10
STATES = ("queenright", "queenless", "pre-swarm")


# --------------------------------------------------------------------------- data
def make_teacher(rng):
    return {"W1": rng.standard_normal((N_BANDS, 16)), "W2": rng.standard_normal((16, 3))}


def label(x, teacher, rng, flip=0.04):
    h = np.tanh(x @ teacher["W1"])
    y = np.argmax(h @ teacher["W2"], axis=1)
    noisy = rng.random(len(y)) < flip
    y[noisy] = rng.integers(0, 3, noisy.sum())
    return y


def apiary(n, teacher, rng, gain=1.0, offset=0.0):
    x = rng.standard_normal((n, N_BANDS))
    y = label(x, teacher, rng)
    recorded = gain * x + offset            # what this apiary's microphone reports
    return recorded.astype(np.float32), y.astype(np.int32)


# --------------------------------------------------------------------------- model
class HumNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(N_BANDS, 64)
        self.l2 = nn.Linear(64, 64)
        self.out = nn.Linear(64, 3)

    def __call__(self, x):
        return self.out(nn.relu(self.l2(nn.relu(self.l1(x)))))


def ce_loss(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def ewc_loss(model, x, y, anchor, fisher, lam):
    ce = ce_loss(model, x, y)
    if lam == 0.0:
        return ce
    sq = tree_map(lambda w, a, f: mx.sum(f * (w - a) ** 2),
                  model.trainable_parameters(), anchor, fisher)
    penalty = sum(v for _, v in tree_flatten(sq))
    return ce + 0.5 * lam * penalty


def accuracy_pct(model, x, y):
    pred = np.argmax(np.array(model(mx.array(x))), axis=1)
    return 100.0 * float(np.mean(pred == y))


class MomentumSGD:
    def __init__(self, params, lr, mu=0.9):
        self.lr, self.mu = lr, mu
        self.vel = tree_map(mx.zeros_like, params)

    def step(self, model, grads):
        self.vel = tree_map(lambda v, g: self.mu * v + g, self.vel, grads)
        new = tree_map(lambda p, v: p - self.lr * v, model.trainable_parameters(), self.vel)
        model.update(new)


def fit(model, x, y, epochs, lr, rng, tag, loss_fn, loss_args=(), evals=()):
    sgd = MomentumSGD(model.trainable_parameters(), lr)
    grad_fn = nn.value_and_grad(model, loss_fn)
    n = len(y)
    for ep in range(1, epochs + 1):
        perm = rng.permutation(n)
        tot, cnt = 0.0, 0
        for s in range(0, n - 63, 64):
            idx = perm[s:s + 64]
            loss, grads = grad_fn(model, mx.array(x[idx]), mx.array(y[idx]), *loss_args)
            if ep == 1 and s == 0:
                flat = tree_flatten(grads)
                nz = sum(1 for _, g in flat if float(mx.max(mx.abs(g))) > 0)
                log.info("%s grad check: %d/%d leaves with non-zero gradient", tag, nz, len(flat))
            sgd.step(model, grads)
            mx.eval(model.parameters(), sgd.vel, loss)
            tot += loss.item()
            cnt += 1
        if ep in (1, 2, 4, epochs) or ep % 5 == 0:
            accs = "  ".join(f"{name}={accuracy_pct(model, ex, ey):5.1f}%" for name, ex, ey in evals)
            log.info("%s epoch %2d  train_loss=%.4f  %s", tag, ep, tot / cnt, accs)


def diag_fisher(model, x, y, n):
    """Empirical diagonal Fisher: mean of squared per-example gradients."""
    grad_fn = nn.value_and_grad(model, ce_loss)
    acc = tree_map(mx.zeros_like, model.trainable_parameters())
    for i in range(n):
        _, g = grad_fn(model, mx.array(x[i:i + 1]), mx.array(y[i:i + 1]))
        acc = tree_map(lambda a, gi: a + gi * gi, acc, g)
        if i % 50 == 49:
            mx.eval(acc)
    return tree_map(lambda a: a / n, acc)


def main():
    t0 = time.perf_counter()
    rng = np.random.default_rng(11)
    mx.random.seed(11)
    teacher_a = make_teacher(rng)
    teacher_b = {"W1": teacher_a["W1"].copy(), "W2": teacher_a["W2"].copy()}
    teacher_b["W1"][:, :6] = rng.standard_normal((N_BANDS, 6))   # autumn: partly new relation
    xa, ya = apiary(6000, teacher_a, rng)
    xa_te, ya_te = apiary(1500, teacher_a, rng)
    xb, yb = apiary(6000, teacher_b, rng, gain=1.3, offset=0.4)
    xb_te, yb_te = apiary(1500, teacher_b, rng, gain=1.3, offset=0.4)
    log.info("data: A %d/%d, B %d/%d hives, classes %s, chance 33.3%%",
             len(ya), len(ya_te), len(yb), len(yb_te), "/".join(STATES))

    evals = (("acc_A", xa_te, ya_te), ("acc_B", xb_te, yb_te))
    model = HumNet()
    mx.eval(model.parameters())
    fit(model, xa, ya, epochs=10, lr=0.02, rng=rng, tag="[A]", loss_fn=ce_loss, evals=evals)

    anchor = tree_map(lambda p: p, model.trainable_parameters())   # arrays are immutable
    log.info("estimating diagonal Fisher on 3000 apiary-A examples ...")
    fisher = diag_fisher(model, xa, ya, 3000)
    mx.eval(fisher)
    fvals = np.concatenate([np.array(v).ravel() for _, v in tree_flatten(fisher)])
    log.info("fisher: mean=%.3e max=%.3e (%.1fs so far)", fvals.mean(), fvals.max(),
             time.perf_counter() - t0)

    results = {}
    for name, lam in (("finetune", 0.0), ("ewc", 150.0)):
        model.update(anchor)                          # both runs start from the A-solution
        mx.eval(model.parameters())
        fit(model, xb, yb, epochs=10, lr=0.02, rng=rng, tag=f"[B/{name}]",
            loss_fn=ewc_loss, loss_args=(anchor, fisher, lam), evals=evals)
        results[name] = (accuracy_pct(model, xa_te, ya_te), accuracy_pct(model, xb_te, yb_te))

    for name, (a, b) in results.items():
        log.info("summary %-8s acc_A=%5.1f%%  acc_B=%5.1f%%  mean=%5.1f%%", name, a, b, (a + b) / 2)
    log.info("done in %.1fs", time.perf_counter() - t0)


if __name__ == "__main__":
    main()
