# Pottery kiln: predict the cone-6 peak temperature error (scaled) from firing
# settings, with a heteroscedastic Gaussian head. The NLL in nats goes NEGATIVE
# once the predicted spread is small. Compiled step with state in/out;
# gradients are averaged with mx.distributed (one process here, same code on many).
import logging
import time
from functools import partial
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s kiln: %(message)s")
log = logging.getLogger("kiln")


def make_data(n, rng):
    x = rng.uniform(-1, 1, size=(n, 4)).astype(np.float32)  # ramp, hold, load, vent
    mu = 0.6 * np.sin(2.5 * x[:, 0]) + 0.3 * x[:, 1] * x[:, 2] - 0.2 * x[:, 3]
    sd = 0.02 + 0.08 * (x[:, 2] + 1) / 2
    y = (mu + sd * rng.normal(size=n)).astype(np.float32)
    return x, y


class GaussHead(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(4, 64), nn.SiLU(), nn.Linear(64, 64), nn.SiLU())
        self.mu = nn.Linear(64, 1)
        self.log_sd = nn.Linear(64, 1)

    def __call__(self, x):
        h = self.body(x)
        return self.mu(h).squeeze(-1), mx.clip(self.log_sd(h).squeeze(-1), -6.0, 3.0)


def nll(model, x, y):
    mu, log_sd = model(x)
    return mx.mean(log_sd + 0.5 * ((y - mu) * mx.exp(-log_sd)) ** 2 + 0.5 * np.log(2 * np.pi))


def main():
    group = mx.distributed.init()
    world = group.size()
    rng = np.random.default_rng(11 + group.rank())
    mx.random.seed(11)
    xtr, ytr = make_data(20000, rng)
    xva, yva = make_data(4000, np.random.default_rng(99))
    xva_m, yva_m = mx.array(xva), mx.array(yva)

    model = GaussHead()
    mx.eval(model.parameters())
    opt = optim.Adam(learning_rate=2e-3)
    vg = nn.value_and_grad(model, nll)

    _, g0 = vg(model, mx.array(xtr[:256]), mx.array(ytr[:256]))
    dead = [k for k, v in tree_flatten(g0) if float(mx.abs(v).max()) == 0.0]
    log.info("rank %d/%d, %d leaves, zero-grad leaves: %s", group.rank(), world, len(tree_flatten(g0)), dead or "none")

    state = [model.state, opt.state]

    @partial(mx.compile, inputs=state, outputs=state)
    def step(x, y):
        loss, grads = vg(model, x, y)
        grads = tree_map(lambda g: mx.distributed.all_sum(g, group=group) / world, grads)
        opt.update(model, grads)
        return loss

    log.info("%6s | %10s | %10s | %12s | %6s", "epoch", "train_nll", "val_nll", "val_rmse", "secs")
    bs, t0 = 256, time.time()
    for epoch in range(1, 41):
        perm = rng.permutation(len(ytr))
        tot, nb = 0.0, 0
        for i in range(0, len(ytr) - bs + 1, bs):
            idx = perm[i:i + bs]
            loss = step(mx.array(xtr[idx]), mx.array(ytr[idx]))
            mx.eval(state, loss)
            tot += loss.item()
            nb += 1
        if epoch % 5 == 0 or epoch == 1:
            mu, _ = model(xva_m)
            vn = nll(model, xva_m, yva_m).item()
            rmse = mx.sqrt(mx.mean((mu - yva_m) ** 2)).item()
            log.info("%6d | %10.4f | %10.4f | %12.4f | %6.1f", epoch, tot / nb, vn, rmse, time.time() - t0)
    log.info("done; noise floor of val NLL is about %.3f nats", float(np.mean(np.log(0.02 + 0.08 * (xva[:, 2] + 1) / 2) + 0.5 + 0.5 * np.log(2 * np.pi))))


if __name__ == "__main__":
    main()
