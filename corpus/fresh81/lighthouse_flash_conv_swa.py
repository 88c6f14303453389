"""Classify lighthouse light characteristics from noisy photometer traces.

5 classes: Fl (single flash), Fl(2) (group flash), Oc (occulting), Iso (equal on/off),
Q (quick flashing).  Traces are 96 samples, NLC layout (batch, time, 1).
The first Conv1d is a FIXED bank of edge / smoothing filters (frozen on purpose);
the rest trains.  Stochastic weight averaging over the last epochs.
"""
import logging
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)-5s lighthouse: %(message)s",
                    datefmt="%H:%M:%S")
log = logging.getLogger()

T = 96
CLASSES = ["Fl", "Fl(2)", "Oc", "Iso", "Q"]


def make_trace(kind, rng):
    period = rng.uniform(18, 30)
    phase = rng.uniform(0, period)
    t = (np.arange(T) + phase) % period
    if kind == 0:      # single short flash
        on = t < rng.uniform(2, 4)
    elif kind == 1:    # two short flashes
        w = rng.uniform(1.5, 2.5)
        on = (t < w) | ((t > 2 * w + 1) & (t < 3 * w + 1))
    elif kind == 2:    # occulting: light mostly on, short dark
        on = ~(t < rng.uniform(3, 6))
    elif kind == 3:    # isophase
        on = t < period / 2
    else:              # quick: ~60/min => short period
        qp = rng.uniform(5, 7)
        on = ((np.arange(T) + phase) % qp) < qp / 2.5
    x = on.astype(np.float32) * rng.uniform(0.6, 1.4)
    x = x + 0.15 * np.sin(np.arange(T) / rng.uniform(8, 20))     # haze drift
    x = x + rng.normal(0, 0.35, T)                                # scintillation
    return x.astype(np.float32)


def make_set(n, seed):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 5, n)
    X = np.stack([make_trace(k, rng) for k in y])[..., None]
    return X, y.astype(np.int32)


class FlashNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.bank = nn.Conv1d(1, 4, kernel_size=5, padding=2)
        self.c2 = nn.Conv1d(4, 16, kernel_size=5, padding=2)
        self.c3 = nn.Conv1d(16, 16, kernel_size=5, padding=4, dilation=2)
        self.head = nn.Linear(32, 5)

    def __call__(self, x):
        h = self.bank(x)
        h = nn.relu(self.c2(h))
        h = nn.relu(self.c3(h))
        feats = mx.concatenate([h.mean(axis=1), h.max(axis=1)], axis=-1)
        return self.head(feats)


def set_filter_bank(model):
    # fixed filters: box smoother, step edge, second difference, identity
    k = np.array([[0.2, 0.2, 0.2, 0.2, 0.2],
                  [-0.5, -0.5, 0.0, 0.5, 0.5],
                  [0.0, 1.0, -2.0, 1.0, 0.0],
                  [0.0, 0.0, 1.0, 0.0, 0.0]], dtype=np.float32)
    model.bank.weight = mx.array(k[:, :, None])    # (out, k, in)
    model.bank.bias = mx.zeros((4,))
    model.bank.freeze()


def evaluate(model, X, y):
    logits = model(X)
    ce = nn.losses.cross_entropy(logits, y, reduction="mean")
    err = (mx.argmax(logits, axis=-1) != y).astype(mx.float32).mean()
    mx.eval(ce, err)
    return ce.item(), 100.0 * err.item()


def main():
    mx.random.seed(4)
    Xtr, ytr = make_set(3000, 1)
    Xte, yte = make_set(1000, 2)
    Xtr, ytr, Xte, yte = map(mx.array, (Xtr, ytr, Xte, yte))
    log.info("traces train=%d test=%d length=%d classes=%s", Xtr.shape[0], Xte.shape[0], T, ",".join(CLASSES))

    model = FlashNet()
    set_filter_bank(model)
    n_train = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
    n_all = sum(v.size for _, v in tree_flatten(model.parameters()))
    log.info("parameters trainable=%d of %d (filter bank frozen)", n_train, n_all)
    bank0 = np.array(model.bank.weight)

    opt = optim.SGD(learning_rate=0.05, momentum=0.9, weight_decay=1e-4)

    def loss_fn(m, xb, yb):
        return nn.losses.cross_entropy(m(xb), yb, reduction="mean")

    vg = nn.value_and_grad(model, loss_fn)

    ce0, err0 = evaluate(model, Xte, yte)
    log.info("untrained test_ce=%.3f test_err=%.1f%% (chance err 80.0%%)", ce0, err0)

    epochs, swa_start, bs = 8, 5, 64
    swa, swa_n = None, 0
    n = Xtr.shape[0]
    t0 = time.time()
    for ep in range(1, epochs + 1):
        if ep == swa_start:
            opt.learning_rate = 0.02       # constant SWA learning rate
        perm = mx.array(np.random.default_rng(100 + ep).permutation(n))
        tot, cnt = 0.0, 0
        for i in range(0, n - bs + 1, bs):
            idx = perm[i:i + bs]
            loss, grads = vg(model, Xtr[idx], ytr[idx])
            if ep == 1 and i == 0:
                flat = tree_flatten(grads)
                zero = [k for k, g in flat if float(mx.abs(g).max()) == 0.0]
                log.info("first-step grads: %d trainable leaves, zero=%s", len(flat), zero)
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item()
            cnt += 1
        if ep >= swa_start:
            p = model.trainable_parameters()
            if swa is None:
                swa = tree_map(lambda a: mx.array(a), p)
            else:
                swa = tree_map(lambda s, a: (s * swa_n + a) / (swa_n + 1), swa, p)
            mx.eval(swa)
            swa_n += 1
        ce, err = evaluate(model, Xte, yte)
        log.info("epoch %2d lr=%.3f train_ce=%.4f test_ce=%.4f test_err=%.1f%% swa_models=%d %.1fs",
                 ep, float(opt.learning_rate), tot / cnt, ce, err, swa_n, time.time() - t0)

    model.update(swa)
    ce, err = evaluate(model, Xte, yte)
    drift = float(np.abs(np.array(model.bank.weight) - bank0).max())
    log.info("SWA average of %d epochs: test_ce=%.4f test_err=%.1f%%", swa_n, ce, err)
    log.info("done; frozen filter bank max change %.1f", drift)


if __name__ == "__main__":
    main()
