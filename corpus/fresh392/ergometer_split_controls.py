"""Predict a rower's 2k ergometer split (s/500m) from a training-log snapshot; controls at the end."""
import json
import os
import tempfile
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

FEATURES = ["stroke_rate", "drive_len", "peak_force", "weekly_km", "body_mass", "age", "sleep_h", "rest_hr"]


def emit(event, **kw):
    print(json.dumps({"event": event, **{k: (round(v, 5) if isinstance(v, float) else v) for k, v in kw.items()}}))


def make_log(n, rng):
    rate = rng.uniform(20, 36, n)
    drive = rng.normal(1.45, 0.12, n)
    force = rng.normal(800, 120, n)
    km = rng.gamma(4.0, 12.0, n)
    mass = rng.normal(78, 10, n)
    age = rng.uniform(18, 60, n)
    sleep = rng.normal(7.2, 0.8, n)
    rest_hr = rng.normal(55, 7, n)
    split = (118.0 - 0.9 * (rate - 28) - 14.0 * (drive - 1.45) - 0.018 * (force - 800)
             - 6.0 * np.log1p(km / 40.0) + 0.006 * (age - 35) ** 2 - 0.15 * (mass - 78)
             + rng.normal(0, 1.6, n))
    x = np.stack([rate, drive, force, km, mass, age, sleep, rest_hr], 1).astype(np.float32)
    return x, split.astype(np.float32)


class SplitNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(8, 64), nn.Tanh(), nn.Linear(64, 64), nn.Tanh())
        self.head = nn.Linear(64, 1)

    def __call__(self, x):
        return self.head(self.body(x)).squeeze(-1)


def mse(model, x, y):
    return nn.losses.mse_loss(model(x), y)


def train(model, lr_fn, xtr, ytr, xva, yva, steps, seed, tag, report_every):
    opt = optim.SGD(learning_rate=lr_fn, momentum=0.9)
    vg = nn.value_and_grad(model, mse)
    rng = np.random.default_rng(seed)
    perm, cur = rng.permutation(len(xtr)), 0
    window = []
    for step in range(1, steps + 1):
        if cur + 32 > len(perm):
            perm, cur = rng.permutation(len(xtr)), 0
        idx = mx.array(perm[cur:cur + 32])
        cur += 32
        loss, g = vg(model, xtr[idx], ytr[idx])
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state, loss)
        window.append(loss.item())
        if step % report_every == 0:
            emit("train", run=tag, step=step, lr=float(opt.learning_rate.item()),
                 train_mse_z=float(np.mean(window)), val_mse_z=mse(model, xva, yva).item())
            window = []
    return model


def main():
    t0 = time.time()
    rng = np.random.default_rng(11)
    x, y = make_log(7000, rng)
    xm, xs = x[:5600].mean(0), x[:5600].std(0)
    ym, ys = y[:5600].mean(), y[:5600].std()
    xz, yz = (x - xm) / xs, (y - ym) / ys
    xtr, ytr = mx.array(xz[:5600]), mx.array(yz[:5600])
    xva, yva = mx.array(xz[5600:]), mx.array(yz[5600:])
    emit("data", train=5600, val=1400, split_sd_s=float(ys), noise_floor_rmse_s=1.6)

    mx.random.seed(3)
    model = SplitNet()
    sched = optim.cosine_decay(0.02, 2400, 2e-4)
    train(model, sched, xtr, ytr, xva, yva, 2400, seed=1, tag="main", report_every=300)
    rmse_s = float(np.sqrt(mse(model, xva, yva).item())) * float(ys)
    emit("main_done", val_rmse_s=rmse_s, secs=time.time() - t0)

    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "split_net.safetensors")
        model.save_weights(path)
        restored = SplitNet()
        restored.load_weights(path)
        mx.eval(restored.parameters())
        emit("checkpoint", restored_val_rmse_s=float(np.sqrt(mse(restored, xva, yva).item())) * float(ys))

    # control 1: constant-mean predictor
    emit("control", name="predict_train_mean", val_rmse_s=float(np.sqrt(np.mean((y[5600:] - ym) ** 2))))

    # control 2: same recipe with learning rate 0
    mx.random.seed(3)
    frozen = SplitNet()
    before = [np.array(v) for _, v in tree_flatten(frozen.parameters())]
    train(frozen, 0.0, xtr, ytr, xva, yva, 600, seed=1, tag="lr0", report_every=200)
    after = [np.array(v) for _, v in tree_flatten(frozen.parameters())]
    drift = max(float(np.abs(a - b).max()) for a, b in zip(before, after))
    emit("control", name="lr_zero", val_rmse_s=float(np.sqrt(mse(frozen, xva, yva).item())) * float(ys), max_weight_change=drift)

    # control 3: permutation importance on the trained model
    prng = np.random.default_rng(5)
    base = mse(model, xva, yva).item()
    for j, name in enumerate(FEATURES):
        xp = xz[5600:].copy()
        xp[:, j] = prng.permutation(xp[:, j])
        delta = mse(model, mx.array(xp), yva).item() - base
        emit("permutation", feature=name, val_mse_increase_z=delta)
    emit("done", secs=time.time() - t0)


if __name__ == "__main__":
    main()
