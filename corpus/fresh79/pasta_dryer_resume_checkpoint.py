"""Pasta factory: residual moisture (%) of dried spaghetti after the dryer,
from dryer settings. Trains in two sessions: the first writes a checkpoint
(weights + optimizer state + step), the second rebuilds everything from that
checkpoint and carries on."""
import os
import shutil
import sys
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

NOISE_PCT = 0.15


def dryer_batch(n, rng):
    temp = rng.uniform(55, 90, n)           # deg C
    rh = rng.uniform(45, 85, n)             # relative humidity %
    hours = rng.uniform(4, 20, n)
    thick = rng.uniform(1.4, 2.2, n)        # mm
    semolina = rng.uniform(0.0, 1.0, n)     # protein grade index
    k = 0.012 * np.exp(0.03 * (temp - 70)) * (1.5 - rh / 100) / thick ** 2
    moist = 11.0 + 19.0 * np.exp(-k * hours * 10) + 0.6 * semolina
    y = moist + rng.normal(0, NOISE_PCT, n)
    X = np.stack([temp, rh, np.log(hours), thick, semolina], 1)
    return X.astype(np.float32), y.astype(np.float32)


class Dryer(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(5, 64), nn.SiLU(), nn.Linear(64, 64), nn.SiLU())
        self.head = nn.Linear(64, 1)

    def __call__(self, x):
        return self.head(self.body(x)).squeeze(-1)


def mse(model, x, y):
    return nn.losses.mse_loss(model(x), y)


def say(**kv):
    sys.stdout.write("; ".join(f"{k}: {v}" for k, v in kv.items()) + "\n")


def val_rmse(model, X, y, ysd):
    r = mx.sqrt(mx.mean((model(X) - y) ** 2)) * ysd
    return r.item()


def train_session(model, opt, data, first_step, last_step, batch, ysd, label):
    Xtr, ytr, Xva, yva = data
    step_fn = nn.value_and_grad(model, mse)
    n = Xtr.shape[0]
    rng = np.random.default_rng(1000 + first_step)
    t0, acc = time.time(), []
    for step in range(first_step, last_step + 1):
        idx = mx.array(rng.integers(0, n, batch))
        loss, grads = step_fn(model, Xtr[idx], ytr[idx])
        if step == 1:
            flat = tree_flatten(grads)
            say(event="grad_check", leaves=len(flat),
                zero_leaves=[k for k, g in flat if not mx.any(g != 0).item()])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        acc.append(loss.item())
        if step % 400 == 0:
            say(session=label, step=step, train_mse_std=f"{np.mean(acc):.4f}",
                val_rmse_pct=f"{val_rmse(model, Xva, yva, ysd):.3f}",
                opt_step=int(opt.state['step'].item()), secs=f"{time.time() - t0:.1f}")
            acc = []


def main():
    rng = np.random.default_rng(2024)
    Xtr, ytr = dryer_batch(20000, rng)
    Xva, yva = dryer_batch(3000, rng)
    mu, sd = Xtr.mean(0), Xtr.std(0)
    ymu, ysd = float(ytr.mean()), float(ytr.std())
    data = tuple(map(mx.array, ((Xtr - mu) / sd, (ytr - ymu) / ysd, (Xva - mu) / sd, (yva - ymu) / ysd)))
    say(event="data", train=len(ytr), val=len(yva), moisture_sd_pct=f"{ysd:.3f}",
        predict_mean_rmse_pct=f"{float(np.sqrt(np.mean((yva - ymu) ** 2))):.3f}", noise_floor_pct=NOISE_PCT)

    ckpt_dir = tempfile.mkdtemp(prefix="pasta_ckpt_")
    w_path = os.path.join(ckpt_dir, "weights.safetensors")
    o_path = os.path.join(ckpt_dir, "optimizer.safetensors")
    lr = optim.cosine_decay(2e-3, 4000, 2e-5)

    # ---- session 1 -------------------------------------------------------
    mx.random.seed(7)
    model = Dryer()
    opt = optim.AdamW(learning_rate=lr, weight_decay=1e-4)
    say(event="untrained", val_rmse_pct=f"{val_rmse(model, data[2], data[3], ysd):.3f}")
    train_session(model, opt, data, 1, 2000, 64, ysd, "first")
    model.save_weights(w_path)
    mx.save_safetensors(o_path, dict(tree_flatten(opt.state)))
    before = val_rmse(model, data[2], data[3], ysd)
    say(event="checkpoint", dir=ckpt_dir, files=sorted(os.listdir(ckpt_dir)),
        val_rmse_pct=f"{before:.3f}")
    del model, opt

    # ---- session 2: rebuild from the checkpoint and continue ---------------
    mx.random.seed(99)  # different init, fully overwritten by load_weights
    model = Dryer()
    model.load_weights(w_path)
    opt = optim.AdamW(learning_rate=lr, weight_decay=1e-4)
    opt.init(model.trainable_parameters())
    opt.state = tree_unflatten(list(mx.load(o_path).items()))
    after = val_rmse(model, data[2], data[3], ysd)
    say(event="resumed", opt_step=int(opt.state['step'].item()),
        val_rmse_pct=f"{after:.3f}", same_as_saved=abs(after - before) < 1e-6)
    train_session(model, opt, data, 2001, 4000, 64, ysd, "resumed")
    final = val_rmse(model, data[2], data[3], ysd)
    say(event="done", val_rmse_pct=f"{final:.3f}", noise_floor_pct=NOISE_PCT)
    shutil.rmtree(ckpt_dir)


if __name__ == "__main__":
    main()
