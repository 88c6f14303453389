"""Bouldering gym: predict the V-grade (V0..V7) a setter gave a problem from a few
hold / wall measurements, with a cumulative-logit (ordinal) head.

Small training set on purpose, so the net starts to overfit after a while; we keep
the weights of the best validation epoch and put them back at the end.
"""
import logging
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

logging.basicConfig(level=logging.INFO, format="boulder | %(levelname)-7s | %(message)s")
log = logging.getLogger("grades")

N_GRADES = 8
FEATURES = ["wall_angle", "mean_hold_cm", "crimp_share", "move_span", "n_moves",
            "dyno", "foot_chips", "volume_share"]


def make_problems(n, rng):
    angle = rng.uniform(0, 50, n)             # overhang in degrees
    hold = rng.uniform(1.5, 12.0, n)          # mean hold depth
    crimp = rng.beta(2, 3, n)
    span = rng.normal(1.4, 0.25, n)           # metres per move
    moves = rng.integers(3, 14, n).astype(np.float64)
    dyno = (rng.random(n) < 0.2).astype(np.float64)
    chips = rng.beta(2, 5, n)
    volume = rng.beta(1.5, 6, n)
    score = (0.06 * angle - 0.35 * np.log(hold) + 2.2 * crimp + 1.6 * (span - 1.4)
             + 0.12 * moves + 0.9 * dyno + 1.4 * chips - 1.1 * volume
             + 0.5 * np.tanh(3 * (crimp - 0.4)) * angle / 25)
    score = score + rng.logistic(0, 0.45, n)  # setter disagreement
    cuts = np.quantile(score, np.linspace(0, 1, N_GRADES + 1)[1:-1] ** 1.15)
    grade = np.searchsorted(cuts, score)
    x = np.stack([angle, np.log(hold), crimp, span, moves, dyno, chips, volume], 1)
    return x.astype(np.float32), grade.astype(np.int32)


class OrdinalNet(nn.Module):
    def __init__(self, d_in, hidden=160):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(d_in, hidden), nn.GELU(),
                                  nn.Linear(hidden, hidden), nn.GELU(),
                                  nn.Linear(hidden, 1))
        # first cut-point and positive gaps between the later ones
        self.cut0 = mx.array([-2.0])
        self.gaps = mx.full((N_GRADES - 2,), 0.0)

    def cutpoints(self):
        return mx.concatenate([self.cut0, self.cut0 + mx.cumsum(nn.softplus(self.gaps))])

    def __call__(self, x):
        f = self.body(x).squeeze(-1)
        return f, self.cutpoints()


def grade_probs(f, cuts):
    cdf = mx.sigmoid(cuts[None, :] - f[:, None])           # P(y <= k)
    lo = mx.concatenate([mx.zeros((f.shape[0], 1)), cdf], 1)
    hi = mx.concatenate([cdf, mx.ones((f.shape[0], 1))], 1)
    return hi - lo


def ordinal_nll(model, x, y):
    f, cuts = model(x)
    p = grade_probs(f, cuts)
    py = mx.take_along_axis(p, y[:, None], axis=1).squeeze(1)
    return -mx.log(mx.maximum(py, 1e-7)).mean()


def evaluate(model, x, y):
    f, cuts = model(x)
    p = grade_probs(f, cuts)
    nll = -mx.log(mx.maximum(mx.take_along_axis(p, y[:, None], 1).squeeze(1), 1e-7)).mean()
    pred = np.array(mx.argmax(p, axis=1))
    yy = np.array(y)
    return (nll.item(), float(np.mean(pred == yy)), float(np.mean(np.abs(pred - yy) <= 1)),
            float(np.mean(np.abs(pred - yy))))


def main():
    rng = np.random.default_rng(118)
    x_all, y_all = make_problems(4700, rng)
    x_tr, y_tr = x_all[:900], y_all[:900]
    x_va, y_va = x_all[900:1700], y_all[900:1700]
    x_te, y_te = x_all[1700:], y_all[1700:]
    mu, sd = x_tr.mean(0), x_tr.std(0) + 1e-6
    norm = lambda a: mx.array((a - mu) / sd)
    Xtr, Xva, Xte = norm(x_tr), norm(x_va), norm(x_te)
    Ytr, Yva, Yte = mx.array(y_tr), mx.array(y_va), mx.array(y_te)
    log.info("problems: train %d  val %d  test %d  grades V0..V%d  counts %s",
             len(y_tr), len(y_va), len(y_te), N_GRADES - 1, np.bincount(y_tr, minlength=N_GRADES).tolist())

    mx.random.seed(7)
    model = OrdinalNet(Xtr.shape[1])
    mx.eval(model.parameters())
    opt = optim.Adam(learning_rate=1e-3)
    step_fn = nn.value_and_grad(model, ordinal_nll)

    # sanity check on the very first batch: does every leaf get a gradient?
    _, g0 = step_fn(model, Xtr[:64], Ytr[:64])
    zero = [k for k, v in tree_flatten(g0) if float(mx.abs(v).max()) == 0.0]
    log.info("leaves %d, leaves with zero gradient at step 0: %s", len(tree_flatten(g0)), zero or "none")

    chance_nll = math.log(N_GRADES)
    log.info("uniform-guess nll = %.3f nats", chance_nll)

    best = {"nll": float("inf"), "epoch": -1, "weights": None}
    patience, bad = 8, 0
    bs = 16
    t0 = time.time()
    for epoch in range(1, 81):
        order = rng.permutation(len(y_tr))
        tot, nb = 0.0, 0
        for i in range(0, len(order) - bs + 1, bs):
            idx = mx.array(order[i:i + bs])
            loss, grads = step_fn(model, Xtr[idx], Ytr[idx])
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item()
            nb += 1
        va_nll, va_acc, va_w1, va_mae = evaluate(model, Xva, Yva)
        marker = ""
        if va_nll < best["nll"] - 1e-4:
            best.update(nll=va_nll, epoch=epoch, weights=dict(tree_flatten(model.parameters())))
            bad = 0
            marker = " *"
        else:
            bad += 1
        if epoch % 2 == 0 or marker or bad >= patience:
            log.info("epoch %2d  train_nll %.4f  val_nll %.4f  exact %.3f  within1 %.3f  mae %.3f grades%s",
                     epoch, tot / nb, va_nll, va_acc, va_w1, va_mae, marker)
        if bad >= patience:
            log.warning("val nll has not improved for %d epochs (best %.4f at epoch %d): stopping",
                        patience, best["nll"], best["epoch"])
            break

    last = evaluate(model, Xte, Yte)
    model.update(tree_unflatten(list(best["weights"].items())))
    mx.eval(model.parameters())
    restored = evaluate(model, Xte, Yte)
    cuts = np.array(model.cutpoints())
    log.info("restored weights of epoch %d (%.1fs)", best["epoch"], time.time() - t0)
    log.info("test  last-epoch weights: nll %.4f exact %.3f within1 %.3f mae %.3f", *last)
    log.info("test  restored weights  : nll %.4f exact %.3f within1 %.3f mae %.3f", *restored)
    log.info("cut-points: %s", " ".join(f"{c:+.2f}" for c in cuts))


if __name__ == "__main__":
    main()
