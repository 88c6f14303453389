"""Minutes until the first bag reaches the carousel, learned terminal by terminal.

Rollout plan of the airport: the model is first fitted on Terminal 1
(domestic, daytime), then resumed from its checkpoint when Terminal 2 opens
(international arrivals with customs holds - harder, so the error jumps), then
resumed again for the night shift (fewer handlers, rain).  Each phase restarts
its own step counter and its own warm-up from a learning rate of exactly 0.
"""
import os
import tempfile

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

FEATS = ["seats/100", "gate_km", "handlers/10", "hour_sin", "hour_cos", "intl", "rain", "bags/100"]


def flights(n, phase, rng):
    seats = rng.uniform(0.7, 3.5, n)
    gate = rng.uniform(0.2, 1.8, n)
    handlers = rng.uniform(0.8, 2.0, n)
    hour = rng.uniform(6, 22, n)
    intl = np.zeros(n)
    rain = np.zeros(n)
    if phase >= 2:
        intl = (rng.random(n) < 0.55).astype(np.float64)
    if phase >= 3:
        hour = np.where(rng.random(n) < 0.6, rng.uniform(22, 30, n) % 24, hour)
        handlers = handlers * np.where((hour < 6) | (hour >= 22), 0.55, 1.0)
        rain = (rng.random(n) < 0.4).astype(np.float64)
    bags = seats * rng.uniform(0.8, 1.3, n)
    hs, hc = np.sin(2 * np.pi * hour / 24), np.cos(2 * np.pi * hour / 24)
    minutes = (6.0 + 4.5 * gate + 3.0 * bags / handlers + 2.0 * np.maximum(hc, 0)
               + intl * (7.0 + 2.5 * seats) + rain * (3.0 + 2.0 * gate)
               + rng.normal(0, 1.0, n))
    X = np.stack([seats, gate, handlers, hs, hc, intl, rain, bags], 1).astype(np.float32)
    return mx.array(X), mx.array(minutes.astype(np.float32))


class FirstBag(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(len(FEATS), 48)
        self.l2 = nn.Linear(48, 48)
        self.out = nn.Linear(48, 1)

    def __call__(self, x):
        return self.out(nn.silu(self.l2(nn.silu(self.l1(x))))).squeeze(-1)


def huber(model, x, y):
    return nn.losses.huber_loss(model(x), y, delta=2.0, reduction="mean")


def bar(i, n, width=20):
    k = int(width * i / n)
    return "|" + "#" * k + " " * (width - k) + "|"


def save_ckpt(path, model, opt, phase):
    flat = dict(tree_flatten(model.parameters()))
    flat.update({"opt." + k: v for k, v in tree_flatten(opt.state)})
    mx.savez(path, **flat)
    return f"[ckpt] phase {phase} -> {os.path.basename(path)} ({len(flat)} arrays)"


def load_ckpt(path, model, opt):
    data = mx.load(path)
    model.update(tree_unflatten([(k, v) for k, v in data.items() if not k.startswith("opt.")]))
    opt.state = tree_unflatten([(k[4:], v) for k, v in data.items() if k.startswith("opt.")])
    mx.eval(model.parameters(), opt.state)


def run_phase(phase, ckpt_in, ckpt_out, rng, table):
    X, Y = flights(1536, phase, rng)
    Xv, Yv = flights(384, phase, rng)
    base = float(mx.mean(mx.abs(Yv - mx.mean(Y))).item())  # predict-the-mean reference

    steps, warm, bs = 240, 30, 64
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, 3e-3, warm), optim.cosine_decay(3e-3, steps - warm, 2e-4)], [warm])
    model = FirstBag()
    opt = optim.RMSprop(learning_rate=sched, alpha=0.95)
    if ckpt_in is None:
        mx.eval(model.parameters())
        opt.init(model.trainable_parameters())
    else:
        opt.init(model.trainable_parameters())
        load_ckpt(ckpt_in, model, opt)
        opt.state["step"] = mx.array(0, mx.uint64)  # new phase: schedule restarts at lr 0
        print(f"[resume] phase {phase} from {os.path.basename(ckpt_in)}")

    state = [model.state, opt.state]

    def train_step(x, y):
        loss, grads = nn.value_and_grad(model, huber)(model, x, y)
        opt.update(model, grads)
        return loss

    train_step = mx.compile(train_step, inputs=state, outputs=state)

    def mae():
        return float(mx.mean(mx.abs(model(Xv) - Yv)).item())

    start_mae = mae()
    run = 0.0
    for it in range(1, steps + 1):
        idx = mx.array(rng.integers(0, X.shape[0], bs))
        loss = train_step(X[idx], Y[idx])
        mx.eval(state, loss)
        run = 0.9 * run + 0.1 * loss.item() if it > 1 else loss.item()
        if it % 40 == 0 or it == 1:
            lr = opt.learning_rate.item()
            print(f"T{phase} {100 * it // steps:3d}%{bar(it, steps)} {it}/{steps} "
                  f"[huber={run:.3f}, lr={lr:.2e}]", flush=True)
    end_mae = mae()
    print(save_ckpt(ckpt_out, model, opt, phase))
    table.append((phase, start_mae, end_mae, base))


def main():
    rng = np.random.default_rng(2024)
    mx.random.seed(2024)
    table = []
    with tempfile.TemporaryDirectory() as d:
        prev = None
        for phase in (1, 2, 3):
            out = os.path.join(d, f"firstbag_T{phase}.npz")
            run_phase(phase, prev, out, rng, table)
            prev = out
    print()
    print(f"{'phase':<7}{'MAE@start':>10}{'MAE@end':>9}{'mean-ref':>10}  (minutes)")
    for phase, s, e, b in table:
        print(f"{'T' + str(phase):<7}{s:>10.2f}{e:>9.2f}{b:>10.2f}")


if __name__ == "__main__":
    main()
