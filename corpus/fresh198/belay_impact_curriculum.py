# Climbing-rope lab: predict peak impact force (kN) on the top anchor from drop-test settings.
# Two-stage curriculum: stage "gym" = low fall factors only, stage "alpine" adds severe falls.
# Each stage re-creates the optimizer, so the learning rate warms up again from exactly 0.
import json
import math
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(11)


def drop_tests(n):
    k = mx.random.uniform(shape=(n, 6))
    diameter = 8.5 + 2.0 * k[:, 0]          # mm
    fall_factor = 0.1 + 1.7 * k[:, 1]       # 0.1 .. 1.8
    mass = 55 + 45 * k[:, 2]                # kg
    prior_falls = mx.floor(12 * k[:, 3])    # count
    wet = (k[:, 4] > 0.7).astype(mx.float32)
    age = 6 * k[:, 5]                       # years
    stiff = 18 + 2.2 * (diameter - 8.5) + 0.9 * prior_falls + 3.0 * wet + 0.8 * age
    force = mx.sqrt(2 * mass * 9.81 * fall_factor * stiff) / 10.0 + 0.9
    force = force + 0.15 * mx.random.normal(shape=(n,))
    x = mx.stack([(diameter - 9.5), fall_factor - 0.95, (mass - 77) / 25,
                  (prior_falls - 6) / 6, wet, (age - 3) / 3], axis=1)
    return x, force, fall_factor


class ImpactNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(6, 48)
        self.l2 = nn.Linear(48, 48)
        self.out = nn.Linear(48, 1)

    def __call__(self, x):
        return self.out(nn.silu(self.l2(nn.silu(self.l1(x))))).squeeze(-1)


def loss_fn(model, x, y):
    return nn.losses.huber_loss(model(x), y, delta=1.0, reduction="mean")


xa, ya, ffa = drop_tests(6000)
xt, yt, fft = drop_tests(1500)
gym_idx = mx.array([i for i, f in enumerate(ffa.tolist()) if f < 0.6])
x_gym, y_gym = xa[gym_idx], ya[gym_idx]
baseline_mae = mx.mean(mx.abs(yt - mx.mean(ya))).item()

model = ImpactNet()
mx.eval(model.parameters())
vg = nn.value_and_grad(model, loss_fn)
stages = [("gym", x_gym, y_gym, 12), ("alpine", xa, ya, 14)]
bs = 128
for name, xs, ys, epochs in stages:
    steps_per_epoch = math.ceil(xs.shape[0] / bs)
    total = epochs * steps_per_epoch
    warm = 2 * steps_per_epoch
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, 3e-3, warm), optim.cosine_decay(3e-3, total - warm, 1e-5)], [warm])
    opt = optim.Adamax(learning_rate=sched)
    for ep in range(epochs):
        perm = mx.random.permutation(xs.shape[0])
        run = 0.0
        for s in range(steps_per_epoch):
            idx = perm[s * bs:(s + 1) * bs]
            loss, grads = vg(model, xs[idx], ys[idx])
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            run += loss.item()
        pred = model(xt)
        mae = mx.mean(mx.abs(pred - yt)).item()
        severe = fft > 1.2
        mae_sev = (mx.sum(mx.abs(pred - yt) * severe) / mx.sum(severe)).item()
        print(json.dumps({"stage": name, "epoch": ep, "lr": round(opt.learning_rate.item(), 6),
                          "train_huber": round(run / steps_per_epoch, 4),
                          "test_mae_kN": round(mae, 3), "severe_mae_kN": round(mae_sev, 3),
                          "baseline_mae_kN": round(baseline_mae, 3)}))
print(f"final: test MAE {mae:.3f} kN vs mean-predictor {baseline_mae:.3f} kN "
      f"({100 * (1 - mae / baseline_mae):.1f}% better)")
