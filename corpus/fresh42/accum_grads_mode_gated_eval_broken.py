"""Random-Fourier-feature regressor (trainable frequencies + readout) trained
with gradient accumulation: a small micro-batch is accumulated up to an
effective batch of 6144 ("mathematically identical to one big batch").  A tiny
governor picks the micro-batch size / pause from a mode."""
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_map

EFFECTIVE_BS = 6144
MODES = {"FULL": (6144, 0.0), "STEALTH": (256, 0.002), "RECOVERY": (128, 0.0)}
IN_DIM, FEATS = 8, 4096


def governor(step):
    # long-running job: start in RECOVERY (small micro-batches) after a restart
    return "RECOVERY"


class Regressor(nn.Module):
    def __init__(self):
        super().__init__()
        self.freqs = nn.Linear(IN_DIM, FEATS)
        self.readout = nn.Linear(FEATS, 1)
        self.readout.weight = mx.zeros_like(self.readout.weight)

    def __call__(self, x):
        return self.readout(mx.cos(self.freqs(x)) / FEATS ** 0.5).squeeze(-1)


def loss_fn(model, x, y):
    return nn.losses.mse_loss(model(x), y)


def main():
    mx.random.seed(0)
    rng = np.random.default_rng(0)
    w_true = rng.normal(size=(IN_DIM,)).astype(np.float32) / np.sqrt(IN_DIM)
    X = rng.normal(size=(50000, IN_DIM)).astype(np.float32)
    Y = (np.sin(2.0 * X @ w_true) + 0.3 * X[:, 0] * X[:, 1] + 0.05 * rng.normal(size=50000)).astype(np.float32)

    model = Regressor()
    mx.eval(model.parameters())
    optimizer = optim.AdamW(learning_rate=5e-3, weight_decay=0.0)
    loss_and_grad = nn.value_and_grad(model, loss_fn)

    print(f"{'step':>4} {'mode':>9} {'micro':>5} {'loss':>8} {'active_MB':>10} {'peak_MB':>8} {'sec':>6}")
    for step in range(1, 16):
        mode = governor(step)
        micro_bs, sleep_time = MODES[mode]
        accum_steps = max(1, EFFECTIVE_BS // micro_bs)
        accumulated_grads = None
        total_loss = 0.0
        mx.reset_peak_memory()
        t0 = time.time()
        for i in range(accum_steps):
            idx = rng.integers(0, len(X), micro_bs)
            x, y = mx.array(X[idx]), mx.array(Y[idx])
            loss, grads = loss_and_grad(model, x, y)
            total_loss += (loss / accum_steps).item()
            scaled = tree_map(lambda g: g / accum_steps, grads)
            if accumulated_grads is None:
                accumulated_grads = scaled
            else:
                accumulated_grads = tree_map(lambda a, b: a + b, accumulated_grads, scaled)
            if sleep_time > 0:
                time.sleep(sleep_time)
            # evaluate eagerly in STEALTH so the graph does not build up
            if mode == "STEALTH":
                mx.eval(loss, accumulated_grads)
            if (i + 1) % 12 == 0:
                print(f"     micro {i + 1:3d}/{accum_steps}  active_MB={mx.get_active_memory() / 2**20:8.1f}", flush=True)
        optimizer.update(model, accumulated_grads)
        mx.eval(model.parameters(), optimizer.state)
        print(f"{step:4d} {mode:>9} {micro_bs:5d} {total_loss:8.4f} {mx.get_active_memory() / 2**20:10.1f} "
              f"{mx.get_peak_memory() / 2**20:8.1f} {time.time() - t0:6.2f}", flush=True)


if __name__ == "__main__":
    main()
