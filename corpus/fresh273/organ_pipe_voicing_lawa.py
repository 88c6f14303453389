"""Organ-pipe voicing: regress a flue pipe's speech offset (cents from target)
from 6 synthetic voicing measurements, with LAWA (latest weight averaging):
the model copies saved at the end of the last K epochs are averaged with
tree_map and evaluated beside the raw SGD iterate.

Two sessions: session A trains epochs 1-6 and writes weights, optimizer state
and the LAWA window to disk; everything is deleted and session B rebuilds the
model and optimizer, reloads, and continues epochs 7-14."""

import json
import os
import shutil
import tempfile

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten, tree_map, tree_unflatten

K = 4
EPOCHS_A, EPOCHS_B = 6, 14
BATCH = 64
WARMUP = 50
PEAK_LR = 0.05


def make_data(n, rng):
    cut_up = rng.uniform(0.2, 0.5, n)          # mouth cut-up ratio
    wind = rng.uniform(60, 100, n)             # wind pressure mm
    flue = rng.uniform(0.3, 1.2, n)            # flue width mm
    nick = rng.integers(0, 12, n).astype(np.float64)  # nicking count
    lip = rng.uniform(-1, 1, n)                # upper-lip offset
    temp = rng.uniform(12, 24, n)              # church temperature C
    cents = (
        40 * (cut_up - 0.35) * (wind / 80) ** 1.5
        - 18 * np.log(flue / 0.7)
        + 0.9 * nick * (lip > 0)
        + 3.0 * lip ** 2
        + 2.9 * (temp - 18)
    )
    cents += rng.normal(0, 2.0, n)             # voicer's reading noise
    x = np.stack([cut_up, wind, flue, nick, lip, temp], 1)
    return x.astype(np.float32), cents.astype(np.float32)


class VoicingNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(6, 48)
        self.l2 = nn.Linear(48, 48)
        self.out = nn.Linear(48, 1)

    def __call__(self, x):
        h = nn.gelu(self.l1(x))
        h = nn.gelu(self.l2(h))
        return self.out(h).squeeze(-1)


def lr_at(step):
    # linear warm-up from exactly 0, then constant
    return PEAK_LR * min(step, WARMUP) / WARMUP


def mse(model, x, y):
    return mx.mean((model(x) - y) ** 2)


def run_epochs(model, opt, window, first, last, data, rng, step):
    xtr, ytr, xva, yva, ystd = data
    loss_grad = nn.value_and_grad(model, mse)
    probe = VoicingNet()
    for epoch in range(first, last + 1):
        perm = rng.permutation(xtr.shape[0])
        for s in range(0, xtr.shape[0] - BATCH + 1, BATCH):
            idx = mx.array(perm[s:s + BATCH])
            opt.learning_rate = lr_at(step)
            loss, grads = loss_grad(model, xtr[idx], ytr[idx])
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            step += 1
        window.append(tree_map(lambda p: p, model.parameters()))
        if len(window) > K:
            window.pop(0)
        avg = tree_map(lambda *ps: sum(ps) / len(ps), *window)
        probe.update(avg)
        raw_rmse = mse(model, xva, yva).sqrt().item() * ystd
        lawa_rmse = mse(probe, xva, yva).sqrt().item() * ystd
        print(
            f"epoch {epoch:2d} step {step:4d} lr {lr_at(step):.3f} | last batch mse {loss.item():.3f} "
            f"| valid rmse cents: iterate {raw_rmse:5.2f}  lawa(k={len(window)}) {lawa_rmse:5.2f}"
        )
    return step


def main():
    rng = np.random.default_rng(3)
    mx.random.seed(3)
    xtr, ytr = make_data(6000, rng)
    xva, yva = make_data(1500, rng)
    mu, sd = xtr.mean(0), xtr.std(0)
    ymu, ystd = float(ytr.mean()), float(ytr.std())
    data = (
        mx.array((xtr - mu) / sd), mx.array((ytr - ymu) / ystd),
        mx.array((xva - mu) / sd), mx.array((yva - ymu) / ystd), ystd,
    )
    base_rmse = float(np.sqrt(np.mean((yva - ymu) ** 2)))
    print(f"baseline (predict mean offset) valid rmse: {base_rmse:.2f} cents; reading noise 2.00 cents")

    # ---- session A
    model = VoicingNet()
    mx.eval(model.parameters())
    opt = optim.SGD(learning_rate=0.0, momentum=0.9)
    window = []
    print(f"session A: first update uses lr {lr_at(0):.3f}")
    step = run_epochs(model, opt, window, 1, EPOCHS_A, data, rng, 0)

    ckpt = tempfile.mkdtemp()
    model.save_weights(os.path.join(ckpt, "model.safetensors"))
    mx.save_safetensors(os.path.join(ckpt, "opt.safetensors"), dict(tree_flatten(opt.state)))
    for i, w in enumerate(window):
        mx.save_safetensors(os.path.join(ckpt, f"lawa_{i}.safetensors"), dict(tree_flatten(w)))
    with open(os.path.join(ckpt, "meta.json"), "w") as f:
        json.dump({"step": step, "window": len(window), "rng": rng.bit_generator.state}, f)
    saved_rmse = mse(model, data[2], data[3]).sqrt().item() * ystd
    print(f"checkpoint written at step {step} (valid rmse {saved_rmse:.2f})")
    del model, opt, window

    # ---- session B
    with open(os.path.join(ckpt, "meta.json")) as f:
        meta = json.load(f)
    rng = np.random.default_rng()
    rng.bit_generator.state = meta["rng"]
    model = VoicingNet()
    model.load_weights(os.path.join(ckpt, "model.safetensors"))
    opt = optim.SGD(learning_rate=0.0, momentum=0.9)
    opt.init(model.trainable_parameters())
    opt.state = tree_unflatten(list(mx.load(os.path.join(ckpt, "opt.safetensors")).items()))
    window = [
        tree_unflatten(list(mx.load(os.path.join(ckpt, f"lawa_{i}.safetensors")).items()))
        for i in range(meta["window"])
    ]
    mx.eval(model.parameters(), opt.state)
    reload_rmse = mse(model, data[2], data[3]).sqrt().item() * ystd
    print(f"session B: reloaded step {meta['step']} valid rmse {reload_rmse:.2f}, window {len(window)} copies")
    step = run_epochs(model, opt, window, EPOCHS_A + 1, EPOCHS_B, data, rng, meta["step"])

    probe = VoicingNet()
    probe.update(tree_map(lambda *ps: sum(ps) / len(ps), *window))
    final_iter = mse(model, data[2], data[3]).sqrt().item() * ystd
    final_lawa = mse(probe, data[2], data[3]).sqrt().item() * ystd
    print(f"final valid rmse cents: iterate {final_iter:.2f} | lawa {final_lawa:.2f} | baseline {base_rmse:.2f}")
    shutil.rmtree(ckpt)


if __name__ == "__main__":
    main()
