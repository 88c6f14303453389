"""Ski-wax recommendation (4 waxes) from snow conditions with a Lipschitz-
bounded MLP: every hidden Linear is spectrally normalised by one step of power
iteration per update. The power-iteration vectors live in the module as frozen
arrays (saved with the weights, never trained). Training runs in two sessions:
session 1 writes a checkpoint (weights + optimizer state) into a temp dir, the
script then rebuilds everything from scratch and session 2 resumes from it."""
import math
import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

WAXES = ["glide-cold", "glide-mid", "klister", "fluoro-wet"]


def make_snow(n, rng):
    air_t = rng.uniform(-22, 6, n)
    snow_t = np.minimum(air_t + rng.normal(-1.5, 1.5, n), 0.0)
    humidity = rng.uniform(30, 100, n)
    age_days = rng.exponential(3.0, n)
    crystal = rng.uniform(0, 1, n)          # 0 = fresh dendrites, 1 = old rounded grains
    wind = rng.gamma(2.0, 2.0, n)
    wetness = 0.12 * snow_t + 0.02 * (humidity - 60) + 0.3 * crystal + rng.normal(0, 0.35, n)
    score = np.stack([
        -0.25 * snow_t - 1.0 - 0.4 * crystal,
        1.2 - np.abs(snow_t + 6) * 0.25,
        0.5 * np.log1p(age_days) + 1.5 * crystal - 0.8 + 0.4 * (snow_t > -3),
        1.6 * wetness + 0.05 * humidity - 4.2,
    ], 1) + rng.gumbel(0, 0.45, (n, 4))
    y = score.argmax(1)
    x = np.stack([air_t, snow_t, humidity, np.log1p(age_days), crystal, wind], 1)
    return x.astype(np.float32), y.astype(np.int32)


class SNLinear(nn.Module):
    def __init__(self, d_in, d_out):
        super().__init__()
        self.lin = nn.Linear(d_in, d_out)
        u = mx.random.normal((d_out,))
        self.u = u / mx.linalg.norm(u)
        self.freeze(keys=["u"], recurse=False)

    def sigma(self):
        w = self.lin.weight
        u = mx.stop_gradient(self.u)
        v = w.T @ u
        v = mx.stop_gradient(v / (mx.linalg.norm(v) + 1e-12))
        return u @ (w @ v)

    def power_step(self):
        w = self.lin.weight
        v = w.T @ self.u
        v = v / (mx.linalg.norm(v) + 1e-12)
        u = w @ v
        self.u = u / (mx.linalg.norm(u) + 1e-12)

    def __call__(self, x):
        return self.lin(x) / self.sigma()


class WaxNet(nn.Module):
    def __init__(self, d_in=6, hidden=64, n_out=4):
        super().__init__()
        self.blocks = [SNLinear(d_in, hidden), SNLinear(hidden, hidden)]
        self.head = nn.Linear(hidden, n_out)

    def __call__(self, x):
        for b in self.blocks:
            x = nn.relu(b(x))
        return self.head(x)

    def power_step(self):
        for b in self.blocks:
            b.power_step()

    def sigmas(self):
        return [b.sigma().item() for b in self.blocks]


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def evaluate(model, x, y):
    logits = model(x)
    ce = nn.losses.cross_entropy(logits, y, reduction="mean")
    acc = mx.mean(mx.argmax(logits, axis=1) == y)
    return ce.item(), acc.item()


def build(seed):
    mx.random.seed(seed)
    model = WaxNet()
    opt = optim.Adam(learning_rate=2e-3)
    mx.eval(model.parameters())
    return model, opt


def save_checkpoint(folder, model, opt, epoch):
    model.save_weights(os.path.join(folder, "wax.safetensors"))
    state = dict(tree_flatten(opt.state))
    mx.savez(os.path.join(folder, "opt.npz"), **state)
    with open(os.path.join(folder, "epoch.txt"), "w") as f:
        f.write(str(epoch))


def load_checkpoint(folder, model, opt):
    model.load_weights(os.path.join(folder, "wax.safetensors"))
    flat = mx.load(os.path.join(folder, "opt.npz"))
    opt.state = tree_unflatten(list(flat.items()))
    with open(os.path.join(folder, "epoch.txt")) as f:
        return int(f.read())


def run_session(model, opt, first_epoch, last_epoch, xtr, ytr, xte, yte, rng, bs=64):
    vg = nn.value_and_grad(model, loss_fn)
    n = xtr.shape[0]
    for epoch in range(first_epoch, last_epoch + 1):
        t0 = time.perf_counter()
        perm = rng.permutation(n)
        tot, cnt = 0.0, 0
        for i in range(0, n - bs + 1, bs):
            idx = mx.array(perm[i:i + bs])
            loss, grads = vg(model, xtr[idx], ytr[idx])
            opt.update(model, grads)
            model.power_step()
            mx.eval(loss, model.parameters(), opt.state)
            tot += loss.item()
            cnt += 1
        te_ce, te_acc = evaluate(model, xte, yte)
        s1, s2 = model.sigmas()
        print(f"{epoch:>5d} {tot / cnt:>9.4f} {te_ce:>8.4f} {100 * te_acc:>7.2f}% "
              f"{s1:>8.3f} {s2:>8.3f} {time.perf_counter() - t0:>6.2f}")


def main():
    rng = np.random.default_rng(11)
    xtr_np, ytr_np = make_snow(12000, rng)
    xte_np, yte_np = make_snow(3000, rng)
    mu, sd = xtr_np.mean(0), xtr_np.std(0)
    xtr = mx.array((xtr_np - mu) / sd)
    xte = mx.array((xte_np - mu) / sd)
    ytr, yte = mx.array(ytr_np), mx.array(yte_np)
    counts = np.bincount(ytr_np, minlength=4) / len(ytr_np)
    print("class shares: " + ", ".join(f"{w} {100 * c:.1f}%" for w, c in zip(WAXES, counts)))
    print(f"majority-class accuracy {100 * counts.max():.2f}%, uniform CE {math.log(4):.4f}")

    model, opt = build(seed=5)
    n_train = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
    n_all = sum(v.size for _, v in tree_flatten(model.parameters()))
    print(f"parameters: {n_train} trainable, {n_all - n_train} frozen power-iteration entries")
    _, g = nn.value_and_grad(model, loss_fn)(model, xtr[:256], ytr[:256])
    flat = tree_flatten(g)
    zero = [k for k, v in flat if mx.all(v == 0).item()]
    print(f"first-step gradient: {len(flat)} trainable leaves, zero: {zero if zero else 'none'}")
    ce0, acc0 = evaluate(model, xte, yte)
    print(f"untrained: test CE {ce0:.4f}, test acc {100 * acc0:.2f}%")

    header = f"{'epoch':>5} {'train_ce':>9} {'test_ce':>8} {'acc':>8} {'sigma1':>8} {'sigma2':>8} {'secs':>6}"
    with tempfile.TemporaryDirectory() as ckdir:
        print("session 1")
        print(header)
        run_session(model, opt, 1, 6, xtr, ytr, xte, yte, rng)
        save_checkpoint(ckdir, model, opt, 6)
        before = evaluate(model, xte, yte)
        del model, opt

        model, opt = build(seed=999)   # fresh objects, different init; the checkpoint must win
        opt.init(model.trainable_parameters())
        start = load_checkpoint(ckdir, model, opt) + 1
        after = evaluate(model, xte, yte)
        print(f"session 2: resumed at epoch {start}, test CE {before[0]:.4f} before save, "
              f"{after[0]:.4f} after load, Adam step {opt.state['step'].item()}")
        print(header)
        run_session(model, opt, start, 12, xtr, ytr, xte, yte, rng)
    ce, acc = evaluate(model, xte, yte)
    print(f"done: test CE {ce:.4f}, accuracy {100 * acc:.2f}% (majority {100 * counts.max():.2f}%)")


if __name__ == "__main__":
    main()
