"""Lighthouse lamp-room maintenance: 5-way lamp fault class from 10 synthetic
telemetry readings, with a loss-prediction side module (Yoo & Kweon style)."""
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(7)
N_TRAIN, N_VAL, D, K = 6000, 1500, 10, 5


CENTRES = rng.normal(0, 1.0, (K, D)).astype(np.float32)


def telemetry(n):
    cls = rng.integers(0, K, n)
    age = rng.uniform(0, 1, n)
    centres = CENTRES
    x = centres[cls] * (0.6 + 0.8 * age[:, None]) + rng.normal(0, 1.0, (n, D))
    x[:, 0] = age * 2 - 1
    flip = rng.uniform(0, 1, n) < 0.04 + 0.10 * age
    cls = np.where(flip, rng.integers(0, K, n), cls)
    return x.astype(np.float32), cls.astype(np.int32)


xtr, ytr = telemetry(N_TRAIN)
xva, yva = telemetry(N_VAL)
mu, sd = xtr.mean(0), xtr.std(0) + 1e-6
xtr, xva = (xtr - mu) / sd, (xva - mu) / sd
Xtr, Ytr, Xva, Yva = map(mx.array, (xtr, ytr, xva, yva))


class LampNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.b1 = nn.Sequential(nn.Linear(D, 64), nn.SiLU())
        self.b2 = nn.Sequential(nn.Linear(64, 64), nn.SiLU())
        self.b3 = nn.Sequential(nn.Linear(64, 64), nn.SiLU())
        self.head = nn.Linear(64, K)
        # loss-prediction module: one small FC per tap, concatenated, then a scalar
        self.tap1 = nn.Linear(64, 16)
        self.tap2 = nn.Linear(64, 16)
        self.tap3 = nn.Linear(64, 16)
        self.lossnet = nn.Linear(48, 1)

    def __call__(self, x, cut_taps):
        h1 = self.b1(x)
        h2 = self.b2(h1)
        h3 = self.b3(h2) + h2
        logits = self.head(h3)
        taps = [h1, h2, h3]
        if cut_taps:
            taps = [mx.stop_gradient(t) for t in taps]
        z = mx.concatenate([nn.relu(self.tap1(taps[0])), nn.relu(self.tap2(taps[1])),
                            nn.relu(self.tap3(taps[2]))], axis=1)
        return logits, self.lossnet(z).squeeze(-1)


def ranking_loss(pred, target, margin=1.0):
    # pair the first half of the batch with the reversed second half
    n = pred.shape[0] // 2
    pi, pj = pred[:n], pred[n:2 * n][::-1]
    ti, tj = target[:n], target[n:2 * n][::-1]
    sign = mx.where(ti > tj, 1.0, -1.0)
    return mx.mean(mx.maximum(0.0, -sign * (pi - pj) + margin))


def objective(model, x, y, lam, cut_taps):
    logits, pred_loss = model(x, cut_taps)
    ce = nn.losses.cross_entropy(logits, y, reduction="none")
    rank = ranking_loss(pred_loss, mx.stop_gradient(ce))
    return ce.mean() + lam * rank, (ce.mean(), rank)


def spearman(a, b):
    ra = np.argsort(np.argsort(a)).astype(np.float64)
    rb = np.argsort(np.argsort(b)).astype(np.float64)
    return float(np.corrcoef(ra, rb)[0, 1])


def validate(model):
    logits, pred_loss = model(Xva, True)
    ce = nn.losses.cross_entropy(logits, Yva, reduction="none")
    acc = (mx.argmax(logits, 1) == Yva).mean()
    mx.eval(ce, acc, pred_loss)
    return ce.mean().item(), acc.item(), spearman(np.array(pred_loss), np.array(ce))


model = LampNet()
mx.eval(model.parameters())
loss_and_grad = nn.value_and_grad(model, objective)

# gradient audit before training: with lam = 0 the side module receives no gradient
(_, _), g0 = loss_and_grad(model, Xtr[:128], Ytr[:128], 0.0, False)
flat = tree_flatten(g0)
zero = [k for k, v in flat if float(mx.abs(v).max()) == 0.0]
print("# audit: %d grad leaves, %d exactly zero at lam=0 (%s)" % (len(flat), len(zero), ",".join(z.split(".")[0] for z in zero)))

prior = np.bincount(ytr, minlength=K) / N_TRAIN
prior_ce = float(-np.mean(np.log(prior[yva])))
v_ce, v_acc, v_rho = validate(model)
print("# baseline: class-prior CE %.4f nats, majority acc %.3f; untrained CE %.4f acc %.3f" % (prior_ce, prior.max(), v_ce, v_acc))

stages = [
    # name, epochs, peak lr, lam schedule, taps cut
    ("trunk", 6, 3e-3, "zero", False),
    ("joint", 6, 2e-3, "ramp", False),
    ("lossnet_only", 6, 1e-3, "full", True),
]
BS = 100
steps_per_epoch = N_TRAIN // BS
t0 = time.perf_counter()
for name, epochs, peak, lam_kind, cut in stages:
    total = epochs * steps_per_epoch
    warm = steps_per_epoch
    sched = optim.join_schedules([optim.linear_schedule(0.0, peak, warm),
                                  optim.cosine_decay(peak, total - warm, peak * 0.05)], [warm])
    opt = optim.Adam(learning_rate=sched)
    print("---")
    print("stage: %s" % name)
    print("  steps: %d" % total)
    print("  taps_detached: %s" % str(cut).lower())
    step = 0
    for ep in range(epochs):
        perm = mx.array(rng.permutation(N_TRAIN))
        sums = np.zeros(3)
        for b in range(steps_per_epoch):
            if lam_kind == "zero":
                lam = 0.0
            elif lam_kind == "ramp":
                lam = min(1.0, step / (total * 0.5))
            else:
                lam = 1.0
            idx = perm[b * BS:(b + 1) * BS]
            (obj, (ce, rank)), grads = loss_and_grad(model, Xtr[idx], Ytr[idx], lam, cut)
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, obj, ce, rank)
            sums += (obj.item(), ce.item(), rank.item())
            step += 1
        sums /= steps_per_epoch
        v_ce, v_acc, v_rho = validate(model)
        print("  - epoch: %d" % (ep + 1))
        print("    lr_now: %.2e" % opt.learning_rate.item())
        print("    lam: %.2f" % lam)
        print("    train: {objective: %.4f, ce: %.4f, rank_hinge: %.4f}" % tuple(sums))
        print("    val: {ce: %.4f, acc_pct: %.1f, loss_rank_rho: %+.3f}" % (v_ce, 100 * v_acc, v_rho))
print("---")
v_ce, v_acc, v_rho = validate(model)
print("final: {val_ce: %.4f, prior_ce: %.4f, val_acc_pct: %.1f, loss_rank_rho: %+.3f, secs: %.1f}" % (
    v_ce, prior_ce, 100 * v_acc, v_rho, time.perf_counter() - t0))
