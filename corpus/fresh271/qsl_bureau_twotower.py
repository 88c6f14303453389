"""QSL bureau: match incoming QSL cards to the station's own contact log.

A card carries what the other operator wrote down (band, mode, UTC time,
signal report, grid square...), the log carries what we wrote down; the two
sides are recorded differently and with different errors. A card tower and a
log tower map both sides into one 32-d space; training uses a symmetric
InfoNCE loss with a learned logit scale (capped at 100, as in CLIP).

Stage A: in-batch negatives only.
Stage B: each batch also carries, for every card, the hardest non-matching log entry
         from the whole training log (re-mined at the start of every epoch),
         so the loss starts higher in stage B than where stage A ended.
Each stage warms its learning rate up from 0.
"""
import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

rng = np.random.default_rng(2024)

N_STATIONS = 160          # the same station is worked many times
N_TRAIN, N_TEST = 2400, 600
LAT = 12
F_CARD, F_LOG = 18, 22
DIM = 32
BATCH = 96
EPOCHS_A, EPOCHS_B = 6, 5
WARMUP = 30
PEAK_LR = 2e-3

station_lat = rng.normal(0, 1.0, (N_STATIONS, LAT))
card_mix = rng.normal(0, 1 / math.sqrt(LAT), (LAT, F_CARD))
log_mix = rng.normal(0, 1 / math.sqrt(LAT), (LAT, F_LOG))


def make_contacts(n):
    st = rng.integers(0, N_STATIONS, n)
    lat = station_lat[st] + 0.6 * rng.normal(0, 1, (n, LAT))   # this contact
    card = np.tanh(lat @ card_mix) + 0.15 * rng.normal(0, 1, (n, F_CARD))
    log = np.tanh(1.3 * lat @ log_mix) + 0.10 * rng.normal(0, 1, (n, F_LOG))
    sloppy = rng.random((n, F_CARD)) < 0.08                        # fields left blank
    card[sloppy] = 0.0
    return card.astype(np.float32), log.astype(np.float32), st


ctr, ltr, str_ = make_contacts(N_TRAIN)
cte, lte, ste = make_contacts(N_TEST)


class Tower(nn.Module):
    def __init__(self, d_in):
        super().__init__()
        self.l1 = nn.Linear(d_in, 96)
        self.n1 = nn.LayerNorm(96)
        self.l2 = nn.Linear(96, 96)
        self.out = nn.Linear(96, DIM)

    def __call__(self, x):
        h = nn.gelu(self.n1(self.l1(x)))
        h = h + nn.gelu(self.l2(h))
        z = self.out(h)
        return z / mx.sqrt(mx.sum(z * z, axis=-1, keepdims=True) + 1e-8)


class Matcher(nn.Module):
    def __init__(self):
        super().__init__()
        self.card = Tower(F_CARD)
        self.log = Tower(F_LOG)
        self.log_scale = mx.array([math.log(1 / 0.07)])

    def scale(self):
        return mx.minimum(mx.exp(self.log_scale), 100.0)[0]


def loss_fn(model, cb, lb, lneg):
    zc = model.card(cb)
    zl = model.log(lb)
    s = model.scale()
    if lneg is not None:
        zn = model.log(lneg)
        cols = mx.concatenate([zl, zn], axis=0)
    else:
        cols = zl
    tgt = mx.arange(cb.shape[0])
    c2l = nn.losses.cross_entropy(s * zc @ cols.T, tgt, reduction="mean")
    l2c = nn.losses.cross_entropy(s * zl @ zc.T, tgt, reduction="mean")
    return 0.5 * (c2l + l2c)


def recall_at(model, cards, logs, ks=(1, 5)):
    sims = model.card(mx.array(cards)) @ model.log(mx.array(logs)).T
    order = np.array(mx.argsort(-sims, axis=1))
    rank = np.argmax(order == np.arange(len(cards))[:, None], axis=1)
    return {k: float((rank < k).mean()) for k in ks}


def raw_recall(cards, logs, ks=(1, 5)):
    # best one can do without training: least-squares map card -> log on the train split
    w, *_ = np.linalg.lstsq(ctr, ltr, rcond=None)
    a = cards @ w
    a /= np.linalg.norm(a, axis=1, keepdims=True)
    b = logs / np.linalg.norm(logs, axis=1, keepdims=True)
    rank = np.argmax(np.argsort(-(a @ b.T), axis=1) == np.arange(len(cards))[:, None], axis=1)
    return {k: float((rank < k).mean()) for k in ks}


def mine_hard(model):
    zc = model.card(mx.array(ctr))
    zl = model.log(mx.array(ltr))
    sims = zc @ zl.T
    sims = sims - 10.0 * mx.eye(N_TRAIN)          # the true log entry is not a negative
    return np.array(mx.argmax(sims, axis=1))


def schedule(steps):
    return optim.join_schedules(
        [optim.linear_schedule(0.0, PEAK_LR, WARMUP),
         optim.cosine_decay(PEAK_LR, steps - WARMUP, 1e-5)],
        [WARMUP])


mx.random.seed(3)
model = Matcher()
mx.eval(model.parameters())
grad_fn = nn.value_and_grad(model, loss_fn)
steps_per_epoch = N_TRAIN // BATCH

print(f"contacts: train {N_TRAIN}  test {N_TEST}  stations {N_STATIONS}")
base = raw_recall(cte, lte)
print(f"baselines on the {N_TEST}-entry test log: chance R@1 {1/N_TEST:.4f} R@5 {5/N_TEST:.4f}  "
      f"least-squares map R@1 {base[1]:.3f} R@5 {base[5]:.3f}")
r = recall_at(model, cte, lte)
print(f"untrained towers R@1 {r[1]:.3f} R@5 {r[5]:.3f}   in-batch loss floor at init ~ ln({BATCH}) = {math.log(BATCH):.2f}")

gstep = 0
for stage, n_ep in (("A", EPOCHS_A), ("B", EPOCHS_B)):
    opt = optim.AdamW(learning_rate=schedule(n_ep * steps_per_epoch), weight_decay=0.01)
    print(f"--- stage {stage}: {'in-batch' if stage == 'A' else 'in-batch + mined hard'} negatives, "
          f"{n_ep} epochs, lr warmup 0 -> {PEAK_LR:g}")
    for ep in range(n_ep):
        t0 = time.perf_counter()
        hard = mine_hard(model) if stage == "B" else None
        perm = rng.permutation(N_TRAIN)
        tot = 0.0
        for b in range(steps_per_epoch):
            ids = perm[b * BATCH:(b + 1) * BATCH]
            cb, lb = mx.array(ctr[ids]), mx.array(ltr[ids])
            lneg = mx.array(ltr[hard[ids]]) if hard is not None else None
            loss, grads = grad_fn(model, cb, lb, lneg)
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item()
            if b == 0 and ep == 0:
                print(f"  first step of stage {stage}: lr {opt.learning_rate.item():.2e} "
                      f"loss {loss.item():.4f}")
            gstep += 1
        r = recall_at(model, cte, lte)
        print(f"stage {stage} epoch {ep + 1}/{n_ep}  step {gstep:4d}  loss {tot / steps_per_epoch:.4f}  "
              f"scale {model.scale().item():6.2f}  test R@1 {r[1]:.3f} R@5 {r[5]:.3f}  "
              f"({time.perf_counter() - t0:.1f}s)")

r = recall_at(model, cte, lte)
print(f"final test R@1 {r[1]:.3f} R@5 {r[5]:.3f}  (least-squares map R@1 {base[1]:.3f}, chance {1/N_TEST:.4f})")
