"""Sea-state classification from wave-buoy summaries, learned buoy by buoy.

Three buoys come online one after another (North, Shelf, Harbour).  They
measure the same four sea states (calm / moderate / rough / swell) but each
buoy's accelerometer package has its own gain, offset and noise, so the
feature distribution shifts when a new buoy starts reporting.  We train on
the stream buoy by buoy and keep a reservoir-sampled rehearsal memory (capped
at MEM_CAP rows) of everything seen so far; every step mixes a batch from the
current buoy with a batch drawn from the memory, so the older buoys are not
forgotten.

The memory grows while the first buoy streams in and then stays at its cap.
"""
import logging
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

log = logging.getLogger("buoys")
logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)-5s %(name)s: %(message)s",
                    datefmt="%H:%M:%S")

STATES = ["calm", "moderate", "rough", "swell"]
BUOYS = ["north", "shelf", "harbour"]
N_FEAT = 8
MEM_CAP = 1500
BATCH = 48
EPOCHS_PER_BUOY = 6


def sea_state_features(rng, n, state):
    """Hs, Tp, Tz, spectral width, directional spread, peakedness, 2 noise-ish channels."""
    hs = {0: 0.4, 1: 1.3, 2: 3.2, 3: 1.9}[state] * np.exp(rng.normal(0, 0.25, n))
    tp = {0: 5.0, 1: 7.0, 2: 8.5, 3: 13.0}[state] + rng.normal(0, 1.2, n)
    tz = tp * (0.72 + 0.05 * rng.normal(size=n)) - (0.6 if state == 3 else 0.0)
    width = {0: 0.55, 1: 0.5, 2: 0.45, 3: 0.25}[state] + rng.normal(0, 0.07, n)
    spread = {0: 40.0, 1: 32.0, 2: 28.0, 3: 14.0}[state] + rng.normal(0, 6.0, n)
    peak = 3.3 + (1.5 if state == 3 else 0.0) + rng.normal(0, 0.8, n)
    gust = rng.normal(0, 1, n) + (0.8 if state == 2 else 0.0)
    junk = rng.normal(0, 1, n)
    return np.stack([np.log(hs), tp, tz, width, spread, peak, gust, junk], axis=1)


def make_buoy(seed, gain, offset, noise, n):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 4, n)
    X = np.zeros((n, N_FEAT))
    for s in range(4):
        idx = np.where(y == s)[0]
        X[idx] = sea_state_features(rng, len(idx), s)
    X = X * gain + offset + rng.normal(0, noise, X.shape)
    return X, y


class Reservoir:
    """Algorithm R reservoir over (x, y) rows held as numpy arrays."""

    def __init__(self, cap, dim, seed):
        self.cap = cap
        self.X = np.zeros((0, dim), dtype=np.float32)
        self.y = np.zeros((0,), dtype=np.int32)
        self.seen = 0
        self.rng = np.random.default_rng(seed)

    def add(self, xb, yb):
        for x, t in zip(xb, yb):
            self.seen += 1
            if len(self.y) < self.cap:
                self.X = np.concatenate([self.X, x[None].astype(np.float32)])
                self.y = np.concatenate([self.y, np.array([t], dtype=np.int32)])
            else:
                j = self.rng.integers(0, self.seen)
                if j < self.cap:
                    self.X[j] = x
                    self.y[j] = t

    def sample(self, k):
        idx = self.rng.integers(0, len(self.y), k)
        return self.X[idx], self.y[idx]


class SeaStateNet(nn.Module):
    def __init__(self, d_in, hidden=96, n_out=4):
        super().__init__()
        self.inp = nn.Linear(d_in, hidden)
        self.mid = nn.Linear(hidden, hidden)
        self.out = nn.Linear(hidden, n_out)

    def __call__(self, x):
        h = nn.gelu(self.inp(x))
        h = h + nn.gelu(self.mid(h))
        return self.out(h)


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def accuracy_pct(model, X, y):
    pred = mx.argmax(model(mx.array(X)), axis=1)
    return 100.0 * mx.mean(pred == mx.array(y)).item()


def main():
    mx.random.seed(11)
    t0 = time.time()
    specs = {
        "north": dict(seed=1, gain=1.0, offset=0.0, noise=0.05),
        "shelf": dict(seed=2, gain=np.array([1.0, 1.15, 1.1, 0.9, 1.2, 1.0, 1.0, 1.0]),
                      offset=np.array([0.35, 1.2, 0.8, 0.05, -4.0, 0.3, 0.0, 0.0]), noise=0.15),
        "harbour": dict(seed=3, gain=np.array([0.8, 0.9, 0.9, 1.2, 0.8, 1.1, 1.0, 1.0]),
                        offset=np.array([-0.4, -1.0, -0.7, 0.1, 6.0, -0.4, 0.0, 0.0]), noise=0.25),
    }
    train, test = {}, {}
    for b in BUOYS:
        X, y = make_buoy(n=3600, **specs[b])
        train[b] = (X[:3000], y[:3000])
        test[b] = (X[3000:], y[3000:])
    # standardise with the first buoy's statistics only (that is all we had when deploying)
    mu = train["north"][0].mean(0)
    sd = train["north"][0].std(0) + 1e-6
    for d in (train, test):
        for b in BUOYS:
            d[b] = (((d[b][0] - mu) / sd).astype(np.float32), d[b][1].astype(np.int32))
    log.info("data ready: %d buoys x %d train / %d test rows, chance accuracy %.1f%%",
             len(BUOYS), len(train["north"][1]), len(test["north"][1]), 100.0 / len(STATES))

    model = SeaStateNet(N_FEAT)
    mx.eval(model.parameters())
    opt = optim.AdamW(learning_rate=1.5e-3, weight_decay=1e-4)
    step_fn = nn.value_and_grad(model, loss_fn)
    memory = Reservoir(MEM_CAP, N_FEAT, seed=5)
    acc_matrix = np.full((len(BUOYS), len(BUOYS)), np.nan)
    rng = np.random.default_rng(21)
    step = 0

    for ti, b in enumerate(BUOYS):
        X, y = train[b]
        n_batches = len(y) // BATCH
        log.info("buoy %s comes online (%d/%d), memory holds %d rows",
                 b, ti + 1, len(BUOYS), len(memory.y))
        for ep in range(1, EPOCHS_PER_BUOY + 1):
            perm = rng.permutation(len(y))
            losses = []
            for k in range(n_batches):
                idx = perm[k * BATCH:(k + 1) * BATCH]
                xb, yb = X[idx], y[idx]
                if len(memory.y) >= BATCH:
                    mxb, myb = memory.sample(BATCH)
                    xb_all = np.concatenate([xb, mxb])
                    yb_all = np.concatenate([yb, myb])
                else:
                    xb_all, yb_all = xb, yb
                loss, grads = step_fn(model, mx.array(xb_all), mx.array(yb_all))
                if step == 0:
                    flat = tree_flatten(grads)
                    zero = [name for name, g in flat if mx.abs(g).max().item() == 0.0]
                    log.info("first step: %d gradient leaves, zero leaves: %s",
                             len(flat), zero if zero else "none")
                opt.update(model, grads)
                mx.eval(model.parameters(), opt.state, loss)
                losses.append(loss.item())
                if ep == 1:
                    memory.add(xb, yb)  # each streamed row enters the reservoir once
                step += 1
            seen_acc = [accuracy_pct(model, *test[s]) for s in BUOYS[: ti + 1]]
            log.info("buoy=%-7s epoch=%d steps=%5d train_ce=%.4f memory=%4d mean_acc_seen=%.1f%%",
                     b, ep, step, float(np.mean(losses)), len(memory.y), float(np.mean(seen_acc)))
        for sj, s in enumerate(BUOYS):
            acc_matrix[ti, sj] = accuracy_pct(model, *test[s])

    log.info("accuracy (%) on each buoy's test set after training up to each buoy:")
    header = "after \\ on  " + "".join(f"{s:>10}" for s in BUOYS)
    log.info(header)
    for ti, b in enumerate(BUOYS):
        log.info("%-11s " + "".join(f"{v:10.1f}" for v in acc_matrix[ti]), b)
    log.info("final mean accuracy %.1f%%, memory %d/%d rows (%d streamed), %.1fs",
             float(np.mean(acc_matrix[-1])), len(memory.y), MEM_CAP, memory.seen, time.time() - t0)


if __name__ == "__main__":
    main()
