"""Aerial ropeway: lateral cabin sway (cm) as the cabin passes a tower.

Each of the 12 towers gets a fixed code vector (a frozen embedding table built from the
tower's surveyed height and span, never trained); the rest of the network learns the
wind response. Huber loss, Adafactor, three seeds one after another, each from scratch.
The training loss is printed as an exponential moving average that starts at 0.
"""
import json
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten

N_TOWERS = 12
TOWER_HEIGHT = np.linspace(12.0, 38.0, N_TOWERS)[np.random.default_rng(5).permutation(N_TOWERS)]
TOWER_SPAN = np.random.default_rng(6).uniform(180.0, 520.0, N_TOWERS)


def tower_codes(dim=8):
    """Fixed sinusoidal code of (height, span); the same for every seed."""
    h = (TOWER_HEIGHT - 25.0) / 10.0
    s = (TOWER_SPAN - 350.0) / 120.0
    k = np.arange(dim // 4) + 1.0
    cols = [np.sin(np.outer(h, k)), np.cos(np.outer(h, k)), np.sin(np.outer(s, k)), np.cos(np.outer(s, k))]
    return np.concatenate(cols, axis=1).astype(np.float32)


def make_passages(rng, n):
    tower = rng.integers(0, N_TOWERS, n)
    wind = rng.weibull(2.0, n) * 9.0
    yaw = rng.uniform(-np.pi, np.pi, n)
    speed = rng.choice([3.0, 4.5, 6.0], n)
    load = rng.integers(0, 9, n).astype(np.float64)
    cross = np.abs(np.sin(yaw))
    h, span = TOWER_HEIGHT[tower], TOWER_SPAN[tower]
    sway = (0.06 * (wind * cross) ** 1.5 * (span / 300.0) ** 2 / (1.0 + 0.08 * load)
            + 0.15 * h * (speed / 6.0) ** 2 + rng.standard_t(4, n) * 0.9)
    x = np.stack([wind, np.sin(yaw), np.cos(yaw), speed, load], 1).astype(np.float32)
    return x, tower.astype(np.int32), sway.astype(np.float32)


class SwayNet(nn.Module):
    def __init__(self, n_in, code):
        super().__init__()
        self.towers = nn.Embedding(N_TOWERS, code.shape[1])
        self.towers.weight = mx.array(code)
        self.towers.freeze()                      # fixed survey code, on purpose
        self.hidden = nn.Linear(n_in + code.shape[1], 64)
        self.hidden2 = nn.Linear(64, 64)
        self.head = nn.Linear(64, 1)

    def __call__(self, x, tower):
        h = mx.concatenate([x, self.towers(tower)], axis=-1)
        h = nn.relu(self.hidden(h))
        h = nn.relu(self.hidden2(h))
        return self.head(h).squeeze(-1)


def huber(model, x, t, y):
    return nn.losses.huber_loss(model(x, t), y, delta=2.0, reduction="mean")


def emit(**rec):
    print(json.dumps(rec), flush=True)


def train_one(seed, data, code, epochs=10, bs=96):
    xtr, ttr, ytr, xva, tva, yva = data
    mx.random.seed(seed)
    rng = np.random.default_rng(seed)
    model = SwayNet(xtr.shape[1], code)
    opt = optim.Adafactor(learning_rate=1e-3, relative_step=False, scale_parameter=False)
    vg = nn.value_and_grad(model, huber)

    _, g0 = vg(model, xtr[:512], ttr[:512], ytr[:512])
    flat = tree_flatten(g0)
    emit(event="grad_check", seed=seed, trainable_leaves=[k for k, _ in flat],
         zero_leaves=[k for k, g in flat if float(mx.abs(g).max()) == 0.0])

    ema, step, n = 0.0, 0, xtr.shape[0]
    for ep in range(1, epochs + 1):
        perm = rng.permutation(n)
        for i in range(0, n - bs + 1, bs):
            idx = mx.array(perm[i:i + bs])
            loss, grads = vg(model, xtr[idx], ttr[idx], ytr[idx])
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            ema = 0.98 * ema + 0.02 * loss.item()
            step += 1
            if step in (10, 25, 50, 100) or step % 250 == 0:
                emit(event="train", seed=seed, step=step, huber_ema=round(ema, 4))
        if ep not in (1, 2, 4, 7, 10):
            continue
        pred = model(xva, tva)
        emit(event="epoch", seed=seed, epoch=ep,
             valid_mae_cm=round(mx.mean(mx.abs(pred - yva)).item(), 3),
             valid_huber=round(huber(model, xva, tva, yva).item(), 4))
    drift = float(mx.abs(model.towers.weight - mx.array(code)).max())
    return mx.mean(mx.abs(model(xva, tva) - yva)).item(), drift


def main():
    t0 = time.time()
    rng = np.random.default_rng(11)
    x, t, y = make_passages(rng, 12000)
    xv, tv, yv = make_passages(rng, 3000)
    mu, sd = x.mean(0), x.std(0)
    data = (mx.array((x - mu) / sd), mx.array(t), mx.array(y),
            mx.array((xv - mu) / sd), mx.array(tv), mx.array(yv))
    code = tower_codes()
    emit(event="data", train=len(x), valid=len(xv), towers=N_TOWERS,
         predict_median_mae_cm=round(float(np.mean(np.abs(yv - np.median(y)))), 3))

    maes = []
    for seed in (3, 17, 42):
        mae, drift = train_one(seed, data, code)
        maes.append(mae)
        emit(event="seed_done", seed=seed, valid_mae_cm=round(mae, 3), tower_code_drift=drift)
    emit(event="done", seeds=len(maes), valid_mae_mean=round(float(np.mean(maes)), 3),
         valid_mae_sd=round(float(np.std(maes)), 3), secs=round(time.time() - t0, 1))


if __name__ == "__main__":
    main()
