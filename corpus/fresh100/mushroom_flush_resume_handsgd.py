"""Mushroom farm: yield per flush with a heteroscedastic Gaussian model.

Predict mean and log-variance of fresh yield (kg/m^2) for a growing-room flush.
Training uses hand-written SGD with momentum (buffers kept in a tree that
mirrors the parameters). The run stops half-way as a nightly job would, writes
a checkpoint (weights + momentum + step) to a temp folder, then a fresh model
is built, the checkpoint is loaded and training resumes.
The reported loss is a continuous NLL in nats, so it goes below zero.
"""
import json
import os
import tempfile

import numpy as np
import mlx.core as mx
import mlx.nn as nn
from mlx.utils import tree_flatten, tree_map, tree_map_with_path


def make_rooms(rng, n):
    moist = rng.uniform(58, 72, n)          # substrate moisture %
    co2 = np.exp(rng.uniform(np.log(600), np.log(3000), n))
    temp = rng.uniform(14, 22, n)
    casing = rng.uniform(3, 6, n)           # cm
    flush = rng.integers(1, 4, n).astype(np.float64)
    mean = (28 - 0.08 * (moist - 66) ** 2 - 4.0 * np.maximum(np.log(co2 / 1200), 0)
            - 0.35 * (temp - 17.5) ** 2 + 1.2 * casing) * (0.62 ** (flush - 1)) / 10
    sd = 0.08 + 0.05 * (flush == 1) + 0.04 * np.abs(temp - 17.5) / 3.5
    y = mean + sd * rng.normal(size=n)
    x = np.stack([moist, np.log(co2), temp, casing, flush], 1)
    return x.astype(np.float32), y.astype(np.float32)


class YieldNet(nn.Module):
    def __init__(self, d_in=5, hidden=48):
        super().__init__()
        self.trunk = nn.Sequential(nn.Linear(d_in, hidden), nn.Tanh(), nn.Linear(hidden, hidden), nn.Tanh())
        self.mean_head = nn.Linear(hidden, 1)
        self.logvar_head = nn.Linear(hidden, 1)

    def __call__(self, x):
        h = self.trunk(x)
        return self.mean_head(h).squeeze(-1), self.logvar_head(h).squeeze(-1)


def gaussian_nll(model, x, y):
    mu, logvar = model(x)
    return (0.5 * (logvar + (y - mu) ** 2 / mx.exp(logvar) + np.log(2 * np.pi))).mean()


class MomentumSGD:
    def __init__(self, params, lr=0.003, beta=0.9):
        self.lr, self.beta = lr, beta
        self.buf = tree_map(mx.zeros_like, params)
        self.step = 0

    def apply(self, model, grads):
        self.buf = tree_map(lambda b, g: self.beta * b + g, self.buf, grads)
        new = tree_map(lambda p, b: p - self.lr * b, model.trainable_parameters(), self.buf)
        model.update(new)
        self.step += 1


def run_phase(tag, model, sgd, data, n_steps, bs, rng):
    x_tr, y_tr, x_va, y_va = data
    vg = nn.value_and_grad(model, gaussian_nll)
    n = len(x_tr)
    for _ in range(n_steps):
        idx = rng.integers(0, n, bs)
        loss, grads = vg(model, mx.array(x_tr[idx]), mx.array(y_tr[idx]))
        sgd.apply(model, grads)
        mx.eval(model.parameters(), sgd.buf, loss)
        if sgd.step % 150 == 0:
            mu, _ = model(x_va)
            val_nll = gaussian_nll(model, x_va, y_va).item()
            rmse = mx.sqrt(((mu - y_va) ** 2).mean()).item()
            print(f"[{tag}] step {sgd.step:4d} | batch nll {loss.item():+.3f} nats | "
                  f"val nll {val_nll:+.3f} nats | val rmse {rmse:.3f} kg/m2")


def main():
    rng = np.random.default_rng(11)
    x_tr, y_tr = make_rooms(rng, 8000)
    x_va, y_va = make_rooms(rng, 2000)
    mu, sd = x_tr.mean(0), x_tr.std(0)
    data = ((x_tr - mu) / sd, y_tr, mx.array((x_va - mu) / sd), mx.array(y_va))

    mx.random.seed(5)
    model = YieldNet()
    mx.eval(model.parameters())
    _, g0 = nn.value_and_grad(model, gaussian_nll)(model, mx.array(data[0][:64]), mx.array(y_tr[:64]))
    zero = [k for k, v in tree_flatten(g0) if float(mx.abs(v).sum()) == 0]
    print(f"grad check: {len(tree_flatten(g0))} leaves, zero-grad leaves: {zero}")

    sgd = MomentumSGD(model.trainable_parameters())
    run_phase("night1", model, sgd, data, 900, 128, rng)

    ckpt = tempfile.mkdtemp(prefix="mushroom_ckpt_")
    model.save_weights(os.path.join(ckpt, "yield.safetensors"))
    mx.savez(os.path.join(ckpt, "momentum.npz"), **dict(tree_flatten(sgd.buf)))
    with open(os.path.join(ckpt, "meta.json"), "w") as f:
        json.dump({"step": sgd.step, "lr": sgd.lr, "beta": sgd.beta}, f)
    probe = model(data[2][:5])[0]
    mx.eval(probe)
    print(f"checkpoint written to {ckpt} at step {sgd.step}")

    # --- resume in a fresh model, as the next night's job would ---
    del model, sgd
    model = YieldNet()
    model.load_weights(os.path.join(ckpt, "yield.safetensors"))
    with open(os.path.join(ckpt, "meta.json")) as f:
        meta = json.load(f)
    sgd = MomentumSGD(model.trainable_parameters(), lr=meta["lr"] * 0.5, beta=meta["beta"])  # second night: half lr
    saved = mx.load(os.path.join(ckpt, "momentum.npz"))
    sgd.buf = tree_map_with_path(lambda path, b: saved[path], sgd.buf)
    sgd.step = meta["step"]
    same = mx.allclose(model(data[2][:5])[0], probe).item()
    print(f"resumed from step {sgd.step}; predictions match checkpoint: {same}")
    run_phase("night2", model, sgd, data, 900, 128, rng)

    for fn in os.listdir(ckpt):
        os.remove(os.path.join(ckpt, fn))
    os.rmdir(ckpt)


if __name__ == "__main__":
    main()
