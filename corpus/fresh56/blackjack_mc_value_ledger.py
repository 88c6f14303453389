# Monte-Carlo policy evaluation for blackjack (infinite deck) with a neural value
# function. Fixed player policy: stick on 20 or 21, otherwise hit. Dealer hits
# below 17. Every update uses a fresh batch of simulated episodes from random
# starting states (exploring starts), so the regression targets are single-episode
# returns in {-1, 0, +1}: a very noisy objective whose loss plateaus near the
# return variance. The net is compared against the exact values obtained by
# dynamic programming over the infinite-deck card distribution.
import functools
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(7)
CARD_P = {c: (4 / 13 if c == 10 else 1 / 13) for c in range(1, 11)}


def draw(n=None):
    c = rng.integers(1, 14, n)
    return np.minimum(c, 10)


def hand_value(total, soft_aces):
    # soft_aces: number of aces currently counted as 11
    while total > 21 and soft_aces:
        total -= 10
        soft_aces -= 1
    return total, soft_aces


# ---------- exact values by DP ----------
@functools.lru_cache(maxsize=None)
def dealer_dist(total, soft):
    """Distribution of the dealer's final total (17..21, 22=bust)."""
    if total > 21:
        return {22: 1.0}
    if total >= 17:
        return {total: 1.0}
    out = {}
    for c, p in CARD_P.items():
        t, s = total + (11 if c == 1 else c), soft + (1 if c == 1 else 0)
        t, s = hand_value(t, s)
        for k, q in dealer_dist(t, s).items():
            out[k] = out.get(k, 0.0) + p * q
    return out


def dealer_final_from_upcard(up):
    out = {}
    for c, p in CARD_P.items():
        t = (11 if up == 1 else up) + (11 if c == 1 else c)
        s = (up == 1) + (c == 1)
        t, s = hand_value(t, s)
        for k, q in dealer_dist(t, s).items():
            out[k] = out.get(k, 0.0) + p * q
    return out


@functools.lru_cache(maxsize=None)
def v_exact(psum, soft, up):
    if psum > 21:
        return -1.0
    if psum >= 20:
        d = dealer_final_from_upcard(up)
        return sum(q * (1.0 if (k == 22 or psum > k) else (0.0 if psum == k else -1.0))
                   for k, q in d.items())
    v = 0.0
    for c, p in CARD_P.items():
        t, s = hand_value(psum + (11 if c == 1 else c), soft + (1 if c == 1 else 0))
        v += p * v_exact(t, s, up)
    return v


STATES = [(ps, ua, up) for ps in range(12, 22) for ua in (0, 1) for up in range(1, 11)]
V_TRUE = np.array([v_exact(ps, ua, up) for ps, ua, up in STATES], np.float32)


def encode(ps, ua, up):
    x = np.zeros((len(ps), 13), np.float32)
    x[:, 0] = (np.asarray(ps) - 16.5) / 3.0
    x[:, 1] = ua
    x[np.arange(len(ps)), 1 + np.asarray(up)] = 1.0  # columns 2..11 one-hot upcard
    x[:, 12] = 1.0
    return x


def play(ps, ua, up):
    total, soft = ps, ua
    while total < 20:
        c = int(draw())
        total, soft = hand_value(total + (11 if c == 1 else c), soft + (c == 1))
    if total > 21:
        return -1.0
    d_total, d_soft = hand_value((11 if up == 1 else up) + 0, int(up == 1))
    while d_total < 17:
        c = int(draw())
        d_total, d_soft = hand_value(d_total + (11 if c == 1 else c), d_soft + (c == 1))
    if d_total > 21 or total > d_total:
        return 1.0
    return 0.0 if total == d_total else -1.0


class ValueNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(13, 64)
        self.fc2 = nn.Linear(64, 64)
        self.head = nn.Linear(64, 1)

    def __call__(self, x):
        h = nn.tanh(self.fc1(x))
        h = nn.tanh(self.fc2(h))
        return nn.tanh(self.head(h))[:, 0]


def mse(model, x, g):
    return ((model(x) - g) ** 2).mean()


model = ValueNet()
mx.eval(model.parameters())
opt = optim.SGD(learning_rate=optim.step_decay(0.05, 0.5, 400), momentum=0.9)
vg = nn.value_and_grad(model, mse)
X_ALL = mx.array(encode(*zip(*STATES)))


def batch(n):
    idx = rng.integers(0, len(STATES), n)
    ps, ua, up = zip(*[STATES[i] for i in idx])
    g = np.array([play(a, b, c) for a, b, c in zip(ps, ua, up)], np.float32)
    return mx.array(encode(ps, ua, up)), mx.array(g)


x0, g0 = batch(256)
_, grads0 = vg(model, x0, g0)
flat = tree_flatten(grads0)
print(f"[setup] states={len(STATES)}  exact-value range [{V_TRUE.min():+.3f}, {V_TRUE.max():+.3f}]  "
      f"param leaves={len(flat)}  zero-grad leaves at step 1="
      f"{sum(float(mx.abs(v).max()) == 0 for _, v in flat)}")
print(f"[setup] rmse of predicting 0 everywhere: {np.sqrt(np.mean(V_TRUE ** 2)):.4f}")
print()
print(f"{'upd':>5} {'episodes':>9} {'batch mse':>10} {'mse(avg50)':>10} {'rmse vs DP':>10} {'max err':>8} {'sec':>6}")
t0 = time.time()
hist = []
for upd in range(1, 1501):
    xb, gb = batch(256)
    loss, grads = vg(model, xb, gb)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    hist.append(loss.item())
    if upd in (1, 10, 50, 100) or upd % 250 == 0:
        err = np.array(model(X_ALL)) - V_TRUE
        print(f"{upd:>5} {upd * 256:>9} {hist[-1]:>10.4f} {np.mean(hist[-50:]):>10.4f} "
              f"{np.sqrt(np.mean(err ** 2)):>10.4f} {np.abs(err).max():>8.3f} {time.time() - t0:>6.1f}")

print()
print("value map, no usable ace (rows: player sum, cols: dealer upcard A..10), net / exact")
pred = np.array(model(X_ALL))
for ps in range(12, 22):
    cells = []
    for up in range(1, 11):
        i = STATES.index((ps, 0, up))
        cells.append(f"{pred[i]:+.2f}/{V_TRUE[i]:+.2f}")
    print(f"{ps:>3} " + " ".join(cells))
