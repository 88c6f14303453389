"""Farmers' market stall: pick one of five prices for a jar of jam per customer.

Contextual bandit, epsilon-greedy. A small MLP predicts the expected revenue of
each price from what the stall keeper sees (time of day, basket fullness, how
long the customer lingers, tourist or local, weather). Only the price actually
offered gets a target, so the regression loss is masked to that arm. Past
customers live in a numpy ring buffer that fills up to a fixed capacity and
then overwrites its oldest rows.
"""
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

PRICES = np.array([3.0, 4.0, 5.0, 6.5, 8.0], dtype=np.float32)
N_ARMS = len(PRICES)
N_FEAT = 6
CAPACITY = 3000
DAYS = 20
CUSTOMERS_PER_DAY = 250
FITS_PER_DAY = 150
BATCH = 64

rng = np.random.default_rng(7)
mx.random.seed(7)


def draw_customers(n):
    hour = rng.uniform(8, 14, n)
    basket = rng.beta(2, 3, n)
    linger = rng.exponential(1.0, n)
    tourist = (rng.random(n) < 0.35).astype(np.float32)
    sunny = (rng.random(n) < 0.6).astype(np.float32)
    x = np.stack([
        (hour - 11) / 2.0,
        basket * 2 - 1,
        np.log1p(linger) - 0.6,
        tourist * 2 - 1,
        sunny * 2 - 1,
        np.sin((hour - 8) / 6 * np.pi),
    ], axis=1).astype(np.float32)
    # made-up willingness to pay
    wtp = (4.2 + 1.6 * tourist + 1.1 * np.log1p(linger) - 0.9 * basket
           + 0.5 * sunny - 0.25 * (hour - 11))
    return x, wtp


def buy_prob(wtp):
    # P(buy at price p) = sigmoid((wtp - p) * 1.8)
    return 1.0 / (1.0 + np.exp(-(wtp[:, None] - PRICES[None, :]) * 1.8))


class RevenueNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(N_FEAT, 48)
        self.l2 = nn.Linear(48, 48)
        self.out = nn.Linear(48, N_ARMS)

    def __call__(self, x):
        h = nn.gelu(self.l1(x))
        h = nn.gelu(self.l2(h))
        return self.out(h)


class RingBuffer:
    def __init__(self, cap):
        self.cap = cap
        self.x = np.zeros((cap, N_FEAT), np.float32)
        self.a = np.zeros(cap, np.int32)
        self.r = np.zeros(cap, np.float32)
        self.n = 0
        self.head = 0

    def add(self, x, a, r):
        for i in range(len(a)):
            self.x[self.head] = x[i]
            self.a[self.head] = a[i]
            self.r[self.head] = r[i]
            self.head = (self.head + 1) % self.cap
            self.n = min(self.n + 1, self.cap)

    def sample(self, k):
        idx = rng.integers(0, self.n, k)
        return self.x[idx], self.a[idx], self.r[idx]


def masked_mse(model, x, a, r):
    pred = model(x)
    onehot = mx.arange(N_ARMS)[None, :] == a[:, None]
    chosen = mx.sum(mx.where(onehot, pred, 0.0), axis=1)
    return mx.mean((chosen - r) ** 2)


model = RevenueNet()
mx.eval(model.parameters())
opt = optim.Adam(learning_rate=2e-3)
loss_and_grad = nn.value_and_grad(model, masked_mse)
buf = RingBuffer(CAPACITY)

t0 = time.time()
print(f"prices on the board: {', '.join(f'{p:.2f}' for p in PRICES)}")
checked = False
for day in range(1, DAYS + 1):
    eps = max(0.05, 0.5 * 0.8 ** (day - 1))
    x, wtp = draw_customers(CUSTOMERS_PER_DAY)
    p_buy = buy_prob(wtp)
    expected = p_buy * PRICES[None, :]
    greedy = np.array(mx.argmax(model(mx.array(x)), axis=1))
    explore = rng.random(CUSTOMERS_PER_DAY) < eps
    arms = np.where(explore, rng.integers(0, N_ARMS, CUSTOMERS_PER_DAY), greedy)
    bought = rng.random(CUSTOMERS_PER_DAY) < p_buy[np.arange(CUSTOMERS_PER_DAY), arms]
    revenue = bought * PRICES[arms]
    buf.add(x, arms, revenue.astype(np.float32))

    fit_losses = []
    for _ in range(FITS_PER_DAY):
        bx, ba, br = buf.sample(BATCH)
        loss, grads = loss_and_grad(model, mx.array(bx), mx.array(ba), mx.array(br))
        if not checked:
            flat = tree_flatten(grads)
            dead = [k for k, g in flat if float(mx.abs(g).max()) == 0.0]
            print(f"first fit: {len(flat)} gradient arrays, all-zero: {dead if dead else 'none'}")
            checked = True
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        fit_losses.append(loss.item())

    got = revenue.mean()
    best = expected.max(axis=1).mean()
    picked_best = np.mean(arms == expected.argmax(axis=1)) * 100
    print(f"day {day:2d}: eps {eps:.2f}, revenue/customer {got:.2f} (oracle {best:.2f}), "
          f"best price offered {picked_best:4.1f}% of the time, "
          f"buffer {buf.n}/{CAPACITY}, fit mse {np.mean(fit_losses):.3f}")

# greedy evaluation on a fresh crowd (no exploration)
x, wtp = draw_customers(4000)
expected = buy_prob(wtp) * PRICES[None, :]
greedy = np.array(mx.argmax(model(mx.array(x)), axis=1))
flat_price = expected.mean(axis=0)
print(f"greedy policy on 4000 new customers: expected revenue/customer "
      f"{expected[np.arange(4000), greedy].mean():.3f}, oracle {expected.max(axis=1).mean():.3f}, "
      f"best single fixed price {flat_price.max():.3f} (at {PRICES[flat_price.argmax()]:.2f})")
print(f"done in {time.time() - t0:.1f}s")
