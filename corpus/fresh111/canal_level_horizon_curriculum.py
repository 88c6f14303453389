"""Canal pound water-level forecaster.

A small causal Conv1d network reads the last 48 readings (level, lock
operations, inflow) and predicts the level `h` steps ahead.  We train with a
horizon curriculum: h = 1, 3, 6, 12.  Each new stage asks a harder question,
so the error jumps up when the horizon grows and then comes down again.
The reported 'skill' is 1 - MAE / MAE(persistence) in percent: higher is better.
"""
import time
from functools import partial

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

WINDOW = 32
HORIZONS = (1, 3, 6, 12)
STEPS_PER_STAGE = 150
REPORT = 30
BATCH = 64


def simulate(rng, T):
    """Pound level (m): slow inflow, lock emptyings draw it down in steps."""
    t = np.arange(T)
    inflow = 0.02 + 0.01 * np.sin(2 * np.pi * t / 96.0) + 0.004 * rng.standard_normal(T)
    locks = (((t + 5) % 17 == 0) | (t % 29 == 0)).astype(np.float32)  # published lock schedule
    level = np.zeros(T, np.float32)
    lv = 0.0
    for i in range(T):
        lv = 0.97 * lv + inflow[i] - 0.25 * locks[i] + 0.1 * 0.03
        level[i] = lv
    level += 0.01 * rng.standard_normal(T)
    return np.stack([level, locks, inflow], axis=1).astype(np.float32)


def windows(series, h, idx):
    x = np.stack([series[i:i + WINDOW] for i in idx])
    y = np.array([series[i + WINDOW - 1 + h, 0] for i in idx], np.float32)
    last = x[:, -1, 0]
    return x, y - last, last, y  # target is the change in level


class CausalConvForecaster(nn.Module):
    def __init__(self, c_in=3, ch=16):
        super().__init__()
        self.c1 = nn.Conv1d(c_in, ch, kernel_size=5, dilation=1)
        self.c2 = nn.Conv1d(ch, ch, kernel_size=5, dilation=4)
        self.c3 = nn.Conv1d(ch, ch, kernel_size=5, dilation=8)
        self.horizon_emb = nn.Embedding(len(HORIZONS), ch)
        self.out = nn.Linear(ch, 1)

    @staticmethod
    def _pad(x, k, d):
        return mx.pad(x, [(0, 0), ((k - 1) * d, 0), (0, 0)])

    def __call__(self, x, hid):
        # x is (N, L, C): MLX convolutions take channels last.
        z = nn.gelu(self.c1(self._pad(x, 5, 1)))
        z = nn.gelu(self.c2(self._pad(z, 5, 4))) + z
        z = nn.gelu(self.c3(self._pad(z, 5, 8))) + z
        z = z[:, -1, :] + self.horizon_emb(hid)
        return self.out(z).squeeze(-1)


def main():
    rng = np.random.default_rng(3)
    mx.random.seed(3)
    t0 = time.time()
    train = simulate(rng, 6000)
    val = simulate(rng, 1500)
    scale = np.array([train[:, 0].std(), 1.0, 0.02], np.float32)
    train_n, val_n = train / scale, val / scale

    model = CausalConvForecaster()
    mx.eval(model.parameters())
    opt = optim.Lion(learning_rate=1e-3, weight_decay=1e-2)

    def loss_fn(x, hid, dy):
        return nn.losses.huber_loss(model(x, hid), dy, delta=1.0, reduction="mean")

    state = [model.state, opt.state]

    @partial(mx.compile, inputs=state, outputs=state)
    def train_step(x, hid, dy):
        loss, grads = nn.value_and_grad(model, loss_fn)(x, hid, dy)
        opt.update(model, grads)
        return loss

    print(f"canal forecaster: {sum(v.size for _, v in tree_flatten(model.parameters()))} "
          f"parameters, horizons {HORIZONS}, {STEPS_PER_STAGE} steps per horizon")
    first = True
    n_starts = len(train) - WINDOW - max(HORIZONS)
    val_idx = np.arange(0, len(val) - WINDOW - max(HORIZONS), 5)
    for stage, h in enumerate(HORIZONS):
        xv, dyv, lastv, yv = windows(val_n, h, val_idx)
        xv, hv = mx.array(xv), mx.full((len(val_idx),), stage, dtype=mx.int32)
        mae_persist = float(np.abs(yv - lastv).mean()) * scale[0]
        print(f"-- stage {stage + 1}/{len(HORIZONS)}: forecast {h} step(s) ahead; "
              f"persistence MAE {mae_persist * 100:.2f} cm")
        run = 0.0
        for step in range(1, STEPS_PER_STAGE + 1):
            idx = rng.integers(0, n_starts, size=BATCH)
            x, dy, _, _ = windows(train_n, h, idx)
            x, dy = mx.array(x), mx.array(dy)
            hid = mx.full((BATCH,), stage, dtype=mx.int32)
            if first:
                _, g = nn.value_and_grad(model, loss_fn)(x, hid, dy)
                zero = [k for k, v in tree_flatten(g)
                        if k != "horizon_emb.weight" and float(mx.abs(v).max()) == 0.0]
                # only the row of the current horizon gets gradient in the embedding
                emb_row = float(mx.abs(g["horizon_emb"]["weight"][stage]).max())
                assert not zero and emb_row > 0, zero
                print("   first-step gradients: all non-zero (embedding row of this horizon included)")
                first = False
            loss = train_step(x, hid, dy)
            mx.eval(loss, state)
            run += loss.item()
            if step % REPORT == 0:
                pred = model(xv, hv)
                mae = float(mx.abs(pred - mx.array(dyv)).mean()) * scale[0]
                skill = 100.0 * (1.0 - mae / mae_persist)
                print(f"   step {step:4d}  train huber {run / REPORT:.4f}  "
                      f"val MAE {mae * 100:5.2f} cm  skill {skill:+6.1f}%")
                run = 0.0
    print(f"done in {time.time() - t0:.1f} s")


if __name__ == "__main__":
    main()
