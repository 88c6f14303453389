"""Beaufort wind force (0..6) from sea-state observations, all-threshold loss.

One scalar score f(x) and 6 ordered thresholds theta_k.  All-threshold logistic
loss (Rennie & Srebro 2005): for every threshold k the score must lie on the
correct side, label y means f < theta_k for k >= y and f > theta_k for k < y.

SGD with momentum under cosine warm restarts (SGDR, cycles 60/120/240 steps).
The loop is quiet inside a cycle and prints one line at the end of each cycle
plus a probe just after each restart.
"""

import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

G = 7
D = 6
N_TRAIN, N_VAL = 8000, 2000
BATCH = 96
CYCLES = [60, 120, 240]
LR_MAX, LR_MIN = 0.05, 1e-3


def sea_state(n, seed):
    k1, k2 = mx.random.split(mx.random.key(seed))
    # wave height, whitecap share, spray, swell period, fetch, gust ratio
    x = mx.random.normal((n, D), key=k1)
    latent = (1.5 * x[:, 0] + 1.0 * x[:, 1] + 0.5 * mx.tanh(2 * x[:, 2])
              - 0.3 * x[:, 3] + 0.4 * x[:, 4] + 0.2 * x[:, 5] ** 2)
    latent = latent + 0.5 * mx.random.normal((n,), key=k2)
    cuts = mx.array([-2.4, -1.4, -0.5, 0.4, 1.3, 2.3])
    y = mx.sum(latent[:, None] > cuts[None, :], axis=1).astype(mx.int32)
    return x, y


class ForceScorer(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(D, 48)
        self.l2 = nn.Linear(48, 1)
        self.theta0 = mx.array([-2.0])
        self.gap_raw = mx.zeros((G - 2,))

    def thresholds(self):
        return mx.concatenate([self.theta0, self.theta0 + mx.cumsum(nn.softplus(self.gap_raw) + 0.05)])

    def __call__(self, x):
        return self.l2(nn.tanh(self.l1(x))).squeeze(-1)


def all_threshold_loss(model, x, y):
    f = model(x)
    th = model.thresholds()
    ks = mx.arange(G - 1)[None, :]
    sign = mx.where(ks >= y[:, None], 1.0, -1.0)   # +1: want f < theta_k
    margin = sign * (th[None, :] - f[:, None])
    return mx.mean(mx.sum(nn.softplus(-margin), axis=1))


def grade(model, x):
    return mx.sum(model(x)[:, None] > model.thresholds()[None, :], axis=1)


def val_line(model, x, y):
    pred = grade(model, x)
    mae = mx.mean(mx.abs(pred - y).astype(mx.float32)).item()
    within1 = mx.mean(mx.abs(pred - y) <= 1).item()
    return f"val loss {all_threshold_loss(model, x, y).item():.4f} | MAE {mae:.3f} | within-1 {within1:.3f}"


def main():
    t0 = time.time()
    mx.random.seed(5)
    xtr, ytr = sea_state(N_TRAIN, 21)
    xva, yva = sea_state(N_VAL, 22)
    counts = [int(mx.sum(ytr == g).item()) for g in range(G)]
    mode = max(range(G), key=lambda g: counts[g])
    base_mae = mx.mean(mx.abs(yva - mode).astype(mx.float32)).item()
    print(f"force counts {counts} | most-common-force val MAE {base_mae:.3f}")

    model = ForceScorer()
    opt = optim.SGD(learning_rate=LR_MAX, momentum=0.9)
    lg = nn.value_and_grad(model, all_threshold_loss)
    print("init | " + val_line(model, xva, yva))

    step = 0
    for c, length in enumerate(CYCLES):
        window = []
        for t in range(length):
            lr = LR_MIN + 0.5 * (LR_MAX - LR_MIN) * (1 + math.cos(math.pi * t / length))
            opt.learning_rate = lr
            idx = mx.random.randint(0, N_TRAIN, (BATCH,))
            loss, g = lg(model, xtr[idx], ytr[idx])
            opt.update(model, g)
            mx.eval(model.parameters(), opt.state, loss)
            step += 1
            window.append(loss.item())
            if c > 0 and t == 10:
                print(f"  cycle {c + 1} restart probe step {step} | lr {lr:.4f} | train loss (last 10) {sum(window[-10:]) / 10:.4f}")
        tail = sum(window[-20:]) / 20
        print(f"cycle {c + 1} end step {step} | lr {lr:.4f} | train loss (last 20) {tail:.4f} | " + val_line(model, xva, yva))

    th = [round(v, 2) for v in model.thresholds().tolist()]
    print(f"thresholds {th}")
    print(f"final | " + val_line(model, xva, yva) + f" | most-common-force MAE {base_mae:.3f}")
    print(f"elapsed {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
