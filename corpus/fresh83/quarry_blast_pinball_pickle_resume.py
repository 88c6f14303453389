"""Quarry blasting: predict ground vibration (peak particle velocity, mm/s) quantiles
at a monitoring point, so we can give the neighbours a 10/50/90% band.

Two sessions in one script: session 1 trains and pickles a checkpoint,
session 2 starts from a new model, loads the pickle and continues.
"""
import math
import os
import pickle
import tempfile
import time
from collections import namedtuple

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten, tree_map

QUANTILES = (0.1, 0.5, 0.9)
Report = namedtuple("Report", "session step lr pinball_train pinball_val cover_10_90_pct median_abs_err_mms secs")


def make_blasts(n, rng):
    charge = rng.uniform(20, 400, n)          # kg per delay
    dist = rng.uniform(80, 900, n)            # m to the monitor
    depth = rng.uniform(6, 20, n)             # hole depth m
    stem = rng.uniform(1.5, 5.0, n)           # stemming m
    rock = rng.integers(0, 3, n)              # limestone/granite/sandstone
    wet = rng.integers(0, 2, n)
    sd = dist / np.sqrt(charge)               # scaled distance
    k = np.array([800.0, 1150.0, 650.0])[rock]
    log_ppv = np.log(k) - 1.5 * np.log(sd) - 0.04 * stem + 0.15 * wet + 0.01 * depth
    noise = rng.normal(0, 0.25 + 0.1 * wet, n)   # wetter ground = more scatter
    ppv = np.exp(log_ppv + noise)
    X = np.stack([np.log(charge), np.log(dist), depth, stem, rock == 1, rock == 2, wet], 1).astype(np.float32)
    return X, np.log(ppv).astype(np.float32)


class QuantileNet(nn.Module):
    def __init__(self, d_in, hidden=64):
        super().__init__()
        self.l1 = nn.Linear(d_in, hidden)
        self.l2 = nn.Linear(hidden, hidden)
        self.out = nn.Linear(hidden, len(QUANTILES))

    def __call__(self, x):
        h = nn.silu(self.l1(x))
        h = h + nn.silu(self.l2(h))
        return self.out(h)


def pinball(pred, y):
    q = mx.array(QUANTILES)
    diff = y[:, None] - pred
    return mx.mean(mx.maximum(q * diff, (q - 1) * diff))


def loss_fn(model, x, y):
    return pinball(model(x), y)


def evaluate(model, X, y):
    pred = model(X)
    loss = pinball(pred, y).item()
    p = np.array(pred)
    yy = np.array(y)
    cover = float(np.mean((yy >= p[:, 0]) & (yy <= p[:, 2]))) * 100
    mae = float(np.median(np.abs(np.exp(yy) - np.exp(p[:, 1]))))
    return loss, cover, mae


def lr_at(step, peak=2e-3, warm=100, total=3000):
    if step < warm:
        return peak * step / warm          # starts at exactly 0
    t = (step - warm) / max(1, total - warm)
    return 1e-5 + 0.5 * (peak - 1e-5) * (1 + math.cos(math.pi * min(t, 1.0)))


def save_ckpt(path, model, opt, step, rng):
    blob = {
        "params": {k: np.array(v) for k, v in tree_flatten(model.parameters())},
        "opt": {k: np.array(v) for k, v in tree_flatten(opt.state)},
        "step": step,
        "rng": rng.bit_generator.state,
    }
    with open(path, "wb") as f:
        pickle.dump(blob, f)


def load_ckpt(path, model, opt):
    with open(path, "rb") as f:
        blob = pickle.load(f)
    model.update(tree_unflatten([(k, mx.array(v)) for k, v in blob["params"].items()]))
    opt.state = tree_unflatten([(k, mx.array(v)) for k, v in blob["opt"].items()])
    rng = np.random.default_rng()
    rng.bit_generator.state = blob["rng"]
    return blob["step"], rng


def run_session(session, model, opt, rng, start, stop, Xtr, ytr, Xva, yva, t0, bs=128):
    vg = nn.value_and_grad(model, loss_fn)
    window = []
    for step in range(start, stop):
        opt.learning_rate = lr_at(step)
        idx = mx.array(rng.integers(0, Xtr.shape[0], bs))
        loss, grads = vg(model, Xtr[idx], ytr[idx])
        if step == 0:
            flat = tree_flatten(grads)
            zero = [k for k, g in flat if float(mx.abs(g).max()) == 0.0]
            print(f"# first step: {len(flat)} gradient leaves, zero leaves: {zero}, lr {lr_at(0):.1e}")
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        window.append(loss.item())
        if (step + 1) % 500 == 0:
            vl, cov, mae = evaluate(model, Xva, yva)
            print(Report(session, step + 1, f"{lr_at(step):.2e}", round(float(np.mean(window)), 4),
                         round(vl, 4), round(cov, 1), round(mae, 2), round(time.time() - t0, 1)))
            window = []


def main():
    t0 = time.time()
    rng = np.random.default_rng(83)
    Xn, yn = make_blasts(12000, rng)
    Xv, yv = make_blasts(2000, rng)
    mu, sd = Xn.mean(0), Xn.std(0) + 1e-6
    Xtr, Xva = mx.array((Xn - mu) / sd), mx.array((Xv - mu) / sd)
    ytr, yva = mx.array(yn), mx.array(yv)
    print(f"# blasts: train {len(yn)}, val {len(yv)}, quantiles {QUANTILES}")

    mx.random.seed(5)
    model = QuantileNet(Xtr.shape[1])
    opt = optim.Adam(learning_rate=0.0)
    vl, cov, mae = evaluate(model, Xva, yva)
    print(Report(0, 0, "0", None, round(vl, 4), round(cov, 1), round(mae, 2), round(time.time() - t0, 1)))

    with tempfile.TemporaryDirectory() as tmp:
        ck = os.path.join(tmp, "blast_ckpt.pkl")
        run_session(1, model, opt, rng, 0, 1500, Xtr, ytr, Xva, yva, t0)
        save_ckpt(ck, model, opt, 1500, rng)
        print(f"# session 1 done, checkpoint {os.path.getsize(ck)} bytes")
        del model, opt

        mx.random.seed(999)                      # fresh random weights, overwritten by the load
        model2 = QuantileNet(Xtr.shape[1])
        opt2 = optim.Adam(learning_rate=0.0)
        opt2.init(model2.trainable_parameters())
        step, rng2 = load_ckpt(ck, model2, opt2)
        vl, cov, mae = evaluate(model2, Xva, yva)
        print(f"# session 2 resumed at step {step}: val pinball {vl:.4f}, cover {cov:.1f}%")
        run_session(2, model2, opt2, rng2, step, 3000, Xtr, ytr, Xva, yva, t0)
    vl, cov, mae = evaluate(model2, Xva, yva)
    print(f"# done: val pinball {vl:.4f}, 10-90% band covers {cov:.1f}% (target 80%), median |err| {mae:.2f} mm/s, {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
