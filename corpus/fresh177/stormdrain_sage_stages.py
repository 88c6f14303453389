"""Stormwater drain networks: predict the peak-flow load of every manhole.

Message passing over the pipe tree (children -> downstream node), trained in two
stages: small estates first, then whole catchments (deeper trees). Compiled step,
AdamW, early stopping with restore of the best weights at the end of each stage.
"""
import logging
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from functools import partial
from mlx.utils import tree_map, tree_flatten

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)-5s %(name)s | %(message)s",
                    datefmt="%H:%M:%S")
log = logging.getLogger("stormdrain")

NMAX = 16
rng = np.random.default_rng(2024)


def make_networks(count, n_lo, n_hi, reach):
    X = np.zeros((count, NMAX, 4), np.float32)
    A = np.zeros((count, NMAX, NMAX), np.float32)
    M = np.zeros((count, NMAX), np.float32)
    Y = np.zeros((count, NMAX), np.float32)
    for k in range(count):
        n = rng.integers(n_lo, n_hi + 1)
        parent = [-1] + [int(rng.integers(max(0, i - reach), i)) for i in range(1, n)]
        area = rng.uniform(0.2, 1.5, n)          # hectares drained into this manhole
        rain = rng.uniform(10, 60)               # mm/h design storm, same for whole net
        diam = rng.uniform(0.3, 0.9, n)          # m, outgoing pipe diameter
        flow = area * rain / 36.0
        for i in range(n - 1, 0, -1):            # accumulate downstream
            flow[parent[i]] += flow[i]
        for i in range(1, n):
            A[k, parent[i], i] = 1.0             # node i's child feeds into parent[i]
        X[k, :n] = np.stack([area, np.full(n, rain / 60), diam, np.full(n, 1.0)], 1)
        M[k, :n] = 1
        Y[k, :n] = np.log1p(flow) - 2 * np.log(diam)   # load ~ flow / pipe section
    return [mx.array(a) for a in (X, A, M, Y)]


class SageLayer(nn.Module):
    def __init__(self, d_in, d_out):
        super().__init__()
        self.self_lin = nn.Linear(d_in, d_out)
        self.up_lin = nn.Linear(d_in, d_out, bias=False)

    def __call__(self, h, A):
        return nn.relu(self.self_lin(h) + self.up_lin(A @ h))


class DrainNet(nn.Module):
    def __init__(self, d=32, layers=5):
        super().__init__()
        self.inp = nn.Linear(4, d)
        self.layers = [SageLayer(d, d) for _ in range(layers)]
        self.out = nn.Linear(d, 1)

    def __call__(self, X, A):
        h = nn.relu(self.inp(X))
        for l in self.layers:
            h = h + l(h, A)
        return self.out(h).squeeze(-1)


def masked_mse(model, X, A, M, Y):
    err = (model(X, A) - Y) * M
    return (err * err).sum() / M.sum()


def masked_mae(model, X, A, M, Y):
    return ((mx.abs(model(X, A) - Y) * M).sum() / M.sum()).item()


mx.random.seed(5)
model = DrainNet()
opt = optim.AdamW(learning_rate=2e-3, weight_decay=1e-4)
state = [model.state, opt.state]
loss_and_grad = nn.value_and_grad(model, masked_mse)


@partial(mx.compile, inputs=state, outputs=state)
def train_step(X, A, M, Y):
    loss, grads = loss_and_grad(model, X, A, M, Y)
    opt.update(model, grads)
    return loss


# one-off gradient audit outside the compiled step
Xa, Aa, Ma, Ya = make_networks(8, 5, 8, 2)
_, g0 = loss_and_grad(model, Xa, Aa, Ma, Ya)
dead = [k for k, v in tree_flatten(g0) if mx.abs(v).max().item() == 0]
log.info("grad audit: %d tensors, zero-grad: %s", len(tree_flatten(g0)), dead or "none")

stages = [("estate", 5, 8, 2), ("catchment", 12, 16, 3)]
BS, MAX_EP, PATIENCE = 64, 12, 3
t0 = time.time()
for sname, n_lo, n_hi, reach in stages:
    Xtr, Atr, Mtr, Ytr = make_networks(640, n_lo, n_hi, reach)
    Xva, Ava, Mva, Yva = make_networks(160, n_lo, n_hi, reach)
    ref = (mx.abs(Yva - (Ytr * Mtr).sum() / Mtr.sum()) * Mva).sum().item() / Mva.sum().item()
    log.info("stage %s: %d-%d manholes, mean-predictor MAE %.3f", sname, n_lo, n_hi, ref)
    best, best_ep, wait = float("inf"), -1, 0
    best_params = None
    for ep in range(MAX_EP):
        perm = mx.array(np.random.default_rng(ep).permutation(Xtr.shape[0]))
        run = 0.0
        for i in range(0, Xtr.shape[0], BS):
            b = perm[i:i + BS]
            loss = train_step(Xtr[b], Atr[b], Mtr[b], Ytr[b])
            mx.eval(state, loss)
            run += loss.item()
        va = masked_mae(model, Xva, Ava, Mva, Yva)
        flag = ""
        if va < best - 1e-4:
            best, best_ep, wait = va, ep, 0
            best_params = tree_map(lambda p: mx.array(p), model.parameters())
            mx.eval(best_params)
            flag = " *"
        else:
            wait += 1
        log.info("%s ep%02d mse=%.4f val_mae=%.4f (ref %.3f)%s", sname, ep, run / (Xtr.shape[0] // BS), va, ref, flag)
        if wait >= PATIENCE:
            log.warning("%s: no val improvement for %d epochs, stopping", sname, PATIENCE)
            break
    model.update(best_params)
    mx.eval(model.parameters())
    log.info("%s done: restored epoch %d, val_mae %.4f (check %.4f)", sname, best_ep, best,
             masked_mae(model, Xva, Ava, Mva, Yva))
log.info("total %.1fs", time.time() - t0)
