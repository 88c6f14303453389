"""Pipe-organ pitch drift: fine-tune last season's model on this season's logs.

Each log row: church temperature (C), relative humidity (%), hours since the
heating came on, wind-pressure reading (mm water column) and the rank (0..3,
one-hot).  Target: pitch deviation of a reference pipe in cents.

Last season's model is trained first (quietly) and written to disk; this
season's tuner starts from it.  The new season has a small extra offset
(the organ was re-voiced by +0.6 cents), so the fine-tune starts near the
noise floor and only moves a little.  'bias_c' is the mean signed error in
cents on the held-out logs (best near zero, not high or low).
"""
import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

NOISE_C = 0.7  # tuner's reading noise, cents


def make_logs(n, rng, revoice=0.0):
    temp = rng.uniform(4.0, 24.0, n)
    rh = rng.uniform(30.0, 85.0, n)
    hours = rng.uniform(0.0, 10.0, n)
    wind = rng.normal(80.0, 3.0, n)
    rank = rng.integers(0, 4, n)
    # flue pipes go sharp ~3 cents per C; reeds hardly move but follow wind
    flue = np.isin(rank, [0, 1, 2])
    cents = np.where(flue, 3.0 * (temp - 15.0), 0.4 * (temp - 15.0))
    cents += np.where(flue, 0.0, 0.9 * (wind - 80.0))
    cents += -0.05 * (rh - 55.0) + 1.5 * (1.0 - np.exp(-hours / 2.5)) * flue
    cents += np.array([0.0, -1.0, 2.0, 0.5])[rank] + revoice
    cents += rng.normal(0.0, NOISE_C, n)
    x = np.stack([(temp - 14.0) / 6.0, (rh - 57.0) / 16.0, (hours - 5.0) / 3.0,
                  (wind - 80.0) / 3.0], axis=1)
    x = np.concatenate([x, np.eye(4)[rank]], axis=1).astype(np.float32)
    return mx.array(x), mx.array((cents / 10.0).astype(np.float32))


class PitchNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(8, 64)
        self.l2 = nn.Linear(64, 64)
        self.out = nn.Linear(64, 1)

    def __call__(self, x):
        h = nn.silu(self.l1(x))
        h = nn.silu(self.l2(h))
        return self.out(h).squeeze(-1)


def loss_fn(model, x, y):
    return nn.losses.mse_loss(model(x), y)


def evaluate(model, x, y):
    err = (model(x) - y) * 10.0  # cents
    mx.eval(err)
    return (float(mx.sqrt(mx.mean(err * err))), float(mx.mean(err)),
            float(mx.mean(mx.abs(err) < 1.0)))


def main():
    t0 = time.time()
    rng = np.random.default_rng(2024)
    mx.random.seed(11)
    tmp = tempfile.mkdtemp(prefix="organ_")
    ckpt = os.path.join(tmp, "pitch_2024.safetensors")

    # ---- last season: trained to convergence, no output ----
    x_old, y_old = make_logs(12000, rng)
    old = PitchNet()
    opt_old = optim.Adam(learning_rate=optim.cosine_decay(3e-3, 2500, 1e-5))
    step_old = nn.value_and_grad(old, loss_fn)
    for s in range(2500):
        idx = mx.array(rng.integers(0, x_old.shape[0], 128))
        l, g = step_old(old, x_old[idx], y_old[idx])
        opt_old.update(old, g)
        mx.eval(old.parameters(), opt_old.state, l)
    old.save_weights(ckpt)
    del old, opt_old

    # ---- this season ----
    rng2 = np.random.default_rng(2025)
    x_new, y_new = make_logs(3000, rng2, revoice=0.6)
    x_val, y_val = make_logs(2000, rng2, revoice=0.6)
    model = PitchNet()
    model.load_weights(ckpt)
    mx.eval(model.parameters())
    print(f"loaded {os.path.basename(ckpt)}  ({time.time() - t0:.1f}s incl. last season)")
    print(f"noise floor: rmse {NOISE_C:.2f} c, mse(scaled) {(NOISE_C / 10) ** 2:.5f}")

    rmse, bias, within = evaluate(model, x_val, y_val)
    print(f"before fine-tune: rmse_c={rmse:.3f} bias_c={bias:+.3f} within1c={within:.3f}")

    opt = optim.SGD(learning_rate=2e-2, momentum=0.9)
    grad_fn = nn.value_and_grad(model, loss_fn)

    n_steps, bs, window = 480, 64, []
    order = rng2.permutation(x_new.shape[0])
    pos = 0
    for step in range(1, n_steps + 1):
        if pos + bs > len(order):
            order, pos = rng2.permutation(x_new.shape[0]), 0
        idx = mx.array(order[pos:pos + bs])
        pos += bs
        loss, grads = grad_fn(model, x_new[idx], y_new[idx])
        if step == 1:
            leaves = tree_flatten(grads)
            zero = [k for k, g in leaves if float(mx.abs(g).max()) == 0.0]
            print(f"step 1 grads: {len(leaves)} leaves, zero={zero}, loss={float(loss):.5f}")
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        window.append(float(loss))
        if step % 60 == 0:
            rmse, bias, within = evaluate(model, x_val, y_val)
            print(f"step={step} train_mse={np.mean(window):.5f} val_rmse_c={rmse:.3f} "
                  f"bias_c={bias:+.3f} within1c={within:.3f} t={time.time() - t0:.1f}s")
            window = []

    os.remove(ckpt)
    os.rmdir(tmp)
    print(f"done in {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
