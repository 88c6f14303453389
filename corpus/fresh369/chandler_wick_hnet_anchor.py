"""Candle burn time at three chandlery workshops, learned one workshop after another.

A task-conditioned hypernetwork emits every weight of a small burn-time net from a
per-workshop code. When a workshop is finished, the weights it produces for that
workshop are stored, and later workshops are trained with an output anchor that keeps
the hypernetwork producing the same weights for the earlier codes.
"""

import math
import time

import numpy as np

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

SEED = 7
N_TRAIN, N_TEST = 1200, 300
IN, HID = 6, 24
N_TARGET = IN * HID + HID + HID + 1  # 193 weights of the burn-time net
EMB = 8
STEPS_PER_SHOP = 1500
WARM = 100
PEAK_LR = 3e-3
BATCH = 64
ANCHOR = 0.05
SHOPS = ["Ashby lane", "Mill yard", "Quay street"]

rng = np.random.default_rng(SEED)
mx.random.seed(SEED)


def make_shop(k):
    """Synthetic burn hours; the wax/wick law shifts from workshop to workshop."""
    n = N_TRAIN + N_TEST
    paraffin = rng.uniform(0.2, 0.9, n)
    beeswax = rng.uniform(0.0, 0.6, n) * (1 - paraffin)
    wick = rng.uniform(1.0, 3.0, n)  # mm
    ply = rng.integers(2, 6, n).astype(np.float64)
    diam = rng.uniform(3.0, 8.0, n)  # cm
    draught = rng.uniform(0.0, 1.0, n)
    base = 6.0 * diam ** 1.4 / (wick + 0.3 * ply)
    if k == 0:
        hours = base * (1 + 0.8 * beeswax) * (1 - 0.35 * draught)
    elif k == 1:  # softer blend: paraffin burns faster, draught matters more
        hours = base * (1.3 - 0.6 * paraffin + 0.5 * beeswax) * (1 - 0.6 * draught ** 2)
    else:  # braided wicks: ply count dominates
        hours = 6.0 * diam ** 1.2 / (0.5 * wick + 0.5 * ply) * (1 + beeswax) * (1 - 0.3 * draught)
    hours = hours * np.exp(rng.normal(0, 0.05, n))
    X = np.stack([paraffin, beeswax, wick, ply, diam, draught], 1)
    return X[:N_TRAIN], hours[:N_TRAIN], X[N_TRAIN:], hours[N_TRAIN:]


raw = [make_shop(k) for k in range(3)]
# One scaling, taken from the first workshop's data (what a workshop would have on day one)
mu_x, sd_x = raw[0][0].mean(0), raw[0][0].std(0)
mu_y, sd_y = raw[0][1].mean(), raw[0][1].std()
data = []
for Xtr, ytr, Xte, yte in raw:
    data.append(
        (
            mx.array(((Xtr - mu_x) / sd_x).astype(np.float32)),
            mx.array(((ytr - mu_y) / sd_y).astype(np.float32)),
            mx.array(((Xte - mu_x) / sd_x).astype(np.float32)),
            yte,
            ytr.mean(),
        )
    )


def burn_net(theta, x):
    """The 6-24-1 tanh net, evaluated from a flat weight vector."""
    i = 0
    W1 = theta[i : i + IN * HID].reshape(IN, HID)
    i += IN * HID
    b1 = theta[i : i + HID]
    i += HID
    W2 = theta[i : i + HID].reshape(HID, 1)
    i += HID
    b2 = theta[i : i + 1]
    return (mx.tanh(x @ W1 + b1) @ W2 + b2).squeeze(-1)


class WeightMaker(nn.Module):
    def __init__(self):
        super().__init__()
        self.codes = mx.random.normal((3, EMB)) * 0.5
        self.l1 = nn.Linear(EMB, 64)
        self.l2 = nn.Linear(64, 64)
        self.out = nn.Linear(64, N_TARGET)
        self.out.weight = self.out.weight * 0.1
        # Glorot-like starting point for the emitted weights (a constant, not trained)
        w1 = np.random.default_rng(1).normal(0, 1 / math.sqrt(IN), IN * HID)
        w2 = np.random.default_rng(2).normal(0, 1 / math.sqrt(HID), HID)
        self._theta0 = mx.array(
            np.concatenate([w1, np.zeros(HID), w2, np.zeros(1)]).astype(np.float32)
        )

    def weights_for(self, code):
        h = nn.silu(self.l1(code))
        h = nn.silu(self.l2(h))
        return self._theta0 + self.out(h)


model = WeightMaker()
mx.eval(model.parameters())
n_params = sum(v.size for _, v in nn.utils.tree_flatten(model.trainable_parameters()))
print(f"weight maker: {n_params} trainable numbers, emits {N_TARGET} burn-net weights per workshop")

anchors = {}  # shop index -> stored emitted weights


def loss_fn(model, shop, x, y):
    codes = model.codes
    theta = model.weights_for(codes[shop])
    fit = mx.mean((burn_net(theta, x) - y) ** 2)
    hold = mx.array(0.0)
    for k, stored in anchors.items():
        emitted = model.weights_for(mx.stop_gradient(codes[k]))
        hold = hold + mx.sum((emitted - stored) ** 2)
    if anchors:
        hold = hold / len(anchors)
    return fit + ANCHOR * hold, (fit, hold)


def eval_hours(shop_eval):
    Xte, yte = data[shop_eval][2], data[shop_eval][3]
    theta = model.weights_for(model.codes[shop_eval])
    pred = np.array(burn_net(theta, Xte)) * sd_y + mu_y
    rmse = float(np.sqrt(np.mean((pred - yte) ** 2)))
    base = float(np.sqrt(np.mean((data[shop_eval][4] - yte) ** 2)))
    return rmse, base


step_fn = nn.value_and_grad(model, loss_fn)
table = np.full((3, 3), np.nan)
t0 = time.perf_counter()

for shop in range(3):
    Xtr, ytr = data[shop][0], data[shop][1]
    schedule = optim.join_schedules(
        [
            optim.linear_schedule(0.0, PEAK_LR, WARM),
            optim.cosine_decay(PEAK_LR, STEPS_PER_SHOP - WARM, 1e-5),
        ],
        [WARM],
    )
    opt = optim.Adam(learning_rate=schedule)  # fresh optimizer for each workshop
    print(f"\n=== workshop {shop + 1}/3: {SHOPS[shop]}  (anchored workshops: {len(anchors)}) ===")
    window = []
    for step in range(1, STEPS_PER_SHOP + 1):
        idx = mx.array(rng.integers(0, N_TRAIN, BATCH))
        lr_now = float(schedule(opt.step))
        (total, (fit, hold)), grads = step_fn(model, shop, Xtr[idx], ytr[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, total)
        window.append(float(fit))
        if step == 1 or step % 500 == 0:
            print(
                f"  step {step:5d}  lr {lr_now:.2e}  fit mse {np.mean(window):.4f}"
                f"  anchor {float(hold):.5f}  last-batch total {float(total):.4f}"
            )
            window = []
    theta_done = model.weights_for(model.codes[shop])
    mx.eval(theta_done)
    anchors[shop] = theta_done
    print(f"  test RMSE in hours (model vs. predict-the-mean baseline):")
    for k in range(shop + 1):
        rmse, base = eval_hours(k)
        table[shop, k] = rmse
        print(f"    {SHOPS[k]:<12s} {rmse:6.2f} h   baseline {base:6.2f} h")

print("\nRMSE matrix (row = after workshop, column = workshop tested), hours:")
print("               " + "".join(f"{s:>13s}" for s in SHOPS))
for r in range(3):
    cells = "".join(f"{'.':>13s}" if np.isnan(v) else f"{v:13.2f}" for v in table[r])
    print(f"  after {r + 1}      {cells}")
drift = [table[2, k] - table[k, k] for k in range(2)]
print(f"change in RMSE of earlier workshops by the end: " + ", ".join(f"{d:+.2f} h" for d in drift))
print(f"done in {time.perf_counter() - t0:.1f} s")
