"""Wool carding mill: three quality targets from one shared network.

Every fleece lot passes the carding line with eight logged readings, but the
three quality checks are done by different people on different days:
  * fibre yield (% clean fibre after carding)   -- lab scour test, ~35% of lots
  * nep grade (low / medium / high)             -- visual check, ~80% of lots
  * felting complaint from the spinner (yes/no) -- only ~50% of lots report back
So each lot carries only some of its labels. Each task loss is averaged over
the lots that have that label. Task weights are drawn fresh every step
(random loss weighting: softmax of a standard normal draw, times 3), so the
printed combined objective jumps about from step to step on purpose.
"""

import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

SEED = 11
N_TRAIN, N_VAL = 7000, 1500
BATCH = 64
EPOCHS = 16
PEAK_LR = 2e-3
WARMUP = 150
REPORT_AT = {1, 2, 4, 8, 12, 16}

rng = np.random.default_rng(SEED)
mx.random.seed(SEED)


def make_lots(n):
    micron = rng.normal(24.0, 3.0, n)          # fibre diameter
    staple = rng.normal(85.0, 15.0, n)         # staple length mm
    grease = rng.uniform(8.0, 22.0, n)         # grease content %
    vm = rng.gamma(2.0, 0.8, n)                # vegetable matter %
    humidity = rng.uniform(40.0, 80.0, n)      # carding room RH %
    speed = rng.uniform(0.6, 1.4, n)           # doffer speed (rel.)
    gauge = rng.uniform(0.2, 0.6, n)           # wire gauge setting mm
    shift = rng.integers(0, 3, n).astype(np.float64)  # not used by any law

    yield_pct = (
        72.0
        - 0.9 * (grease - 15.0)
        - 2.5 * vm
        + 0.04 * (staple - 85.0)
        - 3.0 * np.tanh(speed - 1.0) * (micron < 21)
        + rng.normal(0.0, 1.2, n)
    )
    nep_score = (
        1.1 * (speed - 1.0) / 0.23
        - 0.06 * (micron - 24.0)
        + 0.9 * (vm - 1.6)
        - 0.7 * (gauge - 0.4) / 0.12
        + rng.normal(0.0, 0.5, n)
    )
    nep = np.digitize(nep_score, [-0.8, 0.9]).astype(np.int32)
    felt_logit = 0.9 * (humidity - 60.0) / 11.5 - 0.6 * (micron - 24.0) / 3.0 + 0.5 * (speed - 1.0) / 0.23 - 0.4
    felt_p = 1.0 / (1.0 + np.exp(-felt_logit))
    felt = (rng.uniform(size=n) < felt_p).astype(np.float32)

    x = np.stack([micron, staple, grease, vm, humidity, speed, gauge, shift], 1)
    has_yield = rng.uniform(size=n) < 0.35
    has_nep = rng.uniform(size=n) < 0.80
    has_felt = rng.uniform(size=n) < 0.50
    return x, yield_pct, nep, felt, felt_p, has_yield, has_nep, has_felt


tr = make_lots(N_TRAIN)
va = make_lots(N_VAL)
x_mu, x_sd = tr[0].mean(0), tr[0].std(0)
y_mu, y_sd = tr[1][tr[5]].mean(), tr[1][tr[5]].std()


def to_mx(lots):
    x, y, nep, felt, felt_p, hy, hn, hf = lots
    return dict(
        x=mx.array(((x - x_mu) / x_sd).astype(np.float32)),
        y=mx.array(((y - y_mu) / y_sd).astype(np.float32)),
        nep=mx.array(nep),
        felt=mx.array(felt),
        my=mx.array(hy.astype(np.float32)),
        mn=mx.array(hn.astype(np.float32)),
        mf=mx.array(hf.astype(np.float32)),
    )


train, val = to_mx(tr), to_mx(va)


class CardingNet(nn.Module):
    def __init__(self, d_in=8, width=64):
        super().__init__()
        self.trunk = [nn.Linear(d_in, width), nn.Linear(width, width)]
        self.yield_head = nn.Linear(width, 1)
        self.nep_head = nn.Linear(width, 3)
        self.felt_head = nn.Linear(width, 1)

    def __call__(self, x):
        for layer in self.trunk:
            x = nn.silu(layer(x))
        return (
            self.yield_head(x).squeeze(-1),
            self.nep_head(x),
            self.felt_head(x).squeeze(-1),
        )


def masked_mean(values, mask):
    return (values * mask).sum() / mx.maximum(mask.sum(), 1.0)


def task_losses(model, b):
    y_hat, nep_logits, felt_logit = model(b["x"])
    l_y = masked_mean(nn.losses.huber_loss(y_hat, b["y"], delta=1.0, reduction="none"), b["my"])
    l_n = masked_mean(nn.losses.cross_entropy(nep_logits, b["nep"], reduction="none"), b["mn"])
    l_f = masked_mean(
        nn.losses.binary_cross_entropy(felt_logit, b["felt"], with_logits=True, reduction="none"),
        b["mf"],
    )
    return mx.stack([l_y, l_n, l_f])


def objective(model, b, w):
    parts = task_losses(model, b)
    return (w * parts).sum(), parts


model = CardingNet()
mx.eval(model.parameters())
steps_per_epoch = N_TRAIN // BATCH
total = EPOCHS * steps_per_epoch
schedule = optim.join_schedules(
    [optim.linear_schedule(0.0, PEAK_LR, WARMUP), optim.cosine_decay(PEAK_LR, total - WARMUP, 1e-5)],
    [WARMUP],
)
opt = optim.Adam(learning_rate=schedule)
grad_fn = nn.value_and_grad(model, objective)


def evaluate(model, d, lots):
    y_hat, nep_logits, felt_logit = model(d["x"])
    hy, hn, hf = lots[5], lots[6], lots[7]
    y_true = lots[1]
    y_pred = np.array(y_hat) * y_sd + y_mu
    rmse = float(np.sqrt(np.mean((y_pred[hy] - y_true[hy]) ** 2)))
    nep_acc = float(np.mean(np.array(mx.argmax(nep_logits, -1))[hn] == lots[2][hn]))
    felt_acc = float(np.mean((np.array(felt_logit)[hf] > 0) == (lots[3][hf] > 0.5)))
    return rmse, nep_acc, felt_acc


# reference numbers that do not need a model
base_rmse = float(np.sqrt(np.mean((va[1][va[5]] - y_mu) ** 2)))
maj = np.bincount(tr[2][tr[6]], minlength=3).argmax()
base_nep = float(np.mean(va[2][va[6]] == maj))
base_felt = float(max(np.mean(va[3][va[7]]), 1 - np.mean(va[3][va[7]])))
bayes_felt = float(np.mean((va[4][va[7]] > 0.5) == (va[3][va[7]] > 0.5)))

print(
    f"lots train={N_TRAIN} val={N_VAL} | labelled share (train): "
    f"yield {tr[5].mean():.0%}  nep {tr[6].mean():.0%}  felting {tr[7].mean():.0%}"
)
print(
    f"references on val: yield RMSE if always mean {base_rmse:.2f} pts | "
    f"nep majority acc {base_nep:.3f} | felting majority acc {base_felt:.3f}, "
    f"best possible (true probabilities) {bayes_felt:.3f}"
)
r0 = evaluate(model, val, va)
print(f"epoch  0 (untrained)  val: yield RMSE {r0[0]:6.2f} pts  nep acc {r0[1]:.3f}  felting acc {r0[2]:.3f}")

t0 = time.perf_counter()
step = 0
for epoch in range(1, EPOCHS + 1):
    perm = mx.array(rng.permutation(N_TRAIN).astype(np.int32))
    sums = np.zeros(3)
    last_obj = 0.0
    for i in range(steps_per_epoch):
        idx = perm[i * BATCH:(i + 1) * BATCH]
        b = {k: v[idx] for k, v in train.items()}
        w = 3.0 * mx.softmax(mx.random.normal((3,)))
        (obj, parts), grads = grad_fn(model, b, w)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, obj, parts)
        sums += np.array(parts)
        last_obj = obj.item()
        step += 1
        if step == 1:
            print(f"step 1: lr {float(opt.learning_rate):.1e} (warmup starts at 0), weights drawn {' '.join(f'{v:.2f}' for v in np.array(w))}")
    if epoch in REPORT_AT:
        rmse, nep_acc, felt_acc = evaluate(model, val, va)
        m = sums / steps_per_epoch
        print(
            f"epoch {epoch:2d}  last-step objective {last_obj:6.3f}  mean task losses "
            f"yield {m[0]:.3f} nep {m[1]:.3f} felt {m[2]:.3f}  lr {float(opt.learning_rate):.2e}  "
            f"val: yield RMSE {rmse:5.2f} pts  nep acc {nep_acc:.3f}  felting acc {felt_acc:.3f}"
        )

rmse, nep_acc, felt_acc = evaluate(model, val, va)
print(
    f"done in {time.perf_counter() - t0:.1f}s, {step} steps | final val: yield RMSE {rmse:.2f} pts "
    f"(mean-only {base_rmse:.2f}), nep acc {nep_acc:.3f} (majority {base_nep:.3f}), "
    f"felting acc {felt_acc:.3f} (majority {base_felt:.3f}, ceiling {bayes_felt:.3f})"
)
