"""Sea-ice floe drift forecaster.

A GRU reads 16 h of buoy history (wind, ocean current, observed floe drift) and
then rolls the drift forward autoregressively using the forecast wind/current.
Training follows a horizon curriculum (1 h -> 3 h -> 6 h -> 12 h), so the loss
jumps up every time the horizon grows.  Gradients go through an
mx.distributed all-reduce so the same script runs on one Mac or several.
"""
import logging
import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)-5s floe | %(message)s",
                    datefmt="%H:%M:%S")
log = logging.getLogger("floe")

HIST = 16
MAXH = 12
N_TRAIN, N_VAL = 1200, 300


def make_buoys(n, key):
    k1, k2, k3, k4 = mx.random.split(key, 4)
    T = HIST + MAXH
    # wind (m/s): slow random walk around a synoptic mean
    wmean = mx.random.normal((n, 1, 2), key=k1) * 6.0
    wwalk = mx.cumsum(mx.random.normal((n, T, 2), key=k2) * 0.8, axis=1)
    wind = wmean + wwalk
    # tidal / ocean current (km/h): rotating tidal ellipse + mean flow
    t = mx.arange(T).astype(mx.float32)[None, :, None]
    phase = mx.random.uniform(0, 2 * math.pi, (n, 1, 1), key=k3)
    cur = mx.concatenate([0.35 * mx.cos(2 * math.pi * t / 12.4 + phase),
                          0.20 * mx.sin(2 * math.pi * t / 12.4 + phase)], axis=-1) + 0.1
    # free drift: ~2% of wind speed (m/s -> km/h * 3.6), turned 25 deg to the right,
    # plus current, with inertia
    c, s = math.cos(-0.436), math.sin(-0.436)
    wu, wv = wind[..., 0], wind[..., 1]
    steer = 0.02 * 3.6 * mx.stack([c * wu - s * wv, s * wu + c * wv], axis=-1)
    target = steer + cur
    drift = [target[:, 0]]
    for i in range(1, T):
        drift.append(0.6 * drift[-1] + 0.4 * target[:, i])
    drift = mx.stack(drift, axis=1) + 0.03 * mx.random.normal((n, T, 2), key=k4)
    forcing = mx.concatenate([wind / 6.0, cur * 3.0], axis=-1)  # scaled inputs
    return forcing, drift


class DriftNet(nn.Module):
    def __init__(self, hidden=48):
        super().__init__()
        self.gru = nn.GRU(4 + 2, hidden)
        self.head = nn.Linear(hidden, 2)

    def __call__(self, forcing, drift, horizon):
        seq = mx.concatenate([forcing[:, :HIST], drift[:, :HIST]], axis=-1)
        h = self.gru(seq)[:, -1]
        last = drift[:, HIST - 1]
        preds = []
        for k in range(horizon):
            x = mx.concatenate([forcing[:, HIST + k], last], axis=-1)[:, None, :]
            h = self.gru(x, hidden=h)[:, -1]
            last = last + self.head(h)  # predict the change in drift
            preds.append(last)
        return mx.stack(preds, axis=1)


def loss_fn(model, forcing, drift, horizon):
    pred = model(forcing, drift, horizon)
    return mx.mean((pred - drift[:, HIST:HIST + horizon]) ** 2)


def track_error_km(pred, true):
    # integrate hourly drift (km/h) into positions and report the end-point error in km
    return mx.mean(mx.sqrt(mx.sum((mx.sum(pred, 1) - mx.sum(true, 1)) ** 2, axis=-1)))


def main():
    group = mx.distributed.init()
    rank, world = group.rank(), group.size()
    log.info("distributed group: rank %d of %d", rank, world)

    key = mx.random.key(146 + rank)
    kd, kv, km = mx.random.split(key, 3)
    ftr, dtr = make_buoys(N_TRAIN, kd)
    fva, dva = make_buoys(N_VAL, kv)
    mx.eval(ftr, dtr, fva, dva)

    mx.random.seed(7)
    model = DriftNet()
    mx.eval(model.parameters())
    opt = optim.Adafactor(learning_rate=4e-3, relative_step=False, scale_parameter=False)
    vg = nn.value_and_grad(model, loss_fn)

    stages = [(1, 4), (3, 4), (6, 5), (12, 6)]  # (horizon hours, epochs)
    bs = 150
    t0 = time.time()
    for stage_i, (H, epochs) in enumerate(stages, 1):
        log.info("stage %d/%d: horizon %d h, %d epochs", stage_i, len(stages), H, epochs)
        for ep in range(1, epochs + 1):
            perm = mx.random.permutation(N_TRAIN)
            tot = 0.0
            nb = 0
            for i in range(0, N_TRAIN, bs):
                idx = perm[i:i + bs]
                loss, grads = vg(model, ftr[idx], dtr[idx], H)
                grads = tree_map(lambda g: mx.distributed.all_sum(g, group=group) / world, grads)
                opt.update(model, grads)
                mx.eval(model.parameters(), opt.state, loss)
                tot += loss.item()
                nb += 1
            pv = model(fva, dva, H)
            truth = dva[:, HIST:HIST + H]
            val_mse = mx.mean((pv - truth) ** 2).item()
            persist = mx.repeat(dva[:, HIST - 1:HIST], H, axis=1)
            pers_mse = mx.mean((persist - truth) ** 2).item()
            err_km = track_error_km(pv, truth).item()
            pers_km = track_error_km(persist, truth).item()
            if ep == 1 or ep == epochs or ep % 2 == 0:
                log.info("H=%02dh ep %2d/%d  train_mse %.4f  val_mse %.4f (persistence %.4f)  "
                         "end-point err %.2f km vs %.2f km", H, ep, epochs, tot / nb, val_mse,
                         pers_mse, err_km, pers_km)
        skill = 100.0 * (1.0 - err_km / pers_km)
        log.info("stage %d done: %d-h track skill over persistence %+.1f%%", stage_i, H, skill)

    gn = {k: mx.sqrt(mx.sum(g * g)).item() for k, g in tree_flatten(grads)}
    zero = [k for k, v in gn.items() if v == 0.0]
    log.info("grad-norm audit: %d tensors, %d with zero gradient, max %.3e", len(gn), len(zero),
             max(gn.values()))
    log.info("finished in %.1f s", time.time() - t0)


if __name__ == "__main__":
    main()
