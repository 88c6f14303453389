"""Population-based training (PBT) of a small rate-of-spread model for surface fires.

Four workers (same network shape, different learning rates) are trained one after the
other for a fixed interval.  After every round the worst worker takes over the weights
and momentum buffers of the best one ("exploit") and nudges its learning rate
("explore").  Data are synthetic: a made-up Rothermel-like law plus log-normal noise.
"""
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

FEATURES = ["fuel_moist", "wind_kmh", "slope_deg", "fuel_load", "air_temp", "rel_hum"]


def make_fires(n, rng):
    moist = rng.uniform(2, 30, n)          # % dead fuel moisture
    wind = rng.gamma(2.0, 6.0, n)          # km/h at mid-flame
    slope = rng.uniform(0, 35, n)          # degrees
    load = rng.uniform(0.3, 3.0, n)        # kg/m2
    temp = rng.uniform(5, 40, n)           # C
    hum = rng.uniform(10, 90, n)           # %
    damp = np.exp(-moist / 9.0)
    wind_f = 1.0 + 0.08 * wind ** 1.3
    slope_f = 1.0 + 5.3 * np.tan(np.radians(slope)) ** 2
    ros = 1.8 * load ** 0.6 * damp * wind_f * slope_f * (1 + 0.01 * (temp - 20)) * (1.2 - hum / 150)
    ros = ros * np.exp(rng.normal(0, 0.15, n))   # m/min
    x = np.stack([moist, wind, slope, load, temp, hum], 1).astype(np.float32)
    return x, ros.astype(np.float32)


class SpreadNet(nn.Module):
    def __init__(self, hidden=48):
        super().__init__()
        self.inp = nn.Linear(len(FEATURES), hidden)
        self.mid = nn.Linear(hidden, hidden)
        self.out = nn.Linear(hidden, 1)

    def __call__(self, x):
        h = nn.silu(self.inp(x))
        h = nn.silu(self.mid(h))
        return self.out(h).squeeze(-1)        # predicts log(1 + ros)


def huber(pred, target, delta=0.5):
    return nn.losses.huber_loss(pred, target, delta=delta, reduction="mean")


class Worker:
    def __init__(self, wid, lr, seed):
        mx.random.seed(seed)
        self.wid = wid
        self.model = SpreadNet()
        mx.eval(self.model.parameters())
        self.lr = lr
        self.opt = optim.SGD(learning_rate=lr, momentum=0.9)
        self.step_fn = nn.value_and_grad(self.model, self.loss)
        self.steps = 0
        self.lineage = [f"w{wid}"]
        self.last_train = float("nan")

    def loss(self, model, x, y):
        return huber(model(x), y)

    def set_lr(self, lr):
        self.lr = lr
        self.opt.learning_rate = lr


def copy_tree(tree):
    return tree_map(lambda a: mx.array(a) if isinstance(a, mx.array) else a, tree)


def gradient_audit(worker, x, y):
    _, grads = worker.step_fn(worker.model, x, y)
    flat = tree_flatten(grads)
    zero = [k for k, g in flat if float(mx.abs(g).max()) == 0.0]
    return len(flat), zero


def train_interval(worker, xtr, ytr, steps, batch, rng):
    total = 0.0
    for _ in range(steps):
        idx = mx.array(rng.integers(0, xtr.shape[0], batch))
        loss, grads = worker.step_fn(worker.model, xtr[idx], ytr[idx])
        worker.opt.update(worker.model, grads)
        mx.eval(worker.model.parameters(), worker.opt.state, loss)
        total += loss.item()
        worker.steps += 1
    worker.last_train = total / steps


def val_rmse(worker, xva, ros_va):
    pred_log = worker.model(xva)
    pred = mx.exp(pred_log) - 1.0
    return math.sqrt(float(mx.mean((pred - ros_va) ** 2)))


def main():
    t0 = time.perf_counter()
    rng = np.random.default_rng(11)
    x_tr, ros_tr = make_fires(12000, rng)
    x_va, ros_va = make_fires(2000, rng)
    mu, sd = x_tr.mean(0), x_tr.std(0)
    xtr = mx.array((x_tr - mu) / sd)
    xva = mx.array((x_va - mu) / sd)
    ytr = mx.array(np.log1p(ros_tr))
    ros_va_mx = mx.array(ros_va)
    print(f"fires: {len(ros_tr)} train / {len(ros_va)} valid, median spread "
          f"{np.median(ros_tr):.2f} m/min, valid sd {ros_va.std():.2f} m/min")

    init_lrs = [0.3, 0.05, 0.008, 0.0012]
    pop = [Worker(i, lr, seed=100 + i) for i, lr in enumerate(init_lrs)]
    for w in pop:
        n_leaves, zero = gradient_audit(w, xtr[:256], ytr[:256])
        print(f"w{w.wid}: {n_leaves} parameter leaves, zero-gradient leaves at step 0: "
              f"{zero if zero else 'none'}; untrained valid RMSE {val_rmse(w, xva, ros_va_mx):.2f} m/min")

    rounds, interval, batch = 8, 150, 64
    for r in range(1, rounds + 1):
        for w in pop:                       # workers take turns
            train_interval(w, xtr, ytr, interval, batch, rng)
        scores = {w.wid: val_rmse(w, xva, ros_va_mx) for w in pop}
        lr_used = {w.wid: w.lr for w in pop}
        ranked = sorted(pop, key=lambda w: scores[w.wid])
        best, worst = ranked[0], ranked[-1]
        notes = {w.wid: "" for w in pop}
        print(f"\nround {r}/{rounds}  ({pop[0].steps} steps per worker)")
        print(f"  {'worker':<7}{'lr_used':>10}{'train_huber(log)':>17}{'valid_rmse':>12}  note")
        if r < rounds:
            # exploit: the worst worker takes the best worker's weights and momentum
            worst.model.update(copy_tree(best.model.parameters()))
            worst.opt.state = copy_tree(best.opt.state)
            factor = 1.25 if rng.random() < 0.5 else 0.8
            worst.set_lr(best.lr * factor)   # explore
            mx.eval(worst.model.parameters(), worst.opt.state)
            worst.lineage.append(f"r{r}:w{best.wid}")
            notes[worst.wid] = f"<- copied w{best.wid}, next lr {worst.lr:.4g}"
            notes[best.wid] = "best"
        for w in pop:
            print(f"  w{w.wid:<6}{lr_used[w.wid]:>10.4g}{w.last_train:>17.4f}{scores[w.wid]:>12.3f}  {notes[w.wid]}")

    final = {w.wid: val_rmse(w, xva, ros_va_mx) for w in pop}
    champ = min(pop, key=lambda w: final[w.wid])
    baseline = float(np.sqrt(np.mean((ros_va - np.median(ros_tr)) ** 2)))
    print(f"\nchampion w{champ.wid}: valid RMSE {final[champ.wid]:.3f} m/min "
          f"(predict-the-median baseline {baseline:.3f}), lr {champ.lr:.4g}, "
          f"lineage {' '.join(champ.lineage)}")
    print(f"wall time {time.perf_counter() - t0:.1f}s")


if __name__ == "__main__":
    main()
