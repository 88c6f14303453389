"""Seed-lot certification: a lot (bag) of 6..16 sampled seed packets fails if ANY packet
carries ergot. Only lot verdicts are recorded. Stage A: noisy-OR multiple-instance training.
Stage B: self-training on packet pseudo-labels drawn from the stage-A scorer."""
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(2026)
MAXP, NF = 16, 5


def make_lots(n):
    x = rng.normal(size=(n, MAXP, NF)).astype(np.float32)
    m = np.zeros((n, MAXP), np.float32)
    inst = np.zeros((n, MAXP), np.float32)
    for b in range(n):
        k = rng.integers(6, MAXP + 1)
        m[b, :k] = 1
        if rng.random() < 0.45:  # failed lot: 1..3 ergot packets
            j = rng.choice(k, rng.integers(1, 4), replace=False)
            inst[b, j] = 1
            # sclerotia count, dark-kernel share, weight deviation shift
            x[b, j, 0] += 1.8
            x[b, j, 1] += 1.4
            x[b, j, 3] -= 0.9
    x *= m[..., None]
    bag = (inst.max(1) > 0).astype(np.float32)
    flip = rng.random(n) < 0.03  # clerical slips in the lot register
    bag_obs = np.where(flip, 1 - bag, bag).astype(np.float32)
    return x, m, inst, bag, bag_obs


xtr, mtr, itr, btr_true, btr = make_lots(3000)
xte, mte, ite, bte, _ = make_lots(800)


class PacketScorer(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(NF, 32), nn.GELU(), nn.Linear(32, 32), nn.GELU(), nn.Linear(32, 1))

    def __call__(self, x):
        return self.net(x).squeeze(-1)


def log_lot_clean(model, x, m):
    # log P(no packet infected) = sum_i log(1 - p_i) = -sum_i softplus(s_i)
    return -(nn.softplus(model(x)) * m).sum(1)


def noisy_or_loss(model, x, m, y):
    lc = mx.minimum(log_lot_clean(model, x, m), -1e-6)
    log_fail = mx.log(-mx.expm1(lc))
    return -(y * log_fail + (1 - y) * lc).mean()


def packet_loss(model, x, m, t, w):
    s = model(x)
    ll = nn.losses.binary_cross_entropy(s, t, with_logits=True, reduction="none")
    return (ll * w * m).sum() / (w * m).sum()


def auc(scores, labels):
    order = np.argsort(scores)
    r = np.empty(len(scores))
    r[order] = np.arange(1, len(scores) + 1)
    npos = labels.sum()
    nneg = len(labels) - npos
    return float((r[labels > 0].sum() - npos * (npos + 1) / 2) / (npos * nneg))


def report(model):
    s = np.array(model(mx.array(xte)))
    mk = mte > 0
    pa = auc(s[mk], ite[mk])
    lot = (np.array(log_lot_clean(model, mx.array(xte), mx.array(mte))) < np.log(0.5)).astype(np.float32)
    return pa, float((lot == bte).mean())


mx.random.seed(11)
model = PacketScorer()
mx.eval(model.parameters())
BS = 64
base_lot = max(bte.mean(), 1 - bte.mean())
print(f"lots: train {len(btr)} (register slips {int((btr != btr_true).sum())}), test {len(bte)}; failed share {bte.mean():.2f}")
print(f"references: always-majority lot accuracy {base_lot:.3f}; random packet AUC 0.500")
print("stage\tepoch\tlr\tloss\tpacket_auc\tlot_acc")

# ---- stage A: noisy-OR bag likelihood, SGD with Nesterov momentum, constant lr
optA = optim.SGD(learning_rate=0.05, momentum=0.9, nesterov=True)
gA = nn.value_and_grad(model, noisy_or_loss)
t0 = time.time()
for epoch in range(1, 13):
    perm = rng.permutation(len(btr))
    tot = 0.0
    for i in range(0, len(perm), BS):
        j = perm[i:i + BS]
        loss, g = gA(model, mx.array(xtr[j]), mx.array(mtr[j]), mx.array(btr[j]))
        optA.update(model, g)
        mx.eval(model.parameters(), optA.state, loss)
        tot += loss.item() * len(j)
    if epoch in (1, 2, 4, 8, 12):
        pa, la = report(model)
        print(f"A\t{epoch}\t{0.05:.2e}\t{tot / len(perm):.4f}\t{pa:.3f}\t{la:.3f}")

# ---- stage B: packet pseudo-labels: top packet of each failed lot -> 1, every packet of a
# passed lot -> 0, other packets of failed lots ignored (weight 0). Fresh Adam, warm-up from 0.
s_tr = np.array(model(mx.array(xtr)))
s_tr = np.where(mtr > 0, s_tr, -1e9)
tgt = np.zeros_like(mtr)
wt = np.where(btr[:, None] > 0, 0.0, 1.0).astype(np.float32) * mtr
top = s_tr.argmax(1)
fail = np.where(btr > 0)[0]
tgt[fail, top[fail]] = 1.0
wt[fail, top[fail]] = 1.0
print(f"# pseudo-labels: {int(tgt.sum())} positive packets, {int(((wt > 0) & (tgt == 0)).sum())} negative, "
      f"{int(((mtr > 0) & (wt == 0)).sum())} ignored")
sched = optim.join_schedules([optim.linear_schedule(0.0, 1e-3, 40), optim.cosine_decay(1e-3, 560, 1e-5)], [40])
optB = optim.Adam(learning_rate=sched)
gB = nn.value_and_grad(model, packet_loss)
for epoch in range(1, 13):
    perm = rng.permutation(len(btr))
    tot = 0.0
    lr_first = None
    for i in range(0, len(perm), BS):
        j = perm[i:i + BS]
        if lr_first is None:
            lr_first = float(optB.learning_rate.item())
        loss, g = gB(model, mx.array(xtr[j]), mx.array(mtr[j]), mx.array(tgt[j]), mx.array(wt[j]))
        optB.update(model, g)
        mx.eval(model.parameters(), optB.state, loss)
        tot += loss.item() * len(j)
    if epoch in (1, 6, 12):
        pa, la = report(model)
        print(f"B\t{epoch}\t{lr_first:.2e}\t{tot / len(perm):.4f}\t{pa:.3f}\t{la:.3f}")

pa, la = report(model)
print(f"done in {time.time() - t0:.1f}s: packet AUC {pa:.3f}, lot accuracy {la:.3f} (majority {base_lot:.3f})")
