# Kayak outfitter: how many minutes late a rental group comes back,
# from trip plan, weather and the launch site (60 sites, out-of-fold target encoding).
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(7)
mx.random.seed(7)

N_TRAIN, N_VALID, N_SITES = 9000, 2000, 60
site_effect = rng.normal(0.0, 12.0, N_SITES)          # some launches are just slow
site_pop = rng.dirichlet(np.full(N_SITES, 0.6))


def simulate(n):
    km = rng.uniform(2, 22, n)
    wind = rng.gamma(2.0, 3.0, n)
    group = rng.integers(1, 9, n).astype(np.float64)
    skill = rng.uniform(0, 1, n)
    water = rng.normal(14, 4, n)
    site = rng.choice(N_SITES, n, p=site_pop)
    late = (1.4 * km * (1 + 0.05 * wind) * (1.3 - skill) + 2.5 * np.log1p(group) * wind / 3
            - 0.6 * (water - 14) + site_effect[site] + rng.normal(0, 6.0, n))
    num = np.stack([km, wind, group, skill, water], 1)
    return num, site, late


xn_tr, s_tr, y_tr = simulate(N_TRAIN)
xn_va, s_va, y_va = simulate(N_VALID)

# smoothed site means, out-of-fold on the training rows so a row never sees its own target
PRIOR = 20.0
gmean = y_tr.mean()


def site_means(sites, ys):
    tot = np.bincount(sites, weights=ys, minlength=N_SITES)
    cnt = np.bincount(sites, minlength=N_SITES)
    return (tot + PRIOR * gmean) / (cnt + PRIOR)


te_tr = np.empty(N_TRAIN)
folds = rng.permutation(N_TRAIN) % 5
for f in range(5):
    held = folds == f
    te_tr[held] = site_means(s_tr[~held], y_tr[~held])[s_tr[held]]
te_va = site_means(s_tr, y_tr)[s_va]

mu, sd = xn_tr.mean(0), xn_tr.std(0)
te_mu, te_sd = te_tr.mean(), te_tr.std()


def features(xn, te):
    return np.concatenate([(xn - mu) / sd, ((te - te_mu) / te_sd)[:, None]], 1).astype(np.float32)


X_tr, X_va = mx.array(features(xn_tr, te_tr)), mx.array(features(xn_va, te_va))
Y_tr, Y_va = mx.array(y_tr.astype(np.float32)), mx.array(y_va.astype(np.float32))


class LatenessNet(nn.Module):
    def __init__(self, d_in, width=64):
        super().__init__()
        self.l1 = nn.Linear(d_in, width)
        self.l2 = nn.Linear(width, width)
        self.out = nn.Linear(width, 1)
        self.out.bias = mx.array([float(gmean)])

    def __call__(self, x):
        h = nn.silu(self.l1(x))
        h = nn.silu(self.l2(h))
        return self.out(h).squeeze(-1)


def triangular(lo, hi, half):
    # cyclic learning rate: up for `half` steps, down for `half` steps, repeat
    def sched(step):
        pos = mx.abs(((step.astype(mx.float32) / half) % 2.0) - 1.0)
        return hi - (hi - lo) * pos
    return sched


model = LatenessNet(X_tr.shape[1])
mx.eval(model.parameters())
BATCH, EPOCHS = 64, 24
steps_per_epoch = N_TRAIN // BATCH
opt = optim.Adam(learning_rate=triangular(2e-4, 4e-3, 2 * steps_per_epoch))


def loss_fn(m, x, y):
    return nn.losses.mse_loss(m(x), y)   # minutes^2, raw target


step_fn = nn.value_and_grad(model, loss_fn)


def rmse(x, y):
    return mx.sqrt(mx.mean((model(x) - y) ** 2)).item()


base_mean = float(np.sqrt(np.mean((y_va - gmean) ** 2)))
base_site = float(np.sqrt(np.mean((y_va - te_va) ** 2)))
print(f"rows train={N_TRAIN} valid={N_VALID} sites={N_SITES}  target mean {gmean:.1f} min, sd {y_tr.std():.1f} min")
print(f"reference valid RMSE: predict-mean {base_mean:.2f} min | site-mean only {base_site:.2f} min | noise floor 6.00 min")
print(f"epoch  0  untrained valid RMSE {rmse(X_va, Y_va):.2f} min")
print(f"{'epoch':>5} {'lr_now':>9} {'train_mse(min^2)':>17} {'valid_rmse':>11} {'within_10min':>13} {'secs':>6}")

REPORT = {1, 2, 4, 8, 16, 24}
t0 = time.perf_counter()
for epoch in range(1, EPOCHS + 1):
    perm = mx.array(rng.permutation(N_TRAIN)[: steps_per_epoch * BATCH].reshape(steps_per_epoch, BATCH))
    tot = 0.0
    for i in range(steps_per_epoch):
        idx = perm[i]
        loss, grads = step_fn(model, X_tr[idx], Y_tr[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        tot += loss.item()
    if epoch in REPORT:
        pred = model(X_va)
        within = mx.mean((mx.abs(pred - Y_va) <= 10.0).astype(mx.float32)).item() * 100
        lr_now = opt.learning_rate.item()
        print(f"{epoch:>5} {lr_now:>9.2e} {tot / steps_per_epoch:>17.2f} {rmse(X_va, Y_va):>11.2f} "
              f"{within:>12.1f}% {time.perf_counter() - t0:>6.1f}")

final = rmse(X_va, Y_va)
print(f"done: valid RMSE {final:.2f} min vs site-mean {base_site:.2f} and predict-mean {base_mean:.2f}")
