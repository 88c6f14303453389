"""Salt-marsh survey: which vegetation zone does a quadrat belong to?

Zones: 0 mudflat, 1 low marsh (Spartina), 2 high marsh, 3 salt pan.
Ten survey readings per quadrat are simulated from a latent Gaussian per
zone, then pushed through monotone field transforms (log-normal sulfide,
logistic inundation share, ...).  Because the generator is known, the
script also prints the Bayes-optimal accuracy and cross-entropy as a floor.

Optimizer: Sophia-G written out by hand (Liu et al. 2023).  The diagonal
Hessian estimate comes from the Gauss-Newton-Bartlett estimator: every K
steps the loss is recomputed against labels SAMPLED from the model's own
softmax and the squared gradient is folded into an EMA.  The update is the
momentum divided by rho * batch * h, clipped coordinate-wise to [-1, 1].
"""

import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

ZONES = ["mudflat", "low marsh", "high marsh", "salt pan"]
FEATURES = ["elev_cm", "inund_share", "salinity_psu", "sulfide_um", "grain_phi",
            "ndvi", "crab_burrows", "wrack_pct", "creek_dist_m", "redox_mv"]

rng = np.random.default_rng(331)
D, K = len(FEATURES), len(ZONES)
prior = np.array([0.22, 0.38, 0.28, 0.12])
means = rng.normal(0.0, 1.0, size=(K, D)) * 0.9
A = rng.normal(0.0, 0.45, size=(D, D))
cov = A @ A.T + np.eye(D)
chol = np.linalg.cholesky(cov)
cov_inv = np.linalg.inv(cov)


def simulate(n):
    z_cls = rng.choice(K, size=n, p=prior)
    lat = means[z_cls] + rng.normal(size=(n, D)) @ chol.T
    obs = np.empty_like(lat)
    obs[:, 0] = 40.0 + 25.0 * lat[:, 0]                  # elevation above datum
    obs[:, 1] = 1.0 / (1.0 + np.exp(1.3 * lat[:, 1]))     # share of tides flooding
    obs[:, 2] = 28.0 + 6.0 * lat[:, 2]
    obs[:, 3] = np.exp(4.0 + 0.8 * lat[:, 3])             # porewater sulfide
    obs[:, 4] = 5.0 + 1.2 * lat[:, 4]
    obs[:, 5] = np.tanh(0.6 * lat[:, 5])
    obs[:, 6] = np.exp(1.5 + 0.5 * lat[:, 6])
    obs[:, 7] = 100.0 / (1.0 + np.exp(-lat[:, 7]))
    obs[:, 8] = np.exp(2.5 + 0.7 * lat[:, 8])
    obs[:, 9] = -120.0 + 80.0 * lat[:, 9]
    return lat, obs, z_cls


def bayes_posterior(lat):
    diff = lat[:, None, :] - means[None, :, :]
    quad = np.einsum("nkd,de,nke->nk", diff, cov_inv, diff)
    logp = np.log(prior)[None, :] - 0.5 * quad
    logp -= logp.max(axis=1, keepdims=True)
    p = np.exp(logp)
    return p / p.sum(axis=1, keepdims=True)


def field_features(obs):
    f = obs.copy()
    for j in (3, 6, 8):                                    # log the skewed ones
        f[:, j] = np.log(f[:, j])
    f[:, 1] = np.log(f[:, 1] / (1.0 - f[:, 1]))
    f[:, 7] = np.log(f[:, 7] / (100.0 - f[:, 7]))
    return f


lat_tr, obs_tr, y_tr = simulate(12000)
lat_va, obs_va, y_va = simulate(3000)
lat_te, obs_te, y_te = simulate(3000)
f_tr, f_va, f_te = field_features(obs_tr), field_features(obs_va), field_features(obs_te)
mu, sd = f_tr.mean(0), f_tr.std(0)
X_tr = mx.array(((f_tr - mu) / sd).astype(np.float32))
X_va = mx.array(((f_va - mu) / sd).astype(np.float32))
X_te = mx.array(((f_te - mu) / sd).astype(np.float32))
Y_tr, Y_va, Y_te = mx.array(y_tr), mx.array(y_va), mx.array(y_te)

post_va = bayes_posterior(lat_va)
oracle_acc = float((post_va.argmax(1) == y_va).mean())
oracle_ce = float(-np.log(post_va[np.arange(len(y_va)), y_va] + 1e-12).mean())
majority_acc = float((y_va == np.bincount(y_tr).argmax()).mean())


class ZoneNet(nn.Module):
    def __init__(self, d_in, width, n_out):
        super().__init__()
        self.l1 = nn.Linear(d_in, width)
        self.l2 = nn.Linear(width, width)
        self.out = nn.Linear(width, n_out)

    def __call__(self, x):
        h = nn.gelu(self.l1(x))
        h = nn.gelu(self.l2(h)) + h
        return self.out(h)


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


class SophiaG:
    """Sophia with the Gauss-Newton-Bartlett diagonal Hessian estimate."""

    def __init__(self, schedule, betas=(0.965, 0.99), rho=0.04, weight_decay=0.1,
                 eps=1e-15):
        self.schedule = schedule
        self.b1, self.b2 = betas
        self.rho = rho
        self.wd = weight_decay
        self.eps = eps
        self.t = 0
        self.m = None
        self.h = None

    def init(self, params):
        self.m = tree_map(mx.zeros_like, params)
        self.h = tree_map(mx.zeros_like, params)

    def refresh_hessian(self, ghat):
        b2 = self.b2
        self.h = tree_map(lambda h, g: b2 * h + (1 - b2) * g * g, self.h, ghat)

    def step(self, model, grads, batch_size):
        lr = self.schedule(self.t)
        b1 = self.b1
        self.m = tree_map(lambda m, g: b1 * m + (1 - b1) * g, self.m, grads)
        denom_scale = self.rho * batch_size

        def upd(p, m, h):
            ratio = mx.minimum(mx.abs(m) / (denom_scale * h + self.eps), 1.0)
            p = p * (1.0 - lr * self.wd)
            return p - lr * mx.sign(m) * ratio

        model.update(tree_map(upd, model.trainable_parameters(), self.m, self.h))
        self.t += 1
        return lr

    def clipped_share(self, batch_size):
        denom_scale = self.rho * batch_size
        n_clip, n_all = 0.0, 0
        for (_, m), (_, h) in zip(tree_flatten(self.m), tree_flatten(self.h)):
            ratio = mx.abs(m) / (denom_scale * h + self.eps)
            n_clip += (ratio >= 1.0).sum().item()
            n_all += m.size
        return n_clip / n_all


mx.random.seed(7)
model = ZoneNet(D, 64, K)
mx.eval(model.parameters())

BATCH, EPOCHS, WARM, PEAK, HESS_EVERY = 128, 16, 150, 3e-3, 10
steps_per_epoch = X_tr.shape[0] // BATCH
total = EPOCHS * steps_per_epoch
schedule = optim.join_schedules(
    [optim.linear_schedule(0.0, PEAK, WARM), optim.cosine_decay(PEAK, total - WARM, 3e-5)],
    [WARM],
)
opt = SophiaG(schedule)
opt.init(model.trainable_parameters())
loss_and_grad = nn.value_and_grad(model, loss_fn)


def sampled_label_loss(model, x):
    logits = model(x)
    y_hat = mx.stop_gradient(mx.random.categorical(logits))
    return nn.losses.cross_entropy(logits, y_hat, reduction="mean")


ghat_fn = nn.value_and_grad(model, sampled_label_loss)


def evaluate(X, Y):
    logits = model(X)
    ce = nn.losses.cross_entropy(logits, Y, reduction="mean").item()
    acc = (mx.argmax(logits, axis=1) == Y).astype(mx.float32).mean().item()
    return ce, acc


print("salt-marsh zone survey | train 12000  valid 3000  test 3000 quadrats | 10 readings")
print(f"  zone shares (train): " + ", ".join(
    f"{z} {c / len(y_tr):.0%}" for z, c in zip(ZONES, np.bincount(y_tr, minlength=K))))
print(f"  references on valid: majority-zone acc {majority_acc:.1%} | "
      f"Bayes acc {oracle_acc:.1%}, Bayes CE {oracle_ce:.3f}")
ce0, acc0 = evaluate(X_va, Y_va)
print(f"  untrained: valid CE {ce0:.3f}, acc {acc0:.1%}")
print(f"  optimizer: hand-written Sophia-G, rho {opt.rho}, wd {opt.wd}, "
      f"Hessian refresh every {HESS_EVERY} steps, warm-up {WARM} steps from lr 0")

report_at = {1, 2, 50, 150, 300, 600, 900, 1200, total}
t0 = time.perf_counter()
step = 0
window = []
before = None
for epoch in range(EPOCHS):
    perm = mx.array(rng.permutation(X_tr.shape[0]))
    for b in range(steps_per_epoch):
        idx = perm[b * BATCH:(b + 1) * BATCH]
        xb, yb = X_tr[idx], Y_tr[idx]
        if step == 0:
            before = [p for _, p in tree_flatten(model.trainable_parameters())]
        loss, grads = loss_and_grad(model, xb, yb)
        if step == 0:
            zero = [k for k, g in tree_flatten(grads) if mx.abs(g).max().item() == 0.0]
            print(f"  gradient check: {len(tree_flatten(grads))} leaves, zero leaves: {zero or 'none'}")
        if step % HESS_EVERY == 0:
            _, ghat = ghat_fn(model, xb)
            opt.refresh_hessian(ghat)
        lr = opt.step(model, grads, BATCH)
        mx.eval(model.parameters(), opt.m, opt.h, loss)
        step += 1
        window.append(loss.item())
        if step == 1:
            after = [p for _, p in tree_flatten(model.trainable_parameters())]
            moved = max(mx.abs(a - b_).max().item() for a, b_ in zip(after, before))
            print(f"  step 1 used lr {float(lr):.1e}: largest weight change {moved:.1e}")
        if step in report_at:
            va_ce, va_acc = evaluate(X_va, Y_va)
            clip = opt.clipped_share(BATCH)
            print(f"@ step {step:5d}  (epoch {step / steps_per_epoch:4.1f}, {time.perf_counter() - t0:4.1f} s)")
            print(f"    lr {float(lr):.2e} | clipped coords {clip:6.1%} | "
                  f"hessian refreshes {math.ceil(step / HESS_EVERY)}")
            print(f"    CE  train(window) {np.mean(window):.3f}  valid {va_ce:.3f} "
                  f"(floor {oracle_ce:.3f}) | valid acc {va_acc:.1%}")
            window = []

te_ce, te_acc = evaluate(X_te, Y_te)
post_te = bayes_posterior(lat_te)
print(f"test: CE {te_ce:.3f}  acc {te_acc:.1%}  | Bayes acc {(post_te.argmax(1) == y_te).mean():.1%}"
      f" | majority {(y_te == np.bincount(y_tr).argmax()).mean():.1%}")
print(f"finished {step} steps in {time.perf_counter() - t0:.1f} s")
