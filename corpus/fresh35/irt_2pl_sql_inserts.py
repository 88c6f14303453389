# 2PL item response theory model fitted to simulated quiz answers.
# Each student has an ability theta, each item a difficulty b and a
# discrimination a (softplus of a raw value). P(correct) = sigmoid(a * (theta - b)).
# The log is written as SQL INSERT statements so it can be piped into sqlite.
import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

mx.random.seed(3)

rng = np.random.default_rng(11)
N_STUDENTS, N_ITEMS = 600, 40
true_theta = rng.normal(0, 1, N_STUDENTS).astype(np.float32)
true_b = rng.normal(0, 1, N_ITEMS).astype(np.float32)
true_a = rng.uniform(0.5, 2.0, N_ITEMS).astype(np.float32)

# each student answers a random 60% subset of the items
pairs = [(s, i) for s in range(N_STUDENTS) for i in range(N_ITEMS) if rng.random() < 0.6]
pairs = np.array(pairs, dtype=np.int32)
logit = true_a[pairs[:, 1]] * (true_theta[pairs[:, 0]] - true_b[pairs[:, 1]])
y = (rng.random(len(pairs)) < 1 / (1 + np.exp(-logit))).astype(np.float32)
perm = rng.permutation(len(pairs))
n_val = len(pairs) // 6
val_idx, tr_idx = perm[:n_val], perm[n_val:]


class IRT2PL(nn.Module):
    def __init__(self):
        super().__init__()
        self.theta = nn.Embedding(N_STUDENTS, 1)
        self.b = nn.Embedding(N_ITEMS, 1)
        self.a_raw = nn.Embedding(N_ITEMS, 1)
        # small random start: with theta = b = 0 every logit is 0 and the
        # discriminations would get exactly zero gradient on the first step
        self.theta.weight = 0.1 * mx.random.normal((N_STUDENTS, 1))
        self.b.weight = 0.1 * mx.random.normal((N_ITEMS, 1))
        self.a_raw.weight = mx.full((N_ITEMS, 1), 0.5)

    def __call__(self, s, i):
        a = nn.softplus(self.a_raw(i))[:, 0]
        return a * (self.theta(s)[:, 0] - self.b(i)[:, 0])


def loss_fn(model, s, i, t):
    z = model(s, i)
    nll = nn.losses.binary_cross_entropy(z, t, with_logits=True, reduction="mean")
    # N(0,1) prior on abilities keeps the latent scale identified
    prior = 0.5 * mx.mean(model.theta.weight ** 2) * (N_STUDENTS / len(tr_idx))
    return nll + prior


def auc(scores, labels):
    order = np.argsort(scores)
    ranks = np.empty(len(scores))
    ranks[order] = np.arange(1, len(scores) + 1)
    pos = labels == 1
    n_pos, n_neg = pos.sum(), (~pos).sum()
    return (ranks[pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)


model = IRT2PL()
opt = optim.SGD(learning_rate=0.5, momentum=0.9)
vg = nn.value_and_grad(model, loss_fn)

S_all, I_all, Y_all = mx.array(pairs[:, 0]), mx.array(pairs[:, 1]), mx.array(y)
vs, vi, vy = S_all[mx.array(val_idx)], I_all[mx.array(val_idx)], Y_all[mx.array(val_idx)]

# one-off gradient check: every leaf must receive a signal
_, g0 = vg(model, S_all[:4096], I_all[:4096], Y_all[:4096])
from mlx.utils import tree_flatten
gmax = {k: float(mx.abs(v).max()) for k, v in tree_flatten(g0)}
print("-- grad check: " + ", ".join(f"{k}={v:.2e}" for k, v in gmax.items()))
print("CREATE TABLE IF NOT EXISTS irt_log (epoch INTEGER, train_obj REAL, val_nll REAL, val_auc REAL, "
      "theta_corr REAL, b_corr REAL, a_corr REAL, secs REAL);")

t0 = time.time()
BATCH = 512
for epoch in range(1, 31):
    order = rng.permutation(tr_idx)
    tot, nb = 0.0, 0
    for k in range(0, len(order), BATCH):
        idx = mx.array(order[k:k + BATCH])
        l, g = vg(model, S_all[idx], I_all[idx], Y_all[idx])
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state, l)
        tot += l.item(); nb += 1
    if epoch in (1, 2, 3) or epoch % 3 == 0:
        zv = model(vs, vi)
        vnll = nn.losses.binary_cross_entropy(zv, vy, with_logits=True).item()
        vauc = auc(np.array(zv), np.array(vy))
        th = np.array(model.theta.weight[:, 0]); bb = np.array(model.b.weight[:, 0])
        aa = np.array(nn.softplus(model.a_raw.weight[:, 0]))
        c_t = np.corrcoef(th, true_theta)[0, 1]; c_b = np.corrcoef(bb, true_b)[0, 1]
        c_a = np.corrcoef(aa, true_a)[0, 1]
        print(f"INSERT INTO irt_log VALUES ({epoch}, {tot / nb:.5f}, {vnll:.5f}, {vauc:.4f}, "
              f"{c_t:.3f}, {c_b:.3f}, {c_a:.3f}, {time.time() - t0:.1f});")
print("-- done: " + time.strftime("%H:%M:%S"))
