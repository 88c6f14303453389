"""Saffron crocus field trial: dried-stigma yield (mg per flower) from plot readings.

Two-stage curriculum: stage 'irrigated' uses only the well-watered plots, stage
'all_plots' adds the dryland plots (a harder, noisier regime). Each stage restarts
its step counter and warms the learning rate up from exactly 0. Stage 2 uses early
stopping on a held-out set and restores the best weights.
"""
import logging

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

logging.basicConfig(level=logging.INFO, format="%(levelname)-5s %(name)s | %(message)s")
log = logging.getLogger("saffron")

mx.random.seed(2024)


def plots(n, dryland_frac, key):
    ks = mx.random.split(key, 8)
    corm = mx.random.uniform(4, 24, (n,), key=ks[0])          # g
    depth = mx.random.uniform(8, 20, (n,), key=ks[1])         # cm
    night = mx.random.uniform(4, 16, (n,), key=ks[2])         # deg C
    ph = mx.random.uniform(6.0, 8.2, (n,), key=ks[3])
    day = mx.random.uniform(0, 20, (n,), key=ks[4])           # days since first bloom
    dry = (mx.random.uniform(shape=(n,), key=ks[5]) < dryland_frac).astype(mx.float32)
    rain = mx.where(dry > 0, mx.random.uniform(10, 60, (n,), key=ks[6]), mx.random.uniform(60, 140, (n,), key=ks[6]))
    y = (
        2.0
        + 4.5 * mx.tanh((corm - 6.0) / 8.0)
        - 0.02 * (depth - 14.0) ** 2
        - 0.04 * (night - 9.0) ** 2
        - 0.9 * (ph - 7.3) ** 2
        + 1.1 * mx.exp(-day / 6.0)
        + 0.012 * rain
        - dry * 0.05 * (60 - rain) * (night / 8.0)
    )
    noise = mx.random.normal((n,), key=ks[7]) * (0.15 + 0.35 * dry)
    X = mx.stack([corm, depth, night, ph, day, rain], axis=1)
    return X, (y + noise)[:, None]


X_irr, y_irr = plots(900, 0.0, mx.random.key(1))
X_all, y_all = plots(1800, 0.45, mx.random.key(2))
X_val, y_val = plots(500, 0.45, mx.random.key(3))
mu, sd = X_all.mean(0), X_all.std(0)


def norm(X):
    return (X - mu) / sd


class YieldNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(6, 48)
        self.l2 = nn.Linear(48, 48)
        self.out = nn.Linear(48, 1)

    def __call__(self, x):
        return self.out(nn.silu(self.l2(nn.silu(self.l1(x)))))


def huber(model, X, y):
    return nn.losses.huber_loss(model(X), y, delta=1.0, reduction="mean")


def mae(model, X, y):
    return mx.mean(mx.abs(model(norm(X)) - y)).item()


net = YieldNet()
mx.eval(net.parameters())
step_fn = nn.value_and_grad(net, huber)

_, g = step_fn(net, norm(X_all[:128]), y_all[:128])
zero = [k for k, v in tree_flatten(g) if mx.all(v == 0).item()]
log.info("gradient check: %d tensors, zero-gradient tensors: %s", len(tree_flatten(g)), zero or "none")

naive_val = mx.mean(mx.abs(y_val - y_all.mean())).item()
log.info("reference: predict-the-mean MAE on held-out plots = %.3f mg", naive_val)

STAGES = [
    # name, data, steps, peak lr, warmup steps
    ("irrigated", (X_irr, y_irr), 500, 3e-3, 60),
    ("all_plots", (X_all, y_all), 1400, 2e-3, 100),
]
BS = 64
key = mx.random.key(77)

for name, (Xs, ys), steps, peak, warm in STAGES:
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, peak, warm), optim.cosine_decay(peak, steps - warm, end=peak * 0.05)], [warm]
    )
    opt = optim.Adamax(learning_rate=sched)
    best = (float("inf"), None, -1)
    patience, bad = 4, 0
    log.info("stage %s: %d plots, %d steps, lr 0 -> %.0e over %d steps", name, Xs.shape[0], steps, peak, warm)
    window = []
    for step in range(1, steps + 1):
        key, sk = mx.random.split(key)
        idx = mx.random.randint(0, Xs.shape[0], (BS,), key=sk)
        lr_now = opt.learning_rate.item()
        loss, grads = step_fn(net, norm(Xs[idx]), ys[idx])
        opt.update(net, grads)
        mx.eval(net.parameters(), opt.state, loss)
        window.append(loss.item())
        if step == 1 or step % 100 == 0:
            v = mae(net, X_val, y_val)
            log.info(
                "stage=%s step=%4d lr=%.2e huber=%.4f val_mae=%.3f mg (mean-baseline %.3f)",
                name, step, lr_now, sum(window) / len(window), v, naive_val,
            )
            window = []
            if name == "all_plots" and step >= 300:
                if v < best[0] - 1e-3:
                    best, bad = (v, tree_map(lambda p: mx.array(p), net.parameters()), step), 0
                else:
                    bad += 1
                    if bad >= patience:
                        log.warning("early stop at step %d (no val gain for %d checks)", step, patience)
                        break
    if best[1] is not None:
        net.update(best[1])
        mx.eval(net.parameters())
        log.info("restored weights from step %d (val_mae %.3f mg)", best[2], best[0])

final = mae(net, X_val, y_val)
err = mx.abs(net(norm(X_val)) - y_val)[:, 0]
dry_mask = (X_val[:, 5] < 60).astype(mx.float32)
dry_mae = (mx.sum(err * dry_mask) / mx.sum(dry_mask)).item()
irr_mae = (mx.sum(err * (1 - dry_mask)) / mx.sum(1 - dry_mask)).item()
print(f"final held-out MAE {final:.3f} mg | dryland {dry_mae:.3f} mg | irrigated {irr_mae:.3f} mg | naive {naive_val:.3f} mg")
