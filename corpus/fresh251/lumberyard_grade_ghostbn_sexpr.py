"""Lumber yard: grade boards (select / no.1 / no.2 / cull) from raw mill-scanner readings.

The readings arrive un-scaled (ppm, percent, millimetres, kilograms ...), so the
first layer of the net is a batch-norm. The batch-norms are "ghost" batch-norms:
statistics are taken over virtual batches of 32 rows inside each 256-row batch.
Two-dimensional weights are trained with Muon, vectors with AdamW.
At the end the running statistics are re-estimated ("precise BN") with the
weights held constant.
Every report line is an S-expression.
"""
import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten, tree_map

FEATURES = ["moisture_pct", "density_kgm3", "knot_count", "knot_max_mm",
            "wane_mm", "bow_mm", "slope_of_grain_deg", "check_len_mm", "length_m"]
GRADES = ["select", "no1", "no2", "cull"]


def sexpr(head, **kv):
    parts = [head]
    for k, v in kv.items():
        key = k.replace("_", "-")
        if isinstance(v, float):
            parts.append(f"({key} {v:.4f})")
        elif isinstance(v, (list, tuple)):
            parts.append(f"({key} " + " ".join(str(x) for x in v) + ")")
        else:
            parts.append(f"({key} {v})")
    print("(" + " ".join(parts) + ")", flush=True)


def make_boards(n, rng):
    moisture = rng.normal(14.0, 3.0, n).clip(6, 30)
    density = rng.normal(520.0, 60.0, n)
    knots = rng.poisson(3.0, n).astype(np.float64)
    knot_max = np.where(knots > 0, rng.gamma(2.0, 9.0, n), 0.0)
    wane = rng.exponential(4.0, n)
    bow = rng.gamma(1.5, 2.5, n)
    slope = np.abs(rng.normal(0.0, 4.0, n))
    check = rng.exponential(30.0, n) * (moisture > 12)
    length = rng.uniform(2.4, 6.0, n)
    x = np.stack([moisture, density, knots, knot_max, wane, bow, slope, check, length], 1)
    # made-up grading rule with soft thresholds
    defect = (0.35 * knots + 0.05 * knot_max + 0.12 * wane + 0.25 * bow / np.sqrt(length)
              + 0.18 * slope + 0.012 * check + 0.08 * np.abs(moisture - 12.0)
              - 0.004 * (density - 520.0))
    logits = np.stack([-1.6 * defect + 3.0, -0.6 * defect + 2.0,
                       0.3 * defect + 0.0, 1.1 * defect - 4.0], 1)
    logits = logits / 0.3 + rng.gumbel(size=logits.shape)
    y = logits.argmax(1)
    return x.astype(np.float32), y.astype(np.int32)


class GhostBatchNorm(nn.Module):
    def __init__(self, dims, virtual=32, momentum=0.1, eps=1e-5):
        super().__init__()
        self.virtual = virtual
        self.momentum = momentum
        self.eps = eps
        self.weight = mx.ones((dims,))
        self.bias = mx.zeros((dims,))
        self.running_mean = mx.zeros((dims,))
        self.running_var = mx.ones((dims,))
        self.cumulative = False
        self.seen = 0
        self.freeze(keys=["running_mean", "running_var"], recurse=False)

    def reset_stats(self):
        self.running_mean = mx.zeros_like(self.running_mean)
        self.running_var = mx.zeros_like(self.running_var)
        self.seen = 0

    def __call__(self, x):
        if self.training:
            b, c = x.shape
            g = x.reshape(b // self.virtual, self.virtual, c)
            mean = g.mean(axis=1, keepdims=True)
            var = g.var(axis=1, keepdims=True)
            out = ((g - mean) * mx.rsqrt(var + self.eps)).reshape(b, c)
            batch_mean = mx.stop_gradient(mean.mean(axis=(0, 1)))
            batch_var = mx.stop_gradient(var.mean(axis=(0, 1)) * self.virtual / (self.virtual - 1))
            if self.cumulative:
                self.seen += 1
                w = 1.0 / self.seen
            else:
                w = self.momentum
            self.running_mean = (1 - w) * self.running_mean + w * batch_mean
            self.running_var = (1 - w) * self.running_var + w * batch_var
        else:
            out = (x - self.running_mean) * mx.rsqrt(self.running_var + self.eps)
        return self.weight * out + self.bias


class Grader(nn.Module):
    def __init__(self, n_in, hidden, n_out):
        super().__init__()
        self.bn_in = GhostBatchNorm(n_in)
        self.fc1 = nn.Linear(n_in, hidden)
        self.bn1 = GhostBatchNorm(hidden)
        self.fc2 = nn.Linear(hidden, hidden)
        self.bn2 = GhostBatchNorm(hidden)
        self.head = nn.Linear(hidden, n_out)

    def norms(self):
        return [self.bn_in, self.bn1, self.bn2]

    def __call__(self, x):
        h = self.bn_in(x)
        h = nn.silu(self.bn1(self.fc1(h)))
        h = nn.silu(self.bn2(self.fc2(h)))
        return self.head(h)


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def evaluate(model, x, y):
    was_training = model.training
    model.eval()
    logits = model(x)
    ce = nn.losses.cross_entropy(logits, y, reduction="mean")
    acc = (logits.argmax(axis=1) == y).mean()
    mx.eval(ce, acc)
    if was_training:
        model.train()
    return ce.item(), 100.0 * acc.item()


def main():
    rng = np.random.default_rng(251)
    mx.random.seed(251)
    xtr, ytr = make_boards(10240, rng)
    xva, yva = make_boards(4096, rng)

    # reference numbers computed before training
    counts = np.bincount(ytr, minlength=4)
    majority = 100.0 * (yva == counts.argmax()).mean()
    mu, sd = xtr.mean(0), xtr.std(0)
    centroids = np.stack([((xtr - mu) / sd)[ytr == k].mean(0) for k in range(4)])
    d = (((xva - mu) / sd)[:, None, :] - centroids[None]) ** 2
    nearest_mean = 100.0 * (d.sum(-1).argmin(1) == yva).mean()
    sexpr("data", train=len(ytr), valid=len(yva), features=len(FEATURES),
          class_counts=counts.tolist(), majority_acc_pct=float(majority),
          nearest_mean_acc_pct=float(nearest_mean))

    Xtr, Ytr = mx.array(xtr), mx.array(ytr)
    Xva, Yva = mx.array(xva), mx.array(yva)

    model = Grader(len(FEATURES), 96, 4)
    mx.eval(model.parameters())
    n_train = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
    n_stats = sum(v.size for _, v in tree_flatten(model.parameters())) - n_train
    sexpr("model", trainable=n_train, running_stats=n_stats, virtual_batch=32)

    ce0, acc0 = evaluate(model, Xva, Yva)
    sexpr("untrained", valid_ce=ce0, valid_acc_pct=acc0)

    batch, epochs = 256, 8
    steps_per_epoch = len(ytr) // batch
    total = steps_per_epoch * epochs
    warm = steps_per_epoch
    matrix_lr = optim.join_schedules(
        [optim.linear_schedule(0.0, 0.02, warm),
         optim.cosine_decay(0.02, total - warm, 0.002)], [warm])
    vector_lr = optim.join_schedules(
        [optim.linear_schedule(0.0, 3e-3, warm),
         optim.cosine_decay(3e-3, total - warm, 3e-4)], [warm])
    opt = optim.MultiOptimizer(
        [optim.Muon(learning_rate=matrix_lr, momentum=0.95),
         optim.AdamW(learning_rate=vector_lr, weight_decay=0.0)],
        [lambda path, p: p.ndim == 2])

    step_fn = nn.value_and_grad(model, loss_fn)
    model.train()

    # first-step gradient audit
    _, g = step_fn(model, Xtr[:batch], Ytr[:batch])
    leaves = tree_flatten(g)
    zero = [k for k, v in leaves if mx.abs(v).max().item() == 0.0]
    sexpr("grad-check", leaves=len(leaves), zero_leaves=len(zero))
    # the audit forward moved the running stats; start them afresh
    for bn in model.norms():
        bn.running_mean = mx.zeros_like(bn.running_mean)
        bn.running_var = mx.ones_like(bn.running_var)

    t0 = time.time()
    step = 0
    for epoch in range(1, epochs + 1):
        perm = mx.array(rng.permutation(len(ytr)).astype(np.int32))
        run = 0.0
        for i in range(steps_per_epoch):
            idx = perm[i * batch:(i + 1) * batch]
            loss, grads = step_fn(model, Xtr[idx], Ytr[idx])
            opt.update(model, grads)
            mx.eval(loss, model.state, opt.state)
            run += loss.item()
            step += 1
        va_ce, va_acc = evaluate(model, Xva, Yva)
        lr_now = opt.optimizers[0].learning_rate.item()
        sexpr("epoch", n=epoch, step=step, muon_lr=lr_now, train_ce=run / steps_per_epoch,
              valid_ce=va_ce, valid_acc_pct=va_acc, secs=round(time.time() - t0, 1))

    # precise-BN: re-estimate the running statistics with the weights held constant
    before = tree_map(lambda a: a, model.trainable_parameters())
    ce_b, acc_b = evaluate(model, Xva, Yva)
    for bn in model.norms():
        bn.reset_stats()
        bn.cumulative = True
    model.train()
    perm = rng.permutation(len(ytr)).astype(np.int32)
    for i in range(40):
        idx = mx.array(perm[i * batch:(i + 1) * batch])
        model(Xtr[idx])
        mx.eval(model.state)
    for bn in model.norms():
        bn.cumulative = False
    drift = max(mx.abs(a - b).max().item() for (_, a), (_, b) in
                zip(tree_flatten(model.trainable_parameters()), tree_flatten(before)))
    ce_a, acc_a = evaluate(model, Xva, Yva)
    sexpr("precise-bn", batches=40, weight_drift=drift, valid_ce_before=ce_b,
          valid_ce_after=ce_a, valid_acc_before_pct=acc_b, valid_acc_after_pct=acc_a)

    pred = np.array(model(Xva).argmax(axis=1))
    per = [round(100.0 * float((pred[yva == k] == k).mean()), 1) for k in range(4)]
    sexpr("done", grades=GRADES, recall_pct=per, final_valid_acc_pct=acc_a,
          majority_acc_pct=float(majority), nearest_mean_acc_pct=float(nearest_mean))


if __name__ == "__main__":
    main()
