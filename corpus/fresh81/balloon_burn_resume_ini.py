"""Hot-air balloon propane burn model.

Regresses propane burn (kg/h) from envelope size, ambient temperature, altitude,
payload and wind. Training is split into two sessions: session 1 writes a
checkpoint (weights + optimizer state + step) and stops; session 2 rebuilds the
model and optimizer from scratch, loads the checkpoint and carries on.
"""
import math
import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten


class Cfg:
    n_train = 12000
    n_val = 2000
    batch = 96
    epochs_per_session = 8
    sessions = 2
    peak_lr = 2e-3
    warmup = 150
    hidden = 64
    seed = 11


def make_data(n, rng):
    vol = rng.uniform(2000, 9000, n)          # envelope m^3
    t_amb = rng.uniform(-5, 32, n)            # deg C
    alt = rng.uniform(0, 2500, n)             # m
    payload = rng.uniform(150, 900, n)        # kg
    wind = rng.gamma(2.0, 2.0, n)             # m/s
    # made-up law: heat loss ~ surface * (T_in - T_amb), lift need grows with payload / air density
    rho = 1.225 * np.exp(-alt / 8500.0) * 288.0 / (273.0 + t_amb)
    t_in = 100.0 + 0.035 * payload / (rho * vol / 3000.0)
    surface = 4.84 * vol ** (2.0 / 3.0)
    burn = 0.00011 * surface * (t_in - t_amb) * (1.0 + 0.04 * wind)
    burn = burn + rng.normal(0, 1.5, n)
    X = np.stack([np.log(vol), t_amb, alt / 1000.0, payload / 100.0, wind], 1)
    return X.astype(np.float32), burn.astype(np.float32)


class BurnNet(nn.Module):
    def __init__(self, d_in, h):
        super().__init__()
        self.inp = nn.Linear(d_in, h)
        self.mid = nn.Linear(h, h)
        self.out = nn.Linear(h, 1)

    def __call__(self, x):
        h = nn.silu(self.inp(x))
        h = h + nn.silu(self.mid(h))
        return self.out(h).squeeze(-1)


def lr_schedule(cfg, total):
    warm = optim.linear_schedule(0.0, cfg.peak_lr, cfg.warmup)
    cos = optim.cosine_decay(cfg.peak_lr, total - cfg.warmup, 1e-5)
    return optim.join_schedules([warm, cos], [cfg.warmup])


def build(cfg, total):
    mx.random.seed(cfg.seed)
    model = BurnNet(5, cfg.hidden)
    opt = optim.AdamW(learning_rate=lr_schedule(cfg, total), weight_decay=1e-4)
    return model, opt


def section(title, **kv):
    print(f"[{title}]")
    for k, v in kv.items():
        print(f"{k} = {v}")
    print()


def val_metrics(model, Xv, yv, mu_y, sd_y):
    pred = model(Xv) * sd_y + mu_y
    err = pred - yv
    rmse = mx.sqrt(mx.mean(err * err)).item()
    within = (mx.abs(err) < 2.0).astype(mx.float32).mean().item() * 100
    return rmse, within


def save_ckpt(path, model, opt, step):
    model.save_weights(os.path.join(path, "weights.safetensors"))
    flat = dict(tree_flatten(opt.state))
    mx.save_safetensors(os.path.join(path, "opt.safetensors"), flat)
    with open(os.path.join(path, "step.txt"), "w") as f:
        f.write(str(step))


def load_ckpt(path, model, opt):
    model.load_weights(os.path.join(path, "weights.safetensors"))
    flat = mx.load(os.path.join(path, "opt.safetensors"))
    opt.state = tree_unflatten(list(flat.items()))
    with open(os.path.join(path, "step.txt")) as f:
        return int(f.read())


def run_session(cfg, sess, ckdir, data, total):
    Xt, yt, Xv, yv, mu_y, sd_y = data
    model, opt = build(cfg, total)
    step = 0
    if sess > 1:
        step = load_ckpt(ckdir, model, opt)
    mx.eval(model.parameters(), opt.state)
    rmse0, w0 = val_metrics(model, Xv, yv, mu_y, sd_y)
    section(f"session {sess} start", resumed_from_step=step,
            lr_now=f"{lr_schedule(cfg, total)(step).item():.2e}",
            val_rmse_kg_h=f"{rmse0:.3f}", val_within_2kg_pct=f"{w0:.1f}")

    def loss_fn(m, x, y):
        return nn.losses.mse_loss(m(x), y)

    vg = nn.value_and_grad(model, loss_fn)
    yt_s = (yt - mu_y) / sd_y
    n = Xt.shape[0]
    rng = np.random.default_rng(cfg.seed * 100 + sess)
    for ep in range(1, cfg.epochs_per_session + 1):
        t0 = time.time()
        perm = mx.array(rng.permutation(n))
        tot, cnt = 0.0, 0
        for i in range(0, n - cfg.batch + 1, cfg.batch):
            idx = perm[i:i + cfg.batch]
            loss, grads = vg(model, Xt[idx], yt_s[idx])
            if step == 0:
                flat = tree_flatten(grads)
                zero = [k for k, g in flat if mx.abs(g).max().item() == 0.0]
                section("grad check", leaves=len(flat), zero_leaves=zero,
                        lr_first_update=f"{opt.learning_rate.item():.2e}")
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item()
            cnt += 1
            step += 1
        rmse, within = val_metrics(model, Xv, yv, mu_y, sd_y)
        section(f"session {sess} epoch {ep}", global_step=step,
                lr=f"{opt.learning_rate.item():.2e}",
                train_mse_std=f"{tot / cnt:.4f}",
                val_rmse_kg_h=f"{rmse:.3f}",
                val_within_2kg_pct=f"{within:.1f}",
                secs=f"{time.time() - t0:.1f}")
    save_ckpt(ckdir, model, opt, step)
    return rmse


def main():
    cfg = Cfg()
    rng = np.random.default_rng(cfg.seed)
    X, y = make_data(cfg.n_train + cfg.n_val, rng)
    mu, sd = X[:cfg.n_train].mean(0), X[:cfg.n_train].std(0)
    X = (X - mu) / sd
    mu_y, sd_y = float(y[:cfg.n_train].mean()), float(y[:cfg.n_train].std())
    Xt, yt = mx.array(X[:cfg.n_train]), mx.array(y[:cfg.n_train])
    Xv, yv = mx.array(X[cfg.n_train:]), mx.array(y[cfg.n_train:])
    base = float(np.sqrt(np.mean((y[cfg.n_train:] - mu_y) ** 2)))
    section("data", train=cfg.n_train, val=cfg.n_val, burn_mean_kg_h=f"{mu_y:.2f}",
            predict_mean_rmse=f"{base:.3f}", noise_floor_rmse="1.500")
    steps_per_epoch = cfg.n_train // cfg.batch
    total = steps_per_epoch * cfg.epochs_per_session * cfg.sessions
    data = (Xt, yt, Xv, yv, mu_y, sd_y)
    with tempfile.TemporaryDirectory() as ckdir:
        for sess in range(1, cfg.sessions + 1):
            rmse = run_session(cfg, sess, ckdir, data, total)
    section("done", total_steps=total, final_val_rmse_kg_h=f"{rmse:.3f}")


if __name__ == "__main__":
    main()
