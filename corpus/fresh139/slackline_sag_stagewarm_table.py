# Slackline rigging notebook: predict how far the webbing sags (cm) under a walker.
# Stage "park" = short park lines only; stage "high" adds long highlines (harder).
# Each stage restarts its optimizer with a linear warmup from exactly 0.
import math
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(139)
mx.random.seed(139)


def make_lines(n, span_lo, span_hi):
    span = np.exp(rng.uniform(np.log(span_lo), np.log(span_hi), n))        # m
    tension = rng.uniform(2.0, 12.0, n)                                     # kN
    mass = rng.uniform(45.0, 100.0, n)                                      # kg
    pos = rng.uniform(0.05, 0.95, n)                                        # fraction of span
    stretch = rng.uniform(1.0, 12.0, n)                                     # % at 10 kN
    sag_m = mass * 9.81 * span * pos * (1 - pos) / (1000.0 * tension)
    sag_m *= 1.0 + 0.025 * stretch * np.sqrt(span / 30.0)
    sag_cm = 100.0 * sag_m * np.exp(rng.normal(0, 0.04, n))
    X = np.stack([np.log(span), np.log(tension), mass / 100.0,
                  pos, pos * (1 - pos) * 4.0, stretch / 10.0], 1)
    return X.astype(np.float32), np.log(sag_cm).astype(np.float32), sag_cm


Xp, yp, cmp_ = make_lines(3000, 5.0, 30.0)
Xh, yh, cmh = make_lines(3000, 30.0, 300.0)
Xall = np.concatenate([Xp, Xh])
mu, sd = Xall.mean(0), Xall.std(0) + 1e-6
Xp, Xh = (Xp - mu) / sd, (Xh - mu) / sd
ymu = float(np.concatenate([yp, yh]).mean())

# hold-out slices (last 500 of each pool)
val = {
    "park": (mx.array(Xp[-500:]), mx.array(yp[-500:]), cmp_[-500:]),
    "high": (mx.array(Xh[-500:]), mx.array(yh[-500:]), cmh[-500:]),
}
train_park = (Xp[:-500], yp[:-500])
train_high = (np.concatenate([Xp[:-500], Xh[:-500]]), np.concatenate([yp[:-500], yh[:-500]]))


class SagNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(6, 48)
        self.l2 = nn.Linear(48, 48)
        self.out = nn.Linear(48, 1)
        self.out.bias = mx.array([ymu])

    def __call__(self, x):
        h = nn.gelu(self.l1(x))
        h = nn.gelu(self.l2(h))
        return self.out(h).squeeze(-1)


model = SagNet()


def loss_fn(m, x, y):
    return nn.losses.huber_loss(m(x), y, delta=0.5, reduction="mean")


vg = nn.value_and_grad(model, loss_fn)


def evaluate(name):
    x, y, cm = val[name]
    pred = model(x)
    mse = mx.mean((pred - y) ** 2).item()
    cm_pred = np.exp(np.array(pred))
    mae_cm = float(np.mean(np.abs(cm_pred - cm)))
    base_cm = float(np.mean(np.abs(np.exp(ymu) - cm)))
    return mse, mae_cm, base_cm


# gradient audit before training: every tensor must receive a signal
_, g0 = vg(model, mx.array(train_park[0][:256]), mx.array(train_park[1][:256]))
dead = [k for k, v in nn.utils.tree_flatten(g0) if float(mx.abs(v).sum()) == 0.0]
print(f"grad audit: {len(nn.utils.tree_flatten(g0))} tensors, zero-grad: {dead if dead else 'none'}")

stages = [("park", train_park, 14, 3e-3), ("high", train_high, 14, 2e-3)]
bs = 128
t0 = time.time()
print(f"{'stage':<6}|{'ep':>3}|{'lr':>9}|{'train huber':>12}|{'val park mse':>13}|{'val high mse':>13}|{'park MAE cm':>12}|{'high MAE cm':>12}|{'mean-guess cm':>14}")
print("-" * 104)
for sname, (Xtr, ytr), epochs, peak in stages:
    steps_per_ep = len(Xtr) // bs
    total = epochs * steps_per_ep
    warm = 2 * steps_per_ep
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, peak, warm), optim.cosine_decay(peak, total - warm, peak * 0.05)],
        [warm])
    opt = optim.AdamW(learning_rate=sched, weight_decay=1e-4)
    for ep in range(1, epochs + 1):
        perm = rng.permutation(len(Xtr))
        run = 0.0
        for i in range(steps_per_ep):
            idx = perm[i * bs:(i + 1) * bs]
            loss, grads = vg(model, mx.array(Xtr[idx]), mx.array(ytr[idx]))
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            run += loss.item()
        if ep in (1, 2, 3) or ep % 3 == 0 or ep == epochs:
            pm, pmae, pbase = evaluate("park")
            hm, hmae, hbase = evaluate("high")
            lr_now = opt.learning_rate.item()
            print(f"{sname:<6}|{ep:>3}|{lr_now:>9.2e}|{run / steps_per_ep:>12.5f}|{pm:>13.5f}|{hm:>13.5f}|{pmae:>12.2f}|{hmae:>12.2f}|{pbase:>6.1f}/{hbase:>7.1f}")
    print("-" * 104)

pm, pmae, _ = evaluate("park")
hm, hmae, _ = evaluate("high")
print(f"done in {time.time() - t0:.1f}s  final: park {pmae:.2f} cm, highline {hmae:.2f} cm "
      f"(typical sag park {np.median(val['park'][2]):.0f} cm, high {np.median(val['high'][2]):.0f} cm)")
