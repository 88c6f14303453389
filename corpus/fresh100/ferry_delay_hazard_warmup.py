"""Discrete-time survival model for ferry departure delays.

Each sailing is followed in 10-minute bins (12 bins = 2 hours).  A sailing either
departs in some bin (event) or drops out of tracking first (censored: AIS feed
lost, sailing cancelled).  The network predicts a per-bin hazard; the loss is the
censored discrete-hazard negative log-likelihood.

The route table is a fixed 6-d route descriptor (built once from route geometry)
kept in an nn.Embedding and frozen on purpose: only the MLP trains.
The learning rate warms up linearly from 0.
"""
import logging
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)-5s ferry: %(message)s",
                    datefmt="%H:%M:%S")
log = logging.getLogger("ferry")

N_BINS = 12
N_ROUTES = 8
N_FEAT = 6


def make_sailings(n, rng, route_table, w_route):
    x = rng.normal(size=(n, N_FEAT)).astype(np.float32)  # wind, waves, visibility, hour sin/cos, load
    route = rng.integers(0, N_ROUTES, size=n)
    beta = np.array([0.55, 0.45, -0.35, 0.25, -0.15, 0.30], dtype=np.float32)
    base = np.linspace(-0.9, -2.2, N_BINS).astype(np.float32)  # hazard falls with time waited
    lin = x @ beta + route_table[route] @ w_route + 0.35 * np.tanh(x[:, 0] * x[:, 1])
    logits = base[None, :] + lin[:, None]
    haz = 1.0 / (1.0 + np.exp(-logits))
    u = rng.random(size=(n, N_BINS))
    hit = u < haz
    t_event = np.where(hit.any(1), hit.argmax(1), N_BINS)  # N_BINS = no departure seen
    t_cens = rng.integers(3, N_BINS + 1, size=n)
    obs = np.minimum(t_event, t_cens)
    event = (t_event < t_cens).astype(np.float32)
    return x, route.astype(np.int32), obs.astype(np.int32), event


class HazardNet(nn.Module):
    def __init__(self, route_table):
        super().__init__()
        self.route = nn.Embedding(N_ROUTES, route_table.shape[1])
        self.route.weight = mx.array(route_table)
        self.l1 = nn.Linear(N_FEAT + route_table.shape[1], 64)
        self.l2 = nn.Linear(64, 64)
        self.head = nn.Linear(64, N_BINS)

    def __call__(self, x, r):
        h = mx.concatenate([x, self.route(r)], axis=1)
        h = nn.silu(self.l1(h))
        h = nn.silu(self.l2(h))
        return self.head(h)


def hazard_nll(model, x, r, obs, event):
    z = model(x, r)                                    # (B, N_BINS) hazard logits
    t = mx.arange(N_BINS)[None, :]
    at_risk = (t < obs[:, None]).astype(mx.float32)      # survived these bins
    hit = ((t == obs[:, None]) & (event[:, None] > 0)).astype(mx.float32)
    ll = at_risk * nn.log_sigmoid(-z) + hit * nn.log_sigmoid(z)
    return -ll.sum(axis=1).mean()


def expected_bins(model, x, r):
    h = mx.sigmoid(model(x, r))
    surv = mx.cumprod(1.0 - h, axis=1)
    return surv.sum(axis=1)  # expected number of bins waited (restricted to 2 h)


def concordance(pred_wait, obs, event):
    # comparable pairs: i departed (event) before j was last seen
    o_i, o_j = obs[:, None], obs[None, :]
    comp = (event[:, None] > 0) & (o_i < o_j)
    conc = (pred_wait[:, None] < pred_wait[None, :]) & comp
    ties = (pred_wait[:, None] == pred_wait[None, :]) & comp
    return (conc.sum() + 0.5 * ties.sum()) / max(comp.sum(), 1)


def main():
    rng = np.random.default_rng(7)
    mx.random.seed(7)
    route_table = rng.normal(size=(N_ROUTES, 6)).astype(np.float32) / np.sqrt(6)
    w_route = rng.normal(size=6).astype(np.float32)

    x_tr, r_tr, o_tr, e_tr = make_sailings(4800, rng, route_table, w_route)
    x_va, r_va, o_va, e_va = make_sailings(1500, rng, route_table, w_route)
    log.info("sailings: train=%d valid=%d, departed (uncensored) %.1f%%, mean bins observed %.2f",
             len(o_tr), len(o_va), 100 * e_tr.mean(), o_tr.mean())

    model = HazardNet(route_table)
    model.route.freeze()
    mx.eval(model.parameters())
    frozen_before = np.array(model.route.weight)

    batch, epochs = 64, 20
    steps_per_epoch = len(o_tr) // batch
    total = epochs * steps_per_epoch
    warm = 150
    schedule = optim.join_schedules(
        [optim.linear_schedule(0.0, 2e-3, warm), optim.cosine_decay(2e-3, total - warm, 1e-5)], [warm])
    opt = optim.Adam(learning_rate=schedule)
    loss_and_grad = nn.value_and_grad(model, hazard_nll)

    xv, rv, ov, ev = map(mx.array, (x_va, r_va, o_va, e_va))

    def validate():
        nll = hazard_nll(model, xv, rv, ov, ev).item()
        wait = np.array(expected_bins(model, xv, rv))
        return nll, 100.0 * concordance(wait, o_va, e_va)

    nll0, c0 = validate()
    log.info("untrained: valid nll %.4f nats/sailing, C-index %.2f%%", nll0, c0)

    t0 = time.time()
    step = 0
    for epoch in range(1, epochs + 1):
        perm = rng.permutation(len(o_tr))
        run_loss, seen = 0.0, 0
        for b in range(steps_per_epoch):
            idx = perm[b * batch:(b + 1) * batch]
            xb, rb, ob, eb = (mx.array(a[idx]) for a in (x_tr, r_tr, o_tr, e_tr))
            loss, grads = loss_and_grad(model, xb, rb, ob, eb)
            if step == 0:
                flat = tree_flatten(grads)
                nz = sum(int(mx.any(g != 0).item()) for _, g in flat)
                log.info("first step: %d trainable leaves, %d with non-zero gradient; route table frozen (%s)",
                         len(flat), nz, "route.weight" not in dict(flat))
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            run_loss += loss.item() * len(idx)
            seen += len(idx)
            step += 1
        if epoch % 4 == 0 or epoch == 1:
            nll, c = validate()
            log.info("epoch %2d  step %4d  lr %.2e  train nll %.4f  valid nll %.4f  C-index %.2f%%  %.1fs",
                     epoch, step, opt.learning_rate.item(), run_loss / seen, nll, c, time.time() - t0)

    drift = float(np.abs(np.array(model.route.weight) - frozen_before).max())
    nll, c = validate()
    log.info("done: valid nll %.4f (untrained %.4f), C-index %.2f%% (untrained %.2f%%), route-table drift %.1e",
             nll, nll0, c, c0, drift)


if __name__ == "__main__":
    main()
