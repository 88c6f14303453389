"""Next-interval heat-pump power forecast with a stateful GRU.

The meter trace (5-minute readings) is one long series per house.  Eight houses are
trained side by side as eight parallel streams and cut into 48-step chunks; the GRU's
hidden state is carried from one chunk to the next (truncated back-propagation through
time) with mx.stop_gradient, and reset at the start of each epoch.  The head predicts a
mean and a log standard deviation, trained with the full Gaussian negative log-likelihood
on the standardised target, so the loss goes below zero once the forecasts get sharp.
The running train loss is an exponential moving average with bias correction.
"""
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

STEPS_PER_DAY = 288
HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)


def simulate_house(n, rng):
    """Made-up inverter heat pump: a PI controller modulates the compressor to hold a
    setpoint that steps up in the evening; outdoor temperature follows a daily cycle;
    below 3 C the unit runs a short defrost (power dip) every 24 running intervals."""
    t = np.arange(n)
    day = 2 * math.pi * t / STEPS_PER_DAY
    drift = np.cumsum(rng.standard_normal(n)) * 0.02
    t_out = 1.0 + rng.uniform(-3, 3) + 5.0 * np.sin(day - 2.0) + drift
    ua = rng.uniform(0.08, 0.14)          # heat loss coefficient
    cap = rng.uniform(1.8, 2.6)           # rated electrical kW
    setpoint = 20.5 + 1.5 * (np.cos(day) > 0.3)  # warmer in the evening
    t_in, integ, run = 20.0, 0.0, 0
    power = np.empty(n, dtype=np.float32)
    for i in range(n):
        err = setpoint[i] - t_in
        integ = min(max(integ + 0.02 * err, 0.0), 1.0)
        duty = min(max(0.5 * err + integ, 0.15), 1.0)
        cop = max(1.8, 3.6 + 0.08 * t_out[i])
        run += 1
        if t_out[i] < 3.0 and run % 24 == 0:
            p = 0.3 * cap                 # defrost interval
            t_in -= 0.05
        else:
            p = duty * cap
            t_in += cop * p * 0.03
        t_in -= ua * (t_in - t_out[i]) * 0.1
        power[i] = p + 0.02 * rng.standard_normal()
    feats = np.stack([power, t_out / 10.0, np.sin(day), np.cos(day)], axis=-1).astype(np.float32)
    return feats, power


class Forecaster(nn.Module):
    def __init__(self, n_in=4, hidden=40):
        super().__init__()
        self.gru = nn.GRU(n_in, hidden)
        self.head = nn.Linear(hidden, 2)

    def __call__(self, x, h0=None):
        hs = self.gru(x, hidden=h0)          # (B, L, H)
        out = self.head(hs)
        return out[..., 0], out[..., 1], hs[:, -1, :]


def gauss_nll(model, x, y, h0):
    mu, log_sigma, h_last = model(x, h0)
    log_sigma = mx.clip(log_sigma, -6.0, 3.0)
    z = (y - mu) * mx.exp(-log_sigma)
    nll = HALF_LOG_2PI + log_sigma + 0.5 * z * z
    return nll.mean(), h_last


def chunks(x, y, length):
    for s in range(0, x.shape[1] - length + 1, length):
        yield x[:, s:s + length], y[:, s:s + length]


def run_valid(model, x, y, length, y_scale):
    h = None
    tot_nll, tot_abs, inside, n = 0.0, 0.0, 0.0, 0
    for xb, yb in chunks(x, y, length):
        mu, log_sigma, h = model(xb, h)
        log_sigma = mx.clip(log_sigma, -6.0, 3.0)
        z = (yb - mu) * mx.exp(-log_sigma)
        nll = HALF_LOG_2PI + log_sigma + 0.5 * z * z
        mx.eval(nll, h)
        tot_nll += nll.sum().item()
        tot_abs += (mx.abs(yb - mu).sum() * y_scale).item()
        inside += (mx.abs(z) < 1.0).sum().item()
        n += yb.size
    return tot_nll / n, tot_abs / n, 100.0 * inside / n


def main():
    mx.random.seed(0)
    rng = np.random.default_rng(21)
    n = 4 * STEPS_PER_DAY + 1
    houses = [simulate_house(n, rng) for _ in range(10)]
    feats = np.stack([f for f, _ in houses])        # (10, n, 4)
    power = np.stack([p for _, p in houses])        # (10, n)
    p_mean, p_std = power[:8].mean(), power[:8].std()
    feats[..., 0] = (feats[..., 0] - p_mean) / p_std
    target = (power[:, 1:] - p_mean) / p_std        # next-interval power
    inputs = feats[:, :-1]
    Xtr, Ytr = mx.array(inputs[:8]), mx.array(target[:8])
    Xva, Yva = mx.array(inputs[8:]), mx.array(target[8:])
    print(f"houses: 8 train streams + 2 held-out, {inputs.shape[1]} intervals each, "
          f"power mean {p_mean:.2f} kW sd {p_std:.2f} kW")

    model = Forecaster()
    mx.eval(model.parameters())
    chunk_len, epochs, beta = 48, 16, 0.9
    n_per_epoch = Xtr.shape[1] // chunk_len
    opt = optim.Adam(learning_rate=optim.cosine_decay(3e-3, epochs * n_per_epoch, 2e-4))
    step_fn = nn.value_and_grad(model, gauss_nll)

    v_nll, v_mae, v_cov = run_valid(model, Xva, Yva, chunk_len, p_std)
    print(f"untrained: valid NLL {v_nll:+.3f} nats, MAE {v_mae:.3f} kW")
    print(f"{'epoch':>5} {'chunks':>6} {'ema NLL':>9} {'valid NLL':>10} {'MAE kW':>7} {'|z|<1 %':>8} {'sec':>5}")

    ema, ema_steps, step = 0.0, 0, 0
    t0 = time.perf_counter()
    for epoch in range(1, epochs + 1):
        h = None                       # new epoch: streams start again from the beginning
        n_chunks = 0
        for xb, yb in chunks(Xtr, Ytr, chunk_len):
            (loss, h), grads = step_fn(model, xb, yb, h)
            if step == 0:
                flat = tree_flatten(grads)
                dead = [k for k, g in flat if mx.abs(g).max().item() == 0.0]
                assert not dead, f"zero-gradient leaves: {dead}"
                print(f"grad check: {len(flat)} leaves, none zero")
            grads, _ = optim.clip_grad_norm(grads, max_norm=1.0)
            opt.update(model, grads)
            h = mx.stop_gradient(h)    # carry the state, not the graph
            mx.eval(model.parameters(), opt.state, loss, h)
            ema_steps += 1
            ema = beta * ema + (1 - beta) * loss.item()
            n_chunks += 1
            step += 1
        ema_hat = ema / (1 - beta ** ema_steps)
        v_nll, v_mae, v_cov = run_valid(model, Xva, Yva, chunk_len, p_std)
        print(f"{epoch:>5} {n_chunks:>6} {ema_hat:>+9.3f} {v_nll:>+10.3f} {v_mae:>7.3f} "
              f"{v_cov:>8.1f} {time.perf_counter() - t0:>5.1f}")
    print(f"finished: {step} updates; a calibrated forecaster has about 68% of |z| < 1")


if __name__ == "__main__":
    main()
