# Pairwise-preference reward model (RLHF style) on synthetic "responses".
# Each response is a 24-d feature vector; a hidden utility decides which of two
# responses a rater prefers, but 15% of the preference labels are flipped.
# Reward MLP r(x) (bias-free last layer: a shared offset cancels in r_w - r_l),
# loss = -log sigmoid(r_chosen - r_rejected), optimizer Lion.
# Report: one pipe-separated key:value line per epoch.
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten

rs = np.random.RandomState(2024)
D = 24
w_true = rs.randn(D).astype(np.float32)


def utility(x):
    return x @ w_true * 0.4 + np.tanh(x[:, 0] * x[:, 1]) * 1.5 - 0.3 * x[:, 2] ** 2


def make_pairs(n, flip):
    a = rs.randn(n, D).astype(np.float32)
    b = rs.randn(n, D).astype(np.float32)
    pref_a = utility(a) > utility(b)
    noisy = rs.rand(n) < flip
    pref_a = np.where(noisy, ~pref_a, pref_a)
    chosen = np.where(pref_a[:, None], a, b)
    rejected = np.where(pref_a[:, None], b, a)
    return mx.array(chosen), mx.array(rejected)


tr_c, tr_r = make_pairs(6000, 0.15)
va_c, va_r = make_pairs(1500, 0.0)
pool = rs.randn(400, D).astype(np.float32)
pool_u = utility(pool)


class RewardModel(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(D, 64)
        self.l2 = nn.Linear(64, 64)
        self.head = nn.Linear(64, 1, bias=False)

    def __call__(self, x):
        return self.head(nn.gelu(self.l2(nn.gelu(self.l1(x))))).squeeze(-1)


def bt_loss(model, c, r):
    return -mx.mean(nn.log_sigmoid(model(c) - model(r)))


def kendall_tau(a, b):
    n = len(a)
    i, j = np.triu_indices(n, 1)
    s = np.sign(a[i] - a[j]) * np.sign(b[i] - b[j])
    return s.mean()


mx.random.seed(3)
model = RewardModel()
mx.eval(model.parameters())
opt = optim.Lion(learning_rate=3e-4, weight_decay=1e-2)
step_fn = nn.value_and_grad(model, bt_loss)

_, g = step_fn(model, tr_c[:128], tr_r[:128])
zero = [k for k, v in tree_flatten(g) if mx.abs(v).max().item() == 0]
print("grad-check|leaves:%d|zero:%s" % (len(tree_flatten(g)), zero or "none"))

B = 128
t0 = time.time()
for epoch in range(1, 13):
    perm = rs.permutation(tr_c.shape[0])
    tot, nb = 0.0, 0
    for s in range(0, len(perm), B):
        idx = mx.array(perm[s:s + B])
        loss, g = step_fn(model, tr_c[idx], tr_r[idx])
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state)
        tot += loss.item()
        nb += 1
    margin = model(va_c) - model(va_r)
    acc = mx.mean(margin > 0).item()
    vloss = -mx.mean(nn.log_sigmoid(margin)).item()
    tau = kendall_tau(np.array(model(mx.array(pool))), pool_u)
    print(f"epoch:{epoch:02d}|train_bt:{tot / nb:.4f}|val_bt:{vloss:.4f}|val_pair_acc:{acc:.3f}|kendall_tau:{tau:.3f}|t:{time.time() - t0:.1f}s")
