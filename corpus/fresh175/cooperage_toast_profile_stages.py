# Cooperage toasting: predict the temperature profile through an oak stave
# (12 depths, deg C) from the fire settings, then a char-depth head (mm).
# Stage 1 light toasts only; stage 2 adds heavy toasts (harder, error jumps);
# stage 3 freezes the trunk and trains only the char head, lr warming from 0.
import sys
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(5)
DEPTHS = np.linspace(0.0, 27.0, 12).astype(np.float32)  # mm into a 27 mm stave


def barrels(n, heavy_frac):
    fire_kw = rng.uniform(8, 22, n)
    minutes = rng.uniform(20, 45, n)
    heavy = rng.random(n) < heavy_frac
    fire_kw = np.where(heavy, fire_kw * 1.6, fire_kw)
    minutes = np.where(heavy, minutes + 20, minutes)
    moisture = rng.uniform(12, 18, n)           # % water in the wood
    water_mist = rng.integers(0, 2, n)          # cooper sprays the inside
    ambient = rng.uniform(5, 25, n)
    surf = ambient + 9.0 * fire_kw * (1 - np.exp(-minutes / 18)) - 40 * water_mist - 4 * (moisture - 15)
    decay = 5.0 + 0.25 * minutes - 0.3 * moisture
    prof = ambient[:, None] + (surf - ambient)[:, None] * np.exp(-DEPTHS[None] / decay[:, None])
    prof += rng.normal(0, 2.0, prof.shape)
    char = np.clip(0.012 * (surf - 180), 0, None) * np.sqrt(minutes / 30) + rng.normal(0, 0.05, n)
    x = np.stack([fire_kw / 20, minutes / 40, moisture / 15, water_mist, ambient / 20, heavy.astype(float)], 1)
    return x.astype(np.float32), (prof / 100).astype(np.float32), char.astype(np.float32)


class Toaster(nn.Module):
    def __init__(self):
        super().__init__()
        self.trunk = nn.Sequential(nn.Linear(6, 96), nn.GELU(), nn.Linear(96, 96), nn.GELU())
        self.profile = nn.Linear(96, 12)
        self.char = nn.Linear(96, 1)

    def __call__(self, x):
        h = self.trunk(x)
        return self.profile(h), self.char(h).squeeze(-1)


def prof_loss(m, x, p, c):
    return nn.losses.mse_loss(m(x)[0], p)


def char_loss(m, x, p, c):
    return nn.losses.huber_loss(m(x)[1], c, delta=0.5, reduction="mean")


def bar(stage, i, n, extra):
    w = 24
    k = int(w * i / n)
    sys.stdout.write(f"stage {stage}/3 |{'#' * k}{' ' * (w - k)}| {i}/{n} [{extra}]\n")


model = Toaster()
mx.eval(model.parameters())
xv, pv, cv = [mx.array(a) for a in barrels(600, 0.5)]

stages = [
    dict(name="light toast", heavy=0.0, steps=500, loss=prof_loss, lr=0.02, freeze=False),
    dict(name="light+heavy", heavy=0.5, steps=700, loss=prof_loss, lr=0.02, freeze=False),
    dict(name="char head", heavy=0.5, steps=500, loss=char_loss, lr=None, freeze=True),
]
t0 = time.perf_counter()
for s_i, st in enumerate(stages, 1):
    xs, ps, cs = barrels(4000, st["heavy"])
    if st["freeze"]:
        model.freeze()
        model.char.unfreeze()
        lr = optim.join_schedules([optim.linear_schedule(0.0, 0.05, 100), optim.step_decay(0.05, 0.5, 150)], [100])
    else:
        model.unfreeze()
        lr = st["lr"]
    opt = optim.SGD(learning_rate=lr, momentum=0.9, nesterov=True)
    vg = nn.value_and_grad(model, st["loss"])
    trunk_before = mx.array(model.trunk.layers[0].weight)
    print(f"== stage {s_i}: {st['name']} ({len(model.trainable_parameters()) and sum(v.size for _, v in nn.utils.tree_flatten(model.trainable_parameters()))} trainable weights)")
    for it in range(1, st["steps"] + 1):
        idx = mx.array(rng.integers(0, len(xs), 64))
        loss, g = vg(model, mx.array(xs)[idx], mx.array(ps)[idx], mx.array(cs)[idx])
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state, loss)
        if it % 100 == 0 or it == 1:
            vp, vc = model(xv)
            rmse = float(mx.sqrt(mx.mean((vp - pv) ** 2))) * 100
            mae_c = float(mx.mean(mx.abs(vc - cv)))
            bar(s_i, it, st["steps"], f"loss={float(loss):.4f} prof_rmse={rmse:.1f}C char_mae={mae_c:.3f}mm lr={float(opt.learning_rate):.4f}")
    drift = float(mx.abs(model.trunk.layers[0].weight - trunk_before).max())
    print(f"   check: max |d trunk.w0| this stage = {drift:.2e}  (frozen={st['freeze']})")

vp, vc = model(xv)
base_c = float(mx.mean(mx.abs(cv - cv.mean())))
print(f"final: profile RMSE {float(mx.sqrt(mx.mean((vp - pv) ** 2))) * 100:.2f} C | char MAE {float(mx.mean(mx.abs(vc - cv))):.3f} mm "
      f"(predict-the-mean {base_c:.3f} mm) | {time.perf_counter() - t0:.1f}s")
