"""Compost windrow core-temperature forecaster.

Given 14 days of core temperature, ambient temperature and the turning log of
a windrow, forecast its core temperature for the next 8 days.  The turning
schedule and the ambient forecast for those 8 days are known in advance.

Encoder GRU + step-by-step decoder GRU with a Gaussian head (mean and
log-variance), trained on the Gaussian negative log-likelihood, which goes
below zero once the predicted spread is tight.

Stage 1 feeds the true previous temperature to the decoder (teacher forcing)
and only reports at its end.  Stage 2 feeds back the decoder's own mean
(free running), which is what the forecaster does when deployed, so the
reported loss steps up at the start of stage 2 and then comes down.
"""

import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

PAST, AHEAD = 14, 8
HID = 48
STAGE1, STAGE2, BATCH = 180, 120, 48


def simulate(n_rows=420, days=44, seed=7):
    rng = np.random.default_rng(seed)
    out = np.zeros((n_rows, days, 3), np.float32)
    for r in range(n_rows):
        cn = rng.uniform(20, 40)
        moist = rng.uniform(0.45, 0.65)
        peak = 68 - 0.4 * abs(cn - 28) - 60 * abs(moist - 0.55)
        k = rng.uniform(0.15, 0.35)
        turn_every = int(rng.integers(5, 9))
        offset = int(rng.integers(0, turn_every))
        amb_base = rng.uniform(2, 22)
        core = amb_base + 2
        for d in range(days):
            amb = amb_base + 5 * np.sin(2 * np.pi * d / 30 + r) + rng.normal(0, 1.5)
            turned = 1.0 if (d - offset) % turn_every == 0 and d > 0 else 0.0
            target = peak * np.exp(-0.012 * d) + 0.15 * amb
            core = core + k * (target - core) + rng.normal(0, 0.8)
            if turned:
                core -= rng.uniform(8, 14)
            out[r, d] = (core, amb, turned)
    return out


class Forecaster(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc = nn.GRU(3, HID)
        self.dec = nn.GRU(3, HID)
        self.head = nn.Linear(HID, 2)

    def __call__(self, past, fut_cov, fut_temp=None):
        h = self.enc(past)[:, -1]
        prev = past[:, -1, 0:1]
        means, logvars = [], []
        for t in range(AHEAD):
            x = mx.concatenate([prev, fut_cov[:, t]], axis=-1)[:, None, :]
            h = self.dec(x, h)[:, -1]
            out = self.head(h)
            mu, lv = out[:, 0:1], mx.clip(out[:, 1:2], -8.0, 4.0)
            means.append(mu)
            logvars.append(lv)
            prev = fut_temp[:, t:t + 1] if fut_temp is not None else mu
        return mx.concatenate(means, axis=1), mx.concatenate(logvars, axis=1)


def nll(model, past, cov, y, forced):
    mu, lv = model(past, cov, y if forced else None)
    return nn.losses.gaussian_nll_loss(mu, y, mx.exp(lv), reduction="mean")


def make_windows(rows, stats):
    m_core, s_core, m_amb, s_amb = stats
    z = rows.copy()
    z[..., 0] = (z[..., 0] - m_core) / s_core
    z[..., 1] = (z[..., 1] - m_amb) / s_amb
    ps, cs, ys = [], [], []
    for s in range(0, rows.shape[1] - PAST - AHEAD + 1, 2):
        ps.append(z[:, s:s + PAST])
        cs.append(z[:, s + PAST:s + PAST + AHEAD, 1:3])
        ys.append(z[:, s + PAST:s + PAST + AHEAD, 0])
    return tuple(mx.array(np.concatenate(a)) for a in (ps, cs, ys))


def main():
    t0 = time.time()
    mx.random.seed(5)
    rows = simulate()
    train_rows, val_rows = rows[:340], rows[340:]
    stats = (train_rows[..., 0].mean(), train_rows[..., 0].std(),
             train_rows[..., 1].mean(), train_rows[..., 1].std())
    ptr, ctr, ytr = make_windows(train_rows, stats)
    pva, cva, yva = make_windows(val_rows, stats)
    s_core = float(stats[1])
    print(f"train windows {ptr.shape[0]}  val windows {pva.shape[0]}  core std {s_core:.2f} C")

    persist = mx.mean(mx.abs(pva[:, -1:, 0] - yva)).item() * s_core
    week = mx.mean(mx.abs(mx.mean(pva[:, -7:, 0], axis=1, keepdims=True) - yva)).item() * s_core
    print(f"baselines  persistence MAE {persist:.2f} C  last-week-mean MAE {week:.2f} C")

    model = Forecaster()
    opt = optim.Adamax(learning_rate=optim.step_decay(3e-3, 0.5, 100))
    rng = np.random.default_rng(1)

    def run_stage(name, steps, forced, first, every):
        step_fn = nn.value_and_grad(model, nll)
        recent = []
        for i in range(steps):
            idx = mx.array(rng.integers(0, ptr.shape[0], BATCH))
            loss, grads = step_fn(model, ptr[idx], ctr[idx], ytr[idx], forced)
            grads, gnorm = optim.clip_grad_norm(grads, 1.0)
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            recent.append(loss.item())
            step = first + i
            if every and (i % every == 0 or i == steps - 1):
                print(f"[{name}] step {step:3d}  nll {loss.item():+.3f}  grad-norm {gnorm.item():.2f}")
        print(f"[{name}] finished  mean nll of last 25 steps {np.mean(recent[-25:]):+.3f}")

    print("stage 1: teacher forcing (quiet until the end)")
    run_stage("tf", STAGE1, True, 0, 0)
    print("stage 2: free running")
    run_stage("fr", STAGE2, False, STAGE1, 25)

    mu, lv = model(pva, cva)
    mae = mx.mean(mx.abs(mu - yva)).item() * s_core
    sd = mx.exp(0.5 * lv)
    cover = mx.mean((mx.abs(yva - mu) <= 1.2816 * sd).astype(mx.float32)).item()
    val_nll = nn.losses.gaussian_nll_loss(mu, yva, mx.exp(lv), reduction="mean").item()
    print(f"val free-running MAE {mae:.2f} C  (persistence {persist:.2f}, last-week-mean {week:.2f})")
    print(f"val nll {val_nll:+.3f}  80% interval coverage {cover:.1%}")
    print(f"done in {time.time() - t0:.1f} s")


if __name__ == "__main__":
    main()
