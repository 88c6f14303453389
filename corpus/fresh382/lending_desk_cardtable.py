"""Branch library: predict how many days a loan stays out from the borrower's card, the book's
genre, its length and the season.  New cardholders join every week during the autumn sign-up
drive; the member table starts with room for 64 cards and doubles its capacity whenever the
next card number would not fit (Adam moments are padded the same way).  After week 12 no new
cards are issued, so the table stops growing.
"""
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(2024)
mx.random.seed(2024)

N_GENRES, DIM = 12, 24
TRUE_K = 4
SIGNUP_WEEKS, NEW_PER_WEEK, WEEKS = 12, 90, 22
LOANS_PER_WEEK, WINDOW_WEEKS = 700, 4

# hidden reader tastes (ground truth of the simulator)
total_members = SIGNUP_WEEKS * NEW_PER_WEEK
m_bias = rng.normal(0, 0.35, total_members)
m_vec = rng.normal(0, 0.5, (total_members, TRUE_K))
g_vec = rng.normal(0, 0.5, (N_GENRES, TRUE_K))
g_bias = rng.normal(0, 0.2, N_GENRES)


def loans(n, members, week):
    who = rng.choice(members, n)
    genre = rng.integers(0, N_GENRES, n)
    pages = rng.normal(0, 1, n)
    season = 2 * math.pi * week / 52
    y = (2.6 + m_bias[who] + g_bias[genre] + (m_vec[who] * g_vec[genre]).sum(1)
         + 0.18 * pages + 0.1 * math.sin(season) + rng.normal(0, 0.22, n))
    num = np.stack([pages, np.full(n, math.sin(season)), np.full(n, math.cos(season))], 1)
    return who.astype(np.int32), genre.astype(np.int32), num.astype(np.float32), y.astype(np.float32)


class LoanModel(nn.Module):
    def __init__(self, capacity):
        super().__init__()
        self.member = nn.Embedding(capacity, DIM)
        self.member.weight = self.member.weight * 0.05
        self.genre = nn.Embedding(N_GENRES, DIM)
        self.l1 = nn.Linear(2 * DIM + 3, 64)
        self.l2 = nn.Linear(64, 1)

    def __call__(self, who, genre, num):
        h = mx.concatenate([self.member(who), self.genre(genre), num], axis=1)
        return self.l2(nn.silu(self.l1(h))).squeeze(-1)


def grow(model, opt, new_cap):
    old = model.member.weight
    extra = mx.random.normal((new_cap - old.shape[0], DIM)) * 0.05
    model.member.weight = mx.concatenate([old, extra], axis=0)
    st = opt.state["member"]["weight"]
    pad = mx.zeros((new_cap - old.shape[0], DIM))
    st["m"] = mx.concatenate([st["m"], pad], axis=0)
    st["v"] = mx.concatenate([st["v"], pad], axis=0)
    mx.eval(model.parameters(), opt.state)


def loss_fn(model, who, genre, num, y):
    return nn.losses.huber_loss(model(who, genre, num), y, delta=1.0).mean()


capacity = 64
model = LoanModel(capacity)
opt = optim.Adam(learning_rate=2e-3)
opt.init(model.trainable_parameters())
mx.eval(model.parameters(), opt.state)
vg = nn.value_and_grad(model, loss_fn)

window = []
issued = 0
t0 = time.time()
print(f"{'wk':>3} {'cards':>6} {'table':>10} {'KiB':>7} {'log':>6} {'huber':>7} "
      f"{'mae_log':>8} {'med_days':>8} {'mae_new':>8} {'mean_pred':>9} {'secs':>6}")
for week in range(1, WEEKS + 1):
    if week <= SIGNUP_WEEKS:
        first_new = issued
        issued += NEW_PER_WEEK
        while issued > capacity:
            capacity *= 2
            grow(model, opt, capacity)
            print(f"    -- card table now {capacity} rows")
    members = np.arange(issued)
    newest = np.arange(max(0, issued - NEW_PER_WEEK), issued) if week <= SIGNUP_WEEKS else None
    window.append(loans(LOANS_PER_WEEK, members, week))
    window = window[-WINDOW_WEEKS:]
    who, genre, num, y = (np.concatenate(p) for p in zip(*window))
    losses = []
    for _ in range(80):
        idx = rng.integers(0, len(y), 128)
        loss, g = vg(model, mx.array(who[idx]), mx.array(genre[idx]), mx.array(num[idx]), mx.array(y[idx]))
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state, loss)
        losses.append(loss.item())
    # held-out loans of this week (fresh draws)
    hw, hg, hn, hy = loans(1500, members, week)
    pred = np.array(model(mx.array(hw), mx.array(hg), mx.array(hn)))
    mae = np.abs(pred - hy).mean()
    med_days = np.median(np.abs(np.exp(pred) - np.exp(hy)))
    base = np.abs(y.mean() - hy).mean()
    if newest is not None:
        nw, ng, nn_, ny = loans(600, newest, week)
        npred = np.array(model(mx.array(nw), mx.array(ng), mx.array(nn_)))
        mae_new = f"{np.abs(npred - ny).mean():8.3f}"
    else:
        mae_new = f"{'-':>8}"
    kib = model.member.weight.nbytes / 1024
    print(f"{week:3d} {issued:6d} {issued:4d}/{capacity:<5d} {kib:7.1f} {len(y):6d} {np.mean(losses):7.4f} "
          f"{mae:8.3f} {med_days:8.2f} {mae_new} {base:9.3f} {time.time() - t0:6.1f}")

n_params = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
print(f"done: {issued} cards, table {capacity} rows, {n_params} trainable numbers")
print(f"reference: mae_log of the simulator's own noise = {0.22 * math.sqrt(2 / math.pi):.3f}; "
      f"mean_pred = mae_log of always predicting the window's mean")
