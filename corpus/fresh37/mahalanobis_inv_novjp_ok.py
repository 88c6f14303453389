# Learned-covariance (Mahalanobis / LDA-style) classifier on synthetic
# correlated Gaussian blobs.  Covariance S = L L^T + eps*I is learned;
# logits_k = -0.5 (x - mu_k)^T S^-1 (x - mu_k).
import logging
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
log = logging.getLogger("maha")

mx.random.seed(11)
D, K, N = 6, 4, 2400

# synthetic data: shared, strongly correlated covariance
A = mx.random.normal((D, D)) * 0.8
true_cov = A @ A.T + 0.3 * mx.eye(D)
chol = mx.linalg.cholesky(true_cov, stream=mx.cpu)
centers = mx.random.normal((K, D)) * 1.2
labels = mx.random.randint(0, K, (N,))
X = centers[labels] + mx.random.normal((N, D)) @ chol.T
Xtr, ytr, Xva, yva = X[:2000], labels[:2000], X[2000:], labels[2000:]


@mx.custom_function
def fast_inv(S):
    # LAPACK inverse; quick and exact for small matrices
    return mx.linalg.inv(S, stream=mx.cpu)


@fast_inv.vjp
def fast_inv_vjp(primals, cotangent, output):
    # d(S^-1) = -S^-1 dS S^-1  ->  dS = -P^T G P^T
    P = output
    return -(P.T @ cotangent @ P.T)


class MahalanobisClassifier(nn.Module):
    def __init__(self):
        super().__init__()
        self.mu = mx.random.normal((K, D)) * 0.1
        self.L = mx.eye(D)

    def __call__(self, x):
        S = self.L @ self.L.T + 1e-3 * mx.eye(D)
        P = fast_inv(S)
        d = x[:, None, :] - self.mu[None, :, :]          # (B, K, D)
        m = mx.einsum("bkd,de,bke->bk", d, P, d)
        return -0.5 * m


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def accuracy(model, x, y):
    return mx.mean(mx.argmax(model(x), axis=1) == y).item()


model = MahalanobisClassifier()
mx.eval(model.parameters())
log.info("init val acc %.3f (chance %.3f)", accuracy(model, Xva, yva), 1 / K)

opt = optim.RMSprop(learning_rate=1e-2)
loss_and_grad = nn.value_and_grad(model, loss_fn)

t0 = time.time()
step = 0
for epoch in range(1, 31):
    perm = mx.random.permutation(Xtr.shape[0])
    for i in range(0, Xtr.shape[0], 100):
        idx = perm[i:i + 100]
        loss, grads = loss_and_grad(model, Xtr[idx], ytr[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        step += 1
    if epoch in (1, 2, 5) or epoch % 5 == 0:
        log.info("epoch %d step %d loss %.4f val_acc %.3f (%.1fs)",
                 epoch, step, loss.item(), accuracy(model, Xva, yva), time.time() - t0)
log.info("done")
