# Mean-field Gaussian ADVI for a Bayesian linear regression posterior.
# Guide q(w) = N(mu, diag(exp(log_sigma))^2), reparameterized samples, Adam.
import math
import time

import mlx.core as mx
import mlx.optimizers as optim

mx.random.seed(3)

D = 6
N = 80
NOISE = 0.5
PRIOR_STD = 2.0

w_true = mx.array([1.5, -2.0, 0.7, 0.0, 3.0, -1.2])
X = mx.random.normal((N, D))
y = X @ w_true + NOISE * mx.random.normal((N,))

# exact Gaussian posterior, only used to report progress
prec = X.T @ X / NOISE**2 + mx.eye(D) / PRIOR_STD**2
cov = mx.linalg.inv(prec, stream=mx.cpu)
post_mu = cov @ (X.T @ y) / NOISE**2
post_sd = mx.sqrt(mx.diag(cov))


def log_joint(w):  # w: [K, D]
    resid = y[None, :] - w @ X.T
    ll = -0.5 * mx.sum(resid**2, axis=1) / NOISE**2
    lp = -0.5 * mx.sum(w**2, axis=1) / PRIOR_STD**2
    return ll + lp


def log_q(w, params):
    mu, ls = params["mu"], params["log_sigma"]
    z = (w - mu) / mx.exp(ls)
    return mx.sum(-0.5 * z**2 - ls - 0.5 * math.log(2 * math.pi), axis=1)


def draw(params, key, k):
    eps = mx.random.normal((k, D), key=key)
    return params["mu"] + mx.exp(params["log_sigma"]) * eps


K = 16


def neg_elbo(params, sk):
    samples = draw(params, sk, K)
    return -mx.mean(log_joint(samples) - log_q(samples, params))


loss_and_grad = mx.value_and_grad(neg_elbo)

params = {"mu": mx.zeros((D,)), "log_sigma": mx.zeros((D,))}
opt = optim.Adam(learning_rate=0.05)
key = mx.random.key(11)

t0 = time.time()
for it in range(1, 1501):
    key, sk = mx.random.split(key)
    loss, grads = loss_and_grad(params, sk)
    params = opt.apply_gradients(grads, params)
    mx.eval(params, opt.state, loss)
    if it == 1 or it % 100 == 0:
        mu_err = mx.sqrt(mx.mean((params["mu"] - post_mu) ** 2)).item()
        sd_ratio = mx.mean(mx.exp(params["log_sigma"]) / post_sd).item()
        print(
            f"it {it:5d}  -elbo {loss.item():12.3f}  |mu-mu*| {mu_err:.4f}  "
            f"sigma/sigma* {sd_ratio:8.3f}  ({time.time() - t0:.1f}s)"
        )

print("final mu   ", [round(v, 3) for v in params["mu"].tolist()])
print("posterior  ", [round(v, 3) for v in post_mu.tolist()])
