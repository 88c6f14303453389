"""Canal lock queue: how many boats are waiting at the lock in a given hour?

Counts are Poisson.  A wide teacher net is fitted first; then it is frozen and
a much smaller student (the one that goes on the lock-keeper's tablet) is
trained on a mix of the data NLL and the teacher's log-rates (distillation).
"""
import math
import time
from string import Template

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

LINE = Template("[$who] epoch $ep/$n  lr=$lr  $tname=$tr  val_nll=$va  "
                "deviance_explained=$dev%  mae=$mae boats  ($secs s)")


def make_data(n, rng):
    hour = rng.uniform(0, 24, n)
    weekend = (rng.uniform(size=n) < 2 / 7).astype(np.float64)
    temp = rng.normal(17, 6, n)
    rain = rng.exponential(1.0, n) * (rng.uniform(size=n) < 0.3)
    upstream_level = rng.normal(0, 1, n)
    festival = (rng.uniform(size=n) < 0.05).astype(np.float64)
    day = np.exp(-0.5 * ((hour - 14) / 3.5) ** 2)
    log_rate = (-0.6 + 2.2 * day + 0.7 * weekend * day + 0.04 * (temp - 17)
                - 0.45 * np.log1p(rain) - 0.25 * np.abs(upstream_level)
                + 1.1 * festival)
    y = rng.poisson(np.exp(log_rate))
    X = np.stack([np.sin(2 * np.pi * hour / 24), np.cos(2 * np.pi * hour / 24),
                  weekend, (temp - 17) / 6, np.log1p(rain), upstream_level,
                  festival], axis=1)
    return X.astype(np.float32), y.astype(np.float32)


class RateNet(nn.Module):
    def __init__(self, d_in, width, depth):
        super().__init__()
        dims = [d_in] + [width] * depth
        self.hidden = [nn.Linear(a, b) for a, b in zip(dims[:-1], dims[1:])]
        self.out = nn.Linear(width, 1)

    def __call__(self, x):
        for layer in self.hidden:
            x = nn.silu(layer(x))
        return self.out(x).squeeze(-1)  # log-rate


def poisson_nll(log_rate, y):
    # without the log(y!) constant, so it goes negative for busy hours
    return mx.mean(mx.exp(log_rate) - y * log_rate)


def deviance(mu, y):
    y = np.asarray(y, np.float64)
    mu = np.asarray(mu, np.float64)
    t = np.where(y > 0, y * np.log(np.where(y > 0, y, 1.0) / mu), 0.0)
    return 2.0 * np.sum(t - (y - mu))


def evaluate(model, X, y, null_dev):
    lr_ = model(X)
    nll = poisson_nll(lr_, y).item()
    mu = np.array(mx.exp(lr_))
    yy = np.array(y)
    dev_expl = 100.0 * (1.0 - deviance(mu, yy) / null_dev)
    return nll, dev_expl, float(np.mean(np.abs(mu - yy)))


def check_grads(tag, grads):
    flat = tree_flatten(grads)
    dead = [k for k, g in flat if not np.any(np.array(g) != 0)]
    print(f"[{tag}] first-step gradient check: {len(flat)} leaves, zero leaves: {dead}")


def fit(who, model, loss_fn, opt, Xtr, ytr, Xva, yva, epochs, bs, rng, null_dev,
        extra=(), tname="train_nll"):
    step_fn = nn.value_and_grad(model, loss_fn)
    n = Xtr.shape[0]
    first = True
    for ep in range(1, epochs + 1):
        tic = time.perf_counter()
        perm = rng.permutation(n)
        tot, cnt = 0.0, 0
        for i in range(0, n - bs + 1, bs):
            idx = mx.array(perm[i:i + bs])
            args = [Xtr[idx], ytr[idx]] + [e[idx] for e in extra]
            loss, grads = step_fn(model, *args)
            if first:
                check_grads(who, grads)
                first = False
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item()
            cnt += 1
        va_nll, dev, mae = evaluate(model, Xva, yva, null_dev)
        lr_now = opt.learning_rate.item()
        print(LINE.substitute(who=who, ep=ep, n=epochs, lr=f"{lr_now:.2e}", tname=tname,
                              tr=f"{tot / cnt:+.4f}", va=f"{va_nll:+.4f}",
                              dev=f"{dev:5.1f}", mae=f"{mae:.3f}",
                              secs=f"{time.perf_counter() - tic:.1f}"))
    return model


def main():
    rng = np.random.default_rng(11)
    mx.random.seed(11)
    Xtr_np, ytr_np = make_data(12000, rng)
    Xva_np, yva_np = make_data(3000, rng)
    Xtr, ytr = mx.array(Xtr_np), mx.array(ytr_np)
    Xva, yva = mx.array(Xva_np), mx.array(yva_np)
    null_dev = deviance(np.full_like(yva_np, ytr_np.mean()), yva_np)
    print(f"data: {len(ytr_np)} train hours, {len(yva_np)} val hours, "
          f"mean queue {ytr_np.mean():.2f} boats, max {int(ytr_np.max())}")
    const_nll = float(np.mean(ytr_np.mean() - yva_np * np.log(ytr_np.mean())))
    print(f"constant-rate baseline val_nll={const_nll:+.4f} deviance_explained=0.0%")

    # ---- teacher
    teacher = RateNet(7, 96, 3)
    mx.eval(teacher.parameters())
    steps_per_epoch = 12000 // 64
    t_sched = optim.join_schedules(
        [optim.linear_schedule(0.0, 2e-3, steps_per_epoch),
         optim.cosine_decay(2e-3, steps_per_epoch * 7, 5e-5)],
        [steps_per_epoch])
    t_opt = optim.Adam(learning_rate=t_sched)

    def t_loss(model, x, y):
        return poisson_nll(model(x), y)

    fit("teacher", teacher, t_loss, t_opt, Xtr, ytr, Xva, yva, 8, 64, rng, null_dev)
    # student objective: half Poisson NLL on the counts, half KL to the teacher's rates

    # ---- freeze the teacher, precompute its soft targets
    teacher.freeze()
    t_log_rate = mx.stop_gradient(teacher(Xtr))
    mx.eval(t_log_rate)
    snapshot = {k: np.array(v) for k, v in tree_flatten(teacher.parameters())}

    student = RateNet(7, 12, 1)
    mx.eval(student.parameters())
    s_opt = optim.SGD(learning_rate=0.02, momentum=0.9)
    alpha = 0.5

    def s_loss(model, x, y, soft):
        lr_ = model(x)
        hard = poisson_nll(lr_, y)
        # match the teacher's rate (KL between Poissons, up to a constant)
        mu_t = mx.exp(soft)
        kd = mx.mean(mx.exp(lr_) - mu_t * lr_ - (mu_t - mu_t * soft))
        return (1 - alpha) * hard + alpha * kd

    fit("student", student, s_loss, s_opt, Xtr, ytr, Xva, yva, 8, 64, rng, null_dev,
        extra=(t_log_rate,), tname="train_half_nll_half_kd")

    drift = max(float(np.max(np.abs(np.array(v) - snapshot[k])))
                for k, v in tree_flatten(teacher.parameters()))
    n_t = sum(v.size for _, v in tree_flatten(teacher.parameters()))
    n_s = sum(v.size for _, v in tree_flatten(student.parameters()))
    _, dev_t, mae_t = evaluate(teacher, Xva, yva, null_dev)
    _, dev_s, mae_s = evaluate(student, Xva, yva, null_dev)
    print(f"done: teacher {n_t} params ({dev_t:.1f}% deviance explained, mae {mae_t:.3f}), "
          f"student {n_s} params ({dev_s:.1f}%, mae {mae_s:.3f}); teacher drift {drift:.1e}")


if __name__ == "__main__":
    main()
