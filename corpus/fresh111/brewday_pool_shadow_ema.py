"""Brew-day log: predict apparent attenuation (%) of a beer from its brew sheet.

Every brew day the cellar measures 400 new batches; they join a sample pool
that keeps at most 2400 batches (the oldest are dropped once it is full).
The model is refreshed on the pool each day, and a slow "shadow" copy of the
weights (exponential moving average) is kept next to the live weights.
"""
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

RNG = np.random.default_rng(2024)
N_FEAT = 9
POOL_CAP = 2400
PER_DAY = 400
DAYS = 18
PASSES_PER_DAY = 3
BATCH = 64
SHADOW_DECAY = 0.98


def brew_sheets(n):
    mash_t = RNG.uniform(62.0, 72.0, n)           # deg C
    mash_min = RNG.uniform(30.0, 90.0, n)
    crystal = RNG.uniform(0.0, 0.25, n)           # share of crystal malt
    og = RNG.uniform(1.040, 1.080, n)             # original gravity
    ferm_t = RNG.uniform(16.0, 24.0, n)
    pitch = RNG.uniform(0.4, 1.6, n)              # million cells / ml / degP
    strain = RNG.integers(0, 3, n)                # 0 clean ale, 1 english, 2 saison
    # made-up attenuation law
    base = np.array([76.0, 70.0, 86.0])[strain]
    y = (base
         - 0.9 * (mash_t - 65.0) ** 2 / 3.0
         + 4.0 * np.tanh((mash_min - 45.0) / 20.0)
         - 38.0 * crystal
         - 60.0 * (og - 1.055)
         + 0.6 * (ferm_t - 19.0)
         + 3.0 * np.log(pitch)
         + RNG.normal(0.0, 1.5, n))
    onehot = np.eye(3)[strain]
    x = np.column_stack([mash_t, mash_min, crystal, og, ferm_t, pitch, onehot])
    return x.astype(np.float32), y.astype(np.float32)


# fixed scaling from the brewery's historical ranges (not from the data)
LO = np.array([62, 30, 0.0, 1.040, 16, 0.4, 0, 0, 0], np.float32)
HI = np.array([72, 90, 0.25, 1.080, 24, 1.6, 1, 1, 1], np.float32)
Y_MID, Y_SPAN = 72.0, 10.0


def scale_x(x):
    return (x - LO) / (HI - LO) * 2.0 - 1.0


class AttenuationNet(nn.Module):
    def __init__(self, hidden=48):
        super().__init__()
        self.inp = nn.Linear(N_FEAT, hidden)
        self.mid = nn.Linear(hidden, hidden)
        self.out = nn.Linear(hidden, 1)

    def __call__(self, x):
        h = nn.silu(self.inp(x))
        h = h + nn.silu(self.mid(h))
        return self.out(h).squeeze(-1)


def loss_fn(model, x, y):
    return nn.losses.huber_loss(model(x), y, delta=0.5, reduction="mean")


def mae_points(model, x, y_raw):
    pred = np.array(model(x)) * Y_SPAN + Y_MID
    err = np.abs(pred - y_raw)
    return float(err.mean()), float((err <= 2.0).mean() * 100.0)


def main():
    t0 = time.time()
    xv_raw, yv_raw = brew_sheets(1500)
    xv = mx.array(scale_x(xv_raw))

    model = AttenuationNet()
    mx.eval(model.parameters())
    shadow = AttenuationNet()
    shadow.update(tree_map(lambda p: mx.array(p), model.parameters()))
    opt = optim.AdamW(learning_rate=2e-3, weight_decay=1e-4)
    step_fn = nn.value_and_grad(model, loss_fn)

    pool_x = np.zeros((0, N_FEAT), np.float32)
    pool_y = np.zeros((0,), np.float32)

    m0, w0 = mae_points(model, xv, yv_raw)
    print(f"Cellar notebook - {len(yv_raw)} reference batches held back")
    print(f"  guessing the mean gives MAE {np.abs(yv_raw - yv_raw.mean()).mean():.2f} pts,"
          f" untrained net MAE {m0:.2f} pts")

    checked = False
    steps = 0
    for day in range(1, DAYS + 1):
        nx, ny = brew_sheets(PER_DAY)
        pool_x = np.concatenate([pool_x, scale_x(nx)])[-POOL_CAP:]
        pool_y = np.concatenate([pool_y, (ny - Y_MID) / Y_SPAN])[-POOL_CAP:]

        px, py = mx.array(pool_x), mx.array(pool_y)
        day_losses = []
        for _ in range(PASSES_PER_DAY):
            order = RNG.permutation(len(pool_y))
            for s in range(0, len(order) - BATCH + 1, BATCH):
                idx = mx.array(order[s:s + BATCH])
                xb = px[idx]
                yb = py[idx]
                loss, grads = step_fn(model, xb, yb)
                if not checked:
                    flat = tree_flatten(grads)
                    nz = sum(1 for _, g in flat if float(mx.abs(g).max()) > 0)
                    print(f"  first step: {nz}/{len(flat)} parameter arrays get a gradient")
                    checked = True
                opt.update(model, grads)
                new_shadow = tree_map(
                    lambda s_, p: SHADOW_DECAY * s_ + (1.0 - SHADOW_DECAY) * p,
                    shadow.parameters(), model.parameters())
                shadow.update(new_shadow)
                mx.eval(model.parameters(), opt.state, shadow.parameters(), loss)
                day_losses.append(loss.item())
                steps += 1

        live_mae, _ = mae_points(model, xv, yv_raw)
        sh_mae, sh_within = mae_points(shadow, xv, yv_raw)
        print(f"Day {day:02d}  pool {len(pool_y):4d}/{POOL_CAP}  steps {steps:4d}  "
              f"huber {np.mean(day_losses):.4f}  live MAE {live_mae:.2f} pts  "
              f"shadow MAE {sh_mae:.2f} pts  shadow within 2 pts {sh_within:5.1f}%")

    print(f"Done after {DAYS} brew days, {time.time() - t0:.1f}s "
          f"(noise floor MAE ~{1.5 * np.sqrt(2 / np.pi):.2f} pts)")


if __name__ == "__main__":
    main()
