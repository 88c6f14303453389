# Fire-lookout tower: fraction of the lookout's viewshed hidden by smoke haze at
# the 15:00 reading, modelled with BETA REGRESSION (logit mean + learned
# precision), 5-fold cross-validation, warmup from lr 0, early stopping.
import logging
import math
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_map

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
log = logging.getLogger("lookout")

rng = np.random.default_rng(11)
N = 900
# wind km/h, RH %, temp C, km to nearest fire, log10 fire ha, inversion flag, hour offset
X = np.column_stack([
    rng.gamma(3.0, 5.0, N), rng.uniform(10, 80, N), rng.normal(27, 5, N),
    rng.uniform(2, 60, N), rng.normal(2.0, 0.8, N), rng.binomial(1, 0.3, N),
    rng.uniform(-3, 3, N),
]).astype(np.float32)
eta = (-1.0 + 1.1 * X[:, 4] - 0.06 * X[:, 3] + 0.9 * X[:, 5] - 0.03 * (X[:, 0] - 15)
       + 0.8 * np.tanh((X[:, 2] - 27) / 5) - 0.015 * (X[:, 1] - 45))
mu_true = 1 / (1 + np.exp(-eta))
PHI = 25.0
Y = rng.beta(mu_true * PHI, (1 - mu_true) * PHI).astype(np.float32)
Y = np.clip(Y, 1e-4, 1 - 1e-4)
X = (X - X.mean(0)) / X.std(0)

LANCZOS = [0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313,
           -176.61502916214059, 12.507343278686905, -0.13857109526572012,
           9.9843695780195716e-6, 1.5056327351493116e-7]


def lgamma(x):
    # lgamma(x) = lgamma(x + 1) - log(x); Lanczos (g=7) on z = x + 1 >= 1
    z = x  # (z - 1) in the usual notation, i.e. x + 1 - 1
    a = LANCZOS[0]
    for i in range(1, 9):
        a = a + LANCZOS[i] / (z + i)
    t = z + 7.5
    return 0.5 * math.log(2 * math.pi) + (z + 0.5) * mx.log(t) - t + mx.log(a) - mx.log(x)


def beta_nll(mu, phi, y):
    a, b = mu * phi, (1 - mu) * phi
    ll = (lgamma(phi) - lgamma(a) - lgamma(b)
          + (a - 1) * mx.log(y) + (b - 1) * mx.log(1 - y))
    return -mx.mean(ll)


class HazeBeta(nn.Module):
    def __init__(self):
        super().__init__()
        self.trunk = nn.Sequential(nn.Linear(7, 32), nn.Tanh(), nn.Linear(32, 32), nn.Tanh())
        self.mean_head = nn.Linear(32, 1)
        self.log_phi = mx.array([math.log(5.0)])

    def __call__(self, x):
        mu = mx.sigmoid(self.mean_head(self.trunk(x)).squeeze(-1))
        mu = mx.clip(mu, 1e-4, 1 - 1e-4)
        return mu, mx.exp(self.log_phi)


def loss_fn(model, x, y):
    mu, phi = model(x)
    return beta_nll(mu, phi, y)


def null_nll(ytr, yva):
    m, v = float(ytr.mean()), float(ytr.var())
    phi = m * (1 - m) / v - 1
    return beta_nll(mx.full(yva.shape, m), mx.array(phi), mx.array(yva)).item()


K, WARM, PEAK, MAX_EPOCHS, PATIENCE, BS = 5, 40, 3e-3, 60, 6, 60
folds = np.array_split(rng.permutation(N), K)
table = []
for k in range(K):
    va = folds[k]
    tr = np.concatenate([folds[j] for j in range(K) if j != k])
    xtr, ytr, xva, yva = mx.array(X[tr]), mx.array(Y[tr]), mx.array(X[va]), mx.array(Y[va])
    base = null_nll(Y[tr], Y[va])
    mx.random.seed(100 + k)
    model = HazeBeta()
    sched = optim.join_schedules([optim.linear_schedule(0.0, PEAK, WARM), optim.cosine_decay(PEAK, 600, 3e-4)], [WARM])
    opt = optim.RMSprop(learning_rate=sched, alpha=0.95)
    vg = nn.value_and_grad(model, loss_fn)
    best, best_params, best_ep, bad = float("inf"), None, 0, 0
    for ep in range(1, MAX_EPOCHS + 1):
        perm = mx.array(np.random.default_rng(k * 1000 + ep).permutation(len(tr)))
        tot = 0.0
        for i in range(0, len(tr), BS):
            idx = perm[i:i + BS]
            if i == 0:
                lr_now = opt.learning_rate.item()
            l, g = vg(model, xtr[idx], ytr[idx])
            opt.update(model, g)
            mx.eval(l, model.parameters(), opt.state)
            tot += l.item() * len(idx)
        mu_va, phi = model(xva)
        vnll = beta_nll(mu_va, phi, yva).item()
        mae = mx.mean(mx.abs(mu_va - yva)).item() * 100
        if ep == 1 or ep % 5 == 0:
            log.info("fold %d/%d epoch %03d lr=%.5f train_nll=%.4f val_nll=%.4f null=%.4f mae_pp=%.2f phi=%.1f",
                     k + 1, K, ep, lr_now, tot / len(tr), vnll, base, mae, phi.item())
        if vnll < best - 1e-4:
            best, best_ep, bad = vnll, ep, 0
            best_params = tree_map(lambda p: mx.array(p), model.parameters())
        else:
            bad += 1
            if bad >= PATIENCE:
                log.info("fold %d/%d early stop at epoch %d, restoring epoch %d", k + 1, K, ep, best_ep)
                break
    model.update(best_params)
    mu_va, phi = model(xva)
    r_nll = beta_nll(mu_va, phi, yva).item()
    r_mae = mx.mean(mx.abs(mu_va - yva)).item() * 100
    table.append((k + 1, best_ep, r_nll, base, r_mae, phi.item()))

print("fold | best_ep | val_nll | null_nll | MAE (pp) | phi")
for f, e, v, b, m, p in table:
    print(f"{f:4d} | {e:7d} | {v:7.4f} | {b:8.4f} | {m:8.2f} | {p:5.1f}")
arr = np.array([[v, b, m] for _, _, v, b, m, _ in table])
print(f"mean | {'':7s} | {arr[:,0].mean():7.4f} | {arr[:,1].mean():8.4f} | {arr[:,2].mean():8.2f} | (true phi {PHI:.0f})")
