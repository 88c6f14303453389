"""Museum cloakroom: classify the coat-check queue 15 minutes ahead
(short < 5 min, medium 5-15 min, long > 15 min) from door counters and weather.

Curriculum in three stages - weekdays, then weekends, then holiday weeks.
Each stage gets a fresh optimizer and its own warm-up that starts at lr 0.
The later stages are noisier, so the loss goes up when they begin.
"""
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

CLASSES = ["short", "medium", "long"]


def season(n, rng, crowd, noise):
    hour = rng.uniform(8.5, 16.5, n)
    door_rate = rng.gamma(2.0, 6.0 * crowd, n)           # visitors/min through the doors
    attendants = rng.choice([2.5, 3.5, 5.0], n)           # staff on the desk (half shifts)
    rain = rng.gamma(1.5, 12.0, n)                        # wet-coat index
    show_draw = rng.exponential(6.0, n)                   # special-exhibition draw
    temp = rng.normal(-5, 5, n)
    capacity = 18 * attendants * (1 - 0.5 / (1 + np.exp(-(rain - 45) / 5)))
    peak = np.exp(-((hour - 10.5) / 1.2) ** 2) + 0.6 * np.exp(-((hour - 13.5) / 1.0) ** 2)
    pressure = door_rate * (1 + 0.9 * peak) * (1 + show_draw / 25) - capacity
    pressure += rng.normal(0, noise, n)
    y = np.digitize(pressure, [-12.0, 6.0])
    X = np.stack([np.sin(2 * np.pi * hour / 24), np.cos(2 * np.pi * hour / 24),
                  door_rate, attendants, rain, show_draw, temp], 1)
    return X.astype(np.float32), y.astype(np.int32)


class CloakNet(nn.Module):
    def __init__(self, d_in):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(d_in, 96), nn.SiLU(),
                                  nn.Linear(96, 96), nn.SiLU())
        self.head = nn.Linear(96, 3)

    def __call__(self, x):
        return self.head(self.body(x))


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def stage_optimizer(steps, peak_body, peak_head):
    warm = steps // 8

    def sched(peak):
        return optim.join_schedules(
            [optim.linear_schedule(0.0, peak, warm),
             optim.cosine_decay(peak, steps - warm, peak * 0.05)], [warm])

    body = optim.Adam(learning_rate=sched(peak_body))
    head = optim.SGD(learning_rate=sched(peak_head), momentum=0.9)
    return optim.MultiOptimizer([body, head], [lambda path, _: path.startswith("body")])


def evaluate(model, X, y):
    logits = model(X)
    ce = nn.losses.cross_entropy(logits, y, reduction="mean").item()
    acc = mx.mean(mx.argmax(logits, -1) == y).item()
    return ce, acc


def main():
    rng = np.random.default_rng(3)
    stages = [("weekdays", 1.0, 3.0, 400), ("weekends", 1.6, 7.0, 400),
              ("holidays", 2.2, 11.0, 400)]
    data = []
    for name, crowd, noise, _ in stages:
        Xa, ya = season(6000, rng, crowd, noise)
        Xb, yb = season(1500, rng, crowd, noise)
        data.append((Xa, ya, Xb, yb))
    allX = np.concatenate([d[0] for d in data])
    mu, sd = allX.mean(0), allX.std(0)

    mx.random.seed(0)
    model = CloakNet(allX.shape[1])
    mx.eval(model.parameters())
    grad_fn = nn.value_and_grad(model, loss_fn)
    t0 = time.time()
    seen_X, seen_y = [], []
    total = 0
    for si, (name, crowd, noise, steps) in enumerate(stages):
        Xa, ya, Xb, yb = data[si]
        seen_X.append(Xa); seen_y.append(ya)
        trX = np.concatenate(seen_X); trY = np.concatenate(seen_y)
        vX, vY = mx.array((Xb - mu) / sd), mx.array(yb)
        majority = np.bincount(yb, minlength=3).max() / len(yb)
        ce0, acc0 = evaluate(model, vX, vY)
        print(f"stage={name} rows={len(trX)} classes={np.bincount(trY, minlength=3).tolist()} "
              f"start_val_ce={ce0:.3f} start_val_acc={acc0:.3f} majority_acc={majority:.3f}")
        opt = stage_optimizer(steps, 2e-3, 5e-2)
        win = []
        for s in range(steps):
            idx = rng.integers(0, len(trX), 256)
            xb = mx.array((trX[idx] - mu) / sd); yb_ = mx.array(trY[idx])
            lr_body = opt.optimizers[0].learning_rate.item()
            loss, g = grad_fn(model, xb, yb_)
            opt.update(model, g)
            mx.eval(model.parameters(), opt.state, loss)
            win.append(loss.item())
            total += 1
            if s == 0 or (s + 1) % 80 == 0:
                ce, acc = evaluate(model, vX, vY)
                print(f"stage={name} step={total} lr_body={lr_body:.2e} "
                      f"train_ce={np.mean(win):.3f} val_ce={ce:.3f} val_acc={acc:.3f} "
                      f"t={time.time() - t0:.1f}s")
                win = []
    print("final per-stage held-out accuracy:")
    for si, (name, *_rest) in enumerate(stages):
        Xa, ya, Xb, yb = data[si]
        ce, acc = evaluate(model, mx.array((Xb - mu) / sd), mx.array(yb))
        majority = np.bincount(yb, minlength=3).max() / len(yb)
        print(f"  {name:9s} ce={ce:.3f} acc={acc:.3f} majority={majority:.3f}")


if __name__ == "__main__":
    main()
