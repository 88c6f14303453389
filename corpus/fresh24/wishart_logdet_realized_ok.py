# Fit the scale matrix of a Wishart distribution to a bank of observed
# scatter matrices by maximum likelihood.  The scale is parameterised through
# the Cholesky factor of its inverse (MLX has no VJP for inv/cholesky).
import math
import sys

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(0)
K, DF, N = 3, 8, 256

A = mx.array([[1.0, 0.0, 0.0], [0.6, 0.8, 0.0], [-0.4, 0.3, 0.5]])
V_true = A @ A.T
g = mx.random.normal((N, DF, K)) @ A.T           # rows ~ N(0, V_true)
X_obs = mx.einsum("ndi,ndj->nij", g, g)           # X ~ Wishart(DF, V_true)


def mvlgamma(a, p):
    return p * (p - 1) / 4 * math.log(math.pi) + sum(math.lgamma(a - j / 2) for j in range(p))


class Wishart:
    """Wishart(df, V) given the Cholesky factor L of V^{-1}."""

    def __init__(self, df, prec_chol):
        self.df, self.k = df, prec_chol.shape[0]
        self.V_inv = prec_chol @ prec_chol.T
        # log|V| = -log|V^{-1}| = -2 sum log|diag L|, cached at construction
        self.log_det_V = (-2.0 * mx.sum(mx.log(mx.abs(mx.diag(prec_chol)))))

    def log_prob(self, X):
        k, df = self.k, self.df
        sign, log_det_X = mx.linalg.slogdet(X, stream=mx.cpu)
        tr = mx.sum(self.V_inv[None] * X, axis=(1, 2))   # tr(V^-1 X), both symmetric
        return (
            0.5 * (df - k - 1) * log_det_X
            - 0.5 * tr
            - 0.5 * df * k * math.log(2.0)
            - 0.5 * df * self.log_det_V
            - mvlgamma(df / 2, k)
        )


class ScaleModel(nn.Module):
    def __init__(self, k):
        super().__init__()
        self.L = mx.eye(k)

    def chol(self):
        return mx.tril(self.L)


def nll(model, X):
    return -mx.mean(Wishart(DF, model.chol()).log_prob(X))


model = ScaleModel(K)
opt = optim.Adam(learning_rate=0.02)
vg = nn.value_and_grad(model, nll)

print(f"{'step':>6} | {'nll':>12} | {'rel err V':>10}")
print("-" * 36)
for step in range(1, 2001):
    idx = mx.random.randint(0, N, (64,))
    loss, grads = vg(model, X_obs[idx])
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    if step == 1 or step % 125 == 0:
        Lc = model.chol()
        V_hat = mx.linalg.inv(Lc @ Lc.T, stream=mx.cpu)
        rel = (mx.linalg.norm(V_hat - V_true) / mx.linalg.norm(V_true)).item()
        sys.stdout.write(f"{step:>6} | {loss.item():>12.4f} | {rel:>10.4f}\n")
        sys.stdout.flush()
