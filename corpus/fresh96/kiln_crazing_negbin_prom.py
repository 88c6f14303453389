"""Pottery studio: how many crazing cracks will a glaze test tile show after firing?

Counts are over-dispersed, so the model is a negative-binomial regression: a small
MLP gives log(mu) per tile and one global log-dispersion leaf gives r.  MLX has no
lgamma, so it is written here as an mx.custom_function (Lanczos forward, digamma
backward) and checked against math.lgamma / finite differences before training.

Metrics are written in the Prometheus text exposition format (HELP/TYPE header once,
then one block of samples per epoch) so a node-exporter textfile collector could pick
them up.
"""
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

# ---------------------------------------------------------------- lgamma with its own VJP
_LANCZOS_G = 7.0
_LANCZOS_C = [
    0.99999999999980993, 676.5203681218851, -1259.1392167224028,
    771.32342877765313, -176.61502916214059, 12.507343278686905,
    -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7,
]
_HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)


def _lgamma_shifted(z):
    # lgamma(z + 1) for z >= 0 via Lanczos (g = 7, n = 9)
    a = mx.full(z.shape, _LANCZOS_C[0], dtype=z.dtype)
    for i in range(1, 9):
        a = a + _LANCZOS_C[i] / (z + i)
    t = z + _LANCZOS_G + 0.5
    return _HALF_LOG_2PI + (z + 0.5) * mx.log(t) - t + mx.log(a)


def _digamma(x):
    # recurrence up to x + 6, then the asymptotic series
    acc = mx.zeros_like(x)
    for k in range(6):
        acc = acc + 1.0 / (x + k)
    z = x + 6.0
    iz2 = 1.0 / (z * z)
    series = mx.log(z) - 0.5 / z - iz2 * (1.0 / 12 - iz2 * (1.0 / 120 - iz2 / 252))
    return series - acc


@mx.custom_function
def lgamma(x):
    # lgamma(x) = lgamma(x + 1) - log(x), valid for every x > 0
    return _lgamma_shifted(x) - mx.log(x)


@lgamma.vjp
def _lgamma_vjp(primals, cotangent, output):
    x = primals                     # a single input arrives as the array itself
    return cotangent * _digamma(x)


def self_check():
    xs = [0.05, 0.3, 1.0, 2.5, 7.0, 31.5, 150.0]
    got = lgamma(mx.array(xs)).tolist()
    fwd_err = max(abs(g - math.lgamma(v)) for g, v in zip(got, xs))
    grad = mx.grad(lambda v: lgamma(v).sum())(mx.array(xs)).tolist()
    h = 1e-4
    fd = [(math.lgamma(v + h) - math.lgamma(v - h)) / (2 * h) for v in xs]
    bwd_err = max(abs(g - f) / max(1.0, abs(f)) for g, f in zip(grad, fd))
    return fwd_err, bwd_err


# ---------------------------------------------------------------- synthetic tiles
FEATURES = ["glaze_mm", "cool_rate", "cte_mismatch", "shelf_pos", "humidity", "peak_c"]
TRUE_R = 2.5


def make_tiles(n, rng):
    x = rng.normal(size=(n, len(FEATURES))).astype(np.float32)
    eta = (0.9 + 0.75 * x[:, 2] + 0.45 * np.tanh(1.5 * x[:, 1])
           + 0.30 * x[:, 0] * np.maximum(x[:, 2], 0.0)
           + 0.20 * np.sin(2.0 * x[:, 3]) - 0.15 * x[:, 4] + 0.10 * x[:, 5] ** 2)
    mu = np.exp(eta)
    lam = rng.gamma(shape=TRUE_R, scale=mu / TRUE_R)
    y = rng.poisson(lam).astype(np.float32)
    return x, y


class CrazingModel(nn.Module):
    def __init__(self, d_in, hidden, mean_count):
        super().__init__()
        self.body = nn.Sequential(
            nn.Linear(d_in, hidden), nn.SiLU(),
            nn.Linear(hidden, hidden), nn.SiLU(),
        )
        self.rate_head = nn.Linear(hidden, 1)
        self.rate_head.bias = mx.array([math.log(mean_count)])
        self.log_r = mx.array([0.0])          # global dispersion, r = exp(log_r)

    def __call__(self, x):
        return self.rate_head(self.body(x)).squeeze(-1), self.log_r


def negbin_nll(eta, log_r, y, lgamma_y1):
    r = mx.exp(log_r)
    log_r_mu = mx.logaddexp(log_r, eta)       # log(r + mu)
    ll = (lgamma(y + r) - lgamma(r) - lgamma_y1
          + r * (log_r - log_r_mu) + y * (eta - log_r_mu))
    return -ll


def loss_fn(model, x, y, lg):
    eta, log_r = model(x)
    return negbin_nll(eta, log_r, y, lg).mean()


def evaluate(model, x, y, lg):
    eta, log_r = model(x)
    nll = negbin_nll(eta, log_r, y, lg).mean()
    mu = mx.exp(eta)
    r = mx.exp(log_r)
    mae = mx.abs(mu - y).mean()
    pearson = (((y - mu) ** 2) / (mu + mu * mu / r)).mean()
    mx.eval(nll, mae, pearson)
    return nll.item(), mae.item(), pearson.item()


class PromWriter:
    def __init__(self, job):
        self.job = job
        self.metrics = [
            ("kiln_train_nll", "Mean NB negative log-likelihood per tile over the epoch (nats)."),
            ("kiln_val_nll", "Held-out NB negative log-likelihood per tile (nats)."),
            ("kiln_val_mae_cracks", "Held-out mean absolute error of the predicted crack count."),
            ("kiln_val_pearson_dispersion", "Mean squared Pearson residual on held-out tiles (1 = calibrated variance)."),
            ("kiln_dispersion_r", "Fitted negative-binomial size parameter r."),
            ("kiln_epoch_seconds", "Wall time of the epoch in seconds."),
        ]

    def header(self):
        for name, text in self.metrics:
            print(f"# HELP {name} {text}")
            print(f"# TYPE {name} gauge")

    def block(self, epoch, values):
        ts = int(time.time() * 1000)
        for (name, _), v in zip(self.metrics, values):
            if v is None:                     # no sample for this metric yet
                continue
            print(f'{name}{{job="{self.job}",epoch="{epoch}"}} {v:.6g} {ts}')


def main():
    rng = np.random.default_rng(1953)
    mx.random.seed(1953)
    xtr, ytr = make_tiles(16000, rng)
    xva, yva = make_tiles(4000, rng)
    lg_tr = np.array([math.lgamma(v + 1.0) for v in ytr], dtype=np.float32)
    lg_va = np.array([math.lgamma(v + 1.0) for v in yva], dtype=np.float32)
    Xtr, Ytr, Ltr = mx.array(xtr), mx.array(ytr), mx.array(lg_tr)
    Xva, Yva, Lva = mx.array(xva), mx.array(yva), mx.array(lg_va)

    fwd_err, bwd_err = self_check()
    print(f"# lgamma self-check: max |lgamma - math.lgamma| = {fwd_err:.2e}, "
          f"max rel grad error vs finite differences = {bwd_err:.2e}")
    print(f"# tiles: train={len(ytr)} val={len(yva)} mean cracks={ytr.mean():.2f} "
          f"var={ytr.var():.2f} zeros={100 * (ytr == 0).mean():.1f}%")

    model = CrazingModel(len(FEATURES), 48, float(ytr.mean()))
    # constant-mean reference: same NB likelihood with eta fixed at log(mean), r at the moment estimate
    m, v = float(ytr.mean()), float(ytr.var())
    r0 = m * m / max(v - m, 1e-3)
    ref = negbin_nll(mx.full(Yva.shape, math.log(m)), mx.array([math.log(r0)]), Yva, Lva).mean().item()
    print(f"# constant-mean NB reference val nll = {ref:.4f} (r={r0:.2f})")

    opt = optim.Adam(learning_rate=2e-3, bias_correction=True)
    step_fn = nn.value_and_grad(model, loss_fn)

    # every trainable leaf must receive a gradient at the first step
    _, g0 = step_fn(model, Xtr[:256], Ytr[:256], Ltr[:256])
    flat = tree_flatten(g0)
    mx.eval([g for _, g in flat])
    zero = [k for k, g in flat if mx.abs(g).max().item() == 0.0]
    print(f"# grad check: {len(flat)} leaves, zero-gradient leaves: {zero if zero else 'none'}")
    if zero:
        raise SystemExit("dead leaves at step 1")

    prom = PromWriter("kiln-crazing")
    prom.header()
    nll0, mae0, p0 = evaluate(model, Xva, Yva, Lva)
    prom.block(0, [None, nll0, mae0, p0, math.exp(model.log_r.item()), 0.0])

    bs, n = 256, Xtr.shape[0]
    for epoch in range(1, 13):
        t0 = time.perf_counter()
        perm = mx.array(rng.permutation(n))
        tot, seen = 0.0, 0
        for i in range(0, n - bs + 1, bs):
            idx = perm[i:i + bs]
            loss, grads = step_fn(model, Xtr[idx], Ytr[idx], Ltr[idx])
            opt.update(model, grads)
            mx.eval(loss, model.parameters(), opt.state)
            tot += loss.item() * bs
            seen += bs
        nll, mae, pear = evaluate(model, Xva, Yva, Lva)
        prom.block(epoch, [tot / seen, nll, mae, pear, math.exp(model.log_r.item()),
                           time.perf_counter() - t0])
    print(f"# done: true r={TRUE_R}, fitted r={math.exp(model.log_r.item()):.3f}")


if __name__ == "__main__":
    main()
