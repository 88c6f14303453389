# Fit the mean/log-scale of a small Gaussian "generative model" to data by
# maximising the log-likelihood of observed choices (score-function style),
# one Adam step per minibatch.
import logging
import math
import time
from functools import partial

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
log = logging.getLogger("fit")

mx.random.seed(11)
TRUE_W = mx.array([1.5, -2.0, 0.7, 0.0, 3.1])
X = mx.random.normal((512, 5))
Y = X @ TRUE_W + 0.8 + 0.5 * mx.random.normal((512,))


class GaussianModel(nn.Module):
    """y ~ Normal(x @ w + b, exp(log_sigma))"""

    def __init__(self):
        super().__init__()
        self.w = mx.zeros((5,))
        self.b = mx.zeros((1,))
        self.log_sigma = mx.zeros((1,))

    def log_prob(self, x, y):
        mu = x @ self.w + self.b
        # materialise the site value before scoring it (keeps traces small)
        mx.eval(mu)
        z = (y - mu) / mx.exp(self.log_sigma)
        return -0.5 * z * z - self.log_sigma - 0.5 * math.log(2 * math.pi)


def neg_log_lik(model, x, y):
    return -mx.mean(model.log_prob(x, y))


model = GaussianModel()
opt = optim.Adam(learning_rate=5e-2)
state = [model.state, opt.state]
score_grad = nn.value_and_grad(model, neg_log_lik)


@partial(mx.compile, inputs=state, outputs=state)
def train_step(x, y):
    loss, grads = score_grad(model, x, y)
    opt.update(model, grads)
    return loss


t0 = time.time()
for it in range(1, 1201):
    idx = mx.random.randint(0, 512, (64,))
    loss = train_step(X[idx], Y[idx])
    mx.eval(state, loss)
    if it % 100 == 0:
        err = mx.abs(model.w - TRUE_W).max().item()
        log.info("iter=%d nll=%.4f max|w-w*|=%.4f sigma=%.3f (%.1fs)",
                 it, loss.item(), err, mx.exp(model.log_sigma).item(), time.time() - t0)
log.info("done")
