"""Tea estate: grade of each plucking round's green leaf (4 ordered grades: fine / good / coarse / reject).

Proportional-odds (cumulative logit) head on a small MLP.  The forward/backward run on a
float16 working copy of float32 master weights, with a static loss scale; two micro-batches
are accumulated per update.  Stage 1 trains everything (Lion, warm-up from 0 then cosine),
the weights go through a safetensors round trip, and stage 2 refits only the grade cut-points
with the trunk frozen.
"""
import math
import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

GRADES = ["fine", "good", "coarse", "reject"]
LOSS_SCALE = 1024.0
MICRO = 2
BATCH = 64
STAGE1_UPDATES = 1200
STAGE2_UPDATES = 300
WARMUP = 100


def make_estate(n, rng):
    days = rng.uniform(5, 14, n)            # days since the last round on this section
    shoot = rng.normal(6.0, 1.5, n)         # shoot length cm
    two_bud = rng.beta(5, 3, n)             # share of "two leaves and a bud"
    rain = rng.gamma(2.0, 8.0, n)           # mm over the round
    alt = rng.uniform(600, 2100, n)         # m
    temp = rng.normal(24, 3, n)
    tally = rng.normal(28, 6, n)            # kg per plucker
    fert = rng.integers(0, 2, n).astype(np.float64)
    noise = rng.normal(0, 1, n)             # unrelated channel
    z = (0.35 * (days - 9) + 0.45 * (shoot - 6) - 4.0 * (two_bud - 0.62)
         + 0.03 * (rain - 16) - 0.0012 * (alt - 1350) + 0.08 * (temp - 24)
         + 0.05 * (tally - 28) + 0.3 * fert + 0.04 * (days - 9) ** 2
         + rng.logistic(0, 0.55, n))
    cuts = np.array([-0.9, 0.25, 1.3])
    y = np.searchsorted(cuts, z)
    X = np.stack([days, shoot, two_bud, rain, alt, temp, tally, fert, noise], 1)
    return X.astype(np.float32), y.astype(np.int32)


class OrdinalNet(nn.Module):
    def __init__(self, d_in, width, n_grades):
        super().__init__()
        self.trunk = nn.Sequential(nn.Linear(d_in, width), nn.GELU(),
                                   nn.Linear(width, width), nn.GELU(),
                                   nn.Linear(width, 1))
        self.cut_first = mx.array([-1.0])
        self.cut_gaps = mx.full((n_grades - 2,), 0.5)

    def cutpoints(self):
        gaps = nn.softplus(self.cut_gaps.astype(mx.float32))
        return mx.concatenate([self.cut_first.astype(mx.float32),
                               self.cut_first.astype(mx.float32) + mx.cumsum(gaps)])

    def __call__(self, x):
        s = self.trunk(x).squeeze(-1).astype(mx.float32)
        cdf = mx.sigmoid(self.cutpoints()[None, :] - s[:, None])
        b = s.shape[0]
        cdf = mx.concatenate([mx.zeros((b, 1)), cdf, mx.ones((b, 1))], axis=1)
        return mx.maximum(cdf[:, 1:] - cdf[:, :-1], 1e-7)


def nll(probs, y):
    return -mx.mean(mx.log(mx.take_along_axis(probs, y[:, None], axis=1)))


def half_copy(master, work):
    work.update(tree_map(lambda p: p.astype(mx.float16), master.parameters()))


def scaled_loss(work, xb, yb):
    return nll(work(xb.astype(mx.float16)), yb) * LOSS_SCALE


def evaluate(model, X, y):
    p = model(X)
    loss = nll(p, y).item()
    pred = mx.argmax(p, axis=1)
    acc = mx.mean(pred == y).item() * 100
    mae = mx.mean(mx.abs(pred - y).astype(mx.float32)).item()
    return loss, acc, mae


def main():
    t0 = time.time()
    rng = np.random.default_rng(11)
    Xtr, ytr = make_estate(9000, rng)
    Xva, yva = make_estate(2000, rng)
    mu, sd = Xtr.mean(0), Xtr.std(0)
    Xtr, Xva = (Xtr - mu) / sd, (Xva - mu) / sd
    Xtr_m, ytr_m, Xva_m, yva_m = map(mx.array, (Xtr, ytr, Xva, yva))

    prior = np.bincount(ytr, minlength=4) / len(ytr)
    base_nll = -np.mean(np.log(prior[yva]))
    base_acc = np.mean(yva == prior.argmax()) * 100
    base_mae = np.mean(np.abs(yva - prior.argmax()))
    print("tea estate rounds: train %d valid %d | grade mix %s"
          % (len(ytr), len(yva), " ".join("%s=%.0f%%" % (g, 100 * q) for g, q in zip(GRADES, prior))))
    print("baseline (grade frequencies): nll %.4f  acc %.1f%%  grade-MAE %.3f" % (base_nll, base_acc, base_mae))

    mx.random.seed(3)
    master = OrdinalNet(9, 64, 4)
    work = OrdinalNet(9, 64, 4)
    half_copy(master, work)
    mx.eval(master.parameters(), work.parameters())
    grad_fn = nn.value_and_grad(work, scaled_loss)

    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, 3e-4, WARMUP),
         optim.cosine_decay(3e-4, STAGE1_UPDATES - WARMUP, 3e-5)], [WARMUP])
    opt = optim.Lion(learning_rate=sched, betas=[0.9, 0.99], weight_decay=0.01)

    order = rng.permutation(len(ytr))
    cursor = 0

    def next_batch():
        nonlocal order, cursor
        if cursor + BATCH > len(order):
            order, cursor = rng.permutation(len(ytr)), 0
        idx = mx.array(order[cursor:cursor + BATCH])
        cursor += BATCH
        return Xtr_m[idx], ytr_m[idx]

    def accumulate():
        total, acc_g = 0.0, None
        for _ in range(MICRO):
            xb, yb = next_batch()
            lval, g = grad_fn(work, xb, yb)
            g = tree_map(lambda a: a.astype(mx.float32) / (LOSS_SCALE * MICRO), g)
            acc_g = g if acc_g is None else tree_map(mx.add, acc_g, g)
            total += lval.item() / (LOSS_SCALE * MICRO)
        return total, acc_g

    l0, a0, m0 = evaluate(master, Xva_m, yva_m)
    print("stage 1 | update    0 | lr 0.00e+00 | train nll    -   | valid nll %.4f acc %5.1f%% grade-MAE %.3f"
          % (l0, a0, m0))
    window = []
    for u in range(1, STAGE1_UPDATES + 1):
        lr_now = float(sched(opt.step))
        loss, grads = accumulate()
        if u == 1:
            flat = tree_flatten(grads)
            finite = all(bool(mx.all(mx.isfinite(v)).item()) for _, v in flat)
            dts = sorted({str(v.dtype) for _, v in flat})
            print("grad check: %d leaves, dtypes %s, finite=%s, work dtype %s, lr at this update %.1e"
                  % (len(flat), dts, finite, work.trunk.layers[0].weight.dtype, lr_now))
        opt.update(master, grads)
        half_copy(master, work)
        mx.eval(master.parameters(), work.parameters(), opt.state)
        window.append(loss)
        if u in (1, 50, 100) or u % 200 == 0:
            vl, va, vm = evaluate(master, Xva_m, yva_m)
            print("stage 1 | update %4d | lr %.2e | train nll %.4f | valid nll %.4f acc %5.1f%% grade-MAE %.3f"
                  % (u, lr_now, sum(window) / len(window), vl, va, vm))
            window = []

    before = evaluate(master, Xva_m, yva_m)
    path = os.path.join(tempfile.mkdtemp(), "round_grader.safetensors")
    master.save_weights(path)
    del master, opt
    master = OrdinalNet(9, 64, 4)
    master.load_weights(path)
    mx.eval(master.parameters())
    after = evaluate(master, Xva_m, yva_m)
    print("checkpoint %s reloaded: valid nll %.6f -> %.6f" % (os.path.basename(path), before[0], after[0]))

    trunk_before = [np.array(v) for _, v in tree_flatten(master.trunk.parameters())]
    master.trunk.freeze()
    work.trunk.freeze()
    half_copy(master, work)
    grad_fn = nn.value_and_grad(work, scaled_loss)
    opt2 = optim.Lion(learning_rate=1e-3, betas=[0.9, 0.99])
    print("stage 2: trunk frozen, trainable leaves %s"
          % [k for k, _ in tree_flatten(master.trainable_parameters())])
    cuts_start = np.array(master.cutpoints())
    window = []
    for u in range(1, STAGE2_UPDATES + 1):
        loss, grads = accumulate()
        opt2.update(master, grads)
        half_copy(master, work)
        mx.eval(master.parameters(), work.parameters(), opt2.state)
        window.append(loss)
        if u % 100 == 0:
            vl, va, vm = evaluate(master, Xva_m, yva_m)
            print("stage 2 | update %4d | lr 1.00e-03 | train nll %.4f | valid nll %.4f acc %5.1f%% grade-MAE %.3f"
                  % (u, sum(window) / len(window), vl, va, vm))
            window = []
    trunk_after = [np.array(v) for _, v in tree_flatten(master.trunk.parameters())]
    drift = max(float(np.max(np.abs(a - b))) for a, b in zip(trunk_after, trunk_before))
    print("cut-points [%s] -> [%s], trunk max change %.1f"
          % (" ".join("%.3f" % c for c in cuts_start),
             " ".join("%.3f" % c for c in np.array(master.cutpoints())), drift))

    vl, va, vm = evaluate(master, Xva_m, yva_m)
    pred = np.array(mx.argmax(master(Xva_m), axis=1))
    recall = [100 * np.mean(pred[yva == k] == k) for k in range(4)]
    print("final: valid nll %.4f (baseline %.4f)  acc %.1f%% (baseline %.1f%%)  grade-MAE %.3f (baseline %.3f)"
          % (vl, base_nll, va, base_acc, vm, base_mae))
    print("recall by grade: %s" % "  ".join("%s %.0f%%" % (g, r) for g, r in zip(GRADES, recall)))
    print("master dtype %s, done in %.1fs" % (master.trunk.layers[0].weight.dtype, time.time() - t0))


if __name__ == "__main__":
    main()
