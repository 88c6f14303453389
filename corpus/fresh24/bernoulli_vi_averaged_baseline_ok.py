"""Black-box VI with a mean-field Bernoulli guide over binary switches.

Discrete latents can't be reparameterized, so the guide is trained with the
REINFORCE / score-function estimator and a mean baseline.
"""
import logging

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
log = logging.getLogger("bbvi")

mx.random.seed(7)
L = 24          # binary latent switches
OBS = 2         # noisy observations per switch
SD = 1.5
z_true = (mx.random.uniform(shape=(L,)) < 0.5).astype(mx.float32)
x = (2 * z_true - 1)[:, None] + SD * mx.random.normal((L, OBS))

# exact posterior P(z_i = 1 | x) (prior 0.5), for monitoring only
llr = mx.sum(((x + 1) ** 2 - (x - 1) ** 2) / (2 * SD**2), axis=1)
post = mx.sigmoid(llr)


def log_joint(z):  # z: [K, L] in {0,1}
    mean = 2 * z[:, :, None] - 1
    ll = -0.5 * mx.sum(((x[None] - mean) / SD) ** 2, axis=(1, 2))
    return ll + L * mx.log(mx.array(0.5))


class BernoulliGuide(nn.Module):
    def __init__(self, n):
        super().__init__()
        self.logits = mx.zeros((n,))

    def sample(self, k, key):
        p = mx.sigmoid(self.logits)
        return (mx.random.uniform(shape=(k, p.shape[0]), key=key) < p).astype(mx.float32)

    def log_prob(self, z):
        lg = self.logits
        return mx.sum(z * lg - mx.logaddexp(mx.zeros_like(lg), lg), axis=-1)


def elbo_terms(model, z):
    return log_joint(z) - model.log_prob(z)


def reinforce_surrogate(model, z):
    log_q = model.log_prob(z)
    obj = elbo_terms(model, z)
    baseline = mx.stop_gradient(mx.mean(obj))
    return mx.mean(obj) + mx.mean(mx.stop_gradient(obj - baseline) * log_q)


def loss_fn(model, z):
    return -reinforce_surrogate(model, z)


guide = BernoulliGuide(L)
mx.eval(guide.parameters())
opt = optim.Adam(learning_rate=0.03)
step = nn.value_and_grad(guide, loss_fn)

K = 32
key = mx.random.key(0)
for it in range(1, 3001):
    key, sk = mx.random.split(key)
    z = mx.stop_gradient(guide.sample(K, sk))
    loss, grads = step(guide, z)
    opt.update(guide, grads)
    mx.eval(guide.parameters(), opt.state)
    if it == 1 or it % 200 == 0:
        elbo = mx.mean(elbo_terms(guide, z)).item()
        q = mx.sigmoid(guide.logits)
        err = mx.max(mx.abs(q - post)).item()
        log.info("iter %d elbo %.3f max|q-post| %.3f", it, elbo, err)

log.info("done")
