"""Ski-lift haul-rope telemetry: one-step forecaster + CUSUM alarm.

Four readings per second-tick on a detachable chairlift: drive motor current,
haul-rope tension at the return bullwheel, line speed and tension-carriage
position. A small causal dilated Conv1d network (TCN) forecasts the next
tick of every channel from the previous 24 ticks. Training is split in two
sessions: the first run writes a checkpoint (weights + optimizer state +
step counter) and stops; a second session rebuilds everything from scratch,
loads the checkpoint and continues the same schedule (linear warm-up from
exactly 0, then cosine). The forecast error cannot go below the sensor noise,
so the floor is printed next to the loss.

Anomaly screening on a held-out day with planted faults: standardized
forecast residuals feed a one-sided CUSUM; compared with the same CUSUM on a
persistence forecast (next tick = this tick).
"""
import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

CH = 4
CTX = 24
NOISE = np.array([0.6, 1.5, 0.03, 0.8], dtype=np.float32)  # sensor noise per channel
BATCH = 128
EPOCHS = 10
STOP_AFTER = 4  # first session stops after this epoch
WARMUP = 60
PEAK_LR = 2e-3


def lift_log(n, rng):
    t = np.arange(n)
    # chairs loading in waves, skier load follows a slow daily pattern
    load = 0.5 + 0.3 * np.sin(2 * np.pi * t / 900.0) + 0.2 * np.sin(2 * np.pi * t / 37.0)
    speed = 5.0 + 0.05 * np.sin(2 * np.pi * t / 300.0)
    current = 180 + 90 * load + 8 * (speed - 5.0)
    tension = 410 + 0.35 * current + 6 * np.sin(2 * np.pi * t / 61.0)
    carriage = np.zeros(n)
    for i in range(1, n):  # carriage moves slowly toward a tension-set point
        target = 0.08 * (tension[i] - 470)
        carriage[i] = carriage[i - 1] + 0.05 * (target - carriage[i - 1])
    x = np.stack([current, tension, speed, carriage], axis=1)
    x = x + rng.normal(0, 1, x.shape) * NOISE
    return x.astype(np.float32)


def plant_faults(x, rng):
    x = x.copy()
    lab = np.zeros(len(x), dtype=np.int32)
    starts = np.sort(rng.choice(np.arange(200, len(x) - 200, 150), size=10, replace=False))
    for k, s in enumerate(starts):
        length = int(rng.integers(25, 60))
        seg = slice(s, s + length)
        if k % 2 == 0:  # carriage sticks: stops tracking tension (stays in its normal range)
            x[seg, 3] = x[s - 1, 3] + rng.normal(0, NOISE[3], length)
        else:  # tension sensor drift: slow ramp, still within daily range
            x[seg, 1] += np.linspace(0, 25, length)
        lab[seg] = 1
    return x, lab


class CausalConv(nn.Module):
    """Kernel-3 causal dilated convolution written as three taps."""

    def __init__(self, cin, cout, dil):
        super().__init__()
        self.dil = dil
        self.taps = [nn.Linear(cin, cout, bias=(i == 0)) for i in range(3)]

    def __call__(self, x):  # x: (B, T, C)
        T = x.shape[1]
        xp = mx.pad(x, [(0, 0), (2 * self.dil, 0), (0, 0)])
        out = 0
        for i, tap in enumerate(self.taps):
            off = (2 - i) * self.dil  # tap 0 sees t - 2d, tap 2 sees t
            out = out + tap(xp[:, 2 * self.dil - off:2 * self.dil - off + T, :])
        return out


class TCN(nn.Module):
    def __init__(self, ch, hidden=16):
        super().__init__()
        self.inp = nn.Linear(ch, hidden)
        self.blocks = [CausalConv(hidden, hidden, d) for d in (1, 2, 4, 8)]
        self.out = nn.Linear(hidden, ch)

    def __call__(self, x):
        h = self.inp(x)
        for blk in self.blocks:
            h = h + nn.gelu(blk(h))
        return self.out(h[:, -1, :])  # forecast of the next tick


def make_windows(x):
    n = len(x) - CTX
    idx = np.arange(CTX)[None, :] + np.arange(n)[:, None]
    return x[idx], x[CTX:]


def loss_fn(model, xb, yb):
    return ((model(xb) - yb) ** 2).mean()


def schedule():
    total = EPOCHS * STEPS_PER_EPOCH
    warm = optim.linear_schedule(0.0, PEAK_LR, WARMUP)
    cos = optim.cosine_decay(PEAK_LR, total - WARMUP, 1e-5)
    return optim.join_schedules([warm, cos], [WARMUP])


def run_session(first_epoch, last_epoch, data, ckpt, rng):
    xs, ys, xv, yv, noise_floor = data
    model = TCN(CH)
    opt = optim.AdamW(learning_rate=schedule(), weight_decay=1e-4)
    if first_epoch > 1:
        model.load_weights(ckpt + ".weights.safetensors")
        state = mx.load(ckpt + ".opt.safetensors")
        opt.state = tree_unflatten(list(state.items()))
        print(f"resumed from checkpoint: optimizer step {opt.step.item()}, "
              f"lr {opt.learning_rate.item():.2e}")
    mx.eval(model.parameters())
    step_fn = nn.value_and_grad(model, loss_fn)

    for epoch in range(first_epoch, last_epoch + 1):
        perm = rng.permutation(len(xs))
        run = 0.0
        for b in range(STEPS_PER_EPOCH):
            idx = perm[b * BATCH:(b + 1) * BATCH]
            loss, grads = step_fn(model, mx.array(xs[idx]), mx.array(ys[idx]))
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state)
            run += loss.item()
            if epoch == 1 and b in (0, 1, 2):
                print(f"  step {b}  lr {opt.learning_rate.item():.2e}  loss {loss.item():.4f}")
        val = loss_fn(model, mx.array(xv), mx.array(yv)).item()
        print(f"epoch {epoch:2d}  train mse {run / STEPS_PER_EPOCH:.4f}  val mse {val:.4f}  "
              f"(noise floor {noise_floor:.4f})  lr {opt.learning_rate.item():.2e}")

    if last_epoch < EPOCHS:
        model.save_weights(ckpt + ".weights.safetensors")
        mx.save_safetensors(ckpt + ".opt.safetensors", dict(tree_flatten(opt.state)))
        print(f"checkpoint written after epoch {last_epoch}; session ends")
    return model


def cusum_path(q, k=0.5):
    """One-sided CUSUM of q - 1 - k (q ~ 1 on normal ticks)."""
    s = 0.0
    out = np.zeros(len(q), dtype=np.float32)
    for i, v in enumerate(q):
        s = max(0.0, s + v - 1.0 - k)
        out[i] = s
    return out


def cusum_alarms(q, h, k=0.5):
    """Alarm ticks; the sum restarts from 0 after every alarm."""
    s = 0.0
    out = np.zeros(len(q), dtype=np.int32)
    for i, v in enumerate(q):
        s = max(0.0, s + v - 1.0 - k)
        if s > h:
            out[i] = 1
            s = 0.0
    return out


def event_scores(alarm, lab, grace=CTX):
    """Faults caught, faults, and alarms outside faults (the CTX ticks after a
    fault are a grace zone: the forecaster still sees the fault in its context)."""
    events, caught, i, n = 0, 0, 0, len(lab)
    near = lab.copy()
    while i < n:
        if lab[i]:
            j = i
            while j < n and lab[j]:
                j += 1
            events += 1
            caught += int(alarm[i:j].any())
            near[j:j + grace] = 1
            i = j
        else:
            i += 1
    false_alarms = int(((alarm == 1) & (near == 0)).sum())
    return caught, events, false_alarms


def main():
    global STEPS_PER_EPOCH
    t0 = time.time()
    rng = np.random.default_rng(11)
    mx.random.seed(11)
    train = lift_log(5000, rng)
    val = lift_log(1500, rng)
    test, lab = plant_faults(lift_log(3000, rng), rng)

    mu, sd = train.mean(0), train.std(0)
    norm = lambda a: ((a - mu) / sd).astype(np.float32)
    xs, ys = make_windows(norm(train))
    xv, yv = make_windows(norm(val))
    noise_floor = float(((NOISE / sd) ** 2).mean())
    STEPS_PER_EPOCH = len(xs) // BATCH
    print(f"{len(xs)} training windows, {STEPS_PER_EPOCH} steps/epoch, "
          f"fault ticks in test {lab.mean():.1%}")

    ckpt = os.path.join(tempfile.mkdtemp(), "haul")
    data = (xs, ys, xv, yv, noise_floor)
    run_session(1, STOP_AFTER, data, ckpt, rng)
    model = run_session(STOP_AFTER + 1, EPOCHS, data, ckpt, rng)

    # residual scale from the clean validation day; alarm level set on that day too
    xt, yt = make_windows(norm(test))
    lab_w = lab[CTX:]
    rv = np.array(model(mx.array(xv))) - yv
    rt = np.array(model(mx.array(xt))) - yt
    pv = xv[:, -1, :] - yv
    pt = xt[:, -1, :] - yt
    for name, res_val, res_test in (("tcn forecast", rv, rt), ("persistence", pv, pt)):
        sdv = res_val.std(0)
        q_val = ((res_val / sdv) ** 2).mean(1)
        q_test = ((res_test / sdv) ** 2).mean(1)
        h = 1.2 * cusum_path(q_val).max()
        alarm = cusum_alarms(q_test, h)
        caught, events, fp = event_scores(alarm, lab_w)
        print(f"{name:13s} level h {h:6.2f}  faults caught {caught}/{events}  "
              f"alarms outside faults {fp}  mean q normal {q_test[lab_w == 0].mean():.2f} "
              f"fault {q_test[lab_w == 1].mean():.2f}")
    print(f"done in {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
