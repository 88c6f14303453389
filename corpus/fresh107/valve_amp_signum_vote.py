"""Guitar-amp workshop: grade power valves (EL34-ish) as good / weak / failing
from a bench tube-tester sheet.  Trained with a hand-written Signum optimiser
(sign of the momentum) and a 'majority vote' of the signs across workers via
mx.distributed.all_sum -- here there is only the one bench computer, so the
vote is a vote of one.  Loss is logged as a bias-corrected EMA.
"""
import logging
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
from mlx.utils import tree_flatten, tree_map

logging.basicConfig(level=logging.INFO, format="%(levelname)s:%(name)s: %(message)s")
log = logging.getLogger("valvebench")

GRADES = ("good", "weak", "failing")
FEATURES = ("plate_mA", "gm_mS", "grid_leak_uA", "heater_A", "microphonics",
            "log_hours", "shelf_flag")


def tester_sheets(n, rng):
    """Synthetic bench readings; grade follows a made-up wear law + noise."""
    hours = rng.gamma(2.0, 1500.0, n)
    wear = np.log1p(hours / 1000.0) + rng.normal(0, 0.35, n)
    plate = 70.0 - 9.0 * wear + rng.normal(0, 4.0, n)
    gm = 11.0 - 1.6 * wear + rng.normal(0, 0.8, n)
    leak = np.exp(rng.normal(-0.5 + 0.6 * wear, 0.5, n))
    heater = 1.5 + rng.normal(0, 0.04, n) + 0.02 * wear
    micro = rng.poisson(0.4 + 0.5 * np.maximum(wear - 1.0, 0.0)).astype(np.float64)
    shelf = (rng.random(n) < 0.2).astype(np.float64)          # pure-noise column
    x = np.stack([plate, gm, leak, heater, micro, np.log(hours + 1.0), shelf], 1)
    score = 1.4 * wear + 0.35 * np.log(leak) + 0.3 * micro + rng.logistic(0, 0.35, n)
    y = np.digitize(score, [1.55, 2.55])
    return x.astype(np.float32), y.astype(np.int32)


class ValveGrader(nn.Module):
    def __init__(self, d_in, hidden=64):
        super().__init__()
        self.inp = nn.Linear(d_in, hidden)
        self.mid = nn.Linear(hidden, hidden)
        self.norm = nn.LayerNorm(hidden)
        self.out = nn.Linear(hidden, len(GRADES))

    def __call__(self, x):
        h = nn.silu(self.inp(x))
        h = h + nn.silu(self.mid(self.norm(h)))
        return self.out(h)


class SignumVote:
    """Signum (Bernstein et al.): m <- b*m + (1-b)*g ; w <- w - lr*(vote(sign m) + wd*w).
    The vote is sign(all_sum(sign m)) over the distributed group."""

    def __init__(self, lr, beta=0.9, wd=1e-4, group=None):
        self.lr, self.beta, self.wd, self.group = lr, beta, wd, group
        self.mom = None

    def step(self, model, grads, lr_now):
        if self.mom is None:
            self.mom = tree_map(mx.zeros_like, grads)
        b = self.beta
        self.mom = tree_map(lambda m, g: b * m + (1.0 - b) * g, self.mom, grads)
        votes = tree_map(lambda m: mx.sign(mx.distributed.all_sum(mx.sign(m), group=self.group)),
                         self.mom)
        new_params = tree_map(lambda p, v: p - lr_now * (v + self.wd * p),
                              model.trainable_parameters(), votes)
        model.update(new_params)
        return [self.mom]


def main():
    rng = np.random.default_rng(11)
    mx.random.seed(11)
    xtr, ytr = tester_sheets(12000, rng)
    xva, yva = tester_sheets(2000, rng)
    mu, sd = xtr.mean(0), xtr.std(0) + 1e-6
    xtr, xva = (xtr - mu) / sd, (xva - mu) / sd
    prior = np.bincount(ytr, minlength=3) / len(ytr)
    log.info("bench sheets: train=%d valid=%d  grade mix %s", len(ytr), len(yva),
             ", ".join(f"{g}={p:.1%}" for g, p in zip(GRADES, prior)))

    group = mx.distributed.init()
    log.info("vote group: rank %d of %d", group.rank(), group.size())

    model = ValveGrader(xtr.shape[1])
    mx.eval(model.parameters())
    opt = SignumVote(lr=2e-3, beta=0.9, wd=1e-4, group=group)

    def loss_fn(m, xb, yb):
        return nn.losses.cross_entropy(m(xb), yb, reduction="mean")

    loss_and_grad = nn.value_and_grad(model, loss_fn)
    Xv, Yv = mx.array(xva), mx.array(yva)

    base = nn.losses.cross_entropy(model(Xv), Yv, reduction="mean").item()
    log.info("epoch  0 | untrained val ce %.4f (ln 3 = %.4f)", base, math.log(3))

    batch, epochs = 128, 16
    steps_per_epoch = len(ytr) // batch
    total = epochs * steps_per_epoch
    ema, ema_beta, step = 0.0, 0.98, 0
    t0 = time.time()
    for epoch in range(1, epochs + 1):
        order = rng.permutation(len(ytr))
        for i in range(steps_per_epoch):
            idx = order[i * batch:(i + 1) * batch]
            xb, yb = mx.array(xtr[idx]), mx.array(ytr[idx])
            loss, grads = loss_and_grad(model, xb, yb)
            if step == 0:
                flat = tree_flatten(grads)
                dead = [k for k, g in flat if float(mx.abs(g).max()) == 0.0]
                log.info("first step: %d gradient leaves, %d all-zero %s", len(flat), len(dead), dead)
            lr_now = 2e-3 * 0.5 * (1.0 + math.cos(math.pi * step / total)) + 1e-5
            state = opt.step(model, grads, lr_now)
            mx.eval(model.parameters(), state, loss)
            step += 1
            ema = ema_beta * ema + (1.0 - ema_beta) * loss.item()
        ema_hat = ema / (1.0 - ema_beta ** step)
        logits = model(Xv)
        pred = mx.argmax(logits, axis=1)
        acc = (pred == Yv).astype(mx.float32).mean().item()
        fail_rec = ((pred == 2) & (Yv == 2)).sum().item() / max(1, int((yva == 2).sum()))
        vloss = nn.losses.cross_entropy(logits, Yv, reduction="mean").item()
        log.info("epoch %2d | ce(ema, bias-corr) %.4f | val ce %.4f | val acc %5.1f%% | "
                 "failing caught %5.1f%% | lr %.2e | %.1fs", epoch, ema_hat, vloss,
                 100 * acc, 100 * fail_rec, lr_now, time.time() - t0)
    log.info("done: majority-class rate would be %.1f%%", 100 * prior.max())


if __name__ == "__main__":
    main()
