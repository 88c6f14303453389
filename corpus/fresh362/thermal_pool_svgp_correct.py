"""Hot-spring resort: will a soaking pool turn cloudy (silica bloom) tomorrow?

Inputs (standardised): vent-water temperature, hours since last drain,
bather count (the last one has no effect in the made-up law).
Model: sparse variational GP classifier (Bernoulli likelihood, Gauss-Hermite
quadrature for the expected log-likelihood), whitened inducing values,
ARD RBF kernel with learned length scales and learned inducing inputs.
Stage 1 fits only the variational posterior with the kernel held constant,
the model is saved, then stage 2 reloads it into fresh objects and trains
everything under a warm-up schedule.
"""
import os
import tempfile
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten

M = 16
D = 3
GH_X, GH_W = np.polynomial.hermite.hermgauss(20)
GH_X = mx.array(GH_X.astype(np.float32))
GH_W = mx.array((GH_W / np.sqrt(np.pi)).astype(np.float32))


def make_data(rng, n):
    x = rng.normal(size=(n, D)).astype(np.float32)
    f = 2.2 * np.sin(1.6 * x[:, 0]) + 1.2 * x[:, 1] ** 2 - 1.0
    p = 1.0 / (1.0 + np.exp(-f))
    y = (rng.random(n) < p).astype(np.float32)
    return mx.array(x), mx.array(y), p


def chol(a):
    """Column-by-column Cholesky written with plain ops, so it differentiates."""
    n = a.shape[0]
    rows = mx.arange(n)
    cols = []
    for j in range(n):
        v = a[:, j]
        for k in range(j):
            v = v - cols[k] * cols[k][j]
        d = mx.sqrt(v[j])
        cols.append(mx.where(rows >= j, v / d, 0.0))
    return mx.stack(cols, axis=1)


def lower_solve(l, b):
    """Forward substitution for L X = B (L lower triangular, B is (n, k))."""
    out = []
    for i in range(l.shape[0]):
        r = b[i]
        if i > 0:
            r = r - l[i, :i] @ mx.stack(out, axis=0)
        out.append(r / l[i, i])
    return mx.stack(out, axis=0)


class SVGPClassifier(nn.Module):
    def __init__(self, z_init):
        super().__init__()
        self.z = z_init
        self.log_ls = mx.zeros((D,))
        self.log_sf = mx.array(0.0)
        self.q_mu = mx.zeros((M,))
        self.q_raw = mx.zeros((M, M))

    def kern(self, a, b):
        ls = mx.exp(self.log_ls)
        a, b = a / ls, b / ls
        d2 = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2 * a @ b.T
        return mx.exp(2 * self.log_sf) * mx.exp(-0.5 * mx.maximum(d2, 0.0))

    def q_sqrt(self):
        t = mx.tril(self.q_raw, k=-1)
        return t + mx.diag(mx.exp(mx.diag(self.q_raw)))

    def __call__(self, x):
        kzz = self.kern(self.z, self.z) + 1e-4 * mx.eye(M)
        l = chol(kzz)
        a = lower_solve(l, self.kern(self.z, x))
        s = self.q_sqrt()
        mean = a.T @ self.q_mu
        sa = s.T @ a
        var = mx.exp(2 * self.log_sf) - (a * a).sum(0) + (sa * sa).sum(0)
        return mean, mx.maximum(var, 1e-6)

    def kl(self):
        s = self.q_sqrt()
        logdet = 2 * mx.log(mx.abs(mx.diag(s))).sum()
        return 0.5 * ((s * s).sum() + (self.q_mu ** 2).sum() - M - logdet)


def expected_loglik(mean, var, y):
    f = mean[:, None] + mx.sqrt(2 * var)[:, None] * GH_X[None, :]
    sign = (2 * y - 1)[:, None]
    ll = -nn.softplus(-sign * f)
    return (ll * GH_W[None, :]).sum(1)


def neg_elbo(model, x, y, n_total):
    mean, var = model(x)
    return -expected_loglik(mean, var, y).mean() + model.kl() / n_total


def predict(model, x):
    mean, var = model(x)
    p = (mx.sigmoid(mean[:, None] + mx.sqrt(2 * var)[:, None] * GH_X[None, :]) * GH_W).sum(1)
    return mx.clip(p, 1e-6, 1 - 1e-6)


def evaluate(model, x, y):
    p = predict(model, x)
    nll = -(y * mx.log(p) + (1 - y) * mx.log(1 - p)).mean().item()
    acc = ((p > 0.5) == (y > 0.5)).mean().item()
    return nll, acc


def run_stage(model, opt, name, steps, xtr, ytr, xte, yte, rng, report_every, base):
    step_fn = nn.value_and_grad(model, neg_elbo)
    n = xtr.shape[0]
    for it in range(1, steps + 1):
        lr = float(opt.learning_rate.item())
        idx = mx.array(rng.choice(n, 256, replace=False))
        loss, grads = step_fn(model, xtr[idx], ytr[idx], n)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state)
        if it == 1 or it % report_every == 0:
            nll, acc = evaluate(model, xte, yte)
            ls = [float(v) for v in np.exp(np.array(model.log_ls))]
            print(f"{name},{it},{lr:.5f},{loss.item():.4f},{model.kl().item():.3f},"
                  f"{nll:.4f},{acc:.3f},{base[0]:.4f},{base[1]:.3f},"
                  f"{ls[0]:.2f},{ls[1]:.2f},{ls[2]:.2f}")


def main():
    t0 = time.time()
    rng = np.random.default_rng(5)
    mx.random.seed(5)
    xtr, ytr, _ = make_data(rng, 2000)
    xte, yte, pte = make_data(rng, 800)
    prior = ytr.mean().item()
    base_nll = -(yte * np.log(prior) + (1 - yte) * np.log(1 - prior)).mean().item()
    base_acc = max(yte.mean().item(), 1 - yte.mean().item())
    bayes_acc = float(((pte > 0.5) == (np.array(yte) > 0.5)).mean())
    print(f"# pools train={xtr.shape[0]} test={xte.shape[0]} cloudy_rate={prior:.3f} "
          f"bayes_acc~{bayes_acc:.3f}")
    print("stage,step,lr,neg_elbo,kl,test_nll,test_acc,const_nll,const_acc,ls_temp,ls_drain,ls_bathers")

    z0 = xtr[mx.array(rng.choice(2000, M, replace=False))]
    model = SVGPClassifier(z0)
    model.freeze(keys=["z", "log_ls", "log_sf"])
    n_train = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
    print(f"# stage A trainable={n_train} (kernel held constant)")
    opt = optim.Adam(learning_rate=0.05)
    run_stage(model, opt, "A", 150, xtr, ytr, xte, yte, rng, 30, (base_nll, base_acc))

    ckpt = os.path.join(tempfile.mkdtemp(), "pool_svgp.safetensors")
    model.save_weights(ckpt)
    print(f"# saved {os.path.basename(ckpt)}")

    model2 = SVGPClassifier(mx.zeros((M, D)))
    model2.load_weights(ckpt)
    same = evaluate(model2, xte, yte)
    print(f"# reloaded test_nll={same[0]:.4f} test_acc={same[1]:.3f}")
    model2.unfreeze()
    n_train = sum(v.size for _, v in tree_flatten(model2.trainable_parameters()))
    print(f"# stage B trainable={n_train} (all)")
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, 0.03, 40), optim.cosine_decay(0.03, 360, 1e-3)], [40])
    opt2 = optim.Adam(learning_rate=sched)
    run_stage(model2, opt2, "B", 400, xtr, ytr, xte, yte, rng, 40, (base_nll, base_acc))
    nll, acc = evaluate(model2, xte, yte)
    print(f"# done test_nll={nll:.4f} (const {base_nll:.4f}) test_acc={acc:.3f} "
          f"(const {base_acc:.3f}, bayes~{bayes_acc:.3f}) secs={time.time() - t0:.1f}")


if __name__ == "__main__":
    main()
