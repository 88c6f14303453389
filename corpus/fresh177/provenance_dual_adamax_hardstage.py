"""Match auction-catalogue lots to museum accession records (dual encoder).

Stage 'mixed' draws in-batch negatives from anywhere; stage 'workshop' builds
every batch from only two workshops, so the negatives are near-duplicates and
the contrastive loss jumps up before it settles again.  Step counters restart
per stage.  Learning rate warms up from exactly 0.
"""
import logging
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

logging.basicConfig(format="%(asctime)s %(levelname)s %(message)s", level=logging.INFO)
log = logging.getLogger("provenance")

rng = np.random.default_rng(11)
mx.random.seed(11)
N_WS, PER_WS, Z = 24, 30, 10
D_AUC, D_MUS = 14, 18

ws_centre = rng.normal(0, 1.0, (N_WS, Z))
A = rng.normal(0, 1 / math.sqrt(Z), (Z, D_AUC))
Bm = rng.normal(0, 1 / math.sqrt(Z), (Z, D_MUS))

ws_id = np.repeat(np.arange(N_WS), PER_WS)
z = ws_centre[ws_id] + 0.55 * rng.normal(size=(N_WS * PER_WS, Z))
auction = np.tanh(z @ A) + 0.15 * rng.normal(size=(len(z), D_AUC))
museum = (z @ Bm) ** 2 * 0.3 + z @ Bm + 0.15 * rng.normal(size=(len(z), D_MUS))
auction = ((auction - auction.mean(0)) / auction.std(0)).astype(np.float32)
museum = ((museum - museum.mean(0)) / museum.std(0)).astype(np.float32)

# hold out 160 items, spread over all workshops
order = rng.permutation(len(z))
test_idx, train_idx = np.sort(order[:160]), np.sort(order[160:])
Xa, Xm = mx.array(auction), mx.array(museum)


class Tower(nn.Module):
    def __init__(self, d_in, d_out=16):
        super().__init__()
        self.l1 = nn.Linear(d_in, 64)
        self.l2 = nn.Linear(64, d_out)

    def __call__(self, x):
        h = self.l2(nn.gelu(self.l1(x)))
        return h / mx.sqrt(mx.sum(h * h, axis=-1, keepdims=True) + 1e-8)


class DualEncoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.auc = Tower(D_AUC)
        self.mus = Tower(D_MUS)
        self.log_tau = mx.array(math.log(0.2))

    def __call__(self, xa, xm):
        ea, em = self.auc(xa), self.mus(xm)
        return (ea @ em.T) / mx.exp(self.log_tau)


def info_nce(model, xa, xm):
    logits = model(xa, xm)
    lab = mx.arange(logits.shape[0])
    l_a2m = nn.losses.cross_entropy(logits, lab, reduction="mean")
    l_m2a = nn.losses.cross_entropy(logits.T, lab, reduction="mean")
    return (l_a2m + l_m2a) / 2, (l_a2m, l_m2a)


def retrieval(model, idx):
    ia = mx.array(idx)
    sims = model(Xa[ia], Xm[ia])  # rows: auction lots, cols: museum records
    n = len(idx)
    true = mx.diag(sims)[:, None]
    rank = mx.sum(sims > true, axis=1) + 1
    r1 = mx.mean(rank == 1).item()
    mrr = mx.mean(1.0 / rank).item()
    return r1, mrr, 1.0 / n, sum(1.0 / k for k in range(1, n + 1)) / n


model = DualEncoder()
WARM, TOTAL = 60, 520
sched = optim.join_schedules(
    [optim.linear_schedule(0.0, 2e-3, WARM), optim.cosine_decay(2e-3, TOTAL - WARM, 1e-4)],
    [WARM],
)
opt = optim.Adamax(learning_rate=sched)
vg = nn.value_and_grad(model, lambda m, a, b: info_nce(m, a, b))

# gradient audit before training: every trainable leaf must get a signal
(_, _), g0 = vg(model, Xa[:32], Xm[:32])
from mlx.utils import tree_flatten
zero = [k for k, v in tree_flatten(g0) if mx.abs(v).max().item() == 0.0]
log.info("grad audit: %d tensors, %d with all-zero grad %s", len(tree_flatten(g0)), len(zero), zero)

BATCH = 48
train_ws = ws_id[train_idx]


def mixed_batch():
    return rng.choice(train_idx, BATCH, replace=False)


def workshop_batch():
    pick = rng.choice(N_WS, 2, replace=False)
    pool = train_idx[np.isin(train_ws, pick)]
    return rng.choice(pool, min(BATCH, len(pool)), replace=False)


stages = [("mixed", 260, mixed_batch), ("workshop", 260, workshop_batch)]
t0 = time.time()
r1, mrr, r1_rand, mrr_rand = retrieval(model, test_idx)
log.info("before training  held-out R@1=%.3f MRR=%.3f  (chance R@1=%.4f MRR=%.4f)", r1, mrr, r1_rand, mrr_rand)
gstep = 0
for name, n_steps, sampler in stages:
    run = []
    for step in range(1, n_steps + 1):
        b = mx.array(sampler())
        (loss, (la, lm)), grads = vg(model, Xa[b], Xm[b])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss, la, lm)
        gstep += 1
        run.append(loss.item())
        if step % 65 == 0:
            r1, mrr, _, _ = retrieval(model, test_idx)
            log.info(
                "stage=%s step=%d/%d lr=%.2e nce=%.4f a2m=%.4f m2a=%.4f tau=%.3f | R@1=%.3f MRR=%.3f",
                name, step, n_steps, opt.learning_rate.item(), float(np.mean(run[-65:])),
                la.item(), lm.item(), math.exp(model.log_tau.item()), r1, mrr,
            )
r1, mrr, r1_rand, mrr_rand = retrieval(model, test_idx)
log.info("final held-out (160 lots) R@1=%.3f MRR=%.3f vs chance R@1=%.4f MRR=%.4f  [%.1fs]",
         r1, mrr, r1_rand, mrr_rand, time.time() - t0)
