"""Streaming frost-risk regression for orchard sensors: replay buffer (capped) + all_sum grads."""
import logging, sys, time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
from mlx.utils import tree_flatten, tree_map

logging.basicConfig(stream=sys.stdout, level=logging.INFO,
                    format="%(asctime)s frost[%(levelname)s] %(message)s", datefmt="%H:%M:%S")
log = logging.getLogger("frost")


class Cfg:
    feats = 6
    batch_per_hour = 400       # sensor readings arriving per simulated hour
    hours = 30
    cap = 5000                 # replay buffer capacity
    steps_per_hour = 60
    mb = 64
    lr = 0.03
    mom = 0.9


def sensor_batch(n, rng):
    # dew point gap, wind, cloud cover, hour-to-dawn, soil temp, valley-floor flag
    x = np.stack([rng.normal(3, 2, n), rng.gamma(2, 1.2, n), rng.uniform(0, 1, n),
                  rng.uniform(0, 10, n), rng.normal(6, 2, n), (rng.uniform(size=n) < 0.3)], 1)
    # minimum canopy temperature (deg C) before sunrise, made-up radiative cooling law
    y = (0.6 * x[:, 4] + 0.35 * x[:, 0] - 2.2 * (1 - x[:, 2]) * np.exp(-0.4 * x[:, 1])
         - 0.18 * x[:, 3] - 1.1 * x[:, 5] + rng.normal(0, 0.5, n))
    return x.astype(np.float32), y.astype(np.float32)


class Replay:
    def __init__(self, cap, d):
        self.x = np.zeros((cap, d), np.float32)
        self.y = np.zeros(cap, np.float32)
        self.n, self.head, self.cap = 0, 0, cap

    def add(self, x, y):
        for xi, yi in zip(x, y):
            self.x[self.head], self.y[self.head] = xi, yi
            self.head = (self.head + 1) % self.cap
            self.n = min(self.n + 1, self.cap)

    def sample(self, k, rng):
        i = rng.integers(0, self.n, k)
        return self.x[i], self.y[i]


class Net(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.l1, self.l2, self.out = nn.Linear(d, 64), nn.Linear(64, 64), nn.Linear(64, 1)

    def __call__(self, x):
        h = nn.silu(self.l1(x))
        h = h + nn.silu(self.l2(h))
        return self.out(h).squeeze(-1)


def main():
    cfg = Cfg()
    group = mx.distributed.init()   # single process: size 1, all_sum is the identity
    rng = np.random.default_rng(11)
    mx.random.seed(11)
    # fixed normaliser from a calibration day (not trained)
    cx, cy = sensor_batch(2000, rng)
    mu, sd = cx.mean(0), cx.std(0) + 1e-6
    norm = lambda x: (x - mu) / sd
    tx, ty = sensor_batch(3000, rng)
    tX, tY = mx.array(norm(tx)), mx.array(ty)

    net = Net(cfg.feats)
    mx.eval(net.parameters())
    vel = tree_map(mx.zeros_like, net.parameters())

    def loss_fn(m, x, y):
        return mx.mean((m(x) - y) ** 2)

    vg = nn.value_and_grad(net, loss_fn)
    buf = Replay(cfg.cap, cfg.feats)
    log.info("rank %d of %d, buffer cap %d, %d readings/hour", group.rank(), group.size(), cfg.cap, cfg.batch_per_hour)
    log.info("untrained test rmse %.3f C (predict-mean %.3f C)",
             float(mx.sqrt(loss_fn(net, tX, tY))), float(np.std(ty)))
    t0 = time.time()
    for hour in range(1, cfg.hours + 1):
        buf.add(*sensor_batch(cfg.batch_per_hour, rng))
        losses = []
        for s in range(cfg.steps_per_hour):
            xb, yb = buf.sample(cfg.mb, rng)
            loss, g = vg(net, mx.array(norm(xb)), mx.array(yb))
            g = tree_map(lambda a: mx.distributed.all_sum(a, group=group) / group.size(), g)
            if hour == 1 and s == 0:
                fl = tree_flatten(g)
                log.info("grad check: %d leaves, zero: %s", len(fl),
                         [k for k, v in fl if float(mx.abs(v).sum()) == 0.0])
            vel = tree_map(lambda v, gi: cfg.mom * v + gi, vel, g)
            net.update(tree_map(lambda p, v: p - cfg.lr * v, net.parameters(), vel))
            mx.eval(net.parameters(), vel, loss)
            losses.append(float(loss))
        if hour in (1, 2, 3) or hour % 5 == 0:
            rmse = float(mx.sqrt(loss_fn(net, tX, tY)))
            pred = np.array(net(tX))
            miss = np.mean((ty < 0) & (pred >= 0)) * 100
            log.info("hour %2d buffer %5d (%.0f kB) train_mse %.3f test_rmse %.3f C missed_frost %.2f%% %.1fs",
                     hour, buf.n, (buf.x.nbytes + buf.y.nbytes) / 1e3 * buf.n / buf.cap,
                     np.mean(losses), rmse, miss, time.time() - t0)
    log.info("done: noise floor 0.500 C, final test rmse %.3f C", float(mx.sqrt(loss_fn(net, tX, tY))))


if __name__ == "__main__":
    main()
