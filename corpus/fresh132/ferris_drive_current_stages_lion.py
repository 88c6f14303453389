# Ferris wheel drive: predict main-motor current (A) from gondola loading and weather.
# Three stages: calm days, then gusty days (harder, loss jumps), then a head-only
# refit after the gearbox swap with the trunk frozen on purpose.
import logging
import sys
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

logging.basicConfig(stream=sys.stdout, level=logging.INFO,
                    format="%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt="%H:%M:%S")
log = logging.getLogger("ferris")
rs = np.random.RandomState(7)


def wheel_days(n, gusty, gear_ratio=1.0):
    load = rs.uniform(0, 1, n)            # share of seats taken
    imbalance = rs.uniform(-1, 1, n)      # signed left/right loading skew
    temp = rs.uniform(-0.5, 1, n)         # scaled air temperature
    rpm = rs.uniform(0.4, 1, n)
    wind = rs.uniform(0, 0.4, n) + (rs.uniform(0, 1.2, n) if gusty else 0)
    amps = (40 + 55 * load * rpm + 18 * np.abs(imbalance) * rpm - 6 * temp
            + 30 * wind ** 2 * (1 + imbalance) + rs.normal(0, 1.5, n))
    amps = amps * gear_ratio
    x = np.stack([load, imbalance, temp, rpm, wind, load * wind], 1).astype(np.float32)
    return mx.array(x), mx.array(((amps - 80) / 25).astype(np.float32))


class DriveNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.trunk = nn.Sequential(nn.Linear(6, 48), nn.GELU(), nn.Linear(48, 48), nn.GELU())
        self.head = nn.Linear(48, 1)

    def __call__(self, x):
        return self.head(self.trunk(x)).squeeze(-1)


def mse(model, x, y):
    return nn.losses.mse_loss(model(x), y)


def bar(done, total, width=20):
    fill = int(width * done / total)
    return "|" + "#" * fill + " " * (width - fill) + "|"


model = DriveNet()
grad_fn = nn.value_and_grad(model, mse)
STAGES = [("calm", False, 1.0, False, 600), ("gusty", True, 1.0, False, 800),
          ("gearbox-refit", True, 1.12, True, 300)]
for name, gusty, ratio, head_only, steps in STAGES:
    xt, yt = wheel_days(3000, gusty, ratio)
    xv, yv = wheel_days(600, gusty, ratio)
    if head_only:
        model.freeze()
        model.head.unfreeze()
    peak = 2e-3
    sched = optim.join_schedules([optim.linear_schedule(0.0, peak, 40),
                                  optim.cosine_decay(peak, steps - 40, 1e-5)], [40])
    opt = optim.Lion(learning_rate=sched, weight_decay=0.0)
    n_train = sum(v.size for _, v in nn.utils.tree_flatten(model.trainable_parameters()))
    _, g = grad_fn(model, xt[:256], yt[:256])
    gnorm = {k: round(float(mx.sqrt(mx.sum(v * v)).item()), 4) for k, v in nn.utils.tree_flatten(g)}
    log.info("stage %s: %d trainable weights, grad norms %s", name, n_train, gnorm)
    base_mae = mx.mean(mx.abs(yv - mx.mean(yt))).item() * 25
    before = mx.mean(mx.abs(model(xv) - yv)).item() * 25
    log.info("stage %s: val MAE before %.2f A, predict-the-mean baseline %.2f A", name, before, base_mae)
    for step in range(1, steps + 1):
        idx = mx.array(rs.randint(0, xt.shape[0], 128))
        loss, grads = grad_fn(model, xt[idx], yt[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        if step % 100 == 0 or step == steps:
            mae = mx.mean(mx.abs(model(xv) - yv)).item() * 25
            print(f"{name:>13} {100 * step // steps:3d}%{bar(step, steps)} {step}/{steps} "
                  f"[mse={loss.item():.4f}, val_mae={mae:.2f}A, lr={sched(opt.step - 1).item():.2e}]",
                  flush=True)
    log.info("stage %s done: val MAE %.2f A (baseline %.2f A)", name, mae, base_mae)
