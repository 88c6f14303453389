"""Winter road maintenance: six gritting depots learn a shared model of tonnes
of salt spread per route-night without sharing their logs.  SCAFFOLD control
variates correct client drift; each depot's model change is clipped and the
coordinator adds Gaussian noise to the sum (central differential privacy), so
the held-out error settles on a floor above the noise-free optimum.  The
coordinator checkpoints half way, is torn down, and resumes from disk."""
import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
from mlx.utils import tree_flatten, tree_map, tree_unflatten

DEPOTS, ROUNDS, HALF = 6, 30, 15
LOCAL_STEPS, BATCH, CLIENT_LR, SERVER_LR = 10, 32, 0.03, 1.0
CLIP, NOISE_MULT = 0.15, 0.3
REPORT_AT = {0, 1, 2, 5, 10, 14, 15, 20, 25, 29}

rng = np.random.default_rng(7)


def route_nights(n, depot):
    # road temp (C), dew point gap, forecast snow (cm), route km, gradient %,
    # traffic index, treated last night flag
    temp = rng.normal(-2 + 1.5 * depot, 3, n)
    dew = rng.gamma(2.0, 1.0, n)
    snow = rng.exponential(1.0 + 0.5 * (depot % 3), n)
    km = rng.uniform(20, 80, n) * (1.0 + 0.15 * depot)
    grad = rng.uniform(0, 8, n)
    traffic = rng.uniform(0, 1, n)
    treated = rng.integers(0, 2, n)
    tonnes = (0.09 * km * (1 + 0.6 * (temp < 0)) + 1.8 * snow + 0.25 * grad
              - 0.4 * dew + 1.5 * traffic * (temp < 1) - 1.2 * treated
              + rng.normal(0, 1.0, n))
    x = np.stack([temp, dew, snow, km, grad, traffic, treated], 1).astype(np.float32)
    return x, np.maximum(tonnes, 0.0).astype(np.float32)


data = [route_nights(int(n), d) for d, n in enumerate(rng.integers(200, 700, DEPOTS))]
tx, ty = zip(*[route_nights(400, d) for d in range(DEPOTS)])
tx, ty = np.concatenate(tx), np.concatenate(ty)
allx = np.concatenate([d[0] for d in data])
mu, sd = allx.mean(0), allx.std(0)
ymu, ysd = float(np.concatenate([d[1] for d in data]).mean()), float(np.concatenate([d[1] for d in data]).std())
depot_x = [mx.array((x - mu) / sd) for x, _ in data]
depot_y = [mx.array((y - ymu) / ysd) for _, y in data]
test_x, test_y = mx.array((tx - mu) / sd), mx.array(ty)
sizes = [int(x.shape[0]) for x in depot_x]


class SaltNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(7, 48), nn.SiLU(), nn.Linear(48, 48), nn.SiLU())
        self.head = nn.Linear(48, 1)

    def __call__(self, x):
        return self.head(self.body(x)).squeeze(-1)


def mse(model, x, y):
    return nn.losses.mse_loss(model(x), y)


def test_metrics(model):
    pred = model(test_x) * ysd + ymu
    rmse = mx.sqrt(mx.mean((pred - test_y) ** 2)).item()
    r2 = 1.0 - mx.mean((pred - test_y) ** 2).item() / float(np.var(ty))
    return rmse, r2


def zeros_like_tree(t):
    return tree_map(mx.zeros_like, t)


def tree_l2(t):
    return float(np.sqrt(sum(mx.sum(v * v).item() for _, v in tree_flatten(t))))


class Coordinator:
    def __init__(self):
        mx.random.seed(11)
        self.model = SaltNet()
        mx.eval(self.model.parameters())
        p = self.model.trainable_parameters()
        self.c = zeros_like_tree(p)
        self.c_i = [zeros_like_tree(p) for _ in range(DEPOTS)]
        self.round = 0

    def save(self, path):
        flat = {"g." + k: v for k, v in tree_flatten(self.model.trainable_parameters())}
        flat.update({"c." + k: v for k, v in tree_flatten(self.c)})
        for i, ci in enumerate(self.c_i):
            flat.update({f"c{i}." + k: v for k, v in tree_flatten(ci)})
        flat["round"] = mx.array(self.round)
        mx.savez(path, **flat)

    def load(self, path):
        flat = mx.load(path)

        template = self.model.trainable_parameters()

        def pick(tag):
            names = iter(k for k, _ in tree_flatten(template))
            return tree_map(lambda _: flat[tag + next(names)], template)

        self.model.update(pick("g."))
        self.c = pick("c.")
        self.c_i = [pick(f"c{i}.") for i in range(DEPOTS)]
        self.round = int(flat["round"].item())
        mx.eval(self.model.parameters())


worker = SaltNet()
grad_fn = nn.value_and_grad(worker, mse)


def depot_round(coord, d, key):
    x0 = coord.model.trainable_parameters()
    worker.update(tree_map(lambda a: mx.array(a), x0))
    c, ci = coord.c, coord.c_i[d]
    n = sizes[d]
    keys = mx.random.split(key, LOCAL_STEPS)
    losses = []
    for k in range(LOCAL_STEPS):
        idx = mx.random.randint(0, n, (BATCH,), key=keys[k])
        loss, g = grad_fn(worker, depot_x[d][idx], depot_y[d][idx])
        new = tree_map(lambda w, gg, a, b: w - CLIENT_LR * (gg - a + b),
                       worker.trainable_parameters(), g, ci, c)
        worker.update(new)
        mx.eval(worker.parameters(), loss)
        losses.append(loss.item())
    y = worker.trainable_parameters()
    dy = tree_map(lambda a, b: a - b, y, x0)
    ci_new = tree_map(lambda a, b, xx, yy: a - b + (xx - yy) / (LOCAL_STEPS * CLIENT_LR), ci, c, x0, y)
    dc = tree_map(lambda a, b: a - b, ci_new, ci)
    raw = tree_l2(dy)
    scale = min(1.0, CLIP / (raw + 1e-12))
    dy = tree_map(lambda v: v * scale, dy)
    coord.c_i[d] = ci_new
    return dy, dc, raw, losses[0], losses[-1]


def run(coord, until, t0):
    while coord.round < until:
        r = coord.round
        chosen = sorted(rng.choice(DEPOTS, size=4, replace=False).tolist())
        dys, dcs, raws, firsts, lasts = [], [], [], [], []
        for d in chosen:
            dy, dc, raw, f, l = depot_round(coord, d, mx.random.key(1000 * r + d))
            dys.append(dy)
            dcs.append(dc)
            raws.append(raw)
            firsts.append(f)
            lasts.append(l)
        m = len(chosen)
        noise_key = mx.random.key(424242 + r)
        nkeys = iter(mx.random.split(noise_key, len(tree_flatten(dys[0]))))
        noise = tree_map(lambda v: NOISE_MULT * CLIP * mx.random.normal(v.shape, key=next(nkeys)), dys[0])
        total = tree_map(lambda *vs: sum(vs), *dys)
        step = tree_map(lambda s, z: SERVER_LR * (s + z) / m, total, noise)
        coord.model.update(tree_map(lambda w, s: w + s, coord.model.trainable_parameters(), step))
        coord.c = tree_map(lambda cc, *ds: cc + sum(ds) / DEPOTS, coord.c, *dcs)
        mx.eval(coord.model.parameters(), coord.c)
        coord.round += 1
        if r in REPORT_AT:
            rmse, r2 = test_metrics(coord.model)
            clipped = sum(rw > CLIP for rw in raws)
            print(f"{r:>5d} {'-'.join(map(str, chosen)):>9s} {np.mean(firsts):>9.4f} {np.mean(lasts):>9.4f} "
                  f"{np.mean(raws):>8.3f} {clipped:>4d}/{m} {tree_l2(noise) / m:>8.3f} "
                  f"{tree_l2(coord.c):>8.3f} {rmse:>8.3f} {r2:>7.3f} {time.time() - t0:>6.1f}")


# references a depot manager would compare against
mean_rmse = float(np.sqrt(np.mean((ty - ymu) ** 2)))
print(f"depots={DEPOTS} route-nights={sizes} test={len(ty)}  clip={CLIP} noise_multiplier={NOISE_MULT}")
print(f"reference: predict-the-mean test rmse {mean_rmse:.3f} t, simulated weather noise sd 1.000 t")
coord = Coordinator()
rmse0, r20 = test_metrics(coord.model)
print(f"untrained: test rmse {rmse0:.3f} t, R2 {r20:.3f}")
print(f"{'round':>5s} {'depots':>9s} {'mse_first':>9s} {'mse_last':>9s} {'|dy|':>8s} {'clip':>6s} "
      f"{'|noise|':>8s} {'|c|':>8s} {'rmse_t':>8s} {'R2':>7s} {'secs':>6s}")
t0 = time.time()
run(coord, HALF, t0)

with tempfile.TemporaryDirectory() as tmp:
    ck = os.path.join(tmp, "coordinator.npz")
    coord.save(ck)
    before = test_metrics(coord.model)
    del coord
    coord = Coordinator()
    coord.load(ck)
    after = test_metrics(coord.model)
    print(f"checkpoint round {coord.round}: rmse before save {before[0]:.4f} after reload {after[0]:.4f}")
    run(coord, ROUNDS, t0)

rmse, r2 = test_metrics(coord.model)
print(f"done: {ROUNDS} rounds, test rmse {rmse:.3f} t (mean predictor {mean_rmse:.3f}, noise sd 1.000), R2 {r2:.3f}")
