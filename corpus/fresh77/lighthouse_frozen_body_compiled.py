"""Lighthouse light nominal range: pretrain on a large simulated catalogue, then
re-use the trained body (frozen) and fit a fresh head on a small set of surveyed
lights whose luminous range was measured under a different transmissivity."""
import logging
import time
from functools import partial

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

logging.basicConfig(level=logging.INFO, format="%(levelname)s:%(name)s:%(message)s")
log = logging.getLogger("lighthouse")


def simulate(n, rng, transmissivity):
    # features: log10 candela, focal height (m), observer eye height (m),
    # colour (0 white, 0.5 red, 1 green), flash fraction, haze index
    logcd = rng.uniform(2.0, 6.5, n)
    h_focal = rng.uniform(5, 80, n)
    h_eye = rng.uniform(2, 20, n)
    colour = rng.choice([0.0, 0.5, 1.0], n)
    flash = rng.uniform(0.05, 0.6, n)
    haze = rng.uniform(0, 1, n)
    lum = 3.2 * (logcd - 2.0) * transmissivity * (1 - 0.25 * colour) * (0.8 + 0.4 * flash) - 2.0 * haze
    geo = 2.08 * (np.sqrt(h_focal) + np.sqrt(h_eye))
    rng_nm = np.minimum(np.maximum(lum, 0.5), geo) + rng.normal(0, 0.4, n)
    X = np.stack([logcd, h_focal, h_eye, colour, flash, haze], 1).astype(np.float32)
    return X, rng_nm.astype(np.float32)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(6, 64), nn.GELU(), nn.Linear(64, 64), nn.GELU())
        self.head = nn.Linear(64, 1)

    def __call__(self, x):
        return self.head(self.body(x)).squeeze(-1)


def loss_fn(model, x, y):
    return nn.losses.mse_loss(model(x), y)


def rmse(model, X, y, ysd):
    return float(mx.sqrt(mx.mean((model(X) - y) ** 2)).item()) * ysd


def grad_audit(model, x, y, tag):
    _, g = nn.value_and_grad(model, loss_fn)(model, x, y)
    leaves = tree_flatten(g)
    zero = [k for k, v in leaves if float(mx.abs(v).max().item()) == 0.0]
    log.info("%s: %d trainable leaves get a gradient, zero-gradient leaves: %s", tag, len(leaves), zero)


def train(model, opt, X, y, epochs, bs, rng, Xv, yv, ysd, tag):
    state = [model.state, opt.state]

    @partial(mx.compile, inputs=state, outputs=state)
    def step(x, t):
        loss, g = nn.value_and_grad(model, loss_fn)(model, x, t)
        opt.update(model, g)
        return loss

    n = X.shape[0]
    log.info("%s: epoch 0 (untrained head) valid RMSE %.3f nm", tag, rmse(model, Xv, yv, ysd))
    for ep in range(1, epochs + 1):
        t0 = time.time()
        perm = rng.permutation(n)
        tot, cnt = 0.0, 0
        for i in range(0, n - bs + 1, bs):
            idx = mx.array(perm[i:i + bs])
            loss = step(X[idx], y[idx])
            mx.eval(state, loss)
            tot += loss.item()
            cnt += 1
        log.info("%s: epoch %d train mse(std units) %.4f valid RMSE %.3f nm (%.1fs)",
                 tag, ep, tot / cnt, rmse(model, Xv, yv, ysd), time.time() - t0)


def main():
    rng = np.random.default_rng(7)
    mx.random.seed(7)
    Xa, ya = simulate(20000, rng, 0.85)
    Xav, yav = simulate(2000, rng, 0.85)
    mu, sd = Xa.mean(0), Xa.std(0)
    ymu, ysd = ya.mean(), ya.std()
    norm = lambda X: mx.array((X - mu) / sd)
    nrm_y = lambda y: mx.array((y - ymu) / ysd)

    model = Net()
    mx.eval(model.parameters())
    log.info("phase A: pretrain on %d simulated lights (transmissivity 0.85), predict-mean RMSE %.3f nm",
             len(ya), float(np.sqrt(np.mean((yav - ymu) ** 2))))
    XA, yA = norm(Xa), nrm_y(ya)
    grad_audit(model, XA[:128], yA[:128], "phase A")
    opt = optim.RMSprop(learning_rate=1e-3)
    train(model, opt, XA, yA, 6, 64, rng, norm(Xav), nrm_y(yav), ysd, "phase A")

    # phase B: a small surveyed set measured in clearer air; keep the body, refit the head
    Xb, yb = simulate(600, rng, 1.0)
    Xbv, ybv = simulate(1500, rng, 1.0)
    XB, yB, XBv, yBv = norm(Xb), nrm_y(yb), norm(Xbv), nrm_y(ybv)
    model.head = nn.Linear(64, 1)
    model.body.freeze()
    body_before = tree_map(lambda a: mx.array(a), model.body.parameters())
    mx.eval(model.parameters(), body_before)
    n_train = len(tree_flatten(model.trainable_parameters()))
    log.info("phase B: %d surveyed lights (transmissivity 1.0), body frozen, %d trainable leaves", len(yb), n_train)
    grad_audit(model, XB[:128], yB[:128], "phase B")
    opt_b = optim.SGD(learning_rate=0.02, momentum=0.9, nesterov=True)
    train(model, opt_b, XB, yB, 20, 32, rng, XBv, yBv, ysd, "phase B")
    moved = max(float(mx.abs(a - b).max().item()) for (_, a), (_, b) in
                zip(tree_flatten(model.body.parameters()), tree_flatten(body_before)))
    log.info("done: frozen body max change %.1f, final surveyed valid RMSE %.3f nm, noise floor 0.4 nm",
             moved, rmse(model, XBv, yBv, ysd))


if __name__ == "__main__":
    main()
