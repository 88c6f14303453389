"""Velodrome team pursuit: predict the next lap split from the last 6 laps.

Synthetic telemetry per lap: rider power (W), cadence (rpm), position in the
line (1-4, one-hot), lap index. The next split (s) follows a made-up law:
fatigue grows with laps and with time spent on the front, power buys speed,
plus 0.05 s timing noise. A Conv1d + MLP head predicts mean and log-std;
training minimises the Gaussian negative log-likelihood (it goes below 0 on
purpose once the predicted std shrinks under ~0.4 s).

Features: SGD + Nesterov, lr warmup from exactly 0, cosine decay, global-norm
clipping at 1.0 (pre-clip norm logged), a non-finite guard that skips a step
when the telemetry of a batch carries a sensor dropout (inf power), a
checkpoint at step 300 and a resume from it, and a previous-lap baseline.
"""

import math
import os
import tempfile
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

mx.random.seed(11)
WIN = 6
F = 7  # power, cadence, pos one-hot (4), lap index


def make_race(n_races, laps=16, seed=0):
    key = mx.random.key(seed)
    k1, k2, k3, k4 = mx.random.split(key, 4)
    base = 14.2 + 0.4 * mx.random.normal((n_races, 1), key=k1)
    power = 420 + 60 * mx.random.normal((n_races, laps), key=k2)
    cadence = 118 + 6 * mx.random.normal((n_races, laps), key=k3)
    pos = (mx.arange(laps)[None, :] + mx.random.randint(0, 4, (n_races, 1), key=k4)) % 4
    front = (pos == 0).astype(mx.float32)
    front_laps = mx.cumsum(front, axis=1)
    lap = mx.broadcast_to(mx.arange(laps)[None, :].astype(mx.float32), power.shape)
    split = (base - 0.004 * (power - 420) + 0.03 * lap + 0.06 * front_laps
             + 0.002 * (cadence - 118) ** 2 / 10
             + 0.05 * mx.random.normal(power.shape, key=mx.random.key(seed + 99)))
    onehot = (pos[..., None] == mx.arange(4)).astype(mx.float32)
    feats = mx.concatenate([((power - 420) / 60)[..., None], ((cadence - 118) / 6)[..., None],
                            onehot, (lap / laps)[..., None]], axis=-1)
    xs, ys, prev = [], [], []
    for t in range(WIN, laps):
        xs.append(feats[:, t - WIN:t])
        ys.append(split[:, t])
        prev.append(split[:, t - 1])
    # condition on the previous split too: it is appended as a channel
    X = mx.concatenate(xs, axis=0)
    P = mx.concatenate(prev, axis=0)
    Y = mx.concatenate(ys, axis=0)
    return X, P, Y


class SplitNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv1d(F, 32, kernel_size=3)
        self.fc1 = nn.Linear(32 * (WIN - 2) + 1, 64)
        self.mu = nn.Linear(64, 1)
        self.logstd = nn.Linear(64, 1)

    def __call__(self, x, prev):
        h = nn.relu(self.conv(x))
        h = h.reshape(h.shape[0], -1)
        h = nn.relu(self.fc1(mx.concatenate([h, (prev - 14.5)[:, None]], axis=-1)))
        mu = 14.5 + self.mu(h).squeeze(-1)
        logstd = mx.clip(self.logstd(h).squeeze(-1), -6, 3)
        return mu, logstd


def nll(model, x, prev, y):
    mu, logstd = model(x, prev)
    return mx.mean(logstd + 0.5 * ((y - mu) / mx.exp(logstd)) ** 2 + 0.5 * math.log(2 * math.pi))


def evaluate(model, X, P, Y):
    mu, logstd = model(X, P)
    mae = mx.mean(mx.abs(mu - Y)).item()
    return nll(model, X, P, Y).item(), mae, mx.mean(mx.exp(logstd)).item()


def train(model, opt, X, P, Y, start, stop, total, state, bs=64, dropout_steps=(137, 412)):
    loss_and_grad = nn.value_and_grad(model, nll)
    n = X.shape[0]
    for step in range(start, stop):
        idx = mx.random.randint(0, n, (bs,), key=mx.random.key(1000 + step))
        xb, pb, yb = X[idx], P[idx], Y[idx]
        if step in dropout_steps:  # power meter drops out: telemetry reads inf
            xb = mx.where(mx.arange(F)[None, None, :] == 0, mx.inf, xb)
        loss, grads = loss_and_grad(model, xb, pb, yb)
        grads, gnorm = optim.clip_grad_norm(grads, max_norm=1.0)
        if not bool(mx.isfinite(gnorm).item()):
            state["skipped"] += 1
            print(f"step {step:4d}: non-finite grad norm, step skipped (skipped={state['skipped']})")
            continue
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state)
        state["gn"] += gnorm.item()
        state["clipped"] += int(gnorm.item() > 1.0)
        state["loss"] += loss.item()
        state["k"] += 1
        if (step + 1) % 50 == 0:
            k = max(state["k"], 1)
            lr = opt.learning_rate.item()
            print(f"step {step + 1:4d}: nll {state['loss'] / k:+.4f} pre-clip |g| {state['gn'] / k:7.3f} "
                  f"clipped {state['clipped']}/{k} lr {lr:.4f}")
            state.update(loss=0.0, gn=0.0, clipped=0, k=0)


def main():
    tic = time.perf_counter()
    X, P, Y = make_race(300, seed=1)
    Xv, Pv, Yv = make_race(60, seed=2)
    base_mae = mx.mean(mx.abs(Pv - Yv)).item()
    print(f"train windows {X.shape[0]}, val windows {Xv.shape[0]}; previous-lap baseline MAE {base_mae:.3f}s")

    total, warm = 600, 60
    sched = optim.join_schedules([optim.linear_schedule(0.0, 0.02, warm),
                                  optim.cosine_decay(0.02, total - warm, 1e-4)], [warm])

    model = SplitNet()
    mx.eval(model.parameters())
    opt = optim.SGD(learning_rate=sched, momentum=0.9, nesterov=True)
    v = evaluate(model, Xv, Pv, Yv)
    print(f"init: val nll {v[0]:+.3f} val MAE {v[1]:.3f}s")
    state = dict(loss=0.0, gn=0.0, clipped=0, k=0, skipped=0)
    train(model, opt, X, P, Y, 0, 300, total, state)
    v = evaluate(model, Xv, Pv, Yv)
    print(f"checkpoint @300: val nll {v[0]:+.3f} val MAE {v[1]:.3f}s mean std {v[2]:.3f}s")

    ck = os.path.join(tempfile.mkdtemp(), "split.safetensors")
    flat = dict(tree_flatten(model.parameters()))
    flat.update({f"opt.{k}": a for k, a in tree_flatten(opt.state)})
    mx.save_safetensors(ck, flat)
    del model, opt

    loaded = mx.load(ck)
    model = SplitNet()
    model.update(tree_unflatten([(k, a) for k, a in loaded.items() if not k.startswith("opt.")]))
    opt = optim.SGD(learning_rate=sched, momentum=0.9, nesterov=True)
    opt.state = tree_unflatten([(k[4:], a) for k, a in loaded.items() if k.startswith("opt.")])
    v2 = evaluate(model, Xv, Pv, Yv)
    print(f"resumed: val nll {v2[0]:+.3f} (matches {abs(v2[0] - v[0]) < 1e-5}), "
          f"optimizer step {int(opt.step.item())}")
    train(model, opt, X, P, Y, 300, total, total, state)
    v = evaluate(model, Xv, Pv, Yv)
    print(f"final: val nll {v[0]:+.3f} val MAE {v[1]:.3f}s (baseline {base_mae:.3f}s) "
          f"mean std {v[2]:.3f}s, skipped {state['skipped']} steps, {time.perf_counter() - tic:.1f}s")


if __name__ == "__main__":
    main()
