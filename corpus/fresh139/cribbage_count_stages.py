"""Learn to count cribbage hands (5 cards: 4 in hand + starter).

Stage "pegs"  : target is the pairs score only (easy warm-up target).
Stage "count" : target switches to the full show count (fifteens + pairs +
                runs + flush), so the loss jumps when the stage changes.
Metrics go out as one JSON object per line.
"""
import itertools
import json
import random
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(5)

rng = random.Random(2024)
DECK = [(r, s) for r in range(1, 14) for s in range(4)]


def pairs_pts(hand):
    cnt = [0] * 14
    for r, _ in hand:
        cnt[r] += 1
    return sum(c * (c - 1) for c in cnt)  # 2 points per pair


def fifteens_pts(hand):
    vals = [min(r, 10) for r, _ in hand]
    n = 0
    for k in range(2, 6):
        for combo in itertools.combinations(vals, k):
            if sum(combo) == 15:
                n += 2
    return n


def runs_pts(hand):
    cnt = [0] * 15
    for r, _ in hand:
        cnt[r] += 1
    best = 0
    r = 1
    while r <= 13:
        if cnt[r]:
            length, mult, j = 0, 1, r
            while j <= 13 and cnt[j]:
                length += 1
                mult *= cnt[j]
                j += 1
            if length >= 3:
                best += length * mult
            r = j
        else:
            r += 1
    return best


def flush_pts(hand):
    suits = [s for _, s in hand[:4]]
    if len(set(suits)) == 1:
        return 5 if hand[4][1] == suits[0] else 4
    return 0


def features(hand):
    f = [0.0] * (13 + 4 + 52 + 13)
    for r, s in hand:
        f[r - 1] += 1.0
        f[13 + s] += 1.0
        f[17 + (r - 1) * 4 + s] = 1.0
    # value-histogram for the fifteen counter (A..9, tens)
    for r, _ in hand:
        f[69 + min(r, 10) - 1] += 1.0
    return f


def build(n):
    X, y_pairs, y_full = [], [], []
    for _ in range(n):
        hand = rng.sample(DECK, 5)
        X.append(features(hand))
        p = pairs_pts(hand)
        y_pairs.append(float(p))
        y_full.append(float(p + fifteens_pts(hand) + runs_pts(hand) + flush_pts(hand)))
    return mx.array(X), mx.array(y_pairs), mx.array(y_full)


Xtr, Ptr, Ftr = build(6000)
Xte, Pte, Fte = build(1500)


class Counter(nn.Module):
    def __init__(self, d_in=82, h=128):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(d_in, h), nn.SiLU(), nn.Linear(h, h), nn.SiLU(),
                                  nn.Linear(h, h), nn.SiLU())
        self.out = nn.Linear(h, 1)

    def __call__(self, x):
        return self.out(self.body(x)).squeeze(-1)


model = Counter()
mx.eval(model.parameters())

steps_pegs, steps_count, bs = 240, 900, 96
warm = 120
sched = optim.join_schedules(
    [optim.linear_schedule(0.0, 2e-3, warm),
     optim.cosine_decay(2e-3, steps_pegs + steps_count - warm, 1e-5)],
    [warm],
)
opt = optim.AdamW(learning_rate=sched, weight_decay=1e-4)


def loss_fn(m, x, y):
    return nn.losses.huber_loss(m(x), y, delta=2.0, reduction="mean")


state = [model.state, opt.state]


from functools import partial


@partial(mx.compile, inputs=state, outputs=state)
def train_step(x, y):
    loss, g = nn.value_and_grad(model, loss_fn)(model, x, y)
    opt.update(model, g)
    return loss


def evaluate(y_te):
    pred = model(Xte)
    mae = mx.mean(mx.abs(pred - y_te)).item()
    exact = mx.mean(mx.round(pred) == y_te).item() * 100
    return mae, exact


t0 = time.time()
for stage, n_steps, ytr, yte in (("pegs", steps_pegs, Ptr, Pte), ("count", steps_count, Ftr, Fte)):
    base_mae = mx.mean(mx.abs(yte - mx.mean(ytr))).item()  # predict-the-mean reference
    run, seen = 0.0, 0
    for it in range(1, n_steps + 1):
        idx = mx.random.randint(0, Xtr.shape[0], (bs,))
        loss = train_step(Xtr[idx], ytr[idx])
        mx.eval(state, loss)
        run += loss.item()
        seen += 1
        if it % 120 == 0 or it == 1 or it == n_steps:
            mae, exact = evaluate(yte)
            print(json.dumps({
                "stage": stage, "it": it, "of": n_steps,
                "lr": round(opt.learning_rate.item(), 6),
                "huber": round(run / seen, 4),
                "mae_pts": round(mae, 3), "mean_guess_mae": round(base_mae, 3),
                "exact_pct": round(exact, 1),
            }))
            run, seen = 0.0, 0
print(json.dumps({"done": True, "sec": round(time.time() - t0, 1)}))
