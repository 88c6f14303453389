"""Denoise carillon bell strike spectra with a tied-weight autoencoder.

Each training row is a 48-bin log-magnitude spectrum of a bell strike
(hum, prime, tierce, quint, nominal and upper partials).  The microphone
noise level grows in three stages (curriculum), so the reconstruction
error jumps at each stage change.  Metrics go to an in-memory sqlite
table and are only reported once training is done.
"""
import math
import sqlite3
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

N_BINS = 48
PARTIALS = np.array([0.5, 1.0, 1.2, 1.5, 2.0, 2.5, 2.67, 3.0])


def make_bells(rng, n):
    bins = np.arange(N_BINS, dtype=np.float32)
    f0 = rng.uniform(4.0, 13.0, size=(n, 1))
    amps = rng.uniform(0.2, 1.0, size=(n, len(PARTIALS)))
    amps[:, 4] = rng.uniform(0.8, 1.2, size=n)          # nominal is loudest
    width = rng.uniform(0.5, 1.1, size=(n, 1))
    centres = f0 * PARTIALS[None, :]                    # (n, P)
    bumps = np.exp(-0.5 * ((bins[None, None, :] - centres[:, :, None]) / width[:, :, None]) ** 2)
    spec = (amps[:, :, None] * bumps).sum(axis=1)
    spec = np.log1p(3.0 * spec) / np.log1p(3.0)
    return spec.astype(np.float32)


class TiedDAE(nn.Module):
    """Encoder matrix shared with the decoder (decoder uses W^T)."""

    def __init__(self, n_in, n_code):
        super().__init__()
        scale = math.sqrt(2.0 / (n_in + n_code))
        self.W = mx.random.normal((n_in, n_code)) * scale
        self.b_enc = mx.zeros((n_code,))
        self.b_dec = mx.zeros((n_in,))

    def encode(self, x):
        return nn.relu(x @ self.W + self.b_enc)

    def __call__(self, x):
        return self.encode(x) @ self.W.T + self.b_dec


def loss_fn(model, noisy, clean):
    return nn.losses.mse_loss(model(noisy), clean)


def snr_gain_db(model, clean, sigma, rng):
    noisy = clean + sigma * rng.standard_normal(clean.shape).astype(np.float32)
    rec = np.array(model(mx.array(noisy)))
    before = float(np.mean((noisy - clean) ** 2))
    after = float(np.mean((rec - clean) ** 2))
    return after, 10.0 * math.log10(before / after)


def main():
    mx.random.seed(7)
    rng = np.random.default_rng(7)
    train = make_bells(rng, 12000)
    valid = make_bells(rng, 2000)

    model = TiedDAE(N_BINS, 20)
    mx.eval(model.parameters())
    opt = optim.Adafactor()          # relative step size, no lr to tune
    step_fn = nn.value_and_grad(model, loss_fn)

    db = sqlite3.connect(":memory:")
    db.execute("create table log(stage int, sigma real, step int, train_mse real,"
               " valid_mse real, snr_gain_db real, secs real)")

    stages = [0.05, 0.15, 0.35]
    steps_per_stage = 700
    batch = 64
    report_every = 100
    t0 = time.time()
    step = 0
    window = []
    for stage, sigma in enumerate(stages, start=1):
        for _ in range(steps_per_stage):
            idx = rng.integers(0, len(train), size=batch)
            clean = train[idx]
            noisy = clean + sigma * rng.standard_normal(clean.shape).astype(np.float32)
            loss, grads = step_fn(model, mx.array(noisy), mx.array(clean))
            if step == 0:
                flat = tree_flatten(grads)
                dead = [k for k, g in flat if float(mx.abs(g).max()) == 0.0]
                assert not dead, f"zero gradient leaves: {dead}"
                print(f"gradient check: {len(flat)} leaves, all non-zero")
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            window.append(loss.item())
            step += 1
            if step % report_every == 0:
                vmse, gain = snr_gain_db(model, valid, sigma, rng)
                db.execute("insert into log values (?,?,?,?,?,?,?)",
                           (stage, sigma, step, float(np.mean(window)), vmse, gain,
                            time.time() - t0))
                window = []

    print(f"trained {step} steps in {time.time() - t0:.1f}s; report from the run log:")
    print(f"{'stage':>5} {'sigma':>6} {'step':>6} {'train_mse':>10} {'valid_mse':>10} {'snr_gain_dB':>12}")
    for row in db.execute("select stage, sigma, step, train_mse, valid_mse, snr_gain_db"
                          " from log order by step"):
        print(f"{row[0]:>5} {row[1]:>6.2f} {row[2]:>6} {row[3]:>10.5f} {row[4]:>10.5f} {row[5]:>12.2f}")
    print("per stage (first -> last report):")
    q = ("select stage, sigma, min(step), max(step) from log group by stage order by stage")
    for stage, sigma, s_first, s_last in db.execute(q).fetchall():
        a = db.execute("select valid_mse, snr_gain_db from log where step=?", (s_first,)).fetchone()
        b = db.execute("select valid_mse, snr_gain_db from log where step=?", (s_last,)).fetchone()
        print(f"  stage {stage} (sigma {sigma:.2f}): valid_mse {a[0]:.5f} -> {b[0]:.5f}, "
              f"snr gain {a[1]:.2f} -> {b[1]:.2f} dB")


if __name__ == "__main__":
    main()
