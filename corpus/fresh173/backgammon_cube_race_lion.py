"""Backgammon doubling cube: should the opponent TAKE or PASS a double?

Synthetic positions, two-stage curriculum:
  stage "race"    - pure race positions (no contact: blots / primes / bar are zero)
  stage "contact" - full positions, where contact features matter (harder, the loss
                    jumps back up when it starts, then comes down again)
Each stage warms its Lion learning rate up from exactly 0.
Logs one JSON object per epoch.
"""
import json
import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

rng = np.random.default_rng(2417)


def make_positions(n, contact):
    my_pips = rng.uniform(40, 170, n)
    opp_pips = my_pips + rng.normal(0, 22, n)
    my_off = rng.integers(0, 8, n).astype(np.float64)
    opp_off = rng.integers(0, 8, n).astype(np.float64)
    if contact:
        my_blots = rng.integers(0, 4, n).astype(np.float64)
        opp_blots = rng.integers(0, 4, n).astype(np.float64)
        prime = rng.integers(0, 7, n).astype(np.float64)
        on_bar = (rng.random(n) < 0.2).astype(np.float64)
    else:
        my_blots = np.zeros(n)
        opp_blots = np.zeros(n)
        prime = np.zeros(n)
        on_bar = np.zeros(n)
    # the doubler's winning chance, a made-up law
    race_edge = (opp_pips - my_pips) / (0.08 * my_pips + 6.0)
    z = (0.9 * race_edge + 0.12 * (my_off - opp_off)
         + 0.55 * opp_blots - 0.45 * my_blots + 0.38 * prime - 0.9 * on_bar
         + 0.15 * opp_blots * prime)
    p_doubler = 1.0 / (1.0 + np.exp(-(z + rng.normal(0, 0.35, n))))
    take = (p_doubler < 0.75).astype(np.float32)  # taker needs >= 25%
    feats = np.stack([
        my_pips / 100, opp_pips / 100, (opp_pips - my_pips) / 30,
        my_off / 7, opp_off / 7, my_blots / 3, opp_blots / 3,
        prime / 6, on_bar,
    ], axis=1).astype(np.float32)
    return mx.array(feats), mx.array(take)


class CubeNet(nn.Module):
    def __init__(self, d_in=9, h=48):
        super().__init__()
        self.l1 = nn.Linear(d_in, h)
        self.l2 = nn.Linear(h, h)
        self.out = nn.Linear(h, 1)

    def __call__(self, x):
        x = nn.gelu(self.l1(x))
        x = nn.gelu(self.l2(x))
        return self.out(x).squeeze(-1)


def bce(model, x, y):
    return nn.losses.binary_cross_entropy(model(x), y, with_logits=True, reduction="mean")


def evaluate(model, x, y):
    logits = model(x)
    ll = nn.losses.binary_cross_entropy(logits, y, with_logits=True, reduction="mean")
    acc = ((logits > 0).astype(mx.float32) == y).astype(mx.float32).mean()
    return ll.item(), acc.item()


mx.random.seed(11)
model = CubeNet()
mx.eval(model.parameters())
loss_and_grad = nn.value_and_grad(model, bce)

stages = [("race", False, 8), ("contact", True, 14)]
batch = 32
t0 = time.time()
for stage_name, contact, epochs in stages:
    x_tr, y_tr = make_positions(4800, contact)
    x_va, y_va = make_positions(600, contact)
    steps_per_epoch = x_tr.shape[0] // batch
    total = steps_per_epoch * epochs
    warm = steps_per_epoch
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, 6e-4, warm),
         optim.cosine_decay(6e-4, total - warm, 3e-5)], [warm])
    opt = optim.Lion(learning_rate=sched, weight_decay=1e-3)
    base_rate = y_va.mean().item()
    majority_acc = max(base_rate, 1 - base_rate)
    for ep in range(1, epochs + 1):
        perm = mx.array(rng.permutation(x_tr.shape[0]))
        run = 0.0
        for b in range(steps_per_epoch):
            idx = perm[b * batch:(b + 1) * batch]
            loss, grads = loss_and_grad(model, x_tr[idx], y_tr[idx])
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            run += loss.item()
        val_ll, val_acc = evaluate(model, x_va, y_va)
        rec = {
            "stage": stage_name,
            "epoch": ep,
            "of": epochs,
            "bce": round(run / steps_per_epoch, 4),
            "val_logloss": round(val_ll, 4),
            "take_pass_acc_pct": round(100 * val_acc, 1),
            "majority_pct": round(100 * majority_acc, 1),
            "lr": float(f"{opt.learning_rate.item():.2e}"),
        }
        print(json.dumps(rec), flush=True)

print(json.dumps({"done": True, "wall_s": round(time.time() - t0, 1)}))
