"""Vineyard leafroll survey: flag a ROW when any vine in it carries the virus.

Multiple-instance learning: each row is a bag of 6-16 vines (6 field readings per
vine), only the row label is known. A shared vine scorer feeds a log-sum-exp pool
    pool = (1/r) * (logsumexp(r * s_i over real vines) - log n)
whose sharpness r is learned (r -> large: max pool, r -> 0: mean pool). A plain
mean-pool twin is trained beside it as the reference. Stage 2 freezes the vine
scorer on purpose and re-fits only the pool sharpness and the row bias.
"""
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(31)
mx.random.seed(31)
MAXV, D = 16, 6


def make_rows(n_rows):
    xs = np.zeros((n_rows, MAXV, D), np.float32)
    mask = np.zeros((n_rows, MAXV), bool)
    vine_y = np.zeros((n_rows, MAXV), np.float32)
    row_y = np.zeros(n_rows, np.float32)
    for i in range(n_rows):
        n = rng.integers(6, MAXV + 1)
        site = rng.normal(0, 0.6, D)                 # row-level soil/exposure shift
        v = rng.normal(0, 1, (n, D)) + site
        p_inf = 0.07 if rng.random() < 0.5 else 0.0  # about half the rows are clean
        inf = rng.random(n) < p_inf
        if p_inf > 0 and not inf.any():
            inf[rng.integers(n)] = True
        # infected vines: reddening up, chlorophyll down, sugar down, leaf curl up
        v[inf] += np.array([1.9, -1.4, -0.9, 0.0, 1.6, 0.3])
        xs[i, :n], mask[i, :n], vine_y[i, :n] = v, True, inf
        row_y[i] = float(inf.any())
    return xs, mask, vine_y, row_y


class VineScorer(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(D, 32)
        self.l2 = nn.Linear(32, 32)
        self.l3 = nn.Linear(32, 1)

    def __call__(self, x):
        return self.l3(nn.tanh(self.l2(nn.tanh(self.l1(x))))).squeeze(-1)


class RowModel(nn.Module):
    def __init__(self, pool):
        super().__init__()
        self.pool = pool
        self.scorer = VineScorer()
        self.bias = mx.zeros((1,))
        self.rho = mx.array([0.0])  # sharpness r = softplus(rho) + 0.1

    def sharpness(self):
        return nn.softplus(self.rho) + 0.1

    def __call__(self, x, mask):
        s = self.scorer(x)
        n = mx.sum(mask, axis=1).astype(mx.float32)
        if self.pool == "lse":
            r = self.sharpness()
            z = mx.where(mask, r * s, mx.array(-mx.inf))
            pooled = (mx.logsumexp(z, axis=1) - mx.log(n)) / r
        else:
            pooled = mx.sum(mx.where(mask, s, 0.0), axis=1) / n
        return pooled + self.bias, s


def loss_fn(model, x, mask, y):
    logit, _ = model(x, mask)
    return mx.mean(nn.losses.binary_cross_entropy(logit, y, with_logits=True))


def auc(score, label):
    order = np.argsort(score)
    ranks = np.empty(len(score))
    ranks[order] = np.arange(1, len(score) + 1)
    pos = label > 0.5
    npos, nneg = pos.sum(), (~pos).sum()
    return (ranks[pos].sum() - npos * (npos + 1) / 2) / (npos * nneg)


def report(model, data):
    x, mask, vine_y, row_y = data
    logit, s = model(mx.array(x), mx.array(mask))
    mx.eval(logit, s)
    logit, s = np.array(logit), np.array(s)
    acc = ((logit > 0) == (row_y > 0.5)).mean() * 100
    vine_auc = auc(s[mask], vine_y[mask]) * 100
    ce = np.mean(np.logaddexp(0, logit) - row_y * logit)
    return ce, acc, vine_auc


def train(model, opt, data, val_d, steps, batch, tag):
    x, mask, _, y = data
    vg = nn.value_and_grad(model, loss_fn)
    n = len(y)
    for step in range(1, steps + 1):
        idx = rng.integers(0, n, batch)
        loss, grads = vg(model, mx.array(x[idx]), mx.array(mask[idx]), mx.array(y[idx]))
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        if step % 100 == 0:
            ce, acc, vauc = report(model, val_d)
            sh = f"{model.sharpness().item():.2f}" if model.pool == "lse" else "-"
            print(f"| {tag} | {step} | {model.pool} | {loss.item():.4f} | {ce:.4f}"
                  f" | {acc:.1f}% | {vauc:.1f}% | {sh} |")


def main():
    t0 = time.perf_counter()
    train_d, val_d = make_rows(1200), make_rows(400)
    print(f"rows: train {len(train_d[3])} (positive {train_d[3].mean() * 100:.1f}%),"
          f" val {len(val_d[3])}; vines per row 6-16; infected vines"
          f" {train_d[2][train_d[1]].mean() * 100:.1f}%")
    print("chance row accuracy 50.0% | chance vine AUC 50.0% | vine labels never used")

    lse, mean = RowModel("lse"), RowModel("mean")
    mx.eval(lse.parameters(), mean.parameters())

    # gradient audit on one batch
    g = nn.value_and_grad(lse, loss_fn)(lse, mx.array(train_d[0][:32]),
                                        mx.array(train_d[1][:32]),
                                        mx.array(train_d[3][:32]))[1]
    print("grad audit:", ", ".join(f"{k}={mx.abs(v).max().item():.1e}"
                                   for k, v in tree_flatten(g)))

    print()
    print("| stage | step | pool | batch_bce | val_bce | val_row_acc | val_vine_auc | sharpness |")
    print("|---|---|---|---|---|---|---|---|")
    for name, model in (("lse", lse), ("mean", mean)):
        sched = optim.step_decay(1e-3, 0.5, 200)
        opt = optim.Lion(learning_rate=sched, weight_decay=0.0)
        train(model, opt, train_d, val_d, 600, 48, "A")

    # stage 2: scorer frozen on purpose, only rho and bias move
    frozen_before = {k: np.array(v) for k, v in tree_flatten(lse.scorer.parameters())}
    lse.scorer.freeze()
    trainable = [k for k, _ in tree_flatten(lse.trainable_parameters())]
    print(f"\nstage B trainable: {trainable}")
    opt = optim.Lion(learning_rate=3e-3)
    train(lse, opt, train_d, val_d, 200, 96, "B")
    drift = max(np.abs(np.array(v) - frozen_before[k]).max()
                for k, v in tree_flatten(lse.scorer.parameters()))
    print(f"\nfrozen scorer max |delta| = {drift:.1f}")
    for name, model in (("lse", lse), ("mean", mean)):
        ce, acc, vauc = report(model, val_d)
        print(f"final {name:4s}: val_bce {ce:.4f}  row acc {acc:.1f}%  vine AUC {vauc:.1f}%")
    print(f"wall {time.perf_counter() - t0:.1f}s")


if __name__ == "__main__":
    main()
