"""Gaussian-process regression: fit kernel hyperparameters by type-II maximum likelihood.

MLX's linalg ops have no VJP, so the negative log marginal likelihood is wrapped in
mx.custom_function with the textbook gradient  dL/dK = 0.5 (K^-1 - a a^T),  a = K^-1 r.
Everything upstream of K (the RBF kernel built from log-hyperparameters) is autodiffed.
"""
import math

import mlx.core as mx
import mlx.optimizers as optim


@mx.custom_function
def neg_log_marglik(K, r):
    L = mx.linalg.cholesky(K, stream=mx.cpu)
    Kinv = mx.linalg.inv(K, stream=mx.cpu)
    a = Kinv @ r
    logdet = 2.0 * mx.log(mx.diag(L)).sum()
    n = r.shape[0]
    return 0.5 * (r @ a) + 0.5 * logdet + 0.5 * n * math.log(2 * math.pi)


@neg_log_marglik.vjp
def _nlml_vjp(primals, cotangent, output):
    K, r = primals
    Kinv = mx.linalg.inv(K, stream=mx.cpu)
    a = Kinv @ r
    dK = 0.5 * (Kinv - mx.outer(a, a)) * cotangent
    dr = a * cotangent
    return dK, dr


def rbf(params, xa, xb):
    ell = mx.exp(params["log_ell"])
    sf2 = mx.exp(2.0 * params["log_sf"])
    d2 = (xa[:, None] - xb[None, :]) ** 2
    return sf2 * mx.exp(-0.5 * d2 / (ell * ell))


def objective(params, x, y):
    n = x.shape[0]
    K = rbf(params, x, x) + (mx.exp(2.0 * params["log_sn"]) + 1e-5) * mx.eye(n)
    return neg_log_marglik(K, y - params["mean"]) / n      # nats per observation


def predict(params, x, y, xs):
    n = x.shape[0]
    K = rbf(params, x, x) + (mx.exp(2.0 * params["log_sn"]) + 1e-5) * mx.eye(n)
    a = mx.linalg.solve(K, y - params["mean"], stream=mx.cpu)
    return rbf(params, xs, x) @ a + params["mean"]


def main():
    mx.random.seed(5)
    k1, k2, k3 = mx.random.split(mx.random.key(0), 3)
    x = mx.sort(mx.random.uniform(-4.0, 4.0, (160,), key=k1))
    f = lambda z: 1.5 + mx.sin(1.7 * z) + 0.3 * z
    y = f(x) + 0.15 * mx.random.normal((160,), key=k2)
    xs = mx.random.uniform(-4.0, 4.0, (400,), key=k3)

    params = {
        "log_ell": mx.array(math.log(3.0)),
        "log_sf": mx.array(0.0),
        "log_sn": mx.array(math.log(0.8)),
        "mean": mx.array(0.0),
    }
    opt = optim.Adam(learning_rate=0.03)
    vg = mx.value_and_grad(objective)

    hdr = f"{'it':>4} {'nlml/n':>9} {'ell':>7} {'sf':>7} {'sn':>7} {'mean':>7} {'test rmse':>10}"
    print(hdr)
    print("=" * len(hdr))
    for it in range(0, 161):
        val, grads = vg(params, x, y)
        if it % 10 == 0:
            rmse = mx.sqrt(((predict(params, x, y, xs) - f(xs)) ** 2).mean()).item()
            print(f"{it:4d} {val.item():9.4f} {mx.exp(params['log_ell']).item():7.3f} "
                  f"{mx.exp(params['log_sf']).item():7.3f} {mx.exp(params['log_sn']).item():7.3f} "
                  f"{params['mean'].item():7.3f} {rmse:10.4f}")
        params = opt.apply_gradients(grads, params)
        mx.eval(params, opt.state)
    print("fitted noise std should be near 0.15")


if __name__ == "__main__":
    main()
