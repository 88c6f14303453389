"""Learn a neural equaliser for QPSK over a multipath channel with a compressing PA.

Streaming training: every step draws a fresh burst of random symbols, sends it through
a 4-tap ISI channel, a soft-clipping power amplifier and AWGN, and the MLP has to
decide the transmitted symbol from an 11-sample window of received I/Q values.
Progress is reported iperf3-style, one interval line per 150 steps.
"""
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(11)
mx.random.seed(11)

WIN = 11            # received samples seen per decision
HALF = WIN // 2
TAPS = np.array([0.25 + 0.1j, 1.0, 0.45 - 0.2j, 0.2j])   # multipath channel, main tap at 1
SNR_DB = 14.0
CONST = np.array([1 + 1j, -1 + 1j, -1 - 1j, 1 - 1j]) / np.sqrt(2)


def burst(n_sym):
    """Return (windows (n, 2*WIN) float32, labels (n,) int32, centre samples)."""
    sym = rng.integers(0, 4, n_sym + 2 * HALF + len(TAPS))
    tx = CONST[sym]
    rx = np.convolve(tx, TAPS)[: len(tx)]
    # power amplifier: soft clipping on the envelope
    amp = np.abs(rx)
    rx = rx * np.tanh(1.2 * amp) / (1.2 * np.maximum(amp, 1e-9))
    sigma = np.sqrt(np.mean(np.abs(rx) ** 2) / (2 * 10 ** (SNR_DB / 10)))
    rx = rx + sigma * (rng.standard_normal(rx.shape) + 1j * rng.standard_normal(rx.shape))
    # the symbol at index k is decided from rx[k-HALF+1 .. k+HALF+1] (main tap delay 1)
    idx = np.arange(HALF, HALF + n_sym)
    win = np.stack([rx[i - HALF + 1: i + HALF + 2] for i in idx])
    feats = np.concatenate([win.real, win.imag], axis=1).astype(np.float32)
    return feats, sym[idx].astype(np.int32), win[:, HALF]


class Equaliser(nn.Module):
    def __init__(self):
        super().__init__()
        self.inp = nn.Linear(2 * WIN, 64)
        self.hid = nn.Linear(64, 64)
        self.out = nn.Linear(64, 4)

    def __call__(self, x):
        h = nn.gelu(self.inp(x))
        h = nn.gelu(self.hid(h)) + h
        return self.out(h)


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def slicer_ser(centre, labels):
    """Symbol error rate of the naive slicer that ignores ISI (quadrant decision)."""
    d = np.abs(centre[:, None] * np.exp(-1j * np.angle(TAPS[1])) - CONST[None, :])
    return float(np.mean(d.argmin(1) != labels))


model = Equaliser()
mx.eval(model.parameters())

STEPS, BATCH, REPORT = 1800, 256, 150
warm = optim.linear_schedule(1e-3, 0.05, 100)
decay = optim.exponential_decay(0.05, 0.999)
opt = optim.SGD(learning_rate=optim.join_schedules([warm, decay], [100]), momentum=0.9)
value_and_grad = nn.value_and_grad(model, loss_fn)

# held-out burst, fixed for the whole run
xv, yv, cv = burst(4000)
xv_mx, yv_mx = mx.array(xv), mx.array(yv)

# first-step gradient audit
x0, y0, _ = burst(BATCH)
_, g0 = value_and_grad(model, mx.array(x0), mx.array(y0))
flat = tree_flatten(g0)
zero = [k for k, g in flat if float(mx.abs(g).max()) == 0.0]
print("Connecting to host equaliser, port 5201")
print(f"[  5] local rx-window {WIN} taps connected to channel {len(TAPS)} taps, SNR {SNR_DB:.0f} dB")
print(f"[  5] gradient check: {len(flat)} leaves, zero-gradient leaves: {zero if zero else 'none'}")
print(f"[  5] naive slicer SER on held-out burst: {slicer_ser(cv, yv):.4f}")
print("[ ID] Interval          Train-CE   Held-CE    SER       Bits-ok     LR")

t0 = time.perf_counter()
run_ce, n_run = 0.0, 0
for step in range(1, STEPS + 1):
    xb, yb, _ = burst(BATCH)
    loss, grads = value_and_grad(model, mx.array(xb), mx.array(yb))
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    run_ce += loss.item()
    n_run += 1
    if step % REPORT == 0:
        logits = model(xv_mx)
        held_ce = nn.losses.cross_entropy(logits, yv_mx, reduction="mean").item()
        pred = np.array(mx.argmax(logits, axis=1))
        ser = float(np.mean(pred != yv))
        # Gray-coded QPSK: a neighbouring-quadrant error costs one bit, the opposite one two
        bit_err = np.where(pred == yv, 0, np.where((pred - yv) % 2 == 0, 2, 1)).sum()
        bits_ok = 1.0 - bit_err / (2 * len(yv))
        lr = opt.learning_rate.item()
        print(f"[  5] {step - REPORT:5d}-{step:<5d} steps  {run_ce / n_run:8.4f}  {held_ce:8.4f}  "
              f"{ser:8.4f}  {bits_ok:9.5f}  {lr:.5f}")
        run_ce, n_run = 0.0, 0

elapsed = time.perf_counter() - t0
print("- - - - - - - - - - - - - - - - - - - - - - - - -")
print(f"[  5] 0-{STEPS} steps  {STEPS * BATCH} symbols  {elapsed:.1f} sec  "
      f"{STEPS * BATCH / elapsed:,.0f} sym/sec  receiver")
print("iperf Done.")
