"""Match tuk-tuk trips between the driver's meter log and the passenger app.

Each synthetic trip is seen twice: once by the meter (noisy odometer, coarse clock,
fare in baht) and once by the app (GPS distance, wait time, surge flag, jittered
zones). Two small towers are trained with a symmetric InfoNCE loss so that the
two views of the same trip land close together. Compiled train step, learning
rate warmed up from exactly 0, early stopping on the validation hit rate with
the best weights restored at the end.
"""
import logging
import time
from functools import partial

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s tuktuk: %(message)s",
                    datefmt="%H:%M:%S")
log = logging.getLogger("tuktuk")

rng = np.random.default_rng(1717)
mx.random.seed(1717)
NZ = 12


def make_trips(n):
    z0 = rng.integers(0, NZ, n)
    z1 = rng.integers(0, NZ, n)
    dist = np.abs(z0 - z1) * 0.9 + rng.gamma(2.0, 0.8, n)          # km
    traffic = rng.uniform(0.6, 1.8, n)
    dur = dist * 3.2 * traffic + rng.exponential(2.0, n)             # minutes
    stops = rng.poisson(0.4 + dist * 0.3)
    hour = rng.uniform(0, 24, n)
    surge = ((hour > 17) & (hour < 20)).astype(np.float32)
    fare = 35 + 12 * dist * (1 + 0.4 * surge) + 2 * stops

    def onehot(z):
        o = np.zeros((n, NZ), np.float32); o[np.arange(n), z] = 1; return o

    # meter view: odometer drift, clock rounded to 5 min, fare in baht
    meter = np.concatenate([
        onehot(z0), onehot(z1),
        np.stack([dist * rng.normal(1.0, 0.08, n) / 5,
                  np.round(dur / 5) * 5 / 30,
                  fare / 100,
                  stops / 3,
                  np.sin(hour / 24 * 2 * np.pi), np.cos(hour / 24 * 2 * np.pi)], 1)], 1)
    # app view: zones occasionally off by one, GPS distance, wait time, surge flag
    jit = lambda z: np.clip(z + rng.choice([-1, 0, 0, 0, 1], n), 0, NZ - 1)
    app = np.concatenate([
        onehot(jit(z0)), onehot(jit(z1)),
        np.stack([(dist + rng.normal(0, 0.3, n)) / 5,
                  (dur + rng.normal(0, 1.5, n)) / 30,
                  stops * 0.5 + rng.normal(0, 0.3, n),
                  surge,
                  (hour + rng.normal(0, 0.2, n)) / 24], 1)], 1)
    return meter.astype(np.float32), app.astype(np.float32)


m_tr, a_tr = make_trips(2048)
m_va, a_va = make_trips(512)


class Tower(nn.Module):
    def __init__(self, d_in, d_out=24):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(d_in, 64), nn.GELU(), nn.Linear(64, 64), nn.GELU(),
                                 nn.Linear(64, d_out))

    def __call__(self, x):
        e = self.net(x)
        return e / mx.sqrt(mx.sum(e * e, axis=-1, keepdims=True) + 1e-6)


class TripMatcher(nn.Module):
    def __init__(self):
        super().__init__()
        self.meter = Tower(m_tr.shape[1])
        self.app = Tower(a_tr.shape[1])

    def __call__(self, m, a):
        return self.meter(m), self.app(a)


TAU = 0.1


def info_nce(model, m, a):
    em, ea = model(m, a)
    logits = (em @ ea.T) / TAU
    labels = mx.arange(logits.shape[0])
    return 0.5 * (nn.losses.cross_entropy(logits, labels, reduction="mean")
                  + nn.losses.cross_entropy(logits.T, labels, reduction="mean"))


def retrieval(model, m, a):
    em, ea = model(mx.array(m), mx.array(a))
    sim = np.array(em @ ea.T)
    ranks = (sim > np.diag(sim)[:, None]).sum(1)      # 0 = correct trip ranked first
    return float((ranks == 0).mean()), float(np.median(ranks) + 1), float(np.mean(ranks) + 1)


model = TripMatcher()
mx.eval(model.parameters())

BATCH = 128
steps_per_epoch = len(m_tr) // BATCH
warm = 2 * steps_per_epoch
sched = optim.join_schedules([optim.linear_schedule(0.0, 2e-3, warm),
                              optim.cosine_decay(2e-3, 60 * steps_per_epoch, 1e-4)], [warm])
opt = optim.AdamW(learning_rate=sched, weight_decay=1e-4)

vg = nn.value_and_grad(model, info_nce)

_, g0 = vg(model, mx.array(m_tr[:BATCH]), mx.array(a_tr[:BATCH]))
zero = [k for k, g in tree_flatten(g0) if mx.abs(g).max().item() == 0]
log.info("grad check: %d tensors, %d with all-zero gradient", len(tree_flatten(g0)), len(zero))

state = [model.state, opt.state]


@partial(mx.compile, inputs=state, outputs=state)
def train_step(m, a):
    loss, grads = vg(model, m, a)
    opt.update(model, grads)
    return loss


h1, med, mean_r = retrieval(model, m_va, a_va)
log.info("before training: hit@1 %.1f%%  median rank %.0f  mean rank %.1f  (chance hit@1 %.2f%%)",
         100 * h1, med, mean_r, 100 / len(m_va))

best_hit, best_ep, best_params, patience, bad = -1.0, 0, None, 6, 0
t0 = time.time()
for ep in range(1, 61):
    order = rng.permutation(len(m_tr))
    run = 0.0
    for s in range(steps_per_epoch):
        b = order[s * BATCH:(s + 1) * BATCH]
        loss = train_step(mx.array(m_tr[b]), mx.array(a_tr[b]))
        mx.eval(state, loss)
        run += loss.item()
    h1, med, mean_r = retrieval(model, m_va, a_va)
    lr_now = opt.learning_rate.item()
    log.info("ep %02d  nce %.4f  lr %.2e  val hit@1 %.1f%%  med %.0f  mean %.1f",
             ep, run / steps_per_epoch, lr_now, 100 * h1, med, mean_r)
    if h1 > best_hit:
        best_hit, best_ep, bad = h1, ep, 0
        best_params = model.parameters()
    else:
        bad += 1
        if bad >= patience:
            log.info("no gain for %d epochs, stopping at ep %d", patience, ep)
            break

model.update(best_params)
mx.eval(model.parameters())
h1, med, mean_r = retrieval(model, m_va, a_va)
log.info("restored ep %d weights: hit@1 %.1f%% (best seen %.1f%%)  median rank %.0f  mean rank %.1f  [%.1fs]",
         best_ep, 100 * h1, 100 * best_hit, med, mean_r, time.time() - t0)
