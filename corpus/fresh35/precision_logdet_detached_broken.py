# Fit the precision (inverse covariance) matrix of a 6-d Gaussian by maximum likelihood.
# P = L L^T with L a free lower-triangular matrix; NLL = 0.5*(tr(S P) - log|P|) + const.
import math
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(7)
D = 6
A = rng.normal(size=(D, D)) * 0.6
true_cov = A @ A.T + np.diag(rng.uniform(0.3, 1.2, size=D))
X = rng.multivariate_normal(np.zeros(D), true_cov, size=4000).astype(np.float32)
Xtr, Xva = mx.array(X[:3200]), mx.array(X[3200:])
true_prec = np.linalg.inv(true_cov)


class PrecisionModel(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.L = mx.eye(d) * 0.8

    def precision(self):
        Lt = mx.tril(self.L)
        return Lt @ Lt.T

    def logdet(self):
        # log|P| = 2 * sum(log(diag(chol(P))))
        # cholesky has no vjp in mlx, so evaluate it as a constant
        C = mx.linalg.cholesky(self.precision(), stream=mx.cpu)
        return mx.stop_gradient(2.0 * mx.sum(mx.log(mx.diag(C))))


def nll(model, xb):
    S = (xb.T @ xb) / xb.shape[0]
    P = model.precision()
    return 0.5 * (mx.sum(S * P) - model.logdet()) + 0.5 * D * math.log(2 * math.pi)


model = PrecisionModel(D)
mx.eval(model.parameters())
opt = optim.Adam(learning_rate=0.01)
step_fn = nn.value_and_grad(model, nll)

t0 = time.time()
bs = 128
step = 0
for epoch in range(1, 31):
    perm = mx.array(rng.permutation(Xtr.shape[0]))
    for i in range(0, Xtr.shape[0], bs):
        xb = Xtr[perm[i:i + bs]]
        loss, grads = step_fn(model, xb)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        step += 1
    if epoch % 3 == 0 or epoch == 1:
        val = nll(model, Xva).item()
        err = np.abs(np.array(model.precision()) - true_prec).max()
        print(f"epoch {epoch:2d} step {step:4d}  train_nll={loss.item():.4f}  val_nll={val:.4f}  max|P-P*|={err:.3f}  ({time.time()-t0:.1f}s)")
