"""Tannery hide grading: masked-cell pretraining on unlabelled hide
measurements, then a linear probe on a small graded sample.

The batch collator hides a random share of the cells of every row (a
learned per-column fill value plus a visibility flag goes in); the share
grows in three stages (15% -> 30% -> 50%), so the reconstruction loss on
hidden cells steps up at every stage change.  The encoder is then frozen
and a linear read-out is fitted on 600 graded hides.
Output imitates journalctl short-precise lines.
"""

import datetime
import os
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

N_COL = 10
HOST = "tanyard-07"
PID = os.getpid()


def jlog(unit, msg):
    now = datetime.datetime.now()
    stamp = now.strftime("%b %d %H:%M:%S") + f".{now.microsecond:06d}"
    print(f"{stamp} {HOST} {unit}[{PID}]: {msg}", flush=True)


def make_hides(rng, n):
    z = rng.normal(size=(n, 3))            # thickness / fibre tightness / damage
    W = np.array([[1.0, 0.2, 0.0], [0.9, -0.3, 0.1], [0.1, 1.0, 0.0],
                  [0.3, 0.8, -0.2], [0.0, 0.1, 1.0], [-0.2, 0.0, 0.9],
                  [0.6, 0.6, 0.0], [0.0, -0.7, 0.5], [0.8, 0.0, -0.4],
                  [0.2, 0.3, 0.7]])
    X = z @ W.T + 0.35 * rng.normal(size=(n, N_COL))
    X[:, 6] = np.tanh(X[:, 6]) * 2.0
    X[:, 9] = np.abs(X[:, 9])
    score = z[:, 0] * z[:, 1] - 1.2 * np.abs(z[:, 2]) + 0.3 * rng.normal(size=n)
    grade = np.digitize(score, [-1.2, 0.0])  # 0 = reject, 1 = split, 2 = full grain
    return X.astype(np.float32), grade.astype(np.int32)


class CellEncoder(nn.Module):
    def __init__(self, width=64):
        super().__init__()
        self.fill = mx.zeros((N_COL,))
        self.l1 = nn.Linear(2 * N_COL, width)
        self.l2 = nn.Linear(width, width)
        self.norm = nn.LayerNorm(width)

    def __call__(self, x, hidden):
        xin = mx.where(hidden, self.fill, x)
        h = mx.concatenate([xin, hidden.astype(x.dtype)], axis=-1)
        h = nn.gelu(self.l1(h))
        h = h + nn.gelu(self.l2(h))
        return self.norm(h)


class Reconstructor(nn.Module):
    def __init__(self, width=64):
        super().__init__()
        self.enc = CellEncoder(width)
        self.dec = nn.Linear(width, N_COL)

    def __call__(self, x, hidden):
        return self.dec(self.enc(x, hidden))


def collate(rows, share, rng):
    hidden = rng.random(rows.shape) < share
    # keep at least one visible and one hidden cell per row
    full = hidden.all(1)
    hidden[full, rng.integers(0, N_COL, full.sum())] = False
    none = ~hidden.any(1)
    hidden[none, rng.integers(0, N_COL, none.sum())] = True
    return mx.array(rows), mx.array(hidden)


def recon_loss(model, x, hidden):
    pred = model(x, hidden)
    w = hidden.astype(mx.float32)
    return mx.sum(w * (pred - x) ** 2) / mx.sum(w)


def mean_fill_loss(x, hidden, col_mean):
    w = hidden.astype(mx.float32)
    return (mx.sum(w * (col_mean - x) ** 2) / mx.sum(w)).item()


def fit_probe(features_tr, y_tr, features_va, y_va, steps=400, lr=0.5):
    head = nn.Linear(features_tr.shape[1], 3)
    opt = optim.SGD(learning_rate=lr, momentum=0.9)

    def loss_fn(m, f, y):
        return mx.mean(nn.losses.cross_entropy(m(f), y))

    lvg = nn.value_and_grad(head, loss_fn)
    for _ in range(steps):
        loss, g = lvg(head, features_tr, y_tr)
        opt.update(head, g)
        mx.eval(head.parameters(), opt.state)
    acc = mx.mean(mx.argmax(head(features_va), -1) == y_va).item()
    ce = loss_fn(head, features_va, y_va).item()
    return acc, ce


def main():
    t0 = time.time()
    mx.random.seed(5)
    rng = np.random.default_rng(31)
    X_un, _ = make_hides(rng, 8000)
    X_tr, y_tr = make_hides(rng, 600)
    X_va, y_va = make_hides(rng, 1500)
    mu, sd = X_un.mean(0), X_un.std(0)
    X_un, X_tr, X_va = [(a - mu) / sd for a in (X_un, X_tr, X_va)]
    col_mean = mx.zeros((N_COL,))
    jlog("systemd", "Started hide-grading pretrain job.")
    jlog("tanpre", f"unlabelled={len(X_un)} graded={len(X_tr)} held-out={len(X_va)} "
         f"cols={N_COL} grade shares={np.bincount(y_va, minlength=3) / len(y_va)}")

    stages = [(0.15, 300), (0.30, 300), (0.50, 300)]
    total = sum(s for _, s in stages)
    warm = 60
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, 3e-3, warm),
         optim.cosine_decay(3e-3, total - warm, end=1e-4)], [warm])
    model = Reconstructor()
    mx.eval(model.parameters())
    opt = optim.AdamW(learning_rate=sched, weight_decay=1e-4)
    lvg = nn.value_and_grad(model, recon_loss)

    xv_held = {}
    for share, _ in stages:
        xv_held[share] = collate(X_va, share, np.random.default_rng(1000 + int(share * 100)))

    _, g0 = lvg(model, *collate(X_un[:128], 0.15, rng))
    nz = sum(int(mx.any(v != 0).item()) for _, v in tree_flatten(g0))
    jlog("tanpre", f"gradient audit: {nz}/{len(tree_flatten(g0))} leaves non-zero")

    step = 0
    for stage_no, (share, n_steps) in enumerate(stages, 1):
        ref = mean_fill_loss(*xv_held[share], col_mean)
        jlog("tanpre", f"stage {stage_no}: hiding {int(share * 100)}% of cells; "
             f"column-mean fill gives held-out mse {ref:.3f}")
        run = []
        for i in range(n_steps):
            idx = rng.integers(0, len(X_un), 128)
            x, hidden = collate(X_un[idx], share, rng)
            loss, grads = lvg(model, x, hidden)
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            run.append(loss.item())
            step += 1
            if step == 1:
                jlog("tanpre", f"step 1 lr={opt.learning_rate.item():.1e} loss={run[-1]:.4f}")
            if (i + 1) % 150 == 0:
                held = recon_loss(model, *xv_held[share]).item()
                jlog("tanpre", f"step {step}/{total} share={share:.2f} "
                     f"lr={opt.learning_rate.item():.2e} hidden-cell mse train={np.mean(run[-150:]):.4f} "
                     f"held={held:.4f} (col-mean {ref:.3f})")

    jlog("tanpre", "pretraining finished; freezing encoder")
    model.freeze()
    enc = model.enc
    none_hidden = lambda a: mx.zeros(a.shape, dtype=mx.bool_)
    f_tr = enc(mx.array(X_tr), none_hidden(X_tr))
    f_va = enc(mx.array(X_va), none_hidden(X_va))
    ytr, yva = mx.array(y_tr), mx.array(y_va)

    majority = float(np.max(np.bincount(y_va, minlength=3)) / len(y_va))
    acc_raw, ce_raw = fit_probe(mx.array(X_tr), ytr, mx.array(X_va), yva)
    acc_enc, ce_enc = fit_probe(f_tr, ytr, f_va, yva)
    rand_enc = Reconstructor().enc
    mx.eval(rand_enc.parameters())
    acc_rnd, ce_rnd = fit_probe(rand_enc(mx.array(X_tr), none_hidden(X_tr)), ytr,
                                rand_enc(mx.array(X_va), none_hidden(X_va)), yva)
    jlog("tanprobe", f"majority grade          acc={majority:.3f}")
    jlog("tanprobe", f"linear on raw columns   acc={acc_raw:.3f} ce={ce_raw:.3f}")
    jlog("tanprobe", f"linear on random encoder acc={acc_rnd:.3f} ce={ce_rnd:.3f}")
    jlog("tanprobe", f"linear on pretrained    acc={acc_enc:.3f} ce={ce_enc:.3f}")
    jlog("systemd", f"hide-grading pretrain job: Deactivated successfully. "
         f"Consumed {time.process_time():.1f}s CPU time, {time.time() - t0:.1f}s wall.")


if __name__ == "__main__":
    main()
