"""Cold-store apple lots: two tasks from one shared trunk.

Task A: flesh firmness at outturn (N), Gaussian negative log-likelihood with a
learned per-lot log-variance head (so the printed loss can go below zero).
Task B: superficial scald at outturn (yes/no), logistic loss.

The shared trunk gets a two-task min-norm combination of the per-task
gradients (MGDA-UB, Sener & Koltun 2018, closed form for two tasks); each head
gets its own task gradient. Learning rate warms up from exactly 0.
"""
import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

mx.random.seed(7)

N_TRAIN, N_VAL, D = 6000, 1200, 7


def make_lots(n, key):
    k1, k2, k3 = mx.random.split(key, 3)
    # days in store, O2 %, CO2 %, temp C, harvest maturity index, DPA dip, calcium
    x = mx.random.normal((n, D), key=k1)
    days, o2, co2, temp, mat, dpa, ca = [x[:, i] for i in range(D)]
    firm = (62.0 - 6.0 * days - 3.0 * temp + 2.5 * ca - 4.0 * mat
            + 2.0 * mx.tanh(o2 * co2) - 1.5 * days * temp)
    noise_sd = 2.0 + 1.5 * mx.sigmoid(2.0 * days)        # older lots vary more
    firm = firm + noise_sd * mx.random.normal((n,), key=k2)
    logit = -0.8 + 1.4 * mat + 1.0 * days - 1.8 * dpa + 0.6 * temp
    scald = (mx.random.uniform(shape=(n,), key=k3) < mx.sigmoid(logit)).astype(mx.float32)
    return x, firm, scald


xtr, ftr, str_ = make_lots(N_TRAIN, mx.random.key(1))
xva, fva, sva = make_lots(N_VAL, mx.random.key(2))
f_mu, f_sd = ftr.mean(), ftr.std()


class ColdStoreNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.trunk = nn.Sequential(nn.Linear(D, 64), nn.SiLU(), nn.Linear(64, 64), nn.SiLU())
        self.firm_head = nn.Linear(64, 2)     # mean, log-variance (standardised units)
        self.scald_head = nn.Linear(64, 1)

    def __call__(self, x):
        h = self.trunk(x)
        return self.firm_head(h), self.scald_head(h).squeeze(-1)


def firm_nll(model, x, f):
    out, _ = model(x)
    mu, logv = out[:, 0], mx.clip(out[:, 1], -6.0, 4.0)
    z = (f - f_mu) / f_sd
    return (0.5 * (logv + (z - mu) ** 2 / mx.exp(logv))).mean()


def scald_bce(model, x, s):
    _, logit = model(x)
    return nn.losses.binary_cross_entropy(logit, s, with_logits=True, reduction="mean")


model = ColdStoreNet()
mx.eval(model.parameters())

EPOCHS, BATCH = 30, 200
steps_per_epoch = N_TRAIN // BATCH
total = EPOCHS * steps_per_epoch
warm = 2 * steps_per_epoch
lr = optim.join_schedules(
    [optim.linear_schedule(0.0, 3e-3, warm), optim.cosine_decay(3e-3, total - warm, 1e-4)],
    [warm],
)
opt = optim.Adam(learning_rate=lr)

grad_a = nn.value_and_grad(model, firm_nll)
grad_b = nn.value_and_grad(model, scald_bce)


def flat_dot(g1, g2):
    return sum((a * b).sum() for (_, a), (_, b) in zip(tree_flatten(g1), tree_flatten(g2)))


def step(x, f, s):
    la, ga = grad_a(model, x, f)
    lb, gb = grad_b(model, x, s)
    ta, tb = ga["trunk"], gb["trunk"]
    # two-task min-norm point on the segment between the trunk gradients
    diff_sq = flat_dot(ta, ta) - 2 * flat_dot(ta, tb) + flat_dot(tb, tb)
    alpha = mx.clip((flat_dot(tb, tb) - flat_dot(ta, tb)) / (diff_sq + 1e-12), 0.0, 1.0)
    trunk = tree_map(lambda a, b: alpha * a + (1 - alpha) * b, ta, tb)
    grads = {"trunk": trunk, "firm_head": ga["firm_head"], "scald_head": gb["scald_head"]}
    opt.update(model, grads)
    return la, lb, alpha


def evaluate():
    out, logit = model(xva)
    mu = out[:, 0] * f_sd + f_mu
    rmse = mx.sqrt(((mu - fva) ** 2).mean())
    acc = ((logit > 0).astype(mx.float32) == sva).mean()
    nll = firm_nll(model, xva, fva)
    return rmse.item(), acc.item(), nll.item()


base_rmse = mx.sqrt(((fva - f_mu) ** 2).mean()).item()
base_acc = max(sva.mean().item(), 1 - sva.mean().item())
print(f"val baselines: firmness rmse (predict train mean) {base_rmse:.2f} N | "
      f"scald acc (majority) {base_acc:.3f}")

t0 = time.time()
it = 0
for ep in range(EPOCHS):
    perm = mx.random.permutation(N_TRAIN)
    sa = sb = sal = 0.0
    for i in range(steps_per_epoch):
        idx = perm[i * BATCH:(i + 1) * BATCH]
        la, lb, al = step(xtr[idx], ftr[idx], str_[idx])
        mx.eval(model.parameters(), opt.state, la, lb, al)
        sa += la.item(); sb += lb.item(); sal += al.item()
        it += 1
    rmse, acc, vnll = evaluate()
    print(f"epoch {ep + 1:2d} lr {lr(mx.array(it)).item():.2e} | train firm_nll {sa / steps_per_epoch:+.3f} "
          f"scald_bce {sb / steps_per_epoch:.3f} | mean alpha {sal / steps_per_epoch:.2f} | "
          f"val firm_nll {vnll:+.3f} rmse {rmse:.2f} N (base {base_rmse:.2f}) "
          f"scald acc {acc:.3f} (base {base_acc:.3f})")

rmse, acc, vnll = evaluate()
print(f"final: firmness rmse {rmse:.2f} N vs {base_rmse:.2f}, scald acc {acc:.3f} vs {base_acc:.3f}, "
      f"val nll {vnll:+.3f}, {time.time() - t0:.1f}s")
