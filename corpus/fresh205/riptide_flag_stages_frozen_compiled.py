"""Beach patrol: which flag to fly (green / yellow / red) from the morning
surf readings. A frozen random-feature layer (kept fixed on purpose) feeds a
trainable head; training goes through a curriculum of calm-season days first
and then adds the storm season, which is harder."""
import logging
from functools import partial

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s",
                    datefmt="%H:%M:%S")
log = logging.getLogger("surfpatrol")

mx.random.seed(2024)
COLS = ["wave_m", "period_s", "tide_phase", "wind_kt", "onshore", "bar_gap", "swell_dir"]


def beach_days(n, storm, key):
    k1, k2 = mx.random.split(key)
    u = mx.random.uniform(shape=(n, 7), key=k1)
    wave = 0.3 + (3.5 if storm else 1.4) * u[:, 0]
    period = 5.0 + 10.0 * u[:, 1]
    tide = 2 * mx.pi * u[:, 2]
    wind = (35.0 if storm else 15.0) * u[:, 3]
    onshore = u[:, 4]
    gap = u[:, 5]
    sdir = 2 * mx.pi * u[:, 6]
    # made-up rip hazard index
    hazard = (
        1.1 * wave * mx.sqrt(period / 10.0)
        + 0.9 * gap * (1.0 + mx.cos(tide))
        + 0.03 * wind * onshore
        + 0.35 * mx.sin(sdir) * wave
    )
    hazard = hazard + 0.15 * mx.random.normal(shape=(n,), key=k2)
    label = (hazard > 1.6).astype(mx.int32) + (hazard > 3.0).astype(mx.int32)
    X = mx.stack([wave, period, mx.cos(tide), mx.sin(tide), wind, onshore, gap,
                  mx.cos(sdir), mx.sin(sdir)], axis=1)
    return X, label


keys = mx.random.split(mx.random.key(5), 4)
Xc, yc = beach_days(2500, False, keys[0])
Xs, ys = beach_days(2500, True, keys[1])
Xv_c, yv_c = beach_days(600, False, keys[2])
Xv_s, yv_s = beach_days(600, True, keys[3])
allX = mx.concatenate([Xc, Xs])
mu, sd = allX.mean(axis=0), allX.std(axis=0)
norm = lambda a: (a - mu) / sd
Xc, Xs, Xv_c, Xv_s = norm(Xc), norm(Xs), norm(Xv_c), norm(Xv_s)
Xv = mx.concatenate([Xv_c, Xv_s])
yv = mx.concatenate([yv_c, yv_s])


class FlagNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.rf = nn.Linear(9, 128)  # random features, frozen on purpose
        self.h1 = nn.Linear(128, 64)
        self.cls = nn.Linear(64, 3)

    def __call__(self, x):
        z = mx.cos(self.rf(x))
        z = nn.gelu(self.h1(z))
        return self.cls(z)


model = FlagNet()
model.rf.freeze()
mx.eval(model.parameters())
rf_ref = mx.array(model.rf.weight)
h1_ref = mx.array(model.h1.weight)

opt = optim.Adamax(learning_rate=3e-3)


def loss_fn(m, x, y):
    return nn.losses.cross_entropy(m(x), y, reduction="mean")


state = [model.state, opt.state]


@partial(mx.compile, inputs=state, outputs=state)
def step(x, y):
    loss, grads = nn.value_and_grad(model, loss_fn)(model, x, y)
    opt.update(model, grads)
    return loss, grads


def accuracy(x, y):
    return (mx.argmax(model(x), axis=1) == y).astype(mx.float32).mean().item() * 100.0


STAGES = [("calm-only", Xc, yc, 8), ("calm+storm", mx.concatenate([Xc, Xs]),
                                     mx.concatenate([yc, ys]), 24)]
BATCH = 125
prior = max(int((yv == k).sum().item()) for k in range(3)) / yv.size * 100.0
log.info("majority-flag reference accuracy on all validation days: %.1f%%", prior)

sk = mx.random.key(99)
for name, X, Y, epochs in STAGES:
    log.info("== stage %s: %d days, %d epochs ==", name, X.shape[0], epochs)
    log.info("%5s | %9s | %9s | %9s | %9s", "epoch", "train_ce", "calm_acc", "storm_acc", "all_acc")
    n = X.shape[0]
    for ep in range(1, epochs + 1):
        sk, pk = mx.random.split(sk)
        perm = mx.random.permutation(n, key=pk)
        tot, cnt = 0.0, 0
        for i in range(0, n, BATCH):
            idx = perm[i:i + BATCH]
            loss, grads = step(X[idx], Y[idx])
            mx.eval(loss, model.state, opt.state)
            tot += loss.item()
            cnt += 1
        log.info("%5d | %9.4f | %8.1f%% | %8.1f%% | %8.1f%%", ep, tot / cnt,
                 accuracy(Xv_c, yv_c), accuracy(Xv_s, yv_s), accuracy(Xv, yv))
    gnorm = mx.sqrt(mx.sum(grads["h1"]["weight"] ** 2)).item()
    log.info("audit after %s: |d rf.W| = %.3e (frozen), |d h1.W| = %.4f, |grad h1.W| = %.4f",
             name, mx.abs(model.rf.weight - rf_ref).max().item(),
             mx.sqrt(mx.sum((model.h1.weight - h1_ref) ** 2)).item(), gnorm)

log.info("done: all-days accuracy %.1f%% vs majority reference %.1f%%", accuracy(Xv, yv), prior)
