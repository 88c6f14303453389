"""Trout hatchery incubator screening.

Each row is one incubator tray's 10-minute telemetry (12 channels).  The
historical log is unlabelled and a few percent of trays were in a bad state
(clogged screen, heater drift, pump cavitation).  We fit an autoencoder on the
log with a trimmed reconstruction objective: the worst-reconstructed rows of
every batch are left out of the gradient, and the trimmed share grows from 0
to 8% over the first epochs.  The anomaly threshold is the 97.5% quantile of
reconstruction error on a small vetted set of normal trays.
"""
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(7)
mx.random.seed(7)

N_CH = 12
MIX = rng.normal(size=(3, N_CH)).astype(np.float32)
BEND = rng.normal(size=(3, N_CH)).astype(np.float32) * 0.6


def normal_trays(n):
    z = rng.normal(size=(n, 3)).astype(np.float32)
    x = np.tanh(z @ MIX) + 0.4 * np.sin(z @ BEND)
    return x + 0.05 * rng.normal(size=x.shape).astype(np.float32)


def faulty_trays(n):
    x = normal_trays(n)
    kind = rng.integers(0, 3, size=n)
    for i in range(n):
        if kind[i] == 0:          # clogged screen: flow channels collapse
            x[i, :4] -= rng.uniform(0.8, 1.5)
        elif kind[i] == 1:        # heater drift: one channel far off
            c = rng.integers(4, 8)
            x[i, c] += rng.choice([-1, 1]) * rng.uniform(1.0, 2.0)
        else:                     # cavitation: broadband jitter
            x[i] += 0.45 * rng.normal(size=N_CH)
    return x


CONTAM = 0.06
n_train = 6000
n_bad = int(CONTAM * n_train)
train_x = np.concatenate([normal_trays(n_train - n_bad), faulty_trays(n_bad)])
train_x = train_x[rng.permutation(n_train)]
vetted_x = normal_trays(600)
test_x = np.concatenate([normal_trays(1800), faulty_trays(200)])
test_y = np.concatenate([np.zeros(1800), np.ones(200)])

# robust scaling from the unlabelled log (median / IQR)
med = np.median(train_x, axis=0)
iqr = np.percentile(train_x, 75, axis=0) - np.percentile(train_x, 25, axis=0)
scale = lambda a: ((a - med) / iqr).astype(np.float32)
train_s, vetted_s, test_s = scale(train_x), scale(vetted_x), scale(test_x)


class TrayAE(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc = nn.Sequential(nn.Linear(N_CH, 48), nn.GELU(), nn.Linear(48, 24),
                                 nn.GELU(), nn.Linear(24, 3))
        self.dec = nn.Sequential(nn.Linear(3, 24), nn.GELU(), nn.Linear(24, 48),
                                 nn.GELU(), nn.Linear(48, N_CH))

    def __call__(self, x):
        return self.dec(self.enc(x))


def row_error(model, x):
    return mx.mean(mx.square(model(x) - x), axis=1)


def trimmed_loss(model, x, keep):
    err = row_error(model, x)
    kept = mx.sort(mx.stop_gradient(err))[keep - 1]
    mask = (err <= kept).astype(err.dtype)
    return mx.sum(err * mask) / mx.sum(mask)


def auroc(scores, labels):
    order = np.argsort(scores)
    ranks = np.empty(len(scores))
    ranks[order] = np.arange(1, len(scores) + 1)
    pos = labels == 1
    n_pos, n_neg = pos.sum(), (~pos).sum()
    return (ranks[pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)


def prf(pred, labels):
    tp = float(np.sum((pred == 1) & (labels == 1)))
    fp = float(np.sum((pred == 1) & (labels == 0)))
    fn = float(np.sum((pred == 0) & (labels == 1)))
    p = tp / max(tp + fp, 1.0)
    r = tp / max(tp + fn, 1.0)
    return p, r, 2 * p * r / max(p + r, 1e-9)


# baseline: PCA with 3 components fitted on the same unlabelled log
mu = train_s.mean(0)
_, _, vt = np.linalg.svd(train_s - mu, full_matrices=False)
P = vt[:3].T


def pca_err(a):
    c = a - mu
    return np.mean((c - c @ P @ P.T) ** 2, axis=1)


pca_thr = np.quantile(pca_err(vetted_s), 0.975)
pca_auc = auroc(pca_err(test_s), test_y)
pca_p, pca_r, pca_f = prf((pca_err(test_s) > pca_thr).astype(int), test_y)
print(f"baseline pca3   test AUROC {pca_auc:.3f}  P {pca_p:.3f} R {pca_r:.3f} F1 {pca_f:.3f}")

model = TrayAE()
mx.eval(model.parameters())

EPOCHS, BS = 40, 200
steps_per_epoch = n_train // BS
total = EPOCHS * steps_per_epoch
warm = 3 * steps_per_epoch
sched = optim.join_schedules(
    [optim.linear_schedule(0.0, 3e-3, warm),
     optim.cosine_decay(3e-3, total - warm, 1e-5)], [warm])
opt = optim.AdamW(learning_rate=sched, weight_decay=1e-4)
loss_and_grad = nn.value_and_grad(model, trimmed_loss)

TRIM_MAX, TRIM_RAMP = 0.08, 8
train_mx = mx.array(train_s)
vetted_mx, test_mx = mx.array(vetted_s), mx.array(test_s)
t0 = time.time()
for epoch in range(1, EPOCHS + 1):
    trim = TRIM_MAX * min(1.0, (epoch - 1) / TRIM_RAMP)
    keep = BS - int(round(trim * BS))
    perm = mx.array(rng.permutation(n_train))
    run = 0.0
    for b in range(steps_per_epoch):
        xb = train_mx[perm[b * BS:(b + 1) * BS]]
        loss, grads = loss_and_grad(model, xb, keep)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        run += loss.item()
    if epoch == 1 or epoch % 5 == 0:
        full = mx.mean(row_error(model, train_mx)).item()
        vet = mx.mean(row_error(model, vetted_mx)).item()
        print(f"epoch {epoch:2d} trim {trim:.3f} lr {opt.learning_rate.item():.2e} "
              f"trimmed_loss {run / steps_per_epoch:.4f} full_log_mse {full:.4f} "
              f"vetted_mse {vet:.4f}")

vet_err = np.array(row_error(model, vetted_mx))
thr = float(np.quantile(vet_err, 0.975))
test_err = np.array(row_error(model, test_mx))
ae_auc = auroc(test_err, test_y)
p, r, f = prf((test_err > thr).astype(int), test_y)
train_err = np.array(row_error(model, train_mx))
flag_rate = float(np.mean(train_err > thr))
print(f"threshold (vetted q97.5) {thr:.4f}; share of log flagged {flag_rate:.3f} "
      f"(planted {CONTAM:.3f})")
print(f"autoencoder     test AUROC {ae_auc:.3f}  P {p:.3f} R {r:.3f} F1 {f:.3f}")
print(f"AUROC gain over pca3 {ae_auc - pca_auc:+.3f}  ({time.time() - t0:.1f}s)")
